"""Score aggregates: a period and the equal period before it.

Both periods are read in one range scan each over ``answer`` and ``invitation``, grouped in SQL
down to (period, group, kind, value, flags) buckets; a report never reads single answers into
Python, and a "by agent" report derives its overall figures from its groups instead of asking the
database again.

On PostgreSQL both scans go out as one statement, so a report is one round trip; on SQLite they
run side by side on two connections, because there the work is in-process and a round trip costs
nothing. Each statement is compiled once per database dialect to its final SQL text; a report
only converts its three moments and runs that text.
"""

from __future__ import annotations

import functools
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import col

from storage.models import Answer, Invitation
from storage.types import UTCDateTime
from storage.values import (  # noqa: F401 - the report types are used from here too
    SCORED_KINDS,
    UNDELIVERED,
    Bucket,
    Counts,
    PeriodCounts,
    group_keys,
    merge,
)

NONE_GROUP = "(none)"


def _sum_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _group(model: Any, by: str | None) -> ColumnElement[Any] | None:
    if by is None:
        return None
    column: ColumnElement[Any] = getattr(model, by)
    return func.coalesce(column, NONE_GROUP)


MOMENTS = ("before", "split", "end")  # previous period [before, split), this one [split, end)


def _moment(name: str) -> BindParameter[datetime]:
    return bindparam(name, type_=UTCDateTime())


# What a row counts, in its first column; every row has the same columns, so the answer buckets
# and the sent counts can travel in one statement. Buckets: (now, before) counts in the last two
# columns; sent rows: (sent, responded) of one period, the bucket columns NULL.
ANSWERS, SENT_NOW, SENT_BEFORE = 0, 1, 2
BUCKET_COLUMNS = 6  # kind, scale_min, scale_max, value, positive, negative


def _part(code: int) -> ColumnElement[int]:
    return literal_column(str(code), Integer).label("part")


@functools.cache
def _answer_statement(by: str | None) -> tuple[Select[Any], bool]:
    """Answer buckets of both periods; ``(statement, grouped)``.

    Conditional sums, not a GROUP BY on the period: the groups then follow the bucket index, so
    SQLite reads them in order instead of sorting the period's answers.
    """
    answered_at = col(Answer.answered_at)
    before, split, end = (_moment(name) for name in MOMENTS)
    group = _group(Answer, by)
    columns: list[Any] = [
        *([group.label("grp")] if group is not None else []),
        col(Answer.kind),
        col(Answer.scale_min),
        col(Answer.scale_max),
        col(Answer.value),
        col(Answer.positive),
        col(Answer.negative),
    ]
    statement = (
        select(
            _part(ANSWERS), *columns, _sum_if(answered_at >= split), _sum_if(answered_at < split)
        )
        .where(answered_at >= before, answered_at < end)
        .where(col(Answer.kind).in_(SCORED_KINDS), col(Answer.value).is_not(None))
        .group_by(*columns)
    )
    return statement, group is not None


@functools.cache
def _sent_statement(by: str | None) -> tuple[CompoundSelect[Any], bool]:
    """One plain range count per period, glued with UNION ALL: cheaper per row than testing
    every invitation against the split point."""
    sent_at = col(Invitation.sent_at)
    before, split, end = (_moment(name) for name in MOMENTS)
    group = _group(Invitation, by)
    keys: list[Any] = [group.label("grp")] if group is not None else []
    delivered = or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )

    def period(part: int, low: BindParameter[datetime], high: BindParameter[datetime]) -> Any:
        statement = select(
            _part(part),
            *keys,
            *(null() for _ in range(BUCKET_COLUMNS)),
            func.count(),
            func.count(col(Invitation.responded_at)),
        ).where(sent_at >= low, sent_at < high, delivered)
        return statement.group_by(*keys) if keys else statement

    statement = union_all(period(SENT_NOW, split, end), period(SENT_BEFORE, before, split))
    return statement, group is not None


@functools.cache
def _report_statement(by: str | None) -> CompoundSelect[Any]:
    """Buckets and sent counts in one statement: one round trip to a database server."""
    answers, _ = _answer_statement(by)
    sent, _ = _sent_statement(by)
    return union_all(answers, *sent.selects)


