"""The queries that must be fast or atomic: claiming due sends (the reply path is in
:mod:`storage.replies`).

Score aggregates live in :mod:`storage.scores`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Executable,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlmodel import col

from storage.interface import Claim
from storage.models import Invitation
from storage.values import Status


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE without ORM synchronisation and say how many rows it touched."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(cast("CursorResult[Any]", result).rowcount)


def claim_due(
    session: Session,
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip_channels: Collection[str] = (),
) -> list[Claim]:
    """Atomically take up to ``limit`` due sends and reminders for this worker, leaving out the
    channels in ``skip_channels`` (paused after a transient failure).

    On PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers
    take disjoint rows; SQLite serialises writers, so one UPDATE statement is already atomic. A
    claim is a lease, renewed by :func:`renew` before every send, so it never runs out under a
    live worker; a worker that dies leaves rows that become claimable again at ``lease_until``.
    """
    free = or_(
        col(Invitation.claimed_until).is_(None),
        col(Invitation.claimed_until) < now,
    )
    due_send = and_(col(Invitation.status) == Status.SCHEDULED, col(Invitation.send_at) <= now)
    due_reminder = and_(
        col(Invitation.status) == Status.SENT,
        col(Invitation.remind_at) <= now,
        col(Invitation.responded_at).is_(None),
    )
    wanted = [or_(due_send, due_reminder), free]
    if skip_channels:
        wanted.append(col(Invitation.channel).not_in(sorted(skip_channels)))
    candidates = (
        select(col(Invitation.id))
        .where(*wanted)
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
    return [Claim(int(r[0] or 0), token, r[1] == Status.SENT) for r in rows]


def renew(session: Session, claim: Claim, lease_until: datetime) -> frozenset[int]:
    """Extend this worker's lease on every row it still holds from the claim, in one statement;
    the ids of those rows (one taken by another worker meanwhile is not among them)."""
    held = session.execute(
        update(Invitation)
        .where(col(Invitation.claim_token) == claim.token)
        .values(claimed_until=lease_until)
        .returning(col(Invitation.id))
    )
    return frozenset(row_id for (row_id,) in held if row_id is not None)
