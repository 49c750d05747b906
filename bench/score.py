"""Benchmark the score use case against one hand-written SQL statement on the same database.

Fills a database with N answers (and one invitation per answer) spread uniformly over the two
years before a fixed "now", then times ``/score today`` and ``/score 30d by agent`` through
``Service.scores`` (the whole use case: current and previous period, answers and sent counts,
report building) and the bare ``storage.queries.answer_buckets`` call, each next to a hand-written
SQL statement that computes the same numbers, in the same process and on the same data. Every
pair is also checked for equal results; a mismatch is the only thing that makes the exit status
non-zero, because the benchmark reports and does not gate.

    python bench/score.py --answers 1M --answers 10M
    python bench/score.py --answers 1M --database-url postgresql://postgres@127.0.0.1:5432/test

See bench/README.md for what is measured and the figures on the reference machine.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import re
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.periods import Period  # noqa: E402
from bot.service import Service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.surveys import builtin_surveys, default_scale  # noqa: E402
from storage import queries  # noqa: E402
from storage.db import is_sqlite, make_engine, normalise_url, upgrade  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "data"
NOW = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # 23:00 in Amsterdam: "today" is almost whole
SPAN = timedelta(days=730)
TIMEZONE = "Europe/Amsterdam"
QUERIES = ("today", "30d by agent")
GENERATOR_VERSION = "1"  # bump when the generated data changes, so stale databases are refilled
PG_BENCH_DATABASE = "csat_bench"
TODAY_TARGET_MS = 50.0
TODAY_TARGET_ANSWERS = 10_000_000
RATIO_TARGET = 1.5

# Column lists for INSERT and COPY, in the order generate() builds its tuples.
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


def _marks(columns: str) -> str:
    return ", ".join("?" * (columns.count(",") + 1))


# ---------------------------------------------------------------------------------------------
# Synthetic data


def _weighted_table(weighted: Sequence[tuple[Any, float]], size: int = 1000) -> list[Any]:
    """A lookup list where ``table[int(random() * size)]`` draws with the given weights."""
    total = sum(w for _, w in weighted)
    cumulative: list[float] = []
    running = 0.0
    for _, weight in weighted:
        running += weight / total
        cumulative.append(running)
    values = [v for v, _ in weighted]
    return [
        values[min(bisect.bisect_right(cumulative, (i + 0.5) / size), len(values) - 1)]
        for i in range(size)
    ]


# Ratings skewed positive; agents come in three tiers so a "by agent" report has some spread.
RATINGS: dict[str, tuple[list[float], ...]] = {
    "csat": ([2, 2, 5, 21, 70], [4, 4, 9, 25, 58], [8, 7, 13, 27, 45]),
    "nps": (
        [1, 0.5, 0.5, 1, 1, 2, 3, 6, 15, 25, 45],
        [2, 1, 1, 2, 2, 4, 5, 10, 18, 22, 33],
        [4, 2, 2, 3, 4, 6, 7, 12, 18, 18, 24],
    ),
    "ces": ([2, 3, 5, 10, 20, 30, 30], [3, 4, 7, 12, 22, 27, 25], [6, 6, 10, 15, 20, 23, 20]),
}
SURVEYS = (("support", "csat", 80), ("nps", "nps", 12), ("ces", "ces", 8))
CHANNELS = (("sms", 45), ("slack", 35), ("telegram", 20))
LOCALES = (("en", 55), ("nl", 20), ("de", 15), ("es", 10))
TOUCHPOINTS = (("chat", 40), ("email", 30), ("phone", 20), (None, 10))
AGENTS = 40
TEAMS = ("billing", "onboarding", "platform", "enterprise", "mobile", "payments")
NO_AGENT_SHARE = 0.03  # answered by a bot or an unassigned queue: the "(none)" group
UNDELIVERED_SHARE = 0.01  # invitations with a failed delivery receipt, excluded from "sent"
UNANSWERED_SHARE = 0.0  # kept at zero: one invitation per answer, see README


def _format_time(us: int, hours: dict[int, str]) -> str:
    """Microseconds since the epoch as SQLite's DATETIME text ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    hour, rest = divmod(us, 3_600_000_000)
    prefix = hours.get(hour)
    if prefix is None:
        prefix = hours[hour] = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d %H:")
    minute, rest = divmod(rest, 60_000_000)
    second, micro = divmod(rest, 1_000_000)
    return f"{prefix}{minute:02d}:{second:02d}.{micro:06d}"


