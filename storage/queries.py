"""The queries that must be fast or atomic: claiming due sends, and the reply path.

Score aggregates live in :mod:`storage.scores`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Executable,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlmodel import col

from storage.models import Answer, InboundMessage, Invitation, Respondent
from storage.types import UTCDateTime


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE without ORM synchronisation and say how many rows it touched."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(cast("CursorResult[Any]", result).rowcount)


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


# -- the reply path --------------------------------------------------------------------------
#
# A customer's reply is the hottest write path (an SMS campaign's answers arrive together), so its
# statements are built once here with bind parameters and run through a Core connection: no ORM
# identity map or unit of work, and SQLAlchemy's compiled cache is hit without rebuilding the
# statement each time.


def _table(model: Any) -> Table:
    return cast("Table", model.__table__)


RESPONDENT, INVITATION = _table(Respondent), _table(Invitation)
ANSWER, INBOUND = _table(Answer), _table(InboundMessage)
_respondent, _invitation, _answer = RESPONDENT.c, INVITATION.c, ANSWER.c


@dataclass(frozen=True)
class OpenInvitation:
    """What the reply path needs of an invitation; the dimensions are copied onto answers."""

    id: int
    status: str
    question_index: int
    reprompts: int
    version: int
    expires_at: datetime | None
    responded_at: datetime | None
    survey: str
    survey_version: str
    locale: str
    interaction_id: str
    channel: str
    agent: str | None
    team: str | None
    touchpoint: str | None


@dataclass(frozen=True)
class ReplyTarget:
    respondent_id: int
    respondent_locale: str | None
    invitation: OpenInvitation | None


_TARGET_COLUMNS = (
    _respondent.id.label("respondent_id"),
    _respondent.locale.label("respondent_locale"),
    _invitation.id.label("invitation_id"),
    _invitation.status,
    _invitation.question_index,
    _invitation.reprompts,
    _invitation.version,
    _invitation.expires_at,
    _invitation.responded_at,
    _invitation.survey,
    _invitation.survey_version,
    _invitation.locale,
    _invitation.interaction_id,
    _invitation.channel,
    _invitation.agent,
    _invitation.team,
    _invitation.touchpoint,
)
_BY_ADDRESS = and_(
    _respondent.channel == bindparam("channel"),
    _respondent.address_hash == bindparam("address_hash"),
)
_SENT_TO_RESPONDENT = and_(
    _invitation.respondent_id == _respondent.id, _invitation.sent_at.is_not(None)
)
_STILL_OPEN = and_(
    _invitation.status == "sent",
    or_(_invitation.expires_at.is_(None), _invitation.expires_at > bindparam("now")),
)
# The open invitation sent last; failing that, the last one sent (it answers "closed"/"late").
_NEWEST_TARGET = (
    select(*_TARGET_COLUMNS)
    .select_from(RESPONDENT.outerjoin(INVITATION, _SENT_TO_RESPONDENT))
    .where(_BY_ADDRESS)
    .order_by(case((_STILL_OPEN, 0), else_=1), _invitation.sent_at.desc())
    .limit(1)
)
_NAMED_TARGET = (
    select(*_TARGET_COLUMNS)
    .select_from(
        RESPONDENT.outerjoin(
            INVITATION,
            and_(_SENT_TO_RESPONDENT, _invitation.id == bindparam("invitation_id")),
        )
    )
    .where(_BY_ADDRESS)
    .limit(1)
)


def reply_target(
    connection: Connection,
    channel: str,
    address_hash: str,
    now: datetime,
    invitation_id: int | None,
) -> ReplyTarget | None:
    """One indexed lookup for respondent and invitation; None when the address is unknown."""
    params: dict[str, Any] = {"channel": channel, "address_hash": address_hash}
    if invitation_id is None:
        params["now"] = now
        row = connection.execute(_NEWEST_TARGET, params).first()
    else:
        params["invitation_id"] = invitation_id
        row = connection.execute(_NAMED_TARGET, params).first()
    if row is None:
        return None
    values = tuple(row)
    invitation = OpenInvitation(*values[2:]) if values[2] is not None else None
    return ReplyTarget(int(values[0]), values[1], invitation)


_ANSWERS = select(_answer.question_id, _answer.value).where(
    _answer.invitation_id == bindparam("invitation_id")
)


def answers_so_far(connection: Connection, invitation_id: int) -> dict[str, int | None]:
    rows = connection.execute(_ANSWERS, {"invitation_id": invitation_id})
    return {question_id: value for question_id, value in rows}


_INSERT_INBOUND = insert(INBOUND)
_STORED = select(INBOUND.c.reply, INBOUND.c.reason, INBOUND.c.invitation_id).where(
    INBOUND.c.channel == bindparam("channel"),
    INBOUND.c.provider_message_id == bindparam("provider_message_id"),
)


def stored_reply(
    connection: Connection, channel: str, provider_message_id: str
) -> tuple[str | None, str, int | None] | None:
    """(reply, reason, invitation_id) recorded for a provider message id, if it was seen."""
    row = connection.execute(
        _STORED, {"channel": channel, "provider_message_id": provider_message_id}
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def insert_inbound(connection: Connection, values: dict[str, Any]) -> None:
    """Raises IntegrityError when the provider's message id was recorded before (a retry)."""
    connection.execute(_INSERT_INBOUND, values)


