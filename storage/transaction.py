"""One unit of work on a SQLAlchemy session: the general :class:`storage.interface.Transaction`.

Most use cases write a few rows now and then (a keyword, a receipt, a batch of triggers) and read
best through the ORM or set queries. The reply statements they share with the hot path run on the
session's own connection, through the same prepared statements (:mod:`storage.replies`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage import triggers
from storage.interface import (
    AnswerRow,
    Changes,
    GivenAnswer,
    InboundRow,
    NewAlert,
    NewInvitation,
    OutboxRow,
    Receipted,
    ReplyTarget,
    Respondent,
    SavedAlert,
    Step,
    StoredReply,
    Triggered,
)
from storage.models import Alert, Answer, InboundMessage, Invitation, Setting, Suppression
from storage.models import Respondent as RespondentRow
from storage.prepared import RawTransaction
from storage.queries import changed
from storage.replies import RawReplies, ReplyStatements
from storage.values import LIVE_STATUSES, OPEN_STATUSES, Closure, Status

# Columns every new invitation starts with.
_FRESH = {"version": 0, "attempts": 0, "question_index": 0, "reprompts": 0}
# Field names, read with getattr: dataclasses.asdict deep-copies every value, which cost more
# than the INSERT of a 1000-survey batch.
_NEW = tuple(f.name for f in fields(NewInvitation))
_INBOUND = tuple(f.name for f in fields(InboundRow))


class SessionTransaction:
    def __init__(self, session: Session, statements: ReplyStatements) -> None:
        self.session = session
        self._statements = statements
        self._raw: RawReplies | None = None
        self._cursor: Any = None

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    @property
    def _replies(self) -> RawReplies:
        if self._raw is None:
            connection = self.session.connection()
            self._cursor = connection.connection.cursor()
            integrity = connection.dialect.loaded_dbapi.IntegrityError
            self._raw = RawReplies(RawTransaction(self._cursor, integrity), self._statements)
        return self._raw

    # -- the reply statements ------------------------------------------------------------------

    def reply_target(
        self, channel: str, address_hash: str, now: datetime, invitation_id: int | None
    ) -> ReplyTarget | None:
        return self._replies.reply_target(channel, address_hash, now, invitation_id)

    def stored_reply(self, channel: str, provider_message_id: str) -> StoredReply | None:
        return self._replies.stored_reply(channel, provider_message_id)

    def answers_so_far(self, invitation_id: int) -> dict[str, GivenAnswer]:
        return self._replies.answers_so_far(invitation_id)

    def add_inbound(self, row: InboundRow) -> None:
        self.session.add(InboundMessage(**{name: getattr(row, name) for name in _INBOUND}))
        self.session.flush()

    def step_invitation(self, invitation_id: int, version: int, step: Step) -> bool:
        return self._replies.step_invitation(invitation_id, version, step)

    def save_answer(self, row: AnswerRow, *, exists: bool) -> None:
        self._replies.save_answer(row, exists=exists)

    def add_events(self, rows: Sequence[OutboxRow]) -> None:
        self._replies.add_events(rows)

    def save_alert(self, alert: NewAlert) -> SavedAlert:
        return self._replies.save_alert(alert)

    # -- respondents and suppression -----------------------------------------------------------

    def _respondent_row(self, channel: str, address_hash: str) -> RespondentRow | None:
        return self.session.scalars(
            select(RespondentRow).where(
                col(RespondentRow.channel) == channel,
                col(RespondentRow.address_hash) == address_hash,
            )
        ).first()

    def respondent(
        self, channel: str, address_hash: str, address: str, now: datetime
    ) -> Respondent:
        found = self._respondent_row(channel, address_hash)
        if found is None:
            row = RespondentRow(
                channel=channel, address_hash=address_hash, address=address, created_at=now
            )
            try:
                with self.session.begin_nested():
                    self.session.add(row)
                    self.session.flush()
            except IntegrityError:  # made by another writer meanwhile
                return self.respondent(channel, address_hash, address, now)
            found = row
        elif found.address is None:
            found.address = address
            found.erased_at = None
        assert found.id is not None
        return Respondent(found.id, found.locale)

    def find_respondent(self, channel: str, address_hash: str) -> Respondent | None:
        found = self._respondent_row(channel, address_hash)
        if found is None or found.id is None:
            return None
        return Respondent(found.id, found.locale)

    def is_suppressed(self, channel: str, address_hash: str) -> bool:
        return self.session.get(Suppression, (channel, address_hash)) is not None

    def suppress(self, channel: str, address_hash: str, reason: str, now: datetime) -> bool:
        if self.is_suppressed(channel, address_hash):
            return False
        self.session.add(
            Suppression(channel=channel, address_hash=address_hash, reason=reason, created_at=now)
        )
        return True

    def unsuppress(self, channel: str, address_hash: str) -> None:
        changed(
            self.session,
            delete(Suppression).where(
                col(Suppression.channel) == channel,
                col(Suppression.address_hash) == address_hash,
            ),
        )

    def close_open(self, respondent_id: int, reason: Closure, now: datetime) -> int:
        return changed(
            self.session,
            update(Invitation)
            .where(
                col(Invitation.respondent_id) == respondent_id,
                col(Invitation.status).in_(OPEN_STATUSES),
            )
            .values(
                status=Status.CANCELLED,
                reason=reason,
                closed_at=now,
                version=col(Invitation.version) + 1,
            ),
        )

    # -- triggering ----------------------------------------------------------------------------

    def existing_invitations(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Triggered]:
        found = triggers.existing_invitations(self.session, keys)
        return {
            key: Triggered(
                int(row.id or 0),
                row.interaction_id,
                row.survey,
                Status(row.status),
                Closure(row.reason) if row.reason else None,
                row.send_at,
            )
            for key, row in found.items()
        }

    def respondent_ids(
        self, digests: Mapping[tuple[str, str], str], now: datetime
    ) -> dict[tuple[str, str], int]:
        return triggers.respondent_ids(self.session, digests, now)

    def suppressed(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        return triggers.suppressed(self.session, keys)

    def latest_live(self, throttle_keys: Collection[str], since: datetime) -> dict[str, datetime]:
        return triggers.latest_live(self.session, throttle_keys, since, LIVE_STATUSES)

    def insert_invitations(self, rows: Sequence[NewInvitation]) -> list[int]:
        return triggers.insert_invitations(
            self.session, [{name: getattr(row, name) for name in _NEW} | _FRESH for row in rows]
        )

    def cancel_unanswered(
        self, interaction_id: str, survey: str | None, now: datetime
    ) -> int | None:
        statement = select(Invitation).where(col(Invitation.interaction_id) == interaction_id)
        if survey is not None:
            statement = statement.where(col(Invitation.survey) == survey)
        rows = list(self.session.scalars(statement))
        if not rows:
            return None
        cancelled = 0
        for row in rows:
            if row.status in OPEN_STATUSES and row.responded_at is None:
                row.status, row.reason, row.closed_at = Status.CANCELLED, Closure.CANCELLED, now
                row.version += 1
                cancelled += 1
        return cancelled

    def expire(self, now: datetime) -> int:
        return changed(
            self.session,
            update(Invitation)
            .where(col(Invitation.status) == Status.SENT, col(Invitation.expires_at) <= now)
            .values(status=Status.EXPIRED, closed_at=now, version=col(Invitation.version) + 1),
        )

    # -- receipts ------------------------------------------------------------------------------

    def receipted(self, channel: str, provider_message_id: str) -> Receipted | None:
        row = self.session.execute(
            select(
                col(Invitation.id),
                col(Invitation.status),
                col(Invitation.delivery_status),
                col(Invitation.responded_at),
                col(RespondentRow.address),
            )
            .outerjoin(RespondentRow, col(RespondentRow.id) == col(Invitation.respondent_id))
            .where(
                col(Invitation.channel) == channel,
                col(Invitation.provider_message_id) == provider_message_id,
            )
            .limit(1)
        ).first()
        if row is None:
            return None
        invitation_id, status, delivery, responded_at, address = row
        return Receipted(int(invitation_id), Status(status), delivery, responded_at, address)

    def change(self, invitation_id: int, changes: Changes) -> None:
        changed(
            self.session,
            update(Invitation)
            .where(col(Invitation.id) == invitation_id)
            .values(version=col(Invitation.version) + 1, **changes),
        )

    # -- privacy and settings ------------------------------------------------------------------

    def erase(self, respondent_id: int, now: datetime, scrub: Callable[[str], str]) -> int:
        session = self.session
        invitations = list(
            session.scalars(
                select(col(Invitation.id)).where(col(Invitation.respondent_id) == respondent_id)
            )
        )
        mine = col(Invitation.id).in_(invitations)
        changed(
            session,
            update(Answer).where(col(Answer.invitation_id).in_(invitations)).values(comment=None),
        )
        changed(
            session,
            update(Alert).where(col(Alert.invitation_id).in_(invitations)).values(comment=None),
        )
        changed(
            session,
            update(Invitation)
            .where(mine, col(Invitation.status).in_(OPEN_STATUSES))
            .values(status=Status.CANCELLED, reason=Closure.ERASED, closed_at=now),
        )
        changed(
            session, update(Invitation).where(mine).values(respondent_id=None, throttle_key=None)
        )
        errors = session.execute(
            select(col(Invitation.id), col(Invitation.last_error)).where(
                mine, col(Invitation.last_error).is_not(None)
            )
        ).all()
        for invitation_id, error in errors:
            scrubbed = scrub(error)
            if scrubbed != error:
                changed(
                    session,
                    update(Invitation)
                    .where(col(Invitation.id) == invitation_id)
                    .values(last_error=scrubbed),
                )
        changed(
            session,
            update(InboundMessage)
            .where(col(InboundMessage.respondent_id) == respondent_id)
            .values(raw_text=None, reply=None, respondent_id=None),
        )
        respondent = session.get(RespondentRow, respondent_id)
        if respondent is not None:
            session.delete(respondent)
        return len(invitations)

    def purge_raw(self, before: datetime) -> int:
        return changed(
            self.session,
            update(InboundMessage)
            .where(
                col(InboundMessage.received_at) < before,
                col(InboundMessage.raw_text).is_not(None),
            )
            .values(raw_text=None, reply=None),
        )

    def setting(self, key: str, default: str) -> str:
        row = self.session.get(Setting, key)
        if row is not None:
            return row.value
        try:
            with self.session.begin_nested():
                self.session.add(Setting(key=key, value=default))
        except IntegrityError:  # stored by another writer meanwhile: theirs counts
            row = self.session.get(Setting, key)
            assert row is not None
            return row.value
        return default
