"""Closed local days counted once, so that a year reads a few thousand rows instead of every answer.

A day of the team's zone that ended more than :data:`SETTLE` ago is *closed*: the refresher counts
it once, per dimension, into ``rollup_day_answer`` (the score buckets) and ``rollup_day_sent``
(sent and responded), and lists it in ``rollup_day``; a calendar month whose days are all counted
is summed from them into ``rollup_month_*``. A report over a span then reads

* the closed, counted, unchanged days from the rollup tables (whole months from the month rows,
  so a year by agent reads about a dozen months and the days at its two ends), and
* everything else from the raw rows, with the statements of :mod:`storage.trends`: today, days not
  counted yet, and days that changed since they were counted.

**What changed.** Database triggers (migration 0007) put the UTC hour of any row whose instant is
older than :data:`MARK_AGE` into ``rollup_mark`` when it is written, changed or deleted: a late
receipt, a reply to an older invitation, a correction, an erasure, an import. A day touched by a
mark is read raw until the refresher has counted it again and taken the mark away. A write to a
row younger than the mark age leaves no mark, which keeps the reply path at one test per row; it
needs none, because such a row's day is not closed yet, and a day is counted only
``SETTLE - MARK_AGE`` (an hour) after the last moment such a write could happen. That holds as
long as no transaction stays open for an hour. The database's own clock decides both sides.

**The zone.** The rollups are cut in one zone, kept in ``rollup_state``. A process whose
``CSAT_TIMEZONE`` differs reads raw rows; it takes the rollups over (dropping them and counting
again) only once the zone in charge has not been refreshed for :data:`TAKEOVER`, so two processes
set to different zones do not take turns throwing each other's work away.

**No lock while counting.** A round reads the marks, chooses the days and counts them in one
snapshot (a read transaction; REPEATABLE READ on PostgreSQL) without holding anything, so replies
never wait for it. It then writes in one short transaction, and only if the state's version is
still the one it read: two refreshers never write over each other with older counts, and the
marks it removes are exactly those whose changes its counts include (a later change leaves a
later mark, which the next round takes).
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from storage.models import Answer, Invitation
from storage.trends import bucket_index, grouped_counts
from storage.types import UTCDateTime
from storage.values import SCORED_KINDS, UNDELIVERED, Bucket, Counts, Refreshed

MARK_AGE = timedelta(hours=1)  # the triggers' cutoff (migration 0007)
SETTLE = timedelta(hours=2)  # a day is counted once it ended this long ago
TAKEOVER = timedelta(minutes=10)
MIN_DAYS = 3  # fewer closed days in a span are read raw: cheaper than looking the rollups up
CHUNK_DAYS = 7  # days counted per transaction: a short hold of the write turn
DIMENSIONS = ("channel", "agent", "team", "touchpoint", "survey", "locale")
NONE_GROUP = "(none)"
OVERALL = ""  # the dim and grp of the rows without a dimension
log = logging.getLogger("csat.rollup")

metadata = MetaData()  # beside SQLModel's: these tables have no ORM model
state_table = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("zone", String(64), nullable=False),
    Column("refreshed_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False),  # bumped by every write of the rollups
)
day_table = Table(
    "rollup_day",
    metadata,
    Column("day", Date, primary_key=True),
    Column("built_at", UTCDateTime(), nullable=False),
)
month_table = Table(
    "rollup_month",
    metadata,
    Column("day", Date, primary_key=True),  # the month's first day
    Column("built_at", UTCDateTime(), nullable=False),
)


def _answer_table(unit: str) -> Table:
    return Table(
        f"rollup_{unit}_answer",
        metadata,
        Column("dim", String(16), nullable=False),
        Column("day", Date, nullable=False),
        Column("grp", String(200), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("scale_min", Integer),
        Column("scale_max", Integer),
        Column("value", Integer, nullable=False),
        Column("positive", Boolean, nullable=False),
        Column("negative", Boolean, nullable=False),
        Column("n", Integer, nullable=False),
        Index(
            f"ix_rollup_{unit}_answer_read",
            "dim",
            "day",
            "grp",
            "kind",
            "scale_min",
            "scale_max",
            "value",
            "positive",
            "negative",
            "n",
        ),
    )


def _sent_table(unit: str) -> Table:
    return Table(
        f"rollup_{unit}_sent",
        metadata,
        Column("dim", String(16), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("grp", String(200), primary_key=True),
        Column("sent", Integer, nullable=False),
        Column("responded", Integer, nullable=False),
        Index(f"ix_rollup_{unit}_sent_read", "dim", "day", "grp", "sent", "responded"),
    )


answer_table, sent_table = _answer_table("day"), _sent_table("day")
month_answer_table, month_sent_table = _answer_table("month"), _sent_table("month")
mark_table = Table(
    "rollup_mark",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hour", DateTime, nullable=False),
)

BUCKET_NAMES = ("kind", "scale_min", "scale_max", "value", "positive", "negative")
ComboKey = tuple[Any, ...]  # the six bucket columns


# -- local days ----------------------------------------------------------------------------------


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day. ``fold=0`` picks the earlier of a repeated midnight and,
    where midnight is skipped, the instant the day begins with."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _days(first: date, stop: date) -> Iterator[date]:
    day = first
    while day < stop:
        yield day
        day += timedelta(days=1)


def _touched(hour: datetime, zone: ZoneInfo) -> set[date]:
    """The local days a UTC hour overlaps (two where the zone's offset is not whole hours)."""
    start = hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour
    return {local_day(start, zone), local_day(start + timedelta(hours=1, microseconds=-1), zone)}


# -- counting days -------------------------------------------------------------------------------


def _delivered() -> ColumnElement[bool]:
    return or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )


