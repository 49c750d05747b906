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
import os
import random
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.alerts import Alert
from bot.channel import Button, Channel, OutboundMessage
from bot.errors import InvalidInput
from bot.settings import Settings
from bot.surveys import Survey
from bot.texts import message
from storage.models import Respondent, Setting, Suppression
from storage.replies import ReplyStatements

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone
    fcntl = None  # type: ignore[assignment]

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


@dataclass(frozen=True)
class InboundResult:
    replies: tuple[OutboundMessage, ...]
    reason: str
    duplicate: bool = False
    invitation_id: int | None = None
    alerts: tuple[Alert, ...] = ()
    closed: bool = False


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
        self.replies = ReplyStatements(engine.dialect)
        self.turn: WriteTurn | None = None
        if engine.dialect.name == "sqlite":
            self.turn = WriteTurn(engine.url.database or "")

    def write_turn(self) -> AbstractContextManager[object]:
        """Hold for a short read-then-write transaction: the turn to write (SQLite)."""
        return self.turn if self.turn is not None else nullcontext()

    # -- plumbing -------------------------------------------------------------------------

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
        return OutboundMessage(
            text=message(
                key,
                locale,
                brand=self.settings.csat_brand,
                contact=self.settings.csat_contact or self.settings.csat_brand,
            )
        )


class WriteTurn:
    """SQLite's single writer, handed over in turn instead of by SQLite's busy handler.

    SQLite makes a writer that finds the database locked sleep 1, 2, 5, 10... up to 100 ms and
    look again, which is what made replies slow under load. Every write of the service takes this
    turn first, and a writer waits on a lock that wakes it the moment the turn is free: a
    re-entrant thread lock within the process and, for ``csat serve --workers N`` and ``csat
    worker`` processes sharing the file, an exclusive ``flock`` on a companion file beside the
    database (where the platform has ``flock``). The file is opened for each outermost turn (two
    system calls), so no descriptor outlives it or leaks into a forked child.

    Holding the turn, a writer knows SQLite's own write lock is free (no other process of ours
    writes), so a short transaction cannot be made to wait: :meth:`try_acquire` is how the
    event loop runs a reply itself when nobody else is writing.
    """

    def __init__(self, database: str) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # only the owning thread changes it
        self._path = f"{database}-turn" if fcntl is not None and database else None
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the turn if it is free now, without waiting."""
        return self._acquire(blocking=False)

    def _acquire(self, *, blocking: bool) -> bool:
        if not self._lock.acquire(blocking):
            return False
        if self._depth == 0 and self._path is not None and fcntl is not None:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException as exc:
                os.close(fd)
                self._lock.release()
                if isinstance(exc, BlockingIOError):
                    return False
                raise
            self._fd = fd
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing drops the flock
        finally:
            self._lock.release()

    def __enter__(self) -> WriteTurn:
        self._acquire(blocking=True)
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class _Conflict(Exception):
    """Another writer changed the invitation first; the step is replayed on fresh state."""
