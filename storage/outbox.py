"""The webhook outbox: events waiting to be delivered, one row per event and receiving URL.

Rows are added by the transaction that records what they tell; the sender loop claims the due
ones for a lease (so two processes never post the same row at once), posts them, and marks each
delivered, or due again later, or given up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

from storage.interface import OutboxEvent, OutboxRow
from storage.types import UTCDateTime

metadata = MetaData()
outbox_table = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("url", String(500), nullable=False),
    Column("type", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("failed_at", UTCDateTime()),
    Column("last_error", String(500)),
    Column("claim_token", String(36)),
    Column("claimed_until", UTCDateTime()),
    UniqueConstraint("event_id", "url"),
    Index(
        "ix_webhook_outbox_due",
        "next_at",
        "id",
        sqlite_where=text("delivered_at IS NULL AND failed_at IS NULL"),
        postgresql_where=text("delivered_at IS NULL AND failed_at IS NULL"),
    ),
)
ROW_COLUMNS = ("event_id", "url", "type", "body", "created_at", "next_at", "attempts")
_waiting = and_(outbox_table.c.delivered_at.is_(None), outbox_table.c.failed_at.is_(None))


def rows_for(rows: Sequence[OutboxRow]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": row.event_id,
            "url": row.url,
            "type": row.type,
            "body": row.body,
            "created_at": row.created_at,
            "next_at": row.created_at,
            "attempts": 0,
        }
        for row in rows
    ]


def claim(engine: Engine, now: datetime, lease_until: datetime, limit: int) -> list[OutboxEvent]:
    """Take up to ``limit`` due rows for a lease; the rows another process holds are skipped."""
    token = str(uuid.uuid4())
    due = (
        select(outbox_table.c.id)
        .where(
            _waiting,
            outbox_table.c.next_at <= now,
            or_(outbox_table.c.claimed_until.is_(None), outbox_table.c.claimed_until < now),
        )
        .order_by(outbox_table.c.next_at, outbox_table.c.id)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(outbox_table)
        .where(outbox_table.c.id.in_(due.scalar_subquery()))
        .values(claim_token=token, claimed_until=lease_until)
        .returning(
            outbox_table.c.id,
            outbox_table.c.event_id,
            outbox_table.c.url,
            outbox_table.c.body,
            outbox_table.c.attempts,
            outbox_table.c.created_at,
        )
    )
    with engine.begin() as connection:
        found = connection.execute(statement).all()
    return [
        OutboxEvent(
            id=row[0],
            event_id=row[1],
            url=row[2],
            body=row[3],
            attempts=row[4],
            created_at=row[5],
            claim_token=token,
        )
        for row in sorted(found, key=lambda r: r[0])
    ]


def finish(engine: Engine, event: OutboxEvent, changes: dict[str, Any]) -> bool:
    """Record a delivery's outcome if the claim still holds; whether it did."""
    statement = (
        update(outbox_table)
        .where(outbox_table.c.id == event.id, outbox_table.c.claim_token == event.claim_token)
        .values(**changes, claim_token=None, claimed_until=None)
    )
    with engine.begin() as connection:
        return bool(connection.execute(statement).rowcount)