def _count_run(
    connection: Connection, days: Sequence[date], zone: ZoneInfo
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rollup rows of consecutive days: one finest-grain pass over each table, then every
    dimension summed from it here (a day holds thousands of groups, not millions)."""
    bounds = [day_start(day, zone) for day in days] + [day_start(days[-1] + timedelta(1), zone)]
    utc = UTCDateTime()
    low, high = bindparam("low", bounds[0], type_=utc), bindparam("high", bounds[-1], type_=utc)
    answered_at = col(Answer.answered_at)
    dims = [getattr(Answer, name) for name in DIMENSIONS]
    combo = [getattr(Answer, name) for name in BUCKET_NAMES]
    keys = [bucket_index(answered_at, bounds, utc).label("slot"), *dims, *combo]
    placed = (
        select(*keys)
        .where(answered_at >= low, answered_at < high)
        .where(col(Answer.kind).in_(SCORED_KINDS), col(Answer.value).is_not(None))
        .subquery()
    )
    columns = list(placed.c)
    answers: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in connection.execute(select(*columns, func.count()).group_by(*columns)):
        slot, *rest = tuple(row)
        count = int(rest[-1])
        groups, bucket = rest[: len(DIMENSIONS)], tuple(rest[len(DIMENSIONS) : -1])
        day = days[int(slot)]
        answers[(OVERALL, day, OVERALL, *bucket)] += count
        for name, grp in zip(DIMENSIONS, groups, strict=True):
            answers[(name, day, grp if grp is not None else NONE_GROUP, *bucket)] += count

    sent_at = col(Invitation.sent_at)
    sent_keys = [
        bucket_index(sent_at, bounds, utc).label("slot"),
        *(getattr(Invitation, name) for name in DIMENSIONS),
    ]
    sent_rows = (
        select(*sent_keys, col(Invitation.responded_at).label("responded_at"))
        .where(sent_at >= low, sent_at < high, _delivered())
        .subquery()
    )
    sent_columns = list(sent_rows.c)[:-1]
    statement = select(*sent_columns, func.count(), func.count(sent_rows.c.responded_at)).group_by(
        *sent_columns
    )
    sent: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in connection.execute(statement):
        slot, *groups, count, responded = tuple(row)
        day = days[int(slot)]
        for key in [(OVERALL, day, OVERALL)] + [
            (name, day, grp if grp is not None else NONE_GROUP)
            for name, grp in zip(DIMENSIONS, groups, strict=True)
        ]:
            totals = sent[key]
            totals[0] += int(count)
            totals[1] += int(responded)

    answer_rows = [
        {
            "dim": key[0],
            "day": key[1],
            "grp": key[2],
            **dict(zip(BUCKET_NAMES, key[3:], strict=True)),
            "n": count,
        }
        for key, count in answers.items()
    ]
    sent_rows_out = [
        {"dim": k[0], "day": k[1], "grp": k[2], "sent": v[0], "responded": v[1]}
        for k, v in sent.items()
    ]
    return answer_rows, sent_rows_out


def _runs(days: Iterable[date], longest: int) -> list[list[date]]:
    """Consecutive days in runs of at most ``longest``."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][-1] + timedelta(1) == day and len(runs[-1]) < longest:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


# -- the refresher -------------------------------------------------------------------------------


def _database_now(connection: Connection) -> datetime:
    value = connection.execute(select(func.current_timestamp())).scalar_one()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _take_zone(connection: Connection, zone: str, now: datetime) -> str | None:
    """Make ``zone`` the rollups' zone and note that its keeper is alive; the reason to skip
    this round, if another zone's keeper is.

    The state row is read ``FOR UPDATE`` (PostgreSQL; SQLite has one writer at a time), so a
    keeper of the old zone that is writing holds the takeover until it commits, and the takeover
    then decides on what it wrote. The zone changes only where the version read is still the
    version (a keeper's write bumps it), and the rows go only after that change, in the same
    transaction: no day counted in the old zone survives under the new one."""
    row = connection.execute(
        select(state_table.c.zone, state_table.c.refreshed_at, state_table.c.version)
        .where(state_table.c.id == 1)
        .with_for_update()
    ).first()
    if row is None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        first = dialect.insert(state_table).values(id=1, zone=zone, refreshed_at=now, version=0)
        made = first.on_conflict_do_nothing().returning(state_table.c.id)
        if connection.execute(made).first() is None:
            return "another process began the rollups meanwhile"
        return None
    current, refreshed_at, version = row
    if current == zone:
        connection.execute(state_table.update().values(refreshed_at=now))
        return None
    if refreshed_at > now - TAKEOVER:
        return f"the rollups are kept in {current}"
    taken = connection.execute(
        state_table.update()
        .where(state_table.c.version == version, state_table.c.zone == current)
        .values(zone=zone, refreshed_at=now, version=version + 1)
    )
    if taken.rowcount != 1:
        return f"the rollups' keeper in {current} wrote meanwhile"
    tables = (answer_table, sent_table, day_table, mark_table)
    for table in (*tables, month_answer_table, month_sent_table, month_table):
        connection.execute(delete(table))
    return None


def refresh(
    engine: Engine, timezone: str, now: datetime, *, chunks: int = 1, turn: Any = None
) -> Refreshed:
    """Count the days that changed (first) and the closed days not counted yet (newest first),
    at most ``chunks`` runs of :data:`CHUNK_DAYS`."""
    total_days = total_marks = 0
    for _ in range(chunks):
        done = _refresh_once(engine, timezone, now, turn)
        total_days += done.days
        total_marks += done.marks
        if done.skipped is not None or not done.pending:
            return Refreshed(total_days, total_marks, done.pending, done.skipped)
    return Refreshed(total_days, total_marks, pending=True)


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one moment of the database throughout."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # The driver begins a transaction only before a write; without one every SELECT
            # would see its own moment (WAL readers keep the snapshot of their transaction).
            connection.exec_driver_sql("BEGIN")
        else:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield connection
        finally:
            connection.rollback()


@dataclass
class _Counted:
    version: int
    database_now: datetime
    marks: list[tuple[int, Any]]
    work: list[date]
    runs: list[tuple[list[date], list[dict[str, Any]], list[dict[str, Any]]]]
    months: dict[date, bool]  # touched month -> whether all its days are counted and closed
    pending: bool


def _count(engine: Engine, timezone: str, zone: ZoneInfo, now: datetime) -> _Counted | str | None:
    """Choose the days to count and count them, in one snapshot and without any lock: the marks
    read are exactly the changes the counts include."""
    with _snapshot(engine) as connection:
        state = connection.execute(select(state_table.c.zone, state_table.c.version)).first()
        if state is None or state[0] != timezone:
            return "the rollups' zone changed"
        database_now = _database_now(connection)
        horizon = min(now, database_now) - SETTLE
        last_closed = local_day(horizon, zone) - timedelta(1)  # its end is at or before horizon
        if day_start(last_closed + timedelta(1), zone) > horizon:
            last_closed -= timedelta(1)
        marks = [
            tuple(row) for row in connection.execute(select(mark_table.c.id, mark_table.c.hour))
        ]
        marked: set[date] = set()
        for _, hour in marks:
            marked |= {day for day in _touched(_naive(hour), zone) if day <= last_closed}
        built = set(connection.execute(select(day_table.c.day)).scalars())
        unbuilt: list[date] = []
        first = _first_instant(connection)
        if first is not None:
            day = last_closed
            stop = local_day(first, zone)
            while day >= stop:
                if day not in built:
                    unbuilt.append(day)
                day -= timedelta(1)
        # Changed days first, then the newest missing ones.
        work = sorted(marked)[:CHUNK_DAYS]
        if len(work) < CHUNK_DAYS:
            work += [day for day in unbuilt if day not in marked][: CHUNK_DAYS - len(work)]
        if not work:
            return None
        runs = [(run, *_count_run(connection, run, zone)) for run in _runs(work, CHUNK_DAYS)]
        months: dict[date, bool] = {}
        for month in sorted({day.replace(day=1) for day in work}):
            days = list(_days(month, _next_month(month)))
            months[month] = days[-1] <= last_closed and all(d in built or d in work for d in days)
        pending = len(marked) + len([d for d in unbuilt if d not in marked]) > len(work)
        return _Counted(
            int(state[1]),
            database_now,
            marks,
            work,
            runs,
            months,
            pending,
        )


def _refresh_once(engine: Engine, timezone: str, now: datetime, turn: Any) -> Refreshed:
    """One round. The counting reads a snapshot and holds no lock, so writers (replies) never
    wait for it; the short write that follows goes ahead only if no other refresher wrote since
    that snapshot (the state's version), else the round is left to the next pass."""
    zone = _zone(timezone)
    with turn if turn is not None else nullcontext(), engine.begin() as connection:
        skipped = _take_zone(connection, timezone, _database_now(connection))
    if skipped is not None:
        return Refreshed(skipped=skipped)
    counted = _count(engine, timezone, zone, now)
    if counted is None:
        return Refreshed()
    if isinstance(counted, str):
        return Refreshed(pending=True, skipped=counted)
    with turn if turn is not None else nullcontext(), engine.begin() as connection:
        claimed = connection.execute(
            state_table.update()
            .where(state_table.c.version == counted.version, state_table.c.zone == timezone)
            .values(version=counted.version + 1)
        )
        if claimed.rowcount != 1:
            return Refreshed(pending=True, skipped="another process wrote the rollups meanwhile")
        for run, answer_rows, sent_rows in counted.runs:
            for table in (answer_table, sent_table, day_table):
                connection.execute(
                    delete(table).where(table.c.day >= run[0], table.c.day <= run[-1])
                )
            if answer_rows:
                connection.execute(insert(answer_table), answer_rows)
            if sent_rows:
                connection.execute(insert(sent_table), sent_rows)
            connection.execute(
                insert(day_table),
                [{"day": day, "built_at": counted.database_now} for day in run],
            )
        for month, whole in counted.months.items():
            _sum_month(connection, month, counted.database_now if whole else None)
        # A mark goes once every day it touches was counted in this round (so is closed). Its
        # id may be reused on SQLite (no AUTOINCREMENT), and that is harmless: marks are deleted
        # only by a write that bumps the version, as this one did, so since the snapshot none
        # was deleted and every mark written meanwhile took an id above those read.
        work = set(counted.work)
        done_marks = [
            mark_id for mark_id, hour in counted.marks if _touched(_naive(hour), zone) <= work
        ]
        if done_marks:
            connection.execute(delete(mark_table).where(mark_table.c.id.in_(done_marks)))
    return Refreshed(days=len(counted.work), marks=len(done_marks), pending=counted.pending)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _sum_month(connection: Connection, month: date, built_at: datetime | None) -> None:
    """A month's rows again, summed from its days' rows; with ``built_at`` None (some of its
    days are not counted, or not closed) the month is dropped and its days are read instead."""
    stop = _next_month(month)
    for days, months in ((answer_table, month_answer_table), (sent_table, month_sent_table)):
        connection.execute(delete(months).where(months.c.day == month))
        if built_at is None:
            continue
        keys = [days.c.dim, days.c.grp]
        keys += [days.c[name] for name in BUCKET_NAMES] if days is answer_table else []
        sums = (
            [func.sum(days.c.n)]
            if days is answer_table
            else [
                func.sum(days.c.sent),
                func.sum(days.c.responded),
            ]
        )
        first_day = bindparam("month", month, type_=Date())
        summed = (
            select(keys[0], first_day, *keys[1:], *sums)
            .where(days.c.day >= month, days.c.day < stop)
            .group_by(*keys)
        )
        names = [
            "dim",
            "day",
            "grp",
            *([*BUCKET_NAMES, "n"] if days is answer_table else ["sent", "responded"]),
        ]
        connection.execute(insert(months).from_select(names, summed))
    connection.execute(delete(month_table).where(month_table.c.day == month))
    if built_at is not None:
        connection.execute(insert(month_table).values(day=month, built_at=built_at))


def _naive(hour: Any) -> datetime:
    value = datetime.fromisoformat(hour) if isinstance(hour, str) else hour
    assert isinstance(value, datetime)
    return value


def _first_instant(connection: Connection) -> datetime | None:
    """The earliest answer or sending: no day before it needs counting (an import of older rows
    leaves marks, and those days are counted from the marks)."""
    found = [
        connection.execute(select(func.min(col(Answer.answered_at)))).scalar(),
        connection.execute(select(func.min(col(Invitation.sent_at)))).scalar(),
    ]
    present = [_utc(value) for value in found if value is not None]
    return min(present) if present else None


def _utc(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How a span's buckets are read: whole counted days from the rollups, the rest raw."""

    days: Mapping[date, int]  # counted day -> bucket number
    raw: Sequence[tuple[datetime, datetime]]  # instant spans read from the raw rows
    months: Mapping[date, int]  # whole counted months (first day -> bucket) read as months


def _first_whole_day(bounds: Sequence[datetime], zone: ZoneInfo) -> date:
    first = local_day(bounds[0], zone)
    return first if day_start(first, zone) >= bounds[0] else first + timedelta(1)


def _enough_closed_days(bounds: Sequence[datetime], zone: ZoneInfo, now: datetime) -> bool:
    """Whether the span holds :data:`MIN_DAYS` whole closed days: with fewer ("today",
    "yesterday") the raw rows are cheaper than looking the rollups up."""
    stop = day_start(_first_whole_day(bounds, zone) + timedelta(MIN_DAYS), zone)
    return stop <= min(bounds[-1], now - SETTLE)


def plan(
    connection: Connection, bounds: Sequence[datetime], timezone: str, now: datetime
) -> Plan | None:
    """The split of ``bounds``' buckets, or None when the rollups cannot help (their zone is
    another, no whole day of the span is closed, or too few of its days are counted)."""
    zone = _zone(timezone)
    first_day = _first_whole_day(bounds, zone)
    if not _enough_closed_days(bounds, zone, now):
        return None
    state = connection.execute(select(state_table.c.zone)).scalar()
    if state != timezone:
        return None
    stop_day = local_day(bounds[-1], zone) + timedelta(1)
    built = set(
        connection.execute(
            select(day_table.c.day).where(day_table.c.day >= first_day, day_table.c.day < stop_day)
        ).scalars()
    )
    if not built:
        return None
    dirty: set[date] = set()
    low = day_start(first_day, zone).replace(tzinfo=None) - timedelta(hours=1)
    for hour in connection.execute(
        select(mark_table.c.hour).where(mark_table.c.hour >= low).distinct()
    ).scalars():
        dirty |= _touched(_naive(hour), zone)
    days: dict[date, int] = {}
    slot = 0
    for day in _days(first_day, stop_day):
        start, end = day_start(day, zone), day_start(day + timedelta(1), zone)
        if end > bounds[-1]:
            break
        while bounds[slot + 1] <= start:
            slot += 1
        if end <= bounds[slot + 1] and day in built and day not in dirty:
            days[day] = slot
    if not days:
        return None
    raw: list[tuple[datetime, datetime]] = []
    cursor = bounds[0]
    for day in sorted(days):
        start = day_start(day, zone)
        if cursor < start:
            raw.append((cursor, start))
        cursor = day_start(day + timedelta(1), zone)
    if cursor < bounds[-1]:
        raw.append((cursor, bounds[-1]))
    months: dict[date, int] = {}
    if len(days) >= 28:
        for month in connection.execute(
            select(month_table.c.day).where(
                month_table.c.day >= first_day.replace(day=1), month_table.c.day < stop_day
            )
        ).scalars():
            slots = {days.get(day) for day in _days(month, _next_month(month))}
            if len(slots) == 1 and None not in slots:
                months[month] = slots.pop()  # type: ignore[assignment]
    return Plan(days, raw, months)


def rolled_counts(
    connection: Connection, plan_: Plan, buckets: int, by: str | None
) -> list[dict[str | None, Counts]]:
    """The counted days' share of each bucket, per group: whole months from the month rows, the
    other days from the day rows."""
    in_months = {day for month in plan_.months for day in _days(month, _next_month(month))}
    days = {day: slot for day, slot in plan_.days.items() if day not in in_months}
    combos: list[dict[str | None, dict[ComboKey, int]]] = [
        defaultdict(lambda: defaultdict(int)) for _ in range(buckets)
    ]
    totals: list[dict[str | None, list[int]]] = [
        defaultdict(lambda: [0, 0]) for _ in range(buckets)
    ]
    cursor = connection.connection.cursor()
    try:
        for unit, keyed in (("day", days), ("month", plan_.months)):
            if keyed:
                _read(cursor, connection.dialect.name, unit, keyed, by, combos, totals)
    finally:
        cursor.close()
    return [_counts(combos[i], totals[i]) for i in range(buckets)]


def _read(
    cursor: Any,
    dialect: str,
    unit: str,
    keyed: Mapping[date, int],
    by: str | None,
    combos: list[dict[str | None, dict[ComboKey, int]]],
    totals: list[dict[str | None, list[int]]],
) -> None:
    """Add the rows of ``keyed``'s days (or months) into their buckets, summed in SQL.

    Where every bucket is one key the rows are grouped by it; otherwise each row is placed by a
    CASE over the first key of each bucket (two for a report and its previous period, a few
    dozen for weeks or months). The SQL is written out here: building a CASE of a year's days
    through SQLAlchemy's expression language cost more than running it."""
    sqlite = dialect == "sqlite"
    mark = "?" if sqlite else "%s"

    def value(day: date) -> Any:
        return day.isoformat() if sqlite else day

    following = (lambda d: d + timedelta(1)) if unit == "day" else _next_month
    ordered = sorted(keyed)
    runs: list[list[date]] = []
    for key in ordered:
        if runs and following(runs[-1][-1]) == key:
            runs[-1].append(key)
        else:
            runs.append([key])
    edges = [ordered[0]]  # the first key of each bucket
    for key in ordered[1:]:
        if keyed[key] != keyed[edges[-1]]:
            edges.append(key)
    slot_params: list[Any] = []
    slot_of: dict[Any, int]
    if len(edges) == len(ordered):
        slot_sql = "day"
        slot_of = {value(key): keyed[key] for key in ordered}
    else:
        whens = " ".join(f"WHEN day < {mark} THEN {i}" for i in range(len(edges) - 1))
        slot_sql = f"CASE {whens} ELSE {len(edges) - 1} END" if whens else "0"
        slot_params = [value(key) for key in edges[1:]]
        slot_of = {i: keyed[key] for i, key in enumerate(edges)}
    # The dimension in every term: SQLite then reads each span from the index (a multi-index
    # OR) instead of every row of the dimension.
    where = " OR ".join(f"(dim = {mark} AND day >= {mark} AND day <= {mark})" for _ in runs)
    dim = by if by is not None else OVERALL
    params = (*slot_params, *(v for run in runs for v in (dim, value(run[0]), value(run[-1]))))
    names = ", ".join(BUCKET_NAMES)
    positions = ", ".join(str(i) for i in range(3, 3 + len(BUCKET_NAMES)))
    cursor.execute(
        f"SELECT {slot_sql}, grp, {names}, SUM(n) FROM rollup_{unit}_answer WHERE {where} "
        f"GROUP BY 1, 2, {positions}",
        params,
    )
    for slot, grp, kind, lo, hi, number, positive, negative, count in cursor.fetchall():
        group = grp if by is not None else None
        combos[slot_of[slot]][group][(kind, lo, hi, number, positive, negative)] += int(count)
    cursor.execute(
        f"SELECT {slot_sql}, grp, SUM(sent), SUM(responded) FROM rollup_{unit}_sent "
        f"WHERE {where} GROUP BY 1, 2",
        params,
    )
    for slot, grp, count, responded in cursor.fetchall():
        pair = totals[slot_of[slot]][grp if by is not None else None]
        pair[0] += int(count)
        pair[1] += int(responded)


def _counts(
    combos: Mapping[str | None, Mapping[ComboKey, int]], totals: Mapping[str | None, list[int]]
) -> dict[str | None, Counts]:
    out: dict[str | None, Counts] = {}
    for group in {*combos, *totals}:
        sent, responded = totals.get(group, [0, 0])
        buckets = tuple(
            Bucket(kind, lo, hi, value, bool(positive), bool(negative), count)
            for (kind, lo, hi, value, positive, negative), count in combos.get(group, {}).items()
        )
        out[group] = Counts(sent=sent, responded=responded, buckets=buckets)
    return out


def add(parts: Iterable[Mapping[str | None, Counts]]) -> dict[str | None, Counts]:
    """Per-group counts added up (the counted days' share and the raw share of one bucket)."""
    from storage.values import merge

    present = [part for part in parts if part]
    if len(present) == 1:
        return dict(present[0])
    gathered: dict[str | None, list[Counts]] = defaultdict(list)
    for part in present:
        for group, counts in part.items():
            gathered[group].append(counts)
    return {group: merge(items) for group, items in gathered.items()}


def counts(
    engine: Engine, bounds: Sequence[datetime], by: str | None, timezone: str
) -> list[dict[str | None, Counts]] | None:
    """Each bucket's counts per group, the counted days from the rollups and the rest raw; None
    when the rollups cannot help, and the caller reads everything raw its own way."""
    now = datetime.now(UTC)
    if len(bounds) < 2 or not _enough_closed_days(bounds, _zone(timezone), now):
        return None  # decided without a connection: "today" costs what it did
    faults = (DBAPIError, engine.dialect.loaded_dbapi.Error)  # the reads' cursor is the driver's
    try:
        with engine.connect() as connection:
            found = plan(connection, bounds, timezone, now)
            if found is None:
                return None
            parts: list[list[Mapping[str | None, Counts]]] = [
                [share] for share in rolled_counts(connection, found, len(bounds) - 1, by)
            ]
            for low, high in found.raw:
                first = bisect_right(bounds, low) - 1
                inner = [low, *(bound for bound in bounds if low < bound < high), high]
                for offset, share in enumerate(grouped_counts(connection, inner, by)):
                    parts[first + offset].append(share)
    except faults as exc:
        # The rollups only make reports faster: a report the raw rows can answer is not lost
        # to a fault in them. A fault of the database itself fails the raw read as well.
        log.warning("reading the rollups failed, counting raw rows instead: %s", exc)
        return None
    return [add(shares) for shares in parts]