def generate(
    n: int, seed: int, chunk: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Yield (invitations, answers) row chunks; deterministic for a given (n, seed).

    Answer ``i`` belongs to invitation ``i``; answer times are uniform over the two years before
    NOW (stratified, so rows come out in time order, as an append-only table would hold them) and
    each invitation was sent between 20 seconds and a few hours before its answer.
    """
    rng = random.Random(seed)
    end_us = int(NOW.timestamp() * 1_000_000)
    span_us = int(SPAN.total_seconds() * 1_000_000)
    start_us = end_us - span_us
    surveys = builtin_surveys()
    survey_table = _weighted_table([((s, k), w) for s, k, w in SURVEYS], 100)
    channel_table = _weighted_table(CHANNELS, 100)
    locale_table = _weighted_table(LOCALES, 100)
    touchpoint_table = _weighted_table(TOUCHPOINTS, 100)
    rating_tables = {
        kind: [
            _weighted_table(list(enumerate(weights, start=_scale_min(kind)))) for weights in tiers
        ]
        for kind, tiers in RATINGS.items()
    }
    flags: dict[tuple[str, int], tuple[int, int, int, int]] = {}
    for kind in RATINGS:
        scale = default_scale(kind)
        assert scale is not None
        for value in range(scale.minimum, scale.maximum + 1):
            flags[kind, value] = (
                scale.minimum,
                scale.maximum,
                int(scale.is_positive(value)),
                int(scale.is_negative(value)),
            )
    versions = {name: surveys[name].version for name, _, _ in SURVEYS}
    agents = [(f"agent-{a + 1:02d}", TEAMS[a % len(TEAMS)], a % 3) for a in range(AGENTS)]
    throttle_keys = [f"{rng.getrandbits(256):064x}" for _ in range(4096)]
    hours: dict[int, str] = {}
    random_ = rng.random
    invitations: list[tuple[Any, ...]] = []
    answers: list[tuple[Any, ...]] = []
    for i in range(n):
        row_id = i + 1
        answered_us = start_us + (i * span_us + int(random_() * span_us)) // n
        delay_us = 20_000_000 + min(int(rng.expovariate(1 / 2_400_000_000)), 20 * 3_600_000_000)
        answered = _format_time(answered_us, hours)
        sent = _format_time(answered_us - delay_us, hours)
        survey, kind = survey_table[int(random_() * 100)]
        if random_() < NO_AGENT_SHARE:
            agent, team, tier = None, None, 1
        else:
            agent, team, tier = agents[int(random_() * AGENTS)]
        value = rating_tables[kind][tier][int(random_() * 1000)]
        scale_min, scale_max, positive, negative = flags[kind, value]
        channel = channel_table[int(random_() * 100)]
        locale = locale_table[int(random_() * 100)]
        touchpoint = touchpoint_table[int(random_() * 100)]
        delivery = "delivered" if channel == "sms" else None
        if random_() < UNDELIVERED_SHARE:
            delivery = "failed"  # a late failure receipt after the answer: rare but possible
        invitations.append(
            (
                row_id,
                f"bench-{row_id:010d}",
                survey,
                versions[survey],
                channel,
                None,
                throttle_keys[row_id & 4095],
                agent,
                team,
                touchpoint,
                locale,
                "completed",
                None,
                sent,
                sent,
                sent,
                None,
                None,
                answered,
                answered,
                1,
                None,
                f"MSG{row_id:012d}",
                delivery,
                1,
                0,
                None,
                None,
                3,
            )
        )
        answers.append(
            (
                row_id,
                row_id,
                kind,
                kind,
                value,
                None,
                scale_min,
                scale_max,
                positive,
                negative,
                answered,
                channel,
                agent,
                team,
                touchpoint,
                survey,
                locale,
            )
        )
        if len(answers) >= chunk:
            yield invitations, answers
            invitations, answers = [], []
    if answers:
        yield invitations, answers


def _scale_min(kind: str) -> int:
    scale = default_scale(kind)
    assert scale is not None
    return scale.minimum


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
        except psycopg.Error as exc:
            print(
                f"  cannot create database {PG_BENCH_DATABASE} ({exc.__class__.__name__}); "
                f"using schema {PG_BENCH_DATABASE} in {given.database}"
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


def _meta(connection: Any, backend: str) -> dict[str, str]:
    del backend  # both connections are in autocommit mode: a failed SELECT leaves no state
    try:
        rows = connection.execute("SELECT key, value FROM bench_meta").fetchall()
    except Exception:
        return {}
    return {str(k): str(v) for k, v in rows}


def is_filled(target: Target, n: int, seed: int) -> bool:
    connection = target.connect()
    try:
        meta = _meta(connection, target.backend)
        if meta.get("answers") != str(n) or meta.get("seed") != str(seed):
            return False
        if meta.get("generator") != GENERATOR_VERSION:
            return False
        found = connection.execute("SELECT max(id) FROM answer").fetchone()
        return bool(found and found[0] == n)
    finally:
        connection.close()


def _reset_schema(target: Target) -> None:
    if target.backend == "sqlite":
        path = Path(make_url(target.url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = path.with_name(path.name + suffix)
            if candidate.exists():
                candidate.unlink()
    else:
        connection = target.connect()
        try:
            schema = connection.execute("SELECT current_schema()").fetchone()[0]
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            connection.close()
    upgrade(target.url)


def fill(target: Target, n: int, seed: int, chunk: int = 100_000) -> float:
    """Recreate the schema through the migration and load n answers; returns seconds taken."""
    started = time.perf_counter()
    _reset_schema(target)
    if target.backend == "sqlite":
        _fill_sqlite(target, n, seed, chunk)
    else:
        _fill_postgres(target, n, seed, chunk)
    return time.perf_counter() - started


def _progress(done: int, n: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed else 0.0
    print(
        f"\r  {done:>12,} / {n:,} answers  {elapsed:6.0f} s  {rate:9,.0f} rows/s",
        end="",
        flush=True,
    )


def _fill_sqlite(target: Target, n: int, seed: int, chunk: int) -> None:
    connection = target.connect()
    try:
        # Disposable file: no journal and no fsync while loading. The meta row is written last,
        # so an interrupted fill is detected and redone.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-524288")
        connection.execute("PRAGMA temp_store=MEMORY")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('answer', 'invitation')"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        insert_invitation = (
            f"INSERT INTO invitation ({INVITATION_COLUMNS}) VALUES ({_marks(INVITATION_COLUMNS)})"
        )
        insert_answer = f"INSERT INTO answer ({ANSWER_COLUMNS}) VALUES ({_marks(ANSWER_COLUMNS)})"
        started, done = time.perf_counter(), 0
        connection.execute("BEGIN")
        for invitations, answers in generate(n, seed, chunk):
            connection.executemany(insert_invitation, invitations)
            connection.executemany(insert_answer, answers)
            done += len(answers)
            _progress(done, n, started)
        connection.execute("COMMIT")
        print()
        index_started = time.perf_counter()
        for _, sql in indexes:  # the migration's own index definitions, rebuilt after the load
            connection.execute(sql)
        print(f"  indexes rebuilt in {time.perf_counter() - index_started:.1f} s")
        _write_meta(connection, n, seed, "?")
        connection.execute("PRAGMA journal_mode=WAL")  # what the application runs with
    finally:
        connection.close()


def _fill_postgres(target: Target, n: int, seed: int, chunk: int) -> None:
    connection = target.connect()
    try:
        indexes = connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = current_schema() AND i.tablename IN ('answer', 'invitation') "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = (quote_ident(i.schemaname) || '.' || "
            "quote_ident(i.indexname))::regclass)"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        started, done = time.perf_counter(), 0
        with connection.transaction():
            try:  # skip per-row foreign-key triggers while loading (needs superuser)
                with connection.transaction():
                    connection.execute("SET LOCAL session_replication_role = replica")
            except Exception:
                pass
            with connection.cursor() as cursor:
                for invitations, answers in generate(n, seed, chunk):
                    with cursor.copy(f"COPY invitation ({INVITATION_COLUMNS}) FROM STDIN") as copy:
                        for row in invitations:
                            copy.write_row(row)
                    with cursor.copy(f"COPY answer ({ANSWER_COLUMNS}) FROM STDIN") as copy:
                        for row in answers:
                            copy.write_row(row)
                    done += len(answers)
                    _progress(done, n, started)
        print()
        index_started = time.perf_counter()
        for _, sql in indexes:
            connection.execute(sql)
        for table in ("invitation", "answer"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
            connection.execute(f"VACUUM (ANALYZE) {table}")  # what autovacuum does after a load
        print(f"  indexes rebuilt and vacuumed in {time.perf_counter() - index_started:.1f} s")
        _write_meta(connection, n, seed, "%s")
    finally:
        connection.close()


def _write_meta(connection: Any, n: int, seed: int, mark: str) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS bench_meta (key TEXT PRIMARY KEY, value TEXT)")
    connection.execute("DELETE FROM bench_meta")
    for key, value in (("answers", n), ("seed", seed), ("generator", GENERATOR_VERSION)):
        connection.execute(
            f"INSERT INTO bench_meta (key, value) VALUES ({mark}, {mark})", (key, str(value))
        )


# ---------------------------------------------------------------------------------------------
# The hand-made SQL


SCORED = "('csat', 'csat10', 'nps', 'ces')"
UNDELIVERED = "('failed', 'undelivered')"

# One statement for the whole report: both periods in one range scan per table (the CASE tells
# them apart), answer buckets and sent counts side by side, per group. The overall figures of a
# split report are the sum of its groups, so they are added up in Python instead of scanned again.
HAND_REPORT = f"""
SELECT 'a', CASE WHEN answered_at >= {{p}} THEN 1 ELSE 0 END, {{answer_group}},
       kind, scale_min, scale_max, value, positive, negative, COUNT(*), 0
FROM answer
WHERE answered_at >= {{p}} AND answered_at < {{p}}
  AND kind IN {SCORED} AND value IS NOT NULL
GROUP BY 2, 3, 4, 5, 6, 7, 8, 9
UNION ALL
SELECT 's', CASE WHEN sent_at >= {{p}} THEN 1 ELSE 0 END, {{invitation_group}},
       NULL, NULL, NULL, NULL, NULL, NULL, COUNT(*), COUNT(responded_at)
FROM invitation
WHERE sent_at >= {{p}} AND sent_at < {{p}}
  AND (delivery_status IS NULL OR delivery_status NOT IN {UNDELIVERED})
GROUP BY 2, 3
"""

# What answer_buckets runs, written by hand: the like-for-like check of the query layer.
HAND_BUCKETS = f"""
SELECT {{answer_group}}, kind, scale_min, scale_max, value, positive, negative, COUNT(*)
FROM answer
WHERE answered_at >= {{p}} AND answered_at < {{p}}
  AND kind IN {SCORED} AND value IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


def _group_sql(by: str | None, table: str) -> str:
    del table
    return "''" if by is None else f"COALESCE({by}, '(none)')"


def _sql(template: str, backend: str, by: str | None) -> str:
    return template.format(
        p="?" if backend == "sqlite" else "%s",
        answer_group=_group_sql(by, "answer"),
        invitation_group=_group_sql(by, "invitation"),
    )


def _bind(moment: datetime, backend: str) -> Any:
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    if backend == "sqlite":
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DATETIME there
    return naive


@dataclass
class Tally:
    """The figures both sides must agree on, per (period, group)."""

    responses: int = 0
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
    sql = _sql(HAND_REPORT, backend, by)
    start, split, end = (_bind(m, backend) for m in (previous.start, period.start, period.end))
    rows = connection.execute(sql, (split, start, end, split, start, end)).fetchall()
    result = HandReport()
    for source, current, group, kind, _, _, _, positive, _, count, responded in rows:
        tallies = result.now if current else result.previous
        keys = (OVERALL,) if by is None else (OVERALL, group)
        for key in keys:
            tally = tallies[key]
            if source == "a":
                result.rows_scanned += count if key == OVERALL else 0
                if kind in ("csat", "csat10"):
                    tally.responses += count
                    tally.satisfied += count if positive else 0
            else:
                tally.sent += count
                tally.responded += responded
    return result


BucketKey = tuple[str | None, str, int, int, int, bool, bool]


def hand_buckets(
    connection: Any, backend: str, period: Period, by: str | None
) -> dict[BucketKey, int]:
    sql = _sql(HAND_BUCKETS, backend, by)
    params = (_bind(period.start, backend), _bind(period.end, backend))
    return {
        (None if by is None else group, kind, lo, hi, value, bool(pos), bool(neg)): count
        for group, kind, lo, hi, value, pos, neg, count in connection.execute(sql, params)
    }


# ---------------------------------------------------------------------------------------------
# Our side


def make_service(engine: Engine) -> Service:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        csat_database_url=str(engine.url),
        csat_timezone=TIMEZONE,
    )
    return Service(
        settings=settings,
        engine=engine,
        surveys=builtin_surveys(),
        channels={},
        clock=lambda: NOW,
    )


