"""Benchmark the score use case against one hand-written SQL statement on the same database.

Fills a database with N answers (and one invitation per answer) spread uniformly over the two
years before a fixed "now", then times ``/score today`` and ``/score 30d by agent`` through
``Service.scores`` (the whole use case: current and previous period, answers and sent counts,
report building) next to a hand-written SQL statement that computes the same numbers, in the
same process and on the same data. Both are also checked for equal results; a mismatch is the
only thing that makes the exit status non-zero, because the benchmark reports and does not gate.

    python bench/score.py --answers 1M --answers 10M
    python bench/score.py --answers 1M --database-url postgresql://postgres@127.0.0.1:5432/test

See bench/README.md for what is measured and the figures on the reference machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.periods import Period  # noqa: E402
from bot.service import Service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.surveys import builtin_surveys, default_scale  # noqa: E402
from storage.db import is_sqlite, normalise_url, prepare, upgrade  # noqa: E402
from storage.sql_store import SqlStore  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "data"
NOW = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # 23:00 in Amsterdam: "today" is almost whole
SPAN = timedelta(days=730)
TIMEZONE = "Europe/Amsterdam"
QUERIES = ("today", "30d by agent", "365d by day")
GENERATOR_VERSION = "3"  # bump when the generated data changes, so stale databases are refilled
PG_BENCH_DATABASE = "csat_bench"
TODAY_TARGET_MS = 50.0
TODAY_TARGET_ANSWERS = 10_000_000
DAYS_TARGET_MS = 300.0  # "365d by day" on SQLite at 10 M answers
DAYS_TARGET_ANSWERS = 10_000_000
RATIO_TARGET = 1.5

# The generated columns, in the order the INSERT ... SELECT statements list them.
ANSWER_COLUMNS = (
    "id, invitation_id, question_id, kind, value, comment, scale_min, scale_max, positive, "
    "negative, answered_at, channel, agent, team, touchpoint, survey, locale"
)
INVITATION_COLUMNS = (
    "id, interaction_id, survey, survey_version, channel, respondent_id, throttle_key, agent, "
    "team, touchpoint, locale, status, reason, created_at, send_at, sent_at, expires_at, "
    "remind_at, responded_at, closed_at, attempts, last_error, provider_message_id, "
    "delivery_status, question_index, reprompts, claim_token, claimed_until, version"
)


# ---------------------------------------------------------------------------------------------
# Synthetic data, generated inside the database
#
# Generating the rows in Python ran at about 30,000 a second on the 2-core reference machine
# (20 M rows: over ten minutes before a single insert), so the database computes them itself with
# INSERT ... SELECT over a series of row numbers. The "random" numbers come from a counter-based
# generator: stream k of row i is ((i * a_k + c_k) mod p)^2 mod p with p = 2^31 - 1 and (a_k, c_k)
# drawn from the seed, so a row depends only on (seed, i, n), every intermediate fits in 63 bits,
# and SQLite and PostgreSQL hold identical data.

P = 2_147_483_647
SURVEYS = (("support", "csat", 80), ("nps", "nps", 12), ("ces", "ces", 8))  # name, kind, %
CHANNELS = (("sms", 45), ("slack", 35), ("telegram", 20))
LOCALES = (("en", 55), ("nl", 20), ("de", 15), ("es", 10))
TOUCHPOINTS = (("chat", 40), ("email", 30), ("phone", 20), (None, 10))
AGENTS = 40
TEAMS = ("billing", "onboarding", "platform", "enterprise", "mobile", "payments")
NO_AGENT_PERCENT = 3  # answered by a bot or an unassigned queue: the "(none)" group
UNDELIVERED_PERCENT = 1  # a late failure receipt: excluded from "sent", answer still counted
# Ratings skewed positive, in per mille per scale value; agents come in three tiers so that a
# "by agent" report has some spread.
RATINGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "csat": ((20, 20, 50, 210, 700), (40, 40, 90, 250, 580), (80, 70, 130, 270, 450)),
    "nps": (
        (10, 5, 5, 10, 10, 20, 30, 60, 150, 250, 450),
        (20, 10, 10, 20, 20, 40, 50, 100, 180, 220, 330),
        (40, 20, 20, 30, 40, 60, 70, 120, 180, 180, 240),
    ),
    "ces": (
        (20, 30, 50, 100, 200, 300, 300),
        (30, 40, 70, 120, 220, 270, 250),
        (60, 60, 100, 150, 200, 230, 200),
    ),
}


class Dialect:
    """The few expressions SQLite and PostgreSQL spell differently."""

    def __init__(self, backend: str) -> None:
        self.sqlite = backend == "sqlite"

    def series(self, low: int, high: int) -> tuple[str, str]:
        """(common table expression or "", FROM item) producing column ``i`` = low..high."""
        if self.sqlite:
            return f"s(i) AS (SELECT {low} UNION ALL SELECT i + 1 FROM s WHERE i < {high})", "s"
        return "", f"generate_series({low}::bigint, {high}::bigint) AS s(i)"

    def pad(self, expression: str, width: int) -> str:
        if self.sqlite:
            return f"printf('%0{width}d', {expression})"
        return f"lpad(({expression})::text, {width}, '0')"

    def hex(self, expressions: Sequence[str]) -> str:
        """Each (31-bit) value as 8 hex digits, concatenated."""
        if self.sqlite:
            return f"printf('{'%08x' * len(expressions)}', {', '.join(expressions)})"
        return " || ".join(f"lpad(to_hex({e}), 8, '0')" for e in expressions)

    def timestamp(self, microseconds: str) -> str:
        """Microseconds since the epoch as the column's value (SQLAlchemy's text on SQLite)."""
        if self.sqlite:
            return (
                f"(datetime(({microseconds}) / 1000000, 'unixepoch') "
                f"|| printf('.%06d', ({microseconds}) % 1000000))"
            )
        return (
            f"(TIMESTAMP '1970-01-01' + (({microseconds}) / 1000000) * INTERVAL '1 second' "
            f"+ (({microseconds}) % 1000000) * INTERVAL '1 microsecond')"
        )


STREAMS = 11
STAGE = "bench_rows"


class Generator:
    """SQL that generates rows low..high: one temporary table with every random column worked
    out once, then two plain INSERT ... SELECTs from it into invitation and answer."""

    def __init__(self, n: int, seed: int, dialect: Dialect) -> None:
        rng = random.Random(seed)
        self.streams = [(rng.randrange(1 << 24, P), rng.randrange(P)) for _ in range(STREAMS)]
        self.d = dialect
        r = [f"r{k}" for k in range(STREAMS)]
        end_us = int(NOW.timestamp()) * 1_000_000
        span_ms = int(SPAN.total_seconds()) * 1000
        # Row i falls in the i-th of n equal slices of the two years, so rows come in time order
        # (as an append-only table holds them) and every day has n / 730 answers give or take one.
        answered_us = (
            f"({end_us - span_ms * 1000} + (((i - 1) * {span_ms}) / {n} "
            f"+ {r[0]} % {max(1, span_ms // n)}) * 1000 + {r[1]} % 1000)"
        )
        # Sent 20 s to ~20 h before the answer; most people answer within minutes. Streams are
        # ~31 random bits, so each one feeds a few independent decimal digit groups.
        delay_class = f"{r[1]} / 600000 % 100"
        delay_us = (
            f"((20 + {r[1]} / 1000 % 600 + CASE WHEN {delay_class} < 60 THEN 0 "
            f"WHEN {delay_class} < 90 THEN {r[2]} % 3600 ELSE {r[2]} % 72000 END) * 1000000 "
            f"+ {r[3]} % 1000000)"
        )
        survey_roll = f"{r[4]} % 100"
        kind = self._pick(survey_roll, [(k, pct) for _, k, pct in SURVEYS])
        has_agent = f"{r[5]} % 100 >= {NO_AGENT_PERCENT}"
        agent_no = f"{r[5]} / 100 % {AGENTS}"
        agent_name = f"'agent-' || {dialect.pad(f'{agent_no} + 1', 2)}"
        teams = " ".join(f"WHEN {t} THEN '{name}'" for t, name in enumerate(TEAMS))
        channel = self._pick(f"{r[4]} / 100 % 100", CHANNELS)
        tier = f"(CASE WHEN {has_agent} THEN {agent_no} % 3 ELSE 1 END)"
        rating_roll = f"{r[6]} % 1000"
        by_kind = []
        for _, name, _ in SURVEYS:
            scale = default_scale(name)
            assert scale is not None
            tiers = " ".join(
                f"WHEN {t} THEN "
                + self._pick(rating_roll, list(enumerate(weights, start=scale.minimum)), 1000)
                for t, weights in enumerate(RATINGS[name])
            )
            by_kind.append(f"WHEN '{name}' THEN CASE {tier} {tiers} END")
        self.fields: dict[str, str] = {
            "answered": dialect.timestamp(answered_us),
            "sent": dialect.timestamp(f"{answered_us} - {delay_us}"),
            "survey": self._pick(survey_roll, [(name, pct) for name, _, pct in SURVEYS]),
            "version": self._pick(
                survey_roll, [(builtin_surveys()[name].version, pct) for name, _, pct in SURVEYS]
            ),
            "kind": kind,
            "value": f"(CASE {kind} {' '.join(by_kind)} END)",
            "agent": f"(CASE WHEN {has_agent} THEN {agent_name} END)",
            "team": f"(CASE WHEN {has_agent} THEN CASE {agent_no} % {len(TEAMS)} {teams} END END)",
            "channel": channel,
            "locale": self._pick(f"{r[4]} / 10000 % 100", LOCALES),
            "touchpoint": self._pick(f"{r[4]} / 1000000 % 100", TOUCHPOINTS),
            "delivery": f"(CASE WHEN {r[5]} / 10000 % 100 < {UNDELIVERED_PERCENT} THEN 'failed' "
            f"WHEN {channel} = 'sms' THEN 'delivered' END)",
            "throttle_key": dialect.hex([*r[7:11], *r[10:6:-1]]),  # 64 characters
        }

    def rnd(self, k: int) -> str:
        a, c = self.streams[k]
        x = f"((i * {a} + {c}) % {P})"
        return f"(({x} * {x}) % {P})"

    @staticmethod
    def _pick(roll: str, weighted: Sequence[tuple[Any, int]], total: int = 100) -> str:
        assert sum(w for _, w in weighted) == total, weighted
        branches, running = [], 0
        for value, weight in weighted[:-1]:
            running += weight
            branches.append(f"WHEN {roll} < {running} THEN {_literal(value)}")
        return f"(CASE {' '.join(branches)} ELSE {_literal(weighted[-1][0])} END)"

    def stage(self, low: int, high: int) -> list[str]:
        """Statements that fill the temporary table for rows low..high."""
        series, source = self.d.series(low, high)
        randoms = ", ".join(f"{self.rnd(k)} AS r{k}" for k in range(STREAMS))
        # MATERIALIZED: compute each random stream once per row instead of once per use.
        ctes = [c for c in (series, f"r AS MATERIALIZED (SELECT i, {randoms} FROM {source})") if c]
        fields = ", ".join(f"{expression} AS {name}" for name, expression in self.fields.items())
        return [
            f"DROP TABLE IF EXISTS {STAGE}",
            f"CREATE TEMPORARY TABLE {STAGE} AS WITH {'RECURSIVE ' if series else ''}"
            f"{', '.join(ctes)} SELECT i, {fields} FROM r",
        ]

    def insert_invitations(self) -> str:
        # A completed invitation: created, scheduled and sent at `sent`, answered and closed at
        # `answered`, one question asked, no respondent row (the score queries never read it).
        values = (
            f"i, 'bench-' || {self.d.pad('i', 10)}, survey, version, channel, NULL, throttle_key, "
            "agent, team, touchpoint, locale, 'completed', NULL, sent, sent, sent, NULL, NULL, "
            f"answered, answered, 1, NULL, 'MSG' || {self.d.pad('i', 12)}, delivery, 1, 0, NULL, "
            "NULL, 3"
        )
        return f"INSERT INTO invitation ({INVITATION_COLUMNS}) SELECT {values} FROM {STAGE}"

    def insert_answers(self) -> str:
        # The rating answer only (question id = kind in the built-in surveys); no comment rows.
        scale_min, scale_max, positive, negative = self._scale_columns()
        values = (
            f"i, i, kind, kind, value, NULL, {scale_min}, {scale_max}, {positive}, {negative}, "
            "answered, channel, agent, team, touchpoint, survey, locale"
        )
        return f"INSERT INTO answer ({ANSWER_COLUMNS}) SELECT {values} FROM {STAGE}"

    @staticmethod
    def _scale_columns() -> list[str]:
        """scale_min, scale_max, positive, negative: decided by each kind's default scale, as the
        service decides them when it records an answer."""
        columns = []
        for part in ("min", "max", "positive", "negative"):
            branches = []
            for _, kind, _ in SURVEYS:
                scale = default_scale(kind)
                assert scale is not None
                expression = {
                    "min": str(scale.minimum),
                    "max": str(scale.maximum),
                    "positive": f"value >= {scale.positive_at}",
                    "negative": f"value < {scale.negative_below or scale.positive_at}",
                }[part]
                branches.append(f"WHEN '{kind}' THEN {expression}")
            columns.append(f"(CASE kind {' '.join(branches)} END)")
        return columns


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Databases


@dataclass
class Target:
    """One database to benchmark: the SQLAlchemy URL the service uses and a raw DBAPI opener."""

    url: str
    backend: str  # "sqlite" or "postgresql"
    connect: Callable[[], Any]
    label: str


def _parse_count(text: str) -> int:
    match = re.fullmatch(r"\s*([\d_.]+)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (e.g. 1000000, 1M, 500k)")
    number = float(match.group(1).replace("_", ""))
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    count = int(number * factor)
    if count < 1:
        raise argparse.ArgumentTypeError("need at least one answer")
    return count


def sqlite_target(url: str) -> Target:
    path = make_url(url).database
    assert path, "SQLite URL without a file"
    Path(path).parent.mkdir(parents=True, exist_ok=True)

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    return Target(url=url, backend="sqlite", connect=connect, label=path)


def postgres_target(url: str) -> Target:
    """A database of our own next to the given one, or a schema of our own when we may not create
    databases; the given database (often the test suite's) is never touched otherwise."""
    import psycopg

    given = make_url(normalise_url(url))

    def opener(database: str | None, options: str | None) -> Callable[[], Any]:
        def connect() -> Any:
            kwargs: dict[str, Any] = {
                "host": given.host,
                "port": given.port,
                "user": given.username,
                "password": given.password,
                "dbname": database,
                "autocommit": True,
            }
            if options:
                kwargs["options"] = options
            return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})

        return connect

    with opener(given.database, None)() as connection:
        try:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_BENCH_DATABASE,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{PG_BENCH_DATABASE}"')
            with opener(PG_BENCH_DATABASE, None)() as bench:  # we must own its public schema
                owner = bench.execute(
                    "SELECT pg_has_role(nspowner, 'USAGE') FROM pg_namespace "
                    "WHERE nspname = 'public'"
                ).fetchone()
            if not (owner and owner[0]):
                raise PermissionError(f"database {PG_BENCH_DATABASE} belongs to someone else")
        except (psycopg.Error, PermissionError) as exc:
            print(
                f"  cannot use a database {PG_BENCH_DATABASE} ({exc}); "
                f"using a schema {PG_BENCH_DATABASE} in {given.database}"
            )
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{PG_BENCH_DATABASE}"')
            options = f"-csearch_path={PG_BENCH_DATABASE}"
            bench_url = given.update_query_dict({"options": options})
            return Target(
                url=bench_url.render_as_string(hide_password=False),
                backend="postgresql",
                connect=opener(given.database, options),
                label=f"{given.database} schema {PG_BENCH_DATABASE}",
            )
    bench_url = given.set(database=PG_BENCH_DATABASE)
    return Target(
        url=bench_url.render_as_string(hide_password=False),
        backend="postgresql",
        connect=opener(PG_BENCH_DATABASE, None),
        label=f"database {PG_BENCH_DATABASE}",
    )


