"""The store on SQLAlchemy: SQLite or PostgreSQL behind :class:`storage.interface.Store`.

Besides the queries, this is where the database's speed machinery lives, so no use case has to
know it:

- SQLite has one writer at a time. Every write takes the write turn first
  (:class:`storage.turn.WriteTurn`), which hands it over the moment it is free instead of
  leaving SQLite's busy handler to sleep and look again.
- A short write from the event loop (:meth:`SqlStore.write`) runs on the loop itself on SQLite
  when the turn is free: the transaction is a fraction of a millisecond of local work, and with
  one interpreter lock a thread hop adds its cost and hands the lock back and forth at every
  statement without running anything in parallel. While another thread or process holds the
  turn, the loop serves other requests and takes the turn when it is free, keeping this
  process's writes in arrival order; it never blocks. On PostgreSQL writes run on several writer
  threads, each on its own connection.
- A customer's reply runs on prepared statements on the driver's cursor (:mod:`storage.replies`).
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage import db, rollup
from storage.errors import DuplicateKey
from storage.export import iter_responses
from storage.models import InboundMessage, Invitation, Respondent, Suppression
from storage.scores import two_periods
from storage.turn import WriteTurn, is_busy
from storage.values import AlertStatus, Counts, PeriodCounts, Reason, Refreshed, Status

if TYPE_CHECKING:  # the write paths' modules load on first use: `csat score` never needs them
    from storage.interface import (
        AlertPost,
        AlertRecord,
        Changes,
        Claim,
        CommentRow,
        DueSend,
        FollowUpTimes,
        OutboxEvent,
        OutboxRow,
        PageTarget,
    )
    from storage.prepared import Prepared
    from storage.replies import RawReplies, ReplyStatements
    from storage.transaction import SessionTransaction

T = TypeVar("T")

# Writer threads on PostgreSQL: enough to keep a few round trips in flight, within the pool.
WRITERS = 8


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.turn: WriteTurn | None = None
        if engine.dialect.name == "sqlite":
            self.turn = WriteTurn(engine.url.database or "")
        self._writer = self._new_writer()
        self._finishes: dict[tuple[str, ...], Prepared] = {}
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """The database at ``url``, migrated (SQLite) or checked (PostgreSQL)."""
        return cls(db.prepare(url))

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    @cached_property
    def statements(self) -> ReplyStatements:
        """The reply path's prepared statements, compiled on first use (a report never needs
        them, and ``csat score`` should not wait for them)."""
        from storage.replies import ReplyStatements

        return ReplyStatements(self.engine.dialect)

    def write_turn(self) -> AbstractContextManager[object]:
        return self.turn if self.turn is not None else nullcontext()

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[SessionTransaction]:
        from storage.transaction import SessionTransaction

        with self.write_turn(), Session(self.engine, expire_on_commit=False) as session:
            tx = SessionTransaction(session, self.statements)
            try:
                yield tx
                tx.close()
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                raise DuplicateKey(str(exc.orig)) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                tx.close()

    @contextmanager
    def replying(self) -> Iterator[RawReplies]:
        from storage.prepared import raw_transaction
        from storage.replies import RawReplies

        try:
            with self.write_turn(), raw_transaction(self.engine) as raw:
                yield RawReplies(raw, self.statements)
        except IntegrityError as exc:
            raise DuplicateKey(str(exc.orig)) from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core connection in a transaction that holds the write turn, for tables outside the
        survey model (Slack's installs)."""
        with self.write_turn(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    # -- running writes from the event loop ----------------------------------------------------

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        turn = self.turn
        loop = asyncio.get_running_loop()
        if turn is None:
            return await loop.run_in_executor(self._writer, functools.partial(fn, *args))
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = asyncio.Lock()
        async with queue:
            if not turn.try_acquire():
                await turn.acquire_on_loop(self._writer)
            on_loop = db.loop_writes.set(True)
            try:
                return fn(*args)
            except Exception as exc:
                if not is_busy(exc):
                    raise
                # A writer that does not take the turn holds SQLite (a migration, a shell): the
                # use case rolled back; do it again on a thread that may wait.
            finally:
                db.loop_writes.reset(on_loop)
                turn.release()
            call = functools.partial(self._when_turn, turn, fn, *args)
            return await loop.run_in_executor(self._writer, call)

    @staticmethod
    def _when_turn(turn: WriteTurn, fn: Callable[..., T], *args: Any) -> T:
        with turn:
            return fn(*args)

    def close(self) -> None:
        writer, self._writer = self._writer, self._new_writer()
        writer.shutdown(wait=True)

    def _new_writer(self) -> ThreadPoolExecutor:
        threads = 1 if self.turn is not None else WRITERS
        return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="csat-writer")

    # -- reads ---------------------------------------------------------------------------------

    def is_suppressed(self, channel: str, address_hash: str) -> bool:
        with self._reading() as session:
            return session.get(Suppression, (channel, address_hash)) is not None

    def period_counts(
        self,
        previous_start: datetime,
        start: datetime,
        end: datetime,
        by: str | None,
        *,
        timezone: str | None = None,
    ) -> tuple[PeriodCounts, PeriodCounts]:
        if timezone is not None:
            mixed = rollup.counts(self.engine, [previous_start, start, end], by, timezone)
            if mixed is not None:
                before, now = mixed
                return PeriodCounts(dict(now)), PeriodCounts(dict(before))
        return two_periods(self.engine, previous_start, start, end, by)

    def bucket_counts(
        self, bounds: Sequence[datetime], *, timezone: str | None = None
    ) -> list[Counts]:
        from storage.trends import EMPTY, bucket_counts

        if timezone is not None:
            mixed = rollup.counts(self.engine, bounds, None, timezone)
            if mixed is not None:
                return [groups.get(None, EMPTY) for groups in mixed]
        return bucket_counts(self.engine, bounds)

    def refresh_rollups(self, timezone: str, now: datetime, *, chunks: int = 1) -> Refreshed:
        return rollup.refresh(self.engine, timezone, now, chunks=chunks, turn=self.turn)

    def page_target(self, invitation_id: int) -> PageTarget | None:
        columns = (
            Invitation.id,
            Invitation.channel,
            Respondent.address,
            Invitation.status,
            Invitation.question_index,
            Invitation.survey,
            Invitation.survey_version,
            Invitation.locale,
            Invitation.send_at,
            Invitation.expires_at,
        )
        statement = (
            select(*(col(c) for c in columns))
            .select_from(Invitation)
            .outerjoin(Respondent, col(Respondent.id) == col(Invitation.respondent_id))
            .where(col(Invitation.id) == invitation_id)
        )
        with self._reading() as session:
            row = session.execute(statement).first()
        if row is None:
            return None
        from storage.interface import PageTarget

        found, channel, address, status, index, survey, version, locale, send_at, expires_at = row
        return PageTarget(
            id=found,
            channel=channel,
            address=address,
            status=Status(status),
            question_index=index,
            survey=survey,
            survey_version=version,
            locale=locale,
            send_at=send_at,
            expires_at=expires_at,
        )

    def corrections(self, invitation_id: int, since: datetime) -> int:
        # Bounded by received_at (indexed): inbound_message has no index on its invitation.
        statement = (
            select(func.count())
            .select_from(InboundMessage)
            .where(
                col(InboundMessage.received_at) >= since,
                col(InboundMessage.invitation_id) == invitation_id,
                col(InboundMessage.reason) == Reason.CORRECTION,
            )
        )
        with self._reading() as session:
            return int(session.execute(statement).scalar_one())

    def claim_events(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboxEvent]:
        from storage import outbox

        with self.write_turn():
            return outbox.claim(self.engine, now, lease_until, limit)

    def finish_event(self, event: OutboxEvent, changes: Mapping[str, Any]) -> bool:
        from storage import outbox

        with self.write_turn():
            return outbox.finish(self.engine, event, dict(changes))

    # -- alerts --------------------------------------------------------------------------------

    def alert(self, alert_id: int) -> AlertRecord | None:
        from storage import alerts

        return alerts.one(self.engine, alert_id)

    def alerts(
        self, status: AlertStatus | None, limit: int, before_id: int | None = None
    ) -> list[AlertRecord]:
        from storage import alerts

        return alerts.listed(self.engine, status, limit, before_id)

    def alert_posts(self, alert_id: int) -> list[AlertPost]:
        from storage import alerts

        return alerts.posts(self.engine, alert_id)

    def add_alert_posts(self, alert_id: int, posts: Sequence[AlertPost], now: datetime) -> None:
        from storage import alerts

        with self.write_turn():
            alerts.add_posts(self.engine, alert_id, posts, now)

    def follow_up(
        self,
        alert_id: int,
        version: int,
        changes: Mapping[str, Any],
        events: Callable[[AlertRecord], Sequence[OutboxRow]],
    ) -> AlertRecord | None:
        from storage import alerts

        with self.write_turn():
            return alerts.follow_up(self.engine, alert_id, version, changes, events)

    def due_reminders(self, now: datetime, limit: int) -> list[AlertRecord]:
        from storage import alerts

        with self.write_turn():
            return alerts.due_reminders(self.engine, now, limit)

    def follow_up_times(self, start: datetime, end: datetime) -> list[FollowUpTimes]:
        from storage import alerts

        return alerts.follow_up_times(self.engine, start, end)

    def latest_comments(
        self,
        start: datetime,
        end: datetime,
        *,
        low_only: bool,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[CommentRow]:
        from storage.comments import latest_comments

        return latest_comments(
            self.engine, start, end, low_only=low_only, limit=limit, before=before
        )

    def reason_counts(self, start: datetime, end: datetime, window: timedelta) -> dict[str, int]:
        from storage.reasons import reason_counts

        return reason_counts(self.engine, start, end, window)

    def responses(
        self, since: datetime | None, until: datetime | None, limit: int | None
    ) -> Iterator[tuple[Any, ...]]:
        return iter_responses(self.engine, since, until, limit=limit)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- sending -------------------------------------------------------------------------------

    def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, skip_channels: Collection[str]
    ) -> list[DueSend]:
        from storage.interface import DueSend
        from storage.queries import claim_due

        with self.writing() as tx:
            claims = claim_due(tx.session, now, lease_until, limit, skip_channels)
        if not claims:
            return []
        with self._reading() as session:
            ids = [claim.invitation_id for claim in claims]
            invitations = {
                row.id: row
                for row in session.scalars(select(Invitation).where(col(Invitation.id).in_(ids)))
            }
            wanted = {row.respondent_id for row in invitations.values() if row.respondent_id}
            rows = session.execute(
                select(col(Respondent.id), col(Respondent.address)).where(
                    col(Respondent.id).in_(sorted(wanted))
                )
            )
            addresses: dict[int, str | None] = {rid: address for rid, address in rows}
        due: list[DueSend] = []
        for claim in claims:
            row = invitations.get(claim.invitation_id)
            if row is None:
                continue
            due.append(
                DueSend(
                    claim=claim,
                    id=claim.invitation_id,
                    channel=row.channel,
                    survey=row.survey,
                    survey_version=row.survey_version,
                    locale=row.locale,
                    question_index=row.question_index,
                    attempts=row.attempts,
                    retry_until=row.retry_until,
                    address=addresses.get(row.respondent_id) if row.respondent_id else None,
                )
            )
        return due

    def suppressed_sends(self, invitation_ids: Collection[int]) -> set[int]:
        if not invitation_ids:
            return set()
        statement = (
            select(col(Invitation.id))
            .join(Respondent, col(Respondent.id) == col(Invitation.respondent_id))
            .join(
                Suppression,
                and_(
                    col(Suppression.channel) == col(Respondent.channel),
                    col(Suppression.address_hash) == col(Respondent.address_hash),
                ),
            )
            .where(col(Invitation.id).in_(sorted(invitation_ids)))
        )
        with self.engine.connect() as connection:
            return {row_id for (row_id,) in connection.execute(statement) if row_id is not None}

    def finish(self, claim: Claim, changes: Changes) -> bool:
        """A send's outcome: one UPDATE, the one write per send. It runs on the driver's cursor
        from a statement compiled once per set of changed columns, in autocommit (one statement
        is atomic alone; on PostgreSQL that is one round trip instead of BEGIN, UPDATE, COMMIT)."""
        from storage.prepared import raw_in

        keys = tuple(sorted(changes))
        prepared = self._finishes.get(keys)
        if prepared is None:
            prepared = self._finishes[keys] = self._finish_statement(keys)
        values: dict[str, Any] = {f"new_{key}": value for key, value in changes.items()}
        values["finished_id"] = claim.invitation_id
        values["finished_token"] = claim.token
        with self.write_turn(), self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            with raw_in(connection) as raw:
                return bool(raw.execute(prepared, values))

    def _finish_statement(self, keys: tuple[str, ...]) -> Prepared:
        from storage.prepared import Prepared

        columns = Invitation.__table__.c  # type: ignore[attr-defined]
        statement = (
            update(Invitation)
            .where(
                col(Invitation.id) == bindparam("finished_id", type_=columns["id"].type),
                col(Invitation.claim_token)
                == bindparam("finished_token", type_=columns["claim_token"].type),
            )
            .values(
                claim_token=None,
                claimed_until=None,
                version=col(Invitation.version) + 1,
                **{key: bindparam(f"new_{key}", type_=columns[key].type) for key in keys},
            )
        )
        return Prepared(statement, self.engine.dialect)

    def renew(self, claim: Claim, lease_until: datetime) -> frozenset[int]:
        from storage.queries import renew

        with self.writing() as tx:
            return renew(tx.session, claim, lease_until)

    # -- digests -------------------------------------------------------------------------------

    def claim_digest(
        self, schedule: str, period_start: datetime, now: datetime, lease_until: datetime
    ) -> str | None:
        import uuid

        from storage.models import Digest
        from storage.queries import changed

        token = str(uuid.uuid4())
        mine = and_(col(Digest.schedule) == schedule, col(Digest.period_start) == period_start)
        with self.writing() as tx:
            session = tx.session
            if session.get(Digest, (schedule, period_start)) is None:
                try:
                    with session.begin_nested():
                        session.add(
                            Digest(
                                schedule=schedule,
                                period_start=period_start,
                                claim_token=token,
                                claimed_until=lease_until,
                            )
                        )
                except IntegrityError:  # another process made the row first
                    return None
                return token
            taken = changed(
                session,
                update(Digest)
                .where(
                    mine,
                    col(Digest.sent_at).is_(None),
                    or_(col(Digest.claimed_until).is_(None), col(Digest.claimed_until) <= now),
                )
                .values(claim_token=token, claimed_until=lease_until),
            )
            return token if taken == 1 else None

    def finish_digest(
        self, schedule: str, period_start: datetime, token: str, now: datetime
    ) -> bool:
        from storage.models import Digest
        from storage.queries import changed

        with self.writing() as tx:
            return (
                changed(
                    tx.session,
                    update(Digest)
                    .where(
                        col(Digest.schedule) == schedule,
                        col(Digest.period_start) == period_start,
                        col(Digest.claim_token) == token,
                    )
                    .values(sent_at=now, claimed_until=None),
                )
                == 1
            )

    def last_digest(self, schedule: str) -> datetime | None:
        from sqlalchemy import func

        from storage.models import Digest

        with self._reading() as session:
            newest: datetime | None = session.execute(
                select(func.max(col(Digest.period_start))).where(col(Digest.schedule) == schedule)
            ).scalar()
        return newest

    # -- dashboard sign-in ---------------------------------------------------------------------

    def add_login_link(self, token_hash: str, lead: str, expires_at: datetime) -> None:
        from storage.models import LoginLink

        with self.writing() as tx:
            tx.session.add(LoginLink(token_hash=token_hash, lead=lead, expires_at=expires_at))

    def use_login_link(self, token_hash: str, now: datetime) -> str | None:
        from storage.models import LoginLink
        from storage.queries import changed

        with self.writing() as tx:
            used = changed(
                tx.session,
                update(LoginLink)
                .where(
                    col(LoginLink.token_hash) == token_hash,
                    col(LoginLink.used_at).is_(None),
                    col(LoginLink.expires_at) > now,
                )
                .values(used_at=now),
            )
            if used != 1:
                return None
            found = tx.session.get(LoginLink, token_hash)
            return found.lead if found is not None else None

    # -- housekeeping --------------------------------------------------------------------------

    def truncate_log(self) -> bool:
        if self.turn is None:
            return True
        return db.truncate_wal(self.engine, self.write_turn)