Which = Literal["answers", "sent", "report"]
_STATEMENTS: dict[Which, Callable[[str | None], Any]] = {
    "answers": lambda by: _answer_statement(by)[0],
    "sent": lambda by: _sent_statement(by)[0],
    "report": _report_statement,
}


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Compiled:
    """A statement as the driver takes it, worked out once per dialect: SQLAlchemy would
    otherwise derive the cache key, expand the IN lists and convert the constants on every
    report, which took more of a PostgreSQL report's time than the database's work did."""

    sql: str
    constants: Mapping[str, Any]  # already converted for the driver
    moments: Mapping[str, Callable[[Any], Any]]  # name -> converter to the driver's value
    order: tuple[str, ...] | None  # positional drivers (SQLite): parameter names in order

    def parameters(self, moments: Mapping[str, datetime]) -> Any:
        values = dict(self.constants)
        for name, convert in self.moments.items():
            values[name] = convert(moments[name])
        return values if self.order is None else tuple(values[name] for name in self.order)


def _compile(statement: Any, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    sample = datetime(2000, 1, 1, tzinfo=UTC)  # any moment: only the SQL text is kept
    state = compiled.construct_expanded_state(dict.fromkeys(MOMENTS, sample))
    # Each value goes through its column type's conversion, as SQLAlchemy's execution would do
    # (a moment becomes naive UTC, and on SQLite the stored text form).
    converters: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        for expanded in state.parameter_expansion.get(name, [name]):
            converters[expanded] = process or _same
    constants: dict[str, Any] = {}
    moments: dict[str, Callable[[Any], Any]] = {}
    for name, value in state.parameters.items():
        convert = converters[name]
        if name in MOMENTS:
            moments[name] = convert
        else:
            constants[name] = convert(value)
    assert set(moments) == set(MOMENTS), moments
    order = tuple(state.positiontup) if state.positiontup is not None else None
    return _Compiled(state.statement, constants, moments, order)


# Per dialect (one per engine); weak, so a disposed engine's entries go with it.
_compiled: weakref.WeakKeyDictionary[Dialect, dict[tuple[Which, str | None], _Compiled]] = (
    weakref.WeakKeyDictionary()
)


def _statement(dialect: Dialect, which: Which, by: str | None) -> _Compiled:
    known = _compiled.setdefault(dialect, {})
    found = known.get((which, by))
    if found is None:
        found = known[(which, by)] = _compile(_STATEMENTS[which](by), dialect)
    return found


Key = tuple[bool, str | None]
_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="csat-scores")


def two_periods(
    engine: Engine, previous_start: datetime, start: datetime, end: datetime, by: str | None
) -> tuple[PeriodCounts, PeriodCounts]:
    """(current, previous) counts; the previous period is [previous_start, start).

    SQLite: the answer and the sent statements are independent reads, so they run side by side
    on two connections (the driver releases the GIL while SQLite works). Elsewhere the database
    is a server: one statement, one round trip.
    """
    moments = {"before": previous_start, "split": start, "end": end}
    dialect = engine.dialect
    rows: Sequence[Sequence[Any]]
    if dialect.name == "sqlite":
        answers = _statement(dialect, "answers", by)
        pending = _readers.submit(_fetch, engine, answers, moments)
        sent = _fetch(engine, _statement(dialect, "sent", by), moments)
        rows = [*sent, *pending.result()]
    else:
        rows = _fetch(engine, _statement(dialect, "report", by), moments)
    return _periods(rows, grouped=by is not None)


def _fetch(
    engine: Engine, statement: _Compiled, moments: Mapping[str, datetime]
) -> Sequence[Sequence[Any]]:
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            # One SELECT needs no transaction: saves the BEGIN and ROLLBACK round trips.
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection.exec_driver_sql(statement.sql, statement.parameters(moments)).all()


def _periods(rows: Iterable[Sequence[Any]], grouped: bool) -> tuple[PeriodCounts, PeriodCounts]:
    """(current, previous) from the rows of either statement shape; a row's part says whether
    it holds buckets of both periods or the sent counts of one."""
    buckets: dict[Key, list[Bucket]] = defaultdict(list)
    sent: dict[Key, tuple[int, int]] = {}
    for row in rows:
        part = row[0]
        grp = row[1] if grouped else None
        kind, lo, hi, value, positive, negative, first, second = row[-8:]
        if part == ANSWERS:
            for is_now, count in ((True, first), (False, second)):
                if count:
                    buckets[(is_now, grp)].append(
                        Bucket(
                            kind=kind,
                            scale_min=lo,
                            scale_max=hi,
                            value=value,
                            positive=bool(positive),
                            negative=bool(negative),
                            count=int(count),
                        )
                    )
        elif first:
            sent[(part == SENT_NOW, grp)] = (int(first), int(second))
    current, previous = PeriodCounts(), PeriodCounts()
    for key in {*buckets, *sent}:
        is_now, grp = key
        s, r = sent.get(key, (0, 0))
        target = current if is_now else previous
        target.groups[grp] = Counts(sent=s, responded=r, buckets=tuple(buckets.get(key, ())))
    return current, previous