def _meta(connection: Any) -> dict[str, str]:
    """The bench_meta rows; {} when there is no such table (autocommit: nothing to roll back)."""
    try:
        rows = connection.execute("SELECT key, value FROM bench_meta").fetchall()
    except Exception:
        return {}
    return {str(k): str(v) for k, v in rows}


def is_filled(target: Target, n: int, seed: int) -> bool:
    connection = target.connect()
    try:
        meta = _meta(connection)
        if meta.get("answers") != str(n) or meta.get("seed") != str(seed):
            return False
        if meta.get("generator") != GENERATOR_VERSION:
            return False
        found = connection.execute("SELECT max(id) FROM answer").fetchone()
        return bool(found and found[0] == n)
    finally:
        connection.close()


def _reset_schema(target: Target) -> None:
    """Empty the benchmark database and migrate it; refuses to touch a database that has tables
    but was not made by this script, so a mistyped --database-url cannot wipe real data."""
    connection = target.connect()
    try:
        if target.backend == "sqlite":
            tables = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        else:
            tables = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
        names = {str(name) for (name,) in tables}
        if names and "bench_meta" not in names:
            raise SystemExit(
                f"{target.label} already holds tables ({', '.join(sorted(names)[:5])}, ...) and "
                "is not a benchmark database; refusing to overwrite it"
            )
        if target.backend == "postgresql":
            schema = connection.execute("SELECT current_schema()").fetchone()[0]
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        connection.close()
    if target.backend == "sqlite":
        path = Path(make_url(target.url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    upgrade(target.url)
    connection = target.connect()
    try:  # mark it as ours straight away, so an interrupted fill can be redone
        connection.execute("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT)")
    finally:
        connection.close()


def fill(target: Target, n: int, seed: int, chunk: int = 500_000) -> float:
    """Recreate the schema through the migration and load n answers; returns seconds taken."""
    started = time.perf_counter()
    _reset_schema(target)
    generator = Generator(n, seed, Dialect(target.backend))
    connection = target.connect()
    try:
        if target.backend == "sqlite":
            _load_sqlite(connection, generator, n, chunk)
        else:
            _load_postgres(connection, generator, n, chunk)
        _write_meta(connection, n, seed, "?" if target.backend == "sqlite" else "%s")
    finally:
        connection.close()
    return time.perf_counter() - started


def _load_chunks(connection: Any, generator: Generator, n: int, chunk: int) -> None:
    started = time.perf_counter()
    for low in range(1, n + 1, chunk):
        high = min(n, low + chunk - 1)
        with _transaction(connection):
            for statement in generator.stage(low, high):
                connection.execute(statement)
            connection.execute(generator.insert_invitations())
            connection.execute(generator.insert_answers())
        elapsed = time.perf_counter() - started
        print(
            f"\r  {high:>12,} / {n:,} answers and invitations  {elapsed:6.0f} s  "
            f"{2 * high / elapsed:9,.0f} rows/s",
            end="",
            flush=True,
        )
    print()


@contextmanager
def _transaction(connection: Any) -> Iterator[None]:
    if isinstance(connection, sqlite3.Connection):
        connection.execute("BEGIN")
        yield
        connection.execute("COMMIT")
    else:
        with connection.transaction():
            yield


def _secondary_indexes(connection: Any, sql: str) -> list[tuple[str, str]]:
    return [(str(name), str(definition)) for name, definition in connection.execute(sql)]


def _load_sqlite(connection: sqlite3.Connection, generator: Generator, n: int, chunk: int) -> None:
    # A disposable file: no journal and no fsync while loading. The meta row is written last, so
    # an interrupted fill is noticed and redone.
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    connection.execute("PRAGMA temp_store=MEMORY")
    # The migration's secondary indexes are dropped and rebuilt from their own SQL afterwards:
    # one sort per index instead of random B-tree inserts (throttle keys are random). The UNIQUE
    # constraints stay; their keys arrive in order.
    indexes = _secondary_indexes(
        connection,
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('answer', 'invitation')",
    )
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    # The rollup triggers would note every loaded row as a change to an older day; the rows are
    # loaded as if written at their own time, and the rollups are counted afterwards.
    triggers = _secondary_indexes(
        connection, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
    )
    for name, _ in triggers:
        connection.execute(f'DROP TRIGGER "{name}"')
    _load_chunks(connection, generator, n, chunk)
    started = time.perf_counter()
    for _, sql in [*indexes, *triggers]:
        connection.execute(sql)
    connection.execute("PRAGMA journal_mode=WAL")  # what the application runs with
    print(f"  {len(indexes)} indexes rebuilt in {time.perf_counter() - started:.0f} s")


def _load_postgres(connection: Any, generator: Generator, n: int, chunk: int) -> None:
    indexes = _secondary_indexes(
        connection,
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND i.tablename IN ('answer', 'invitation') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = "
        "(quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
    )
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    # Skip the per-row foreign-key triggers while loading when we may (superuser only); the
    # generated keys are consistent by construction.
    with contextlib.suppress(Exception), connection.transaction():
        connection.execute("SET session_replication_role = replica")
    _load_chunks(connection, generator, n, chunk)
    with contextlib.suppress(Exception), connection.transaction():
        connection.execute("SET session_replication_role = DEFAULT")
    with connection.transaction():  # marks left where the triggers could not be skipped
        connection.execute("DELETE FROM rollup_mark")
    started = time.perf_counter()
    for _, sql in indexes:
        connection.execute(sql)
    for table in ("invitation", "answer"):
        connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
        # What autovacuum does after a bulk load; it also lets index-only scans skip the heap.
        connection.execute(f"VACUUM (ANALYZE) {table}")
    seconds = time.perf_counter() - started
    print(f"  {len(indexes)} indexes rebuilt and tables vacuumed in {seconds:.0f} s")


def _write_meta(connection: Any, n: int, seed: int, mark: str) -> None:
    connection.execute("DELETE FROM bench_meta")
    for key, value in (("answers", n), ("seed", seed), ("generator", GENERATOR_VERSION)):
        connection.execute(
            f"INSERT INTO bench_meta (key, value) VALUES ({mark}, {mark})", (key, str(value))
        )


# ---------------------------------------------------------------------------------------------
# The hand-made SQL


SCORED = "('csat', 'csat10', 'nps', 'ces')"
UNDELIVERED = "('failed', 'undelivered', 'canceled')"

# One statement for the whole report: both periods in one range scan per table, told apart by
# conditional sums (so they add no sort key), answer buckets and sent counts side by side, per
# group. The overall figures of a split report are the sum of its groups, so they are added up in
# Python instead of being scanned again.
HAND_REPORT = f"""
SELECT 'a', {{answer_group}}, kind, scale_min, scale_max, value, positive, negative,
       SUM(CASE WHEN answered_at >= {{split}} THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_at < {{split}} THEN 1 ELSE 0 END), 0, 0
FROM answer
WHERE answered_at >= {{start}} AND answered_at < {{end}}
  AND kind IN {SCORED} AND value IS NOT NULL
GROUP BY {{answer_keys}}
UNION ALL
SELECT 's', {{invitation_group}}, NULL, NULL, NULL, NULL, NULL, NULL,
       SUM(CASE WHEN sent_at >= {{split}} THEN 1 ELSE 0 END),
       SUM(CASE WHEN sent_at < {{split}} THEN 1 ELSE 0 END),
       COUNT(CASE WHEN sent_at >= {{split}} THEN responded_at END),
       COUNT(CASE WHEN sent_at < {{split}} THEN responded_at END)
FROM invitation
WHERE sent_at >= {{start}} AND sent_at < {{end}}
  AND (delivery_status IS NULL OR delivery_status NOT IN {UNDELIVERED})
{{invitation_group_by}}
"""


def _sql(template: str, backend: str, by: str | None) -> str:
    """Fill in the template: named parameters in the driver's style, and the group column (a
    constant that is not grouped on when the report is not split)."""
    group = "''" if by is None else f"COALESCE({by}, '(none)')"
    keys = "3, 4, 5, 6, 7, 8"
    if by is not None:
        keys = "2, " + keys
    mark = ":{}" if backend == "sqlite" else "%({})s"
    return template.format(
        split=mark.format("split"),
        start=mark.format("start"),
        end=mark.format("end"),
        answer_group=group,
        invitation_group=group,
        answer_keys=keys,
        invitation_group_by="" if by is None else "GROUP BY 2",
    )


CSAT = "('csat', 'csat10')"

# The second baseline is the obvious query and shares nothing with ours: a plain range on each
# table's time index (on SQLite named with INDEXED BY, so no statistics row can change it), summing
# the report's figures per period straight away, without buckets. If a change of plan slows our
# statement and the hand statement alike, this one does not move.
PLAIN_ANSWERS = f"""
SELECT {{group}},
       SUM(CASE WHEN answered_at >= {{split}} THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_at >= {{split}} AND kind IN {CSAT} THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_at >= {{split}} AND kind IN {CSAT} AND positive THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_at < {{split}} THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_at < {{split}} AND kind IN {CSAT} THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_at < {{split}} AND kind IN {CSAT} AND positive THEN 1 ELSE 0 END)
FROM answer {{answer_index}}
WHERE answered_at >= {{start}} AND answered_at < {{end}}
  AND kind IN {SCORED} AND value IS NOT NULL
{{group_by}}
"""
PLAIN_SENT = f"""
SELECT {{group}},
       SUM(CASE WHEN sent_at >= {{split}} THEN 1 ELSE 0 END),
       COUNT(CASE WHEN sent_at >= {{split}} THEN responded_at END),
       SUM(CASE WHEN sent_at < {{split}} THEN 1 ELSE 0 END),
       COUNT(CASE WHEN sent_at < {{split}} THEN responded_at END)
FROM invitation {{invitation_index}}
WHERE sent_at >= {{start}} AND sent_at < {{end}}
  AND (delivery_status IS NULL OR delivery_status NOT IN {UNDELIVERED})
{{group_by}}
"""
PLAIN_INDEXES = {
    "answer_index": "ix_answer_scores",
    "invitation_index": "ix_invitation_sent_scores",
}


def _plain_sql(template: str, backend: str, by: str | None) -> str:
    mark = ":{}" if backend == "sqlite" else "%({})s"
    indexes = {
        key: f"INDEXED BY {name}" if backend == "sqlite" else ""
        for key, name in PLAIN_INDEXES.items()
    }
    return template.format(
        group="''" if by is None else f"COALESCE({by}, '(none)')",
        group_by="" if by is None else "GROUP BY 1",
        split=mark.format("split"),
        start=mark.format("start"),
        end=mark.format("end"),
        **indexes,
    )


def _bind(moment: datetime, backend: str) -> Any:
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    if backend == "sqlite":
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DATETIME there
    return naive


@dataclass
class Tally:
    """The figures both sides must agree on, per (period, group)."""

    answers: int = 0  # of every scored kind: decides whether a group shows up at all
    responses: int = 0  # CSAT answers
    satisfied: int = 0
    sent: int = 0
    responded: int = 0


@dataclass
class HandReport:
    now: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    previous: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    rows_scanned: int = 0


OVERALL = "\x00overall"


def hand_report(
    connection: Any, backend: str, period: Period, previous: Period, by: str | None
) -> HandReport:
    params = _params(backend, period, previous)
    rows = connection.execute(_sql(HAND_REPORT, backend, by), params).fetchall()
    result = HandReport()
    for source, group, kind, _, _, _, positive, _, *counts in rows:
        now_count, previous_count, now_responded, previous_responded = (c or 0 for c in counts)
        keys = (OVERALL,) if by is None else (OVERALL, group)
        for key in keys:
            for tally, count, responded in (
                (result.now[key], now_count, now_responded),
                (result.previous[key], previous_count, previous_responded),
            ):
                if source == "a":
                    result.rows_scanned += count if key == OVERALL else 0
                    tally.answers += count
                    if kind in ("csat", "csat10"):
                        tally.responses += count
                        tally.satisfied += count if positive else 0
                else:
                    tally.sent += count
                    tally.responded += responded
    return result


def _params(backend: str, period: Period, previous: Period) -> dict[str, Any]:
    return {
        "start": _bind(previous.start, backend),
        "split": _bind(period.start, backend),
        "end": _bind(period.end, backend),
    }


def plain_report(
    connection: Any, backend: str, period: Period, previous: Period, by: str | None
) -> HandReport:
    """The plain baseline: two range queries, the figures summed in SQL per period and group."""
    params = _params(backend, period, previous)
    answers = connection.execute(_plain_sql(PLAIN_ANSWERS, backend, by), params).fetchall()
    sent = connection.execute(_plain_sql(PLAIN_SENT, backend, by), params).fetchall()
    result = HandReport()
    for group, *counts in answers:
        now_all, now_csat, now_satisfied, then_all, then_csat, then_satisfied = (
            int(c or 0) for c in counts
        )
        result.rows_scanned += now_all + then_all
        keys = (OVERALL,) if by is None else (OVERALL, group)
        for key in keys:
            for tally, (total, csat, satisfied) in (
                (result.now[key], (now_all, now_csat, now_satisfied)),
                (result.previous[key], (then_all, then_csat, then_satisfied)),
            ):
                tally.answers += total
                tally.responses += csat
                tally.satisfied += satisfied
    for group, *counts in sent:
        now_sent, now_responded, then_sent, then_responded = (int(c or 0) for c in counts)
        keys = (OVERALL,) if by is None else (OVERALL, group)
        for key in keys:
            result.now[key].sent += now_sent
            result.now[key].responded += now_responded
            result.previous[key].sent += then_sent
            result.previous[key].responded += then_responded
    return result


# Time buckets: the hand statement groups on the local day worked out per row. The zone's offset
# changes only at its DST moments, so a CASE over those few moments gives every row its exact
# local day; both periods come in one pass, and a week or a month is summed from its days.
HAND_DAYS = f"""
SELECT 'a', {{answer_day}}, kind, positive, COUNT(*), 0
FROM answer
WHERE answered_at >= {{start}} AND answered_at < {{end}}
  AND kind IN {SCORED} AND value IS NOT NULL
GROUP BY 2, 3, 4
UNION ALL
SELECT 's', {{sent_day}}, NULL, NULL, COUNT(*), COUNT(responded_at)
FROM invitation
WHERE sent_at >= {{start}} AND sent_at < {{end}}
  AND (delivery_status IS NULL OR delivery_status NOT IN {UNDELIVERED})
GROUP BY 2
"""


def _offsets(start: datetime, end: datetime) -> list[tuple[datetime | None, timedelta]]:
    """(until, offset) pieces of the report zone over [start, end): the offset holds for the
    instants before ``until`` (None: to the end)."""
    zone = ZoneInfo(TIMEZONE)
    pieces: list[tuple[datetime | None, timedelta]] = []
    moment = start
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    while moment < end:
        step = moment + timedelta(hours=1)
        following = step.astimezone(zone).utcoffset()
        if following != offset:
            pieces.append((step, offset))
            assert following is not None
            offset = following
        moment = step
    pieces.append((None, offset))
    return pieces


def _day_sql(column: str, backend: str, pieces: Sequence[tuple[datetime | None, timedelta]]) -> str:
    mark = ":{}" if backend == "sqlite" else "%({})s"
    cases = []
    for i, (until, offset) in enumerate(pieces):
        minutes = int(offset.total_seconds() // 60)
        shift = (
            f"'{minutes:+d} minutes'" if backend == "sqlite" else f"interval '{minutes} minutes'"
        )
        cases.append(
            shift if until is None else f"WHEN {column} < {mark.format(f'o{i}')} THEN {shift}"
        )
    shift = cases[-1] if len(cases) == 1 else f"CASE {' '.join(cases[:-1])} ELSE {cases[-1]} END"
    if backend == "sqlite":
        return f"date({column}, {shift})"
    return f"CAST({column} + {shift} AS DATE)"


def hand_days(connection: Any, backend: str, period: Period, previous: Period) -> dict[str, Tally]:
    """Per local day (YYYY-MM-DD) over both periods, from one hand statement."""
    pieces = _offsets(previous.start, period.end)
    mark = ":{}" if backend == "sqlite" else "%({})s"
    sql = HAND_DAYS.format(
        answer_day=_day_sql("answered_at", backend, pieces),
        sent_day=_day_sql("sent_at", backend, pieces),
        start=mark.format("start"),
        end=mark.format("end"),
    )
    params = _params(backend, period, previous)
    for i, (until, _) in enumerate(pieces):
        if until is not None:
            params[f"o{i}"] = _bind(until, backend)
    days: dict[str, Tally] = defaultdict(Tally)
    for source, day, kind, positive, count, responded in connection.execute(sql, params):
        tally = days[str(day)]
        if source == "a":
            tally.answers += count
            if kind in ("csat", "csat10"):
                tally.responses += count
                tally.satisfied += count if positive else 0
        else:
            tally.sent += count
            tally.responded += responded
    return days


def check_days(
    report: dict[str, Any], days: dict[str, Tally], period: Period, label: str, name: str
) -> int:
    """Each day's figures of ``report`` (a "by day" report) against a baseline's, and the
    overall and previous responses against the baseline's days summed; the answers counted."""
    first = period.start.astimezone(ZoneInfo(TIMEZONE)).date().isoformat()
    for day, section in report["groups"].items():
        csat = section["csat"] or {"responses": 0, "satisfied": 0}
        theirs = days.get(day, Tally())
        ours = (csat["responses"], csat["satisfied"], section["sent"])
        if ours != (theirs.responses, theirs.satisfied, theirs.sent):
            raise MismatchError(f"{label} [{day}]: ours {ours} vs {name} {theirs}")
    now = sum(t.responses for d, t in days.items() if d >= first)
    before = sum(t.responses for d, t in days.items() if d < first)
    overall = report["overall"]
    if (overall["csat"] or {}).get("responses", 0) != now:
        raise MismatchError(f"{label}: overall responses {overall['csat']} vs {name} {now}")
    if (overall["previous"] or {}).get("responses", 0) != before:
        raise MismatchError(f"{label}: previous responses {overall['previous']} vs {name} {before}")
    return sum(t.answers for t in days.values())


class RawStore(SqlStore):
    """Our statements over the raw rows only, as before the day rollups: the "plain" side of a
    time-bucket query."""

    def period_counts(  # type: ignore[override]
        self, previous_start: datetime, start: datetime, end: datetime, by: str | None, **_: Any
    ) -> Any:
        return super().period_counts(previous_start, start, end, by)

    def bucket_counts(self, bounds: Sequence[datetime], **_: Any) -> Any:  # type: ignore[override]
        return super().bucket_counts(bounds)


def count_days(store: SqlStore) -> str:
    """Bring the day rollups up to date, as the sender loop of csat serve does in the background."""
    started = time.perf_counter()
    days = 0
    while True:
        done = store.refresh_rollups(TIMEZONE, NOW, chunks=20)
        if done.skipped is not None:
            raise SystemExit(f"the rollups were not counted: {done.skipped}")
        days += done.days
        if not done.pending:
            break
    return f"{days} days counted into the rollups in {time.perf_counter() - started:.1f} s"


# ---------------------------------------------------------------------------------------------
# Our side


def make_service(engine: Engine, url: str, store: SqlStore | None = None) -> Service:
    settings = Settings(
        _env_file=None,
        csat_database_url=url,
        csat_timezone=TIMEZONE,
    )
    return Service(
        settings=settings,
        store=store or SqlStore(engine),
        surveys=builtin_surveys(),
        channels={},
        clock=lambda: NOW,
    )


def report_tallies(report: dict[str, Any]) -> tuple[dict[str, Tally], dict[str, int]]:
    """(current tallies, previous CSAT response counts) per group, read back from a report."""
    now: dict[str, Tally] = {}
    previous: dict[str, int] = {}
    sections = [(OVERALL, report["overall"]), *report["groups"].items()]
    for key, section in sections:
        csat = section["csat"] or {"responses": 0, "satisfied": 0}
        sent = section["sent"]
        rate = section["response_rate"]
        now[key] = Tally(
            responses=csat["responses"],
            satisfied=csat["satisfied"],
            sent=sent,
            responded=0 if rate is None else round(rate * sent / 100),
        )
        previous[key] = (section["previous"] or {}).get("responses", 0)
    return now, previous


class MismatchError(Exception):
    pass


def check_report(
    report: dict[str, Any], hand: HandReport, by: str | None, label: str, name: str = "hand"
) -> None:
    """Our report against one baseline's figures (``name`` says which, in the message)."""
    now, previous = report_tallies(report)
    hand_now = {k: v for k, v in hand.now.items() if by is None or v.answers or v.sent}
    if set(now) != set(hand_now) | {OVERALL}:
        raise MismatchError(f"{label}: groups differ: {sorted(now)} vs {name} {sorted(hand_now)}")
    for key, ours in now.items():
        theirs = hand.now.get(key, Tally())
        if (ours.responses, ours.satisfied, ours.sent) != (
            theirs.responses,
            theirs.satisfied,
            theirs.sent,
        ):
            raise MismatchError(f"{label} [{key}]: ours {ours} vs {name} {theirs}")
        if abs(ours.responded - theirs.responded) > 1 + theirs.sent / 20_000:  # rate is rounded
            raise MismatchError(f"{label} [{key}]: responded {ours.responded} vs {name} {theirs}")
        if previous[key] != hand.previous.get(key, Tally()).responses:
            raise MismatchError(
                f"{label} [{key}]: previous responses {previous[key]} vs {name} "
                f"{hand.previous.get(key, Tally()).responses}"
            )


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class Row:
    backend: str
    answers: int
    query: str
    what: str
    rows: int
    ours: Samples
    hand: Samples
    plain: Samples

    @property
    def ratio(self) -> float:
        """Ours to the hand statement: the target."""
        return statistics.median(self.ours.wall) / statistics.median(self.hand.wall)

    @property
    def ratio_plain(self) -> float:
        """Ours to the plain ranges: moves when a plan regression slows ours and hand alike."""
        return statistics.median(self.ours.wall) / statistics.median(self.plain.wall)


@dataclass
class Samples:
    """Wall-clock and process CPU milliseconds per run. On SQLite all the work is in-process, so
    CPU time leaves out waiting for a core (not the slowdown a busy neighbour causes); on
    PostgreSQL it is the client's share only."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, function: Callable[[], Any]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        self.cpu.append((time.process_time() - cpu) * 1000)
        self.wall.append((time.perf_counter() - wall) * 1000)


def time_sides(sides: Sequence[Callable[[], Any]], runs: int) -> list[Samples]:
    """Take turns (after each side's warm-up, its checked run) so that drift in the machine's
    load hits every side alike."""
    samples = [Samples() for _ in sides]
    for _ in range(runs):
        for side, taken in zip(sides, samples, strict=True):
            taken.add(side)
    return samples


class StatementLog:
    """Collects the statements the service sends, for --explain. It listens only while it
    collects: with a listener on the engine, SQLAlchemy takes its slower event path for every
    statement, a cost in the timed runs that the baselines do not pay."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def collecting(self) -> Iterator[None]:
        self.statements.clear()
        event.listen(self.engine, "before_cursor_execute", self._record)
        try:
            yield
        finally:
            event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))


def _fetch(connection: Any, sql: str, params: Any) -> list[Any]:
    return list(connection.execute(sql, params).fetchall())


def explain(target: Target, service: Service, log: StatementLog, text: str) -> None:
    with log.collecting():
        service.scores(service.parse_query(text))
    query = service.parse_query(text)
    period, previous = query.period, query.period.previous()
    connection = target.connect()
    try:
        plans: list[tuple[str, str, Any]] = [
            (f"service statement {i + 1}", sql, params)
            for i, (sql, params) in enumerate(log.statements)
        ]
        params = _params(target.backend, period, previous)
        plans.append(("hand report", _sql(HAND_REPORT, target.backend, query.by), params))
        for title, template in (("plain answers", PLAIN_ANSWERS), ("plain sent", PLAIN_SENT)):
            plans.append((title, _plain_sql(template, target.backend, query.by), params))
        for title, sql, params in plans:
            samples = Samples()
            for _ in range(5):
                samples.add(partial(_fetch, connection, sql, params))
            wall, cpu = statistics.median(samples.wall), statistics.median(samples.cpu)
            print(f"\n  -- {text}: {title}: median of 5 runs {wall:.1f} ms (CPU {cpu:.1f} ms)")
            print("  " + " ".join(sql.split()))
            if target.backend == "sqlite":
                for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params):
                    print(f"     {row[-1]}")
            else:
                for (line,) in connection.execute(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params
                ):
                    print(f"     {line}")
    finally:
        connection.close()


@dataclass
class Options:
    runs: int
    queries: Sequence[str]
    explain: bool = False
    extra_indexes: Sequence[str] = ()
    analyze: bool = False


def add_extra_indexes(connection: Any, target: Target, options: Options) -> list[str]:
    """Experiments: build the given indexes (and their statistics, with --analyze)."""
    created: list[str] = []
    for sql in options.extra_indexes:
        match = re.search(r"INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.IGNORECASE)
        if not match:
            raise SystemExit(f"--extra-index: cannot find the index name in {sql!r}")
        started = time.perf_counter()
        connection.execute(sql)
        created.append(match.group(1))
        print(f"  extra index {match.group(1)} built in {time.perf_counter() - started:.0f} s")
    if options.analyze:
        started = time.perf_counter()
        if target.backend == "sqlite":
            # Statistics for the new indexes only: the application never runs ANALYZE, so the
            # migration's own indexes stay without statistics, as they are in production.
            for name in created:
                connection.execute(f'ANALYZE "{name}"')
        else:
            connection.execute("ANALYZE answer")
            connection.execute("ANALYZE invitation")
        print(f"  ANALYZE took {time.perf_counter() - started:.0f} s")
    return created


def drop_extra_indexes(connection: Any, target: Target, created: Sequence[str]) -> None:
    """Leave the database as the migration made it (SQLite drops an index's statistics with it)."""
    for name in created:
        connection.execute(f'DROP INDEX "{name}"')
    if target.backend == "sqlite":
        stats = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).fetchone()[0]
        if stats and not connection.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0]:
            connection.execute("DROP TABLE sqlite_stat1")


