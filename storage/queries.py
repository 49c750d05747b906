"""The queries that must be fast or atomic: score aggregates and claiming due sends.

Scores are aggregated in SQL: one indexed range scan over ``answer`` grouped down to
(value, flags) buckets, so a report never reads individual answers into Python.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.scoring import Bucket
from storage.models import Answer, Invitation

NONE_GROUP = "(none)"
SCORED_KINDS = ("csat", "csat10", "nps", "ces")


def _dimension(model: Any, by: str | None) -> ColumnElement[Any] | None:
    if by is None:
        return None
    column: ColumnElement[Any] = getattr(model, by)
    return func.coalesce(column, NONE_GROUP)


def answer_buckets(
    session: Session, start: datetime, end: datetime, by: str | None
) -> dict[str | None, list[Bucket]]:
    group = _dimension(Answer, by)
    columns: list[Any] = [
        Answer.kind, Answer.scale_min, Answer.scale_max, Answer.value,
        Answer.positive, Answer.negative, func.count(),
    ]
    if group is not None:
        columns.insert(0, group.label("grp"))
    statement = (
        select(*columns)
        .where(Answer.answered_at >= start, Answer.answered_at < end)  # type: ignore[arg-type]
        .where(Answer.kind.in_(SCORED_KINDS))  # type: ignore[attr-defined]
        .where(Answer.value.is_not(None))  # type: ignore[union-attr]
        .group_by(*columns[:-1])
    )
    result: dict[str | None, list[Bucket]] = defaultdict(list)
    for row in session.execute(statement):
        values = tuple(row)
        key = values[0] if group is not None else None
        kind, lo, hi, value, positive, negative, count = values[1:] if group is not None else values
        result[key].append(
            Bucket(
                kind=kind, scale_min=lo, scale_max=hi, value=value,
                positive=bool(positive), negative=bool(negative), count=count,
            )
        )
    return dict(result)


UNDELIVERED = ("failed", "undelivered")


def sent_counts(
    session: Session, start: datetime, end: datetime, by: str | None
) -> dict[str | None, tuple[int, int]]:
    """(sent, responded) per group for invitations sent in the period, undelivered ones excluded."""
    group = _dimension(Invitation, by)
    responded = func.count(Invitation.responded_at)  # type: ignore[arg-type]
    columns: list[Any] = [func.count(), responded]
    if group is not None:
        columns.insert(0, group.label("grp"))
    statement = select(*columns).where(
        Invitation.sent_at >= start,  # type: ignore[operator]
        Invitation.sent_at < end,  # type: ignore[operator]
        or_(
            Invitation.delivery_status.is_(None),  # type: ignore[union-attr]
            Invitation.delivery_status.not_in(UNDELIVERED),  # type: ignore[union-attr]
        ),
    )
    if group is not None:
        statement = statement.group_by(group)
    result: dict[str | None, tuple[int, int]] = {}
    for row in session.execute(statement):
        values = tuple(row)
        if group is None:
            result[None] = (int(values[0]), int(values[1]))
        else:
            result[values[0]] = (int(values[1]), int(values[2]))
    return result


@dataclass(frozen=True)
class Claim:
    invitation_id: int
    token: str
    reminder: bool


def claim_due(
    session: Session, now: datetime, lease_until: datetime, limit: int
) -> list[Claim]:
    """Atomically take up to ``limit`` due sends and reminders for this worker.

    On PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers
    take disjoint rows; SQLite serialises writers, so one UPDATE statement is already atomic. A
    claim is a lease: a worker that dies leaves rows that become claimable again at ``lease_until``.
    """
    free = or_(
        Invitation.claimed_until.is_(None),  # type: ignore[union-attr]
        Invitation.claimed_until < now,  # type: ignore[operator]
    )
    due_send = and_(Invitation.status == "scheduled", Invitation.send_at <= now)  # type: ignore[arg-type]
    due_reminder = and_(
        Invitation.status == "sent",
        Invitation.remind_at <= now,  # type: ignore[operator]
        Invitation.responded_at.is_(None),  # type: ignore[union-attr]
    )
    candidates = (
        select(Invitation.id)
        .where(or_(due_send, due_reminder), free)
        .order_by(Invitation.send_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    token = str(uuid.uuid4())
    session.execute(
        update(Invitation)
        .where(Invitation.id.in_(candidates.scalar_subquery()), free)  # type: ignore[union-attr]
        .values(claim_token=token, claimed_until=lease_until),
        execution_options={"synchronize_session": False},
    )
    rows = session.execute(
        select(Invitation.id, Invitation.status).where(
            Invitation.claim_token == token
        )
    )
    return [Claim(int(r[0]), token, r[1] == "sent") for r in rows]
