"""The reply path's statements: find the open survey, record the message, step the invitation,
save the answer.

A customer's reply is the hottest write path (an SMS campaign's answers arrive together), so its
statements are built once here with bind parameters, compiled once per dialect and run on the
driver's cursor (:mod:`storage.prepared`): no ORM identity map or unit of work, and no per-call
execution bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.engine import Dialect

from storage.alerts import AlertStatements, save_alert
from storage.interface import (
    AnswerRow,
    GivenAnswer,
    InboundRow,
    NewAlert,
    OpenInvitation,
    OutboxRow,
    ReplyTarget,
    SavedAlert,
    Step,
    StoredReply,
)
from storage.models import Answer, InboundMessage, Invitation, Respondent
from storage.outbox import ROW_COLUMNS, outbox_table, rows_for
from storage.prepared import Prepared, RawTransaction
from storage.types import UTCDateTime
from storage.values import Status


def _table(model: Any) -> Table:
    return cast("Table", model.__table__)


RESPONDENT, INVITATION = _table(Respondent), _table(Invitation)
ANSWER, INBOUND = _table(Answer), _table(InboundMessage)
_respondent, _invitation, _answer = RESPONDENT.c, INVITATION.c, ANSWER.c


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
    _invitation.status == Status.SENT,
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
_ANSWERS = select(_answer.question_id, _answer.value, _answer.kind, _answer.scale_max).where(
    _answer.invitation_id == bindparam("invitation_id")
)
_STORED = select(INBOUND.c.reply, INBOUND.c.reason, INBOUND.c.invitation_id).where(
    INBOUND.c.channel == bindparam("channel"),
    INBOUND.c.provider_message_id == bindparam("provider_message_id"),
)
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
_ANSWER_KEY = and_(
    _answer.invitation_id == bindparam("b_invitation_id"),
    _answer.question_id == bindparam("b_question_id"),
)
_ANSWER_VALUES = {
    "value": bindparam("b_value"),
    "comment": bindparam("b_comment"),
    "choice": bindparam("b_choice"),
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
INBOUND_COLUMNS = (
    "channel",
    "provider_message_id",
    "respondent_id",
    "invitation_id",
    "raw_text",
    "parsed_value",
    "reason",
    "reply",
    "received_at",
)
ANSWER_COLUMNS = (
    "invitation_id",
    "question_id",
    "kind",
    "value",
    "comment",
    "choice",
    "scale_min",
    "scale_max",
    "positive",
    "negative",
    "answered_at",
    "channel",
    "agent",
    "team",
    "touchpoint",
    "survey",
    "locale",
)


class ReplyStatements:
    """The reply path's statements compiled for one database dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.newest_target = Prepared(_NEWEST_TARGET, dialect)
        self.named_target = Prepared(_NAMED_TARGET, dialect)
        self.answers = Prepared(_ANSWERS, dialect)
        self.stored = Prepared(_STORED, dialect)
        self.insert_inbound = Prepared(insert(INBOUND), dialect, INBOUND_COLUMNS)
        self.step = Prepared(_STEP, dialect)
        self.insert_answer = Prepared(insert(ANSWER), dialect, ANSWER_COLUMNS)
        self.update_answer = Prepared(_UPDATE_ANSWER, dialect)
        self.update_scored_answer = Prepared(_UPDATE_SCORED_ANSWER, dialect)
        self.insert_event = Prepared(insert(outbox_table), dialect, ROW_COLUMNS)
        self.alerts = AlertStatements(dialect)


class RawReplies:
    """A reply's statements run on one transaction's cursor (:class:`ReplyTransaction`)."""

    def __init__(self, tx: RawTransaction, statements: ReplyStatements) -> None:
        self.tx = tx
        self.statements = statements

    def reply_target(
        self, channel: str, address_hash: str, now: datetime, invitation_id: int | None
    ) -> ReplyTarget | None:
        params: dict[str, Any] = {"channel": channel, "address_hash": address_hash}
        if invitation_id is None:
            params["now"] = now
            row = self.tx.first(self.statements.newest_target, params)
        else:
            params["invitation_id"] = invitation_id
            row = self.tx.first(self.statements.named_target, params)
        if row is None:
            return None
        invitation = None
        if row[2] is not None:
            invitation = OpenInvitation(row[2], Status(row[3]), *row[4:])
        return ReplyTarget(int(row[0]), row[1], invitation)

    def answers_so_far(self, invitation_id: int) -> dict[str, GivenAnswer]:
        rows = self.tx.all(self.statements.answers, {"invitation_id": invitation_id})
        return {question: GivenAnswer(value, kind, top) for question, value, kind, top in rows}

    def stored_reply(self, channel: str, provider_message_id: str) -> StoredReply | None:
        row = self.tx.first(
            self.statements.stored,
            {"channel": channel, "provider_message_id": provider_message_id},
        )
        return None if row is None else StoredReply(row[0], row[1], row[2])

    def add_inbound(self, row: InboundRow) -> None:
        self.tx.execute(
            self.statements.insert_inbound, {name: getattr(row, name) for name in INBOUND_COLUMNS}
        )

    def step_invitation(self, invitation_id: int, version: int, step: Step) -> bool:
        touched = self.tx.execute(
            self.statements.step,
            {
                "b_id": invitation_id,
                "b_version": version,
                "b_status": step.status,
                "b_question_index": step.question_index,
                "b_reprompts": step.reprompts,
                "b_next_version": version + 1,
                "b_responded_at": step.responded_at,
                "b_closed_at": step.closed_at,
                "b_reason": step.reason,
            },
        )
        return touched == 1

    def save_answer(self, row: AnswerRow, *, exists: bool) -> None:
        if exists:
            params = {
                "b_invitation_id": row.invitation_id,
                "b_question_id": row.question_id,
                "b_value": row.value,
                "b_comment": row.comment,
                "b_choice": row.choice,
                "b_answered_at": row.answered_at,
            }
            statement = self.statements.update_answer
            if row.scale_min is not None:
                statement = self.statements.update_scored_answer
                params.update(
                    b_scale_min=row.scale_min,
                    b_scale_max=row.scale_max,
                    b_positive=row.positive,
                    b_negative=row.negative,
                )
            if self.tx.execute(statement, params) == 1:
                return
        self.tx.execute(
            self.statements.insert_answer, {name: getattr(row, name) for name in ANSWER_COLUMNS}
        )

    def save_alert(self, alert: NewAlert) -> SavedAlert:
        return save_alert(self.tx, self.statements.alerts, alert)

    def add_events(self, rows: Sequence[OutboxRow]) -> None:
        for values in rows_for(rows):
            self.tx.execute(self.statements.insert_event, values)