def benchmark(target: Target, n: int, options: Options) -> list[Row]:
    # As every start of csat serve, worker or score opens it: prepare() restores the score
    # index's statistics row that the fill's index rebuild took away.
    engine = prepare(target.url)
    log = StatementLog(engine)
    service = make_service(engine, target.url)
    connection = target.connect()
    created: list[str] = []
    try:
        created = add_extra_indexes(connection, target, options)
        runs = options.runs
        print("  " + count_days(service.store))  # type: ignore[arg-type]
        raw_service = make_service(engine, target.url, RawStore(engine))
        print("  " + HEADER)
        rows: list[Row] = []
        for text in options.queries:
            query = service.parse_query(text)
            period, previous = query.period, query.period.previous()
            by = query.by

            def ours_report(text: str = text) -> dict[str, Any]:
                return service.scores(service.parse_query(text))

            def hand_full(
                period: Period = period, previous: Period = previous, by: str | None = by
            ) -> HandReport:
                return hand_report(connection, target.backend, period, previous, by)

            def plain_full(
                period: Period = period, previous: Period = previous, by: str | None = by
            ) -> HandReport:
                return plain_report(connection, target.backend, period, previous, by)

            if query.over_time:
                rows.append(
                    _time_row(target, n, text, runs, service, raw_service, connection, query)
                )
                _print_rows(rows[-1:])
                continue
            # The checked run of each side is also its warm-up run.
            expected, plain = hand_full(), plain_full()
            report = ours_report()
            check_report(report, expected, by, f"{n:,} {text}")
            check_report(report, plain, by, f"{n:,} {text}", "plain")
            ours, hand, plain_samples = time_sides([ours_report, hand_full, plain_full], runs)
            rows.append(
                Row(
                    target.backend,
                    n,
                    text,
                    "Service.scores",
                    expected.rows_scanned,
                    ours,
                    hand,
                    plain_samples,
                )
            )

            _print_rows(rows[-1:])
        if options.explain:
            for text in options.queries:
                explain(target, service, log, text)
        return rows
    finally:
        drop_extra_indexes(connection, target, created)
        connection.close()
        engine.dispose()