def our_buckets(engine: Engine, period: Period, by: str | None) -> dict[BucketKey, int]:
    with Session(engine) as session:
        found = queries.answer_buckets(session, period.start, period.end, by)
    return {
        (group, b.kind, b.scale_min, b.scale_max, b.value, b.positive, b.negative): b.count
        for group, buckets in found.items()
        for b in buckets
    }


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


def check_report(report: dict[str, Any], hand: HandReport, by: str | None, label: str) -> None:
    now, previous = report_tallies(report)
    hand_now = {k: v for k, v in hand.now.items() if by is None or v.responses or v.sent}
    if set(now) != set(hand_now) | {OVERALL}:
        raise MismatchError(f"{label}: groups differ: {sorted(now)} vs {sorted(hand_now)}")
    for key, ours in now.items():
        theirs = hand.now.get(key, Tally())
        if (ours.responses, ours.satisfied, ours.sent) != (
            theirs.responses,
            theirs.satisfied,
            theirs.sent,
        ):
            raise MismatchError(f"{label} [{key}]: ours {ours} vs hand {theirs}")
        if abs(ours.responded - theirs.responded) > 1 + theirs.sent / 20_000:  # rate is rounded
            raise MismatchError(f"{label} [{key}]: responded {ours.responded} vs {theirs}")
        if previous[key] != hand.previous.get(key, Tally()).responses:
            raise MismatchError(
                f"{label} [{key}]: previous responses {previous[key]} vs "
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
    ours: list[float]
    hand: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.hand)


