"""Engine set-up and migrations.

SQLite runs in WAL mode with a busy timeout so the web app and the sender loop can write without
"database is locked" errors; PostgreSQL is reached through psycopg 3 with the same URL setting.

SQLite connections run with ``secure_delete`` on: space freed by a DELETE or by an UPDATE that
shrinks a row (an erased comment, a blanked raw text) is overwritten with zeros, in the page and
on the freelist, instead of lingering in the file. The old page images an erasure leaves in the
write-ahead log go with :func:`truncate_wal`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from storage.errors import DatabaseSettingError
from storage.turn import is_busy

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

HEAD_REVISION = "0009"
"""The newest migration. Checking a database against it is one SELECT, so a command that only
reads (``csat score``) never loads alembic; a test holds it equal to the migrations' head."""


def normalise_url(url: str) -> str:
    """Accept the URLs people write (``postgres://``, ``postgresql://``) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        # A checkout never waits (the event loop takes connections for replies, and long reads
        # on the thread pool must not exhaust them); a SQLite connection is only a file handle
        # and a page cache.
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = -1
        if url in ("sqlite://", "sqlite:///:memory:"):
            raise DatabaseSettingError(
                "CSAT_DATABASE_URL: in-memory SQLite is not supported; name a file"
            )
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except Exception as exc:  # SQLAlchemy raises several types for a bad URL
        raise DatabaseSettingError(f"CSAT_DATABASE_URL: {exc}") from exc
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkout", _loop_checkout)
        event.listen(engine, "checkin", _loop_checkin)
    return engine


BUSY_TIMEOUT_MS = 30_000

# Set while the event loop itself runs a write (bot.hub): SQLite connections taken then give up at
# once when the database is locked (busy_timeout 0) instead of sleeping on the loop's thread.
loop_writes: ContextVar[bool] = ContextVar("loop_writes", default=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _loop_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if loop_writes.get():
        dbapi_connection.execute("PRAGMA busy_timeout=0")
        record.info["no_wait"] = True


def _loop_checkin(dbapi_connection: Any, record: Any) -> None:
    if record.info.pop("no_wait", False) and dbapi_connection is not None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


# A checkpoint that finds a reader on an older snapshot waits this long, then tries again.
CHECKPOINT_WAIT_MS, CHECKPOINT_ATTEMPTS, CHECKPOINT_PAUSE = 200, 5, 0.05


def truncate_wal(
    engine: Engine, turn: Callable[[], AbstractContextManager[object]] | None = None
) -> bool:
    """SQLite: copy the write-ahead log into the database and cut it to zero bytes, so that old
    page images (an erased number or comment) are no longer in any of the database's files.

    ``PRAGMA wal_checkpoint(TRUNCATE)`` must wait until no one writes and every reader reads
    the newest snapshot. Each attempt holds ``turn`` (the write turn, so our own writers wait
    for it rather than fail) and lets SQLite wait up to :data:`CHECKPOINT_WAIT_MS` for readers;
    between attempts the turn is free. Returns whether the log was truncated (True on other
    databases, where there is nothing to do); when a reader kept it busy through every attempt
    the old pages stay in the log until a later checkpoint.
    """
    if engine.dialect.name != "sqlite":
        return True
    for attempt in range(CHECKPOINT_ATTEMPTS):
        if attempt:
            time.sleep(CHECKPOINT_PAUSE * attempt)
        with turn() if turn is not None else contextlib.nullcontext(), engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            try:
                busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                busy = 1
            finally:
                raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not busy:
            return True
    return False


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


@dataclass(frozen=True)
class Migration:
    revision: str
    title: str


def upgrade(url: str) -> list[Migration]:
    """Bring the schema to the newest revision (``csat db upgrade``); returns what was applied,
    oldest first (empty when the database was already up to date)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    engine = create_engine(normalise_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            before = current_revisions(connection)
            config = _alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    script = ScriptDirectory.from_config(config)
    applied = []
    for rev in script.walk_revisions("base", "heads"):
        if rev.revision in before:
            break
        title = (rev.doc or "").strip().splitlines()[0] if rev.doc else ""
        applied.append(Migration(rev.revision, title))
    return applied[::-1]


def current_revisions(connection: Connection) -> set[str]:
    """The revisions recorded in the database (none in a new one)."""
    if not _has_version_table(connection):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _has_version_table(connection: Connection) -> bool:
    from sqlalchemy import inspect

    return inspect(connection).has_table("alembic_version")


def is_current(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            return current_revisions(connection) == {HEAD_REVISION}
    except DBAPIError as exc:
        raise DatabaseSettingError(
            f"CSAT_DATABASE_URL: cannot use the database: {exc.orig}"
        ) from None


BUCKET_INDEX = "ix_answer_buckets"
# rows, then rows per distinct prefix of 1..7 columns: few kinds and values, many timestamps
TYPICAL_BUCKET_STAT = "1000000 250000 250000 250000 50000 50000 50000 1"


def ensure_statistics(engine: Engine) -> bool:
    """SQLite: make sure the planner has the statistics row of the score index that its fast
    plan needs (a skip-scan over the few (kind, value, flags) prefixes with a range on
    ``answered_at`` inside each, groups read in order; without the row SQLite sorts the period).
    Migration 0003 writes it; a bulk load that rebuilds the index, or an ``ANALYZE`` of a nearly
    empty table, takes it away or makes it describe a table that will grow. Run at every start:
    one SELECT when the row is there; otherwise the typical figures are written again. Returns
    whether it wrote them."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.begin() as conn:
        if not conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (BUCKET_INDEX,)
        ).first():
            return False
        has_table = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
        ).first()
        if (
            has_table
            and conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_stat1 WHERE idx = ? AND stat = ?",
                (BUCKET_INDEX, TYPICAL_BUCKET_STAT),
            ).first()
        ):
            return False
        conn.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if need be
        conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE idx = ?", (BUCKET_INDEX,))
        conn.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('answer', ?, ?)",
            (BUCKET_INDEX, TYPICAL_BUCKET_STAT),
        )
        return True


def prepare(url: str) -> Engine:
    """Engine for serving: migrates SQLite itself, asks for ``csat db upgrade`` on PostgreSQL;
    on SQLite the score index's statistics are checked (:func:`ensure_statistics`)."""
    engine = make_engine(url)
    if not is_current(engine):
        if not is_sqlite(url):
            raise DatabaseSettingError(
                "CSAT_DATABASE_URL: the database schema is not up to date; run `csat db upgrade`"
            )
        upgrade(url)
    if ensure_statistics(engine):
        # A connection plans with the statistics it read when it opened: open new ones.
        engine.dispose()
    return engine