def _time_row(
    target: Target,
    n: int,
    text: str,
    runs: int,
    service: Service,
    raw_service: Service,
    connection: Any,
    query: Any,
) -> Row:
    """A time-bucket query: ours (day rollups and today's rows), the hand statement per local
    day over the raw rows, and ours reading raw rows only (the "plain" column)."""
    period, previous = query.period, query.period.previous()

    def ours() -> dict[str, Any]:
        return service.scores(service.parse_query(text))

    def raw() -> dict[str, Any]:
        return raw_service.scores(raw_service.parse_query(text))

    def hand() -> dict[str, Tally]:
        return hand_days(connection, target.backend, period, previous)

    days = hand()
    scanned = check_days(ours(), days, period, f"{n:,} {text}", "hand")
    check_days(raw(), days, period, f"{n:,} {text} (raw rows)", "hand")
    ours_samples, hand_samples, raw_samples = time_sides([ours, hand, raw], runs)
    return Row(
        target.backend, n, text, "Service.scores", scanned, ours_samples, hand_samples, raw_samples
    )


def _verdict(row: Row) -> str:
    notes: list[str] = []
    today = row.what == "Service.scores" and row.query == "today"
    if today and row.backend == "sqlite" and row.answers >= TODAY_TARGET_ANSWERS:
        ok = statistics.median(row.ours.wall) < TODAY_TARGET_MS
        notes.append(f"<{TODAY_TARGET_MS:.0f} ms: {'yes' if ok else 'NO'}")
    if (
        row.query.endswith("by day")
        and row.backend == "sqlite"
        and row.answers >= DAYS_TARGET_ANSWERS
    ):
        ok = statistics.median(row.ours.wall) < DAYS_TARGET_MS
        notes.append(f"<{DAYS_TARGET_MS:.0f} ms: {'yes' if ok else 'NO'}")
    elif row.what == "Service.scores":
        notes.append(f"≤{RATIO_TARGET}×: {'yes' if row.ratio <= RATIO_TARGET else 'NO'}")
    return ", ".join(notes)


