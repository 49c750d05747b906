"""The service's shared plumbing: sessions, lookups, pseudonyms. The use cases build on it.

The service is synchronous (SQLAlchemy sessions); the async edges run it in a worker thread so the
event loop never blocks. Every use case is one transaction: it either completes or leaves the
store unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.alerts import Alert
from bot.channel import Button, Channel, OutboundMessage
from bot.errors import InvalidInput
from bot.settings import Settings
from bot.surveys import Survey, brand_for
from bot.texts import message
from storage.models import Respondent, Setting, Suppression
from storage.turn import WriteTurn

if TYPE_CHECKING:
    from storage.replies import ReplyStatements

log = logging.getLogger("csat.service")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TriggerResult:
    interaction_id: str
    survey: str
    invitation_id: int
    status: str
    reason: str | None
    send_at: datetime
    duplicate: bool

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["send_at"] = self.send_at.isoformat()
        return data


class Outcome(StrEnum):
    """What an inbound message came to, for an adapter to act on (edit the survey message, let
    a host bot have the message...) without reading the core's reason codes."""

    RECORDED = "recorded"  # a rating was stored, or replaced by a correction
    COMMENT = "comment"  # the comment was stored
    CLOSED = "closed"  # it answers a survey that is over (expired, closed, redefined)
    NOT_AN_ANSWER = "not_an_answer"  # no open survey: none sent, or the newest is done
    OTHER = "other"  # a re-prompt, a keyword, a lead's command, a skipped comment...


_OUTCOMES = {
    "rating": Outcome.RECORDED,
    "correction": Outcome.RECORDED,
    "comment": Outcome.COMMENT,
    "late": Outcome.CLOSED,
    "closed": Outcome.CLOSED,
    "survey_changed": Outcome.CLOSED,
    "no_open_survey": Outcome.NOT_AN_ANSWER,
    "after_completion": Outcome.NOT_AN_ANSWER,
}


@dataclass(frozen=True)
class InboundResult:
    replies: tuple[OutboundMessage, ...]
    reason: str  # the core's own code, for logs and tests; adapters read ``outcome``
    duplicate: bool = False
    invitation_id: int | None = None
    alerts: tuple[Alert, ...] = ()
    closed: bool = False

    @property
    def outcome(self) -> Outcome:
        return _OUTCOMES.get(self.reason, Outcome.OTHER)


def _encode(replies: Sequence[OutboundMessage]) -> str:
    """The replies as stored for a provider retry: what ``asdict`` gives, built without its deep
    copy, which cost more than the INSERT that stores it."""
    return json.dumps(
        [
            {f: getattr(r, f) for f in _MESSAGE_FIELDS}
            | {"buttons": [{"label": b.label, "value": b.value} for b in r.buttons]}
            for r in replies
        ]
    )


_MESSAGE_FIELDS = tuple(f.name for f in fields(OutboundMessage))


def _decode(raw: str | None) -> tuple[OutboundMessage, ...]:
    items = json.loads(raw) if raw else []
    return tuple(
        OutboundMessage(**{**item, "buttons": tuple(Button(**b) for b in item["buttons"])})
        for item in items
    )


class ServiceBase:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        surveys: Mapping[str, Survey],
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.surveys = dict(surveys)
        self.channels = dict(channels)
        self.clock = clock
        self.rng = rng or random.Random()
        self.leads = settings.leads()
        self._hash_key: bytes | None = None
        self.turn: WriteTurn | None = None
        if engine.dialect.name == "sqlite":
            self.turn = WriteTurn(engine.url.database or "")

    @cached_property
    def replies(self) -> ReplyStatements:
        """The reply path's prepared statements, compiled on first use (a report never needs
        them, and ``csat score`` should not wait for them)."""
        from storage.replies import ReplyStatements

        return ReplyStatements(self.engine.dialect)

    def write_turn(self) -> AbstractContextManager[object]:
        """Hold for a short read-then-write transaction: the turn to write (SQLite)."""
        return self.turn if self.turn is not None else nullcontext()

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads: no write turn, so a long export holds up no reply."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.write_turn(), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels))
            raise InvalidInput(f"'channel': {name!r} is not enabled (enabled: {known})") from None

    def survey(self, name: str) -> Survey:
        try:
            return self.surveys[name]
        except KeyError:
            known = ", ".join(sorted(self.surveys))
            raise InvalidInput(f"'survey': unknown survey {name!r} (known: {known})") from None

    def hash_key(self) -> bytes:
        if self._hash_key is None:
            if self.settings.csat_hash_key is not None:
                self._hash_key = self.settings.csat_hash_key.get_secret_value().encode()
            else:
                self._hash_key = self._stored_hash_key()
        return self._hash_key

    def _stored_hash_key(self) -> bytes:
        with self.session() as session:
            row = session.get(Setting, "hash_key")
            if row is None:
                session.add(Setting(key="hash_key", value=secrets.token_hex(32)))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                row = session.get(Setting, "hash_key")
            assert row is not None
            return row.value.encode()

    def pseudonym(self, channel: str, address: str) -> str:
        return hmac.new(
            self.hash_key(), f"{channel}:{address}".encode(), hashlib.sha256
        ).hexdigest()

    def _respondent(self, session: Session, channel: str, address: str) -> Respondent:
        found = self._find_respondent(session, channel, address)
        if found is not None:
            if found.address is None:
                found.address = address
                found.erased_at = None
            return found
        digest = self.pseudonym(channel, address)
        row = Respondent(
            channel=channel, address_hash=digest, address=address, created_at=self.clock()
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return self._respondent(session, channel, address)
        return row

    def _find_respondent(self, session: Session, channel: str, address: str) -> Respondent | None:
        digest = self.pseudonym(channel, address)
        return session.scalars(
            select(Respondent).where(
                col(Respondent.channel) == channel,
                col(Respondent.address_hash) == digest,
            )
        ).first()

    def is_suppressed(self, session: Session, channel: str, address: str) -> bool:
        key = (channel, self.pseudonym(channel, address))
        return session.get(Suppression, key) is not None

    def _text(self, key: str, locale: str | None) -> OutboundMessage:
        """A system message; without ``CSAT_CONTACT`` the HELP reply points at the brand, or
        without ``CSAT_BRAND`` either at "our team" in the message's language."""
        brand = brand_for(self.settings.csat_brand, locale)
        return OutboundMessage(
            text=message(key, locale, brand=brand, contact=self.settings.csat_contact or brand)
        )


class _Conflict(Exception):
    """Another writer changed the invitation first; the step is replayed on fresh state."""
