"""The comments feed: what customers wrote, newest first, each with the rating it came with.

Comments are answers with text; the rating is the scored answer of the same invitation (a CSAT
question first, else NPS, else CES). Paging is by key — the last row's (answered_at, answer id)
— so a page costs the same however deep it is and a comment arriving meanwhile moves nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.interface import CommentRow
from storage.models import Answer, Invitation
from storage.values import SCORED_KINDS

_PRIORITY = {kind: rank for rank, kind in enumerate(SCORED_KINDS)}


def latest_comments(
    engine: Engine,
    start: datetime,
    end: datetime,
    *,
    low_only: bool,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[CommentRow]:
    text = aliased(Answer, name="c")
    rating = aliased(Answer, name="r")
    statement: Any = (
        select(
            col(text.id),
            col(text.answered_at),
            col(text.comment),
            col(text.invitation_id),
            col(Invitation.interaction_id),
            col(text.channel),
            col(text.agent),
            col(text.team),
            col(text.survey),
            col(rating.kind),
            col(rating.value),
            col(rating.scale_max),
            col(rating.negative),
        )
        .join(Invitation, col(Invitation.id) == col(text.invitation_id))
        .outerjoin(
            rating,
            and_(
                col(rating.invitation_id) == col(text.invitation_id),
                col(rating.kind).in_(SCORED_KINDS),
                col(rating.value).is_not(None),
            ),
        )
        .where(
            col(text.comment).is_not(None),
            col(text.answered_at) >= start,
            col(text.answered_at) < end,
        )
    )
    if low_only:
        statement = statement.where(col(rating.negative).is_(True))
    if before is not None:
        moment, answer_id = before
        statement = statement.where(
            or_(
                col(text.answered_at) < moment,
                and_(col(text.answered_at) == moment, col(text.id) < answer_id),
            )
        )
    # A comment may meet several scored answers (CSAT and NPS): read a little more, keep one.
    statement = statement.order_by(col(text.answered_at).desc(), col(text.id).desc())
    statement = statement.limit(limit * len(SCORED_KINDS))
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    kept: dict[int, tuple[int, CommentRow]] = {}
    order: list[int] = []
    for row in rows:
        answer_id, answered_at, comment, invitation_id, interaction, channel = row[:6]
        agent, team, survey, kind, value, scale_max, negative = row[6:]
        rank = _PRIORITY.get(kind, len(_PRIORITY))
        found = CommentRow(
            answer_id=answer_id,
            answered_at=answered_at,
            comment=comment,
            invitation_id=invitation_id,
            interaction_id=interaction,
            channel=channel,
            agent=agent,
            team=team,
            survey=survey,
            rating=value,
            scale_max=scale_max,
            low=bool(negative),
        )
        if answer_id not in kept:
            order.append(answer_id)
            kept[answer_id] = (rank, found)
        elif rank < kept[answer_id][0]:
            kept[answer_id] = (rank, found)
    return [kept[answer_id][1] for answer_id in order[:limit]]
