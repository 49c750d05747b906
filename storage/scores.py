"""Score aggregates: a period and the equal period before it, in two statements.

Both periods are read in one range scan each over ``answer`` and ``invitation``, grouped in SQL
down to (period, group, kind, value, flags) buckets; a report never reads single answers into
Python, and a "by agent" report derives its overall figures from its groups instead of asking the
database again.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Engine
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


def _moment(name: str) -> BindParameter[datetime]:
    return bindparam(name, type_=UTCDateTime())


@functools.cache
def _answer_statement(by: str | None) -> tuple[Select[Any], bool]:
    """Built once per dimension with bound moments: a report then costs SQL, not Python.

    Conditional sums, not a GROUP BY on the period: the groups then follow the bucket index, so
    SQLite reads them in order instead of sorting the period's answers.
    """
    answered_at = col(Answer.answered_at)
    before, split, end = _moment("before"), _moment("split"), _moment("end")
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
        select(*columns, _sum_if(answered_at >= split), _sum_if(answered_at < split))
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
    before, split, end = _moment("before"), _moment("split"), _moment("end")
    group = _group(Invitation, by)
    keys: list[Any] = [group.label("grp")] if group is not None else []
    delivered = or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )

    def period(is_now: bool, low: BindParameter[datetime], high: BindParameter[datetime]) -> Any:
        statement = select(
            literal(is_now).label("cur"),
            *keys,
            func.count(),
            func.count(col(Invitation.responded_at)),
        ).where(sent_at >= low, sent_at < high, delivered)
        return statement.group_by(*keys) if keys else statement

    return union_all(period(True, split, end), period(False, before, split)), group is not None


Key = tuple[bool, str | None]
_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="csat-scores")


def two_periods(
    engine: Engine, previous_start: datetime, start: datetime, end: datetime, by: str | None
) -> tuple[PeriodCounts, PeriodCounts]:
    """(current, previous) counts; the previous period is [previous_start, start).

    The answer and the sent statements are independent reads, so they run side by side on two
    connections; the database does the work and the drivers release the GIL while it does.
    """
    params = {"before": previous_start, "split": start, "end": end}
    answers = _readers.submit(_read_buckets, engine, by, params)
    sent = _read_sent(engine, by, params)
    buckets = answers.result()
    current, previous = PeriodCounts(), PeriodCounts()
    for key in {*buckets, *sent}:
        is_now, grp = key
        s, r = sent.get(key, (0, 0))
        target = current if is_now else previous
        target.groups[grp] = Counts(sent=s, responded=r, buckets=tuple(buckets.get(key, ())))
    return current, previous


def _read_buckets(
    engine: Engine, by: str | None, params: dict[str, Any]
) -> dict[Key, list[Bucket]]:
    statement, grouped = _answer_statement(by)
    buckets: dict[Key, list[Bucket]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(statement, params).all()
    for row in rows:
        values = tuple(row)
        grp = values[0] if grouped else None
        kind, lo, hi, value, positive, negative, now_count, before_count = values[-8:]
        for is_now, count in ((True, now_count), (False, before_count)):
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
    return buckets


def _read_sent(
    engine: Engine, by: str | None, params: dict[str, Any]
) -> dict[Key, tuple[int, int]]:
    statement, grouped = _sent_statement(by)
    sent: dict[Key, tuple[int, int]] = {}
    with engine.connect() as connection:
        rows = connection.execute(statement, params).all()
    for row in rows:
        values = tuple(row)
        grp = values[1] if grouped else None
        count, responded = int(values[-2]), int(values[-1])
        if count:
            sent[(bool(values[0]), grp)] = (count, responded)
    return sent
