"""The queries that must be fast or atomic: score aggregates and claiming due sends.

Scores are aggregated in SQL: one indexed range scan over ``answer`` grouped down to
(value, flags) buckets, so a report never reads individual answers into Python.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.scoring import Bucket
from storage.models import Answer, Invitation

NONE_GROUP = "(none)"


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE without ORM synchronisation and say how many rows it touched."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(cast("CursorResult[Any]", result).rowcount)


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
        col(Answer.kind),
        col(Answer.scale_min),
        col(Answer.scale_max),
        col(Answer.value),
        col(Answer.positive),
        col(Answer.negative),
        func.count(),
    ]
    if group is not None:
        columns.insert(0, group.label("grp"))
    statement = (
        select(*columns)
        .where(col(Answer.answered_at) >= start, col(Answer.answered_at) < end)
        .where(col(Answer.kind).in_(SCORED_KINDS))
        .where(col(Answer.value).is_not(None))
        .group_by(*columns[:-1])
    )
    result: dict[str | None, list[Bucket]] = defaultdict(list)
    for row in session.execute(statement):
        values = tuple(row)
        key = values[0] if group is not None else None
        kind, lo, hi, value, positive, negative, count = values[1:] if group is not None else values
        result[key].append(
            Bucket(
                kind=kind,
                scale_min=lo,
                scale_max=hi,
                value=value,
                positive=bool(positive),
                negative=bool(negative),
                count=count,
            )
        )
    return dict(result)


UNDELIVERED = ("failed", "undelivered", "canceled")


def sent_counts(
    session: Session, start: datetime, end: datetime, by: str | None
) -> dict[str | None, tuple[int, int]]:
    """(sent, responded) per group for invitations sent in the period, undelivered ones excluded."""
    group = _dimension(Invitation, by)
    responded = func.count(col(Invitation.responded_at))
    columns: list[Any] = [func.count(), responded]
    if group is not None:
        columns.insert(0, group.label("grp"))
    statement = select(*columns).where(
        col(Invitation.sent_at) >= start,
        col(Invitation.sent_at) < end,
        or_(
            col(Invitation.delivery_status).is_(None),
            col(Invitation.delivery_status).not_in(UNDELIVERED),
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


def claim_due(session: Session, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    """Atomically take up to ``limit`` due sends and reminders for this worker.

    On PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers
    take disjoint rows; SQLite serialises writers, so one UPDATE statement is already atomic. A
    claim is a lease: a worker that dies leaves rows that become claimable again at ``lease_until``.
    """
    free = or_(
        col(Invitation.claimed_until).is_(None),
        col(Invitation.claimed_until) < now,
    )
    due_send = and_(col(Invitation.status) == "scheduled", col(Invitation.send_at) <= now)
    due_reminder = and_(
        col(Invitation.status) == "sent",
        col(Invitation.remind_at) <= now,
        col(Invitation.responded_at).is_(None),
    )
    candidates = (
        select(col(Invitation.id))
        .where(or_(due_send, due_reminder), free)
        .order_by(col(Invitation.send_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    token = str(uuid.uuid4())
    session.execute(
        update(Invitation)
        .where(col(Invitation.id).in_(candidates.scalar_subquery()), free)
        .values(claim_token=token, claimed_until=lease_until),
        execution_options={"synchronize_session": False},
    )
    rows = session.execute(
        select(col(Invitation.id), col(Invitation.status)).where(
            col(Invitation.claim_token) == token
        )
    )
    return [Claim(int(r[0] or 0), token, r[1] == "sent") for r in rows]