HEADER = (
    f"{'backend':<10} {'answers':>11} {'query':<14} {'rows':>7} "
    f"{'ours med':>8} {'min-max':>13} {'hand med':>8} {'min-max':>13} "
    f"{'plain med':>9} {'min-max':>13} {'÷hand':>6} {'÷plain':>6} "
    f"{'cpu ours':>8} {'hand':>6} {'plain':>6}  targets"
)


def _spread(samples: Sequence[float]) -> str:
    return f"{min(samples):.1f}-{max(samples):.1f}"


def _format_row(row: Row) -> str:
    return (
        f"{row.backend:<10} {row.answers:>11,} {row.query:<14} {row.rows:>7,} "
        f"{statistics.median(row.ours.wall):>8.1f} {_spread(row.ours.wall):>13} "
        f"{statistics.median(row.hand.wall):>8.1f} {_spread(row.hand.wall):>13} "
        f"{statistics.median(row.plain.wall):>9.1f} {_spread(row.plain.wall):>13} "
        f"{row.ratio:>5.2f}× {row.ratio_plain:>5.2f}× "
        f"{statistics.median(row.ours.cpu):>8.1f} {statistics.median(row.hand.cpu):>6.1f} "
        f"{statistics.median(row.plain.cpu):>6.1f}  {_verdict(row)}"
    )