_UTC = UTCDateTime()
# Columns a step leaves alone are kept with COALESCE, so the statement is the same every time.
_STEP = (
    update(INVITATION)
    .where(_invitation.id == bindparam("b_id"), _invitation.version == bindparam("b_version"))
    .values(
        status=bindparam("b_status"),
        question_index=bindparam("b_question_index"),
        reprompts=bindparam("b_reprompts"),
        version=bindparam("b_next_version"),
        responded_at=func.coalesce(
            _invitation.responded_at, bindparam("b_responded_at", type_=_UTC)
        ),
        closed_at=func.coalesce(bindparam("b_closed_at", type_=_UTC), _invitation.closed_at),
        reason=func.coalesce(bindparam("b_reason", type_=String()), _invitation.reason),
    )
)


def step_invitation(
    connection: Connection,
    invitation_id: int,
    version: int,
    *,
    status: str,
    question_index: int,
    reprompts: int,
    responded_at: datetime | None,
    closed_at: datetime | None,
    reason: str | None,
) -> bool:
    """Move the invitation on if nobody else did since it was read at ``version``.

    ``responded_at`` is only set when still empty; ``closed_at`` and ``reason`` only when given.
    """
    result = connection.execute(
        _STEP,
        {
            "b_id": invitation_id,
            "b_version": version,
            "b_status": status,
            "b_question_index": question_index,
            "b_reprompts": reprompts,
            "b_next_version": version + 1,
            "b_responded_at": responded_at,
            "b_closed_at": closed_at,
            "b_reason": reason,
        },
    )
    return int(result.rowcount) == 1


_INSERT_ANSWER = insert(ANSWER)
_ANSWER_KEY = and_(
    _answer.invitation_id == bindparam("b_invitation_id"),
    _answer.question_id == bindparam("b_question_id"),
)
_ANSWER_VALUES = {
    "value": bindparam("b_value"),
    "comment": bindparam("b_comment"),
    "answered_at": bindparam("b_answered_at", type_=_UTC),
}
_UPDATE_ANSWER = update(ANSWER).where(_ANSWER_KEY).values(_ANSWER_VALUES)
_UPDATE_SCORED_ANSWER = (
    update(ANSWER)
    .where(_ANSWER_KEY)
    .values(
        {
            **_ANSWER_VALUES,
            "scale_min": bindparam("b_scale_min"),
            "scale_max": bindparam("b_scale_max"),
            "positive": bindparam("b_positive"),
            "negative": bindparam("b_negative"),
        }
    )
)


def save_answer(connection: Connection, row: dict[str, Any], *, exists: bool) -> None:
    """Insert the answer, or overwrite the value of the one already there (latest counts).

    ``row`` has every column of a new answer; the scale columns are kept on an existing answer
    unless this one was rated on a scale.
    """
    if exists:
        params = {
            "b_invitation_id": row["invitation_id"],
            "b_question_id": row["question_id"],
            "b_value": row["value"],
            "b_comment": row["comment"],
            "b_answered_at": row["answered_at"],
        }
        statement = _UPDATE_ANSWER
        if row["scale_min"] is not None:
            statement = _UPDATE_SCORED_ANSWER
            params.update(
                b_scale_min=row["scale_min"],
                b_scale_max=row["scale_max"],
                b_positive=row["positive"],
                b_negative=row["negative"],
            )
        if connection.execute(statement, params).rowcount == 1:
            return
    connection.execute(_INSERT_ANSWER, row)