def p90(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def time_pair(
    ours: Callable[[], Any], hand: Callable[[], Any], runs: int
) -> tuple[list[float], list[float]]:
    """Warm both up once, then alternate them so drift in the machine hits both alike."""
    ours()
    hand()
    ours_ms: list[float] = []
    hand_ms: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        ours()
        ours_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        hand()
        hand_ms.append((time.perf_counter() - started) * 1000)
    return ours_ms, hand_ms


class StatementLog:
    """Collects the statements the service sends, for --explain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        self.active = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.active:
            self.statements.append((statement, parameters))


def explain(target: Target, service: Service, log: StatementLog, text: str) -> None:
    log.statements.clear()
    log.active = True
    try:
        service.scores(service.parse_query(text))
    finally:
        log.active = False
    query = service.parse_query(text)
    period, previous = query.period, query.period.previous()
    connection = target.connect()
    try:
        plans: list[tuple[str, str, Any]] = [
            (f"service statement {i + 1}", sql, params)
            for i, (sql, params) in enumerate(log.statements)
        ]
        start, split, end = (
            _bind(m, target.backend) for m in (previous.start, period.start, period.end)
        )
        plans.append(
            (
                "hand report",
                _sql(HAND_REPORT, target.backend, query.by),
                (split, start, end, split, start, end),
            )
        )
        for title, sql, params in plans:
            print(f"\n  -- {text}: {title}")
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


def benchmark(
    target: Target, n: int, runs: int, explain_plans: bool, extra_indexes: Sequence[str]
) -> list[Row]:
    engine = make_engine(target.url)
    log = StatementLog(engine)
    service = make_service(engine)
    connection = target.connect()
    created: list[str] = []
    try:
        for sql in extra_indexes:
            match = re.search(r"INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.IGNORECASE)
            assert match, f"cannot find the index name in {sql!r}"
            started = time.perf_counter()
            connection.execute(sql)
            created.append(match.group(1))
            print(f"  extra index {match.group(1)} built in {time.perf_counter() - started:.1f} s")
        rows: list[Row] = []
        for text in QUERIES:
            query = service.parse_query(text)
            period, previous = query.period, query.period.previous()
            by = query.by

            def ours_report(text: str = text) -> dict[str, Any]:
                return service.scores(service.parse_query(text))

            def hand_full(
                period: Period = period, previous: Period = previous, by: str | None = by
            ) -> HandReport:
                return hand_report(connection, target.backend, period, previous, by)

            check_report(ours_report(), hand_full(), by, f"{n:,} {text}")
            scanned = hand_full().rows_scanned
            ours_ms, hand_ms = time_pair(ours_report, hand_full, runs)
            rows.append(Row(target.backend, n, text, "Service.scores", scanned, ours_ms, hand_ms))

            def ours_bare(period: Period = period, by: str | None = by) -> Any:
                return our_buckets(engine, period, by)

            def hand_bare(period: Period = period, by: str | None = by) -> Any:
                return hand_buckets(connection, target.backend, period, by)

            if ours_bare() != hand_bare():
                raise MismatchError(f"{n:,} {text}: answer_buckets differs from hand SQL")
            current = sum(hand_bare().values())
            ours_ms, hand_ms = time_pair(ours_bare, hand_bare, runs)
            rows.append(Row(target.backend, n, text, "answer_buckets", current, ours_ms, hand_ms))
            _print_rows(rows[-2:])
        if explain_plans:
            for text in QUERIES:
                explain(target, service, log, text)
        return rows
    finally:
        for name in created:
            connection.execute(f'DROP INDEX "{name}"')
        connection.close()
        engine.dispose()


def _verdict(row: Row) -> str:
    notes: list[str] = []
    today = row.what == "Service.scores" and row.query == "today"
    if today and row.backend == "sqlite" and row.answers >= TODAY_TARGET_ANSWERS:
        ok = statistics.median(row.ours) < TODAY_TARGET_MS
        notes.append(f"<{TODAY_TARGET_MS:.0f} ms: {'yes' if ok else 'NO'}")
    if row.what == "Service.scores":
        notes.append(f"≤{RATIO_TARGET}×: {'yes' if row.ratio <= RATIO_TARGET else 'NO'}")
    return ", ".join(notes)


HEADER = (
    f"{'backend':<10} {'answers':>11} {'query':<13} {'what':<15} {'rows':>9} "
    f"{'ours med':>9} {'ours p90':>9} {'hand med':>9} {'hand p90':>9} {'ratio':>6}  targets"
)


def _format_row(row: Row) -> str:
    return (
        f"{row.backend:<10} {row.answers:>11,} {row.query:<13} {row.what:<15} {row.rows:>9,} "
        f"{statistics.median(row.ours):>9.1f} {p90(row.ours):>9.1f} "
        f"{statistics.median(row.hand):>9.1f} {p90(row.hand):>9.1f} {row.ratio:>5.2f}×  "
        f"{_verdict(row)}"
    )


def _print_rows(rows: Sequence[Row]) -> None:
    for row in rows:
        print("  " + _format_row(row))


# ---------------------------------------------------------------------------------------------


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
            print("  " + HEADER)
            results.extend(benchmark(target, n, args.runs, args.explain, args.extra_index))
    except MismatchError as exc:
        print(f"\nMISMATCH: {exc}", file=sys.stderr)
        return 1

    print(
        f"\nMedian and p90 of {args.runs} runs after one warm-up, in ms; ratio = ours / hand "
        "(medians). rows = answers in the aggregated range."
    )
    print(HEADER)
    for row in results:
        print(_format_row(row))
    for line in fill_times:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
