"""Alerts and their follow-up: one row per low rating, and the chat messages that show it.

The reply path raises or updates an alert in the reply's own transaction (:class:`AlertStatements`
on its cursor); claims, reminders and the lists run on the engine. Every change of status is a
compare-and-set on ``version``, and a reminder is taken by setting ``reminded_at`` where it is still
empty, so two processes never both post one, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Dialect, Engine

from storage.interface import (
    AlertPost,
    AlertRecord,
    FollowUpTimes,
    NewAlert,
    OutboxRow,
    SavedAlert,
)
from storage.models import Alert
from storage.models import AlertPost as AlertPostModel
from storage.outbox import outbox_table, rows_for
from storage.prepared import Prepared, RawTransaction
from storage.values import AlertStatus

ALERT = cast(Table, Alert.__table__)  # type: ignore[attr-defined]
POST = cast(Table, AlertPostModel.__table__)  # type: ignore[attr-defined]
_a, _p = ALERT.c, POST.c

RECORD_COLUMNS = (
    _a.id,
    _a.invitation_id,
    _a.interaction_id,
    _a.channel,
    _a.agent,
    _a.team,
    _a.survey,
    _a.value,
    _a.scale_max,
    _a.comment,
    _a.reason,
    _a.status,
    _a.created_at,
    _a.remind_at,
    _a.reminded_at,
    _a.claimed_by,
    _a.claimed_at,
    _a.resolved_by,
    _a.resolved_at,
    _a.version,
)
NEW_COLUMNS = (
    "invitation_id",
    "interaction_id",
    "channel",
    "agent",
    "team",
    "survey",
    "value",
    "scale_max",
    "comment",
    "reason",
    "status",
    "created_at",
    "remind_at",
    "version",
)


def record(row: Sequence[Any]) -> AlertRecord:
    values = list(row)
    values[11] = AlertStatus(values[11])
    return AlertRecord(*values)


class AlertStatements:
    """The reply path's alert statements, compiled once per dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.find = Prepared(
            select(_a.id, _a.value, _a.scale_max, _a.comment, _a.reason).where(
                _a.invitation_id == _bind("invitation_id")
            ),
            dialect,
        )
        self.insert = Prepared(insert(ALERT), dialect, NEW_COLUMNS)
        self.update = Prepared(
            update(ALERT)
            .where(_a.id == _bind("b_id"))
            .values(
                value=_bind("b_value"),
                scale_max=_bind("b_scale_max"),
                comment=_coalesce("b_comment", _a.comment),
                reason=_coalesce("b_reason", _a.reason),
                version=_a.version + 1,
            ),
            dialect,
        )


def _bind(name: str) -> Any:
    return bindparam(name, required=True)


def _coalesce(name: str, column: Any) -> Any:
    return func.coalesce(bindparam(name, type_=column.type, required=True), column)


def save_alert(tx: RawTransaction, statements: AlertStatements, alert: NewAlert) -> SavedAlert:
    found = tx.first(statements.find, {"invitation_id": alert.invitation_id})
    if found is not None:
        before = tuple(found[1:])
        after = (
            alert.value,
            alert.scale_max,
            found[3] if alert.comment is None else alert.comment,
            found[4] if alert.reason is None else alert.reason,
        )
        if before == after:
            return SavedAlert(int(found[0]), created=False)
        tx.execute(
            statements.update,
            {
                "b_id": found[0],
                "b_value": alert.value,
                "b_scale_max": alert.scale_max,
                "b_comment": alert.comment,
                "b_reason": alert.reason,
            },
        )
        return SavedAlert(int(found[0]), created=False, changed=True)
    values = {name: getattr(alert, name, None) for name in NEW_COLUMNS}
    values.update(status=AlertStatus.OPEN.value, version=0)
    tx.execute(statements.insert, values)
    found = tx.first(statements.find, {"invitation_id": alert.invitation_id})
    assert found is not None, "the alert was just written in this transaction"
    return SavedAlert(int(found[0]), created=True)


def one(engine: Engine, alert_id: int) -> AlertRecord | None:
    with engine.connect() as connection:
        row = connection.execute(select(*RECORD_COLUMNS).where(_a.id == alert_id)).first()
    return None if row is None else record(row)


def listed(
    engine: Engine, status: AlertStatus | None, limit: int, before_id: int | None
) -> list[AlertRecord]:
    statement = select(*RECORD_COLUMNS).order_by(_a.id.desc()).limit(limit)
    if status is not None:
        statement = statement.where(_a.status == status.value)
    if before_id is not None:
        statement = statement.where(_a.id < before_id)
    with engine.connect() as connection:
        return [record(row) for row in connection.execute(statement)]


def posts(engine: Engine, alert_id: int) -> list[AlertPost]:
    statement = (
        select(_p.sink, _p.target, _p.message_id).where(_p.alert_id == alert_id).order_by(_p.id)
    )
    with engine.connect() as connection:
        return [AlertPost(*row) for row in connection.execute(statement)]


def add_posts(engine: Engine, alert_id: int, found: Sequence[AlertPost], now: datetime) -> None:
    if not found:
        return
    rows = [
        {
            "alert_id": alert_id,
            "sink": post.sink,
            "target": post.target[:200],
            "message_id": post.message_id[:64],
            "posted_at": now,
        }
        for post in found
    ]
    with engine.begin() as connection:
        connection.execute(insert(POST), rows)


def follow_up(
    engine: Engine,
    alert_id: int,
    version: int,
    changes: Mapping[str, Any],
    events: Callable[[AlertRecord], Sequence[OutboxRow]],
) -> AlertRecord | None:
    statement = (
        update(ALERT)
        .where(_a.id == alert_id, _a.version == version)
        .values(**changes, version=version + 1)
        .returning(*RECORD_COLUMNS)
    )
    with engine.begin() as connection:
        row = connection.execute(statement).first()
        if row is None:
            return None
        changed = record(row)
        _add_events(connection, events(changed))
    return changed


def _add_events(connection: Connection, rows: Sequence[OutboxRow]) -> None:
    if rows:
        connection.execute(insert(outbox_table), rows_for(rows))


def due_reminders(engine: Engine, now: datetime, limit: int) -> list[AlertRecord]:
    due = (
        select(_a.id)
        .where(_a.status == AlertStatus.OPEN.value, _a.reminded_at.is_(None), _a.remind_at <= now)
        .order_by(_a.remind_at, _a.id)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # The condition is checked again by the UPDATE itself: a row another process took between
    # the two (it waited on PostgreSQL's row lock) no longer matches and is not returned here.
    statement = (
        update(ALERT)
        .where(
            _a.id.in_(due.scalar_subquery()),
            and_(_a.reminded_at.is_(None), _a.status == AlertStatus.OPEN.value),
        )
        .values(reminded_at=now, version=_a.version + 1)
        .returning(*RECORD_COLUMNS)
    )
    with engine.begin() as connection:
        found = [record(row) for row in connection.execute(statement)]
    return sorted(found, key=lambda alert: alert.id)


def follow_up_times(engine: Engine, start: datetime, end: datetime) -> list[FollowUpTimes]:
    statement = select(_a.agent, _a.team, _a.created_at, _a.claimed_at, _a.resolved_at).where(
        _a.created_at >= start, _a.created_at < end
    )
    with engine.connect() as connection:
        return [FollowUpTimes(*row) for row in connection.execute(statement)]