def _print_rows(rows: Sequence[Row]) -> None:
    for row in rows:
        print("  " + _format_row(row))


# ---------------------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--answers",
        type=_parse_count,
        action="append",
        help="answers to generate (1000000, 1M, 500k); repeat for several sizes (default 1M)",
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (default 7)")
    parser.add_argument(
        "--database-url",
        help="default: SQLite files bench/data/score-<n>.db; a postgresql:// URL benchmarks a "
        f"database '{PG_BENCH_DATABASE}' created next to the one named (or a schema of that "
        "name in it when databases cannot be created)",
    )
    parser.add_argument(
        "--query",
        action="append",
        help=f"what a lead types after /score; repeatable (default: {' and '.join(QUERIES)})",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="with --extra-index: gather planner statistics for the new indexes (SQLite) or "
        "re-analyze the tables (PostgreSQL) before timing",
    )
    parser.add_argument("--rebuild", action="store_true", help="refill even if already filled")
    parser.add_argument("--seed", type=int, default=20261122, help="RNG seed (default 20261122)")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the plan of every statement the service sends, and of the hand SQL",
    )
    parser.add_argument(
        "--extra-index",
        action="append",
        default=[],
        metavar="SQL",
        help="CREATE INDEX statement to add before timing and drop afterwards (experiments)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    sizes = args.answers or [1_000_000]
    if args.database_url and len(sizes) > 1 and is_sqlite(args.database_url):
        parser.error("one --database-url file holds one size; give one --answers with it")

    results: list[Row] = []
    fill_times: list[str] = []
    try:
        for n in sizes:
            if args.database_url is None:
                target = sqlite_target(f"sqlite:///{DATA_DIR / f'score-{n}.db'}")
            elif is_sqlite(args.database_url):
                target = sqlite_target(args.database_url)
            else:
                target = postgres_target(args.database_url)
            print(f"\n{target.backend} {target.label}: {n:,} answers")
            if args.rebuild or not is_filled(target, n, args.seed):
                seconds = fill(target, n, args.seed)
                fill_times.append(
                    f"{target.backend} {n:,} answers + {n:,} invitations: filled in "
                    f"{seconds:.0f} s ({2 * n / seconds:,.0f} rows/s)"
                )
                print("  " + fill_times[-1])
            else:
                print("  already filled, reusing it (--rebuild to refill)")
            print(f"  load average before timing: {_load()}")
            options = Options(
                runs=args.runs,
                queries=args.query or QUERIES,
                explain=args.explain,
                extra_indexes=args.extra_index,
                analyze=args.analyze,
            )
            results.extend(benchmark(target, n, options))
    except MismatchError as exc:
        print(f"\nMISMATCH: {exc}", file=sys.stderr)
        return 1

    print(f"\nload average after timing: {_load()}")
    print(
        f"Median and min-max of {args.runs} runs after one warm-up, in ms; ÷hand and ÷plain = "
        "ours / that baseline (medians). rows = answers in the aggregated range."
    )
    print(HEADER)
    for row in results:
        print(_format_row(row))
    for line in fill_times:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
