"""Score aggregates: a period and the equal period before it, in two statements.

Both periods are read in one range scan each over ``answer`` and ``invitation``, grouped in SQL
down to (period, group, kind, value, flags) buckets; a report never reads single answers into
Python, and a "by agent" report derives its overall figures from its groups instead of asking the
database again.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, case, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.scoring import Bucket, Counts
from storage.models import Answer, Invitation
from storage.types import UTCDateTime

NONE_GROUP = "(none)"
SCORED_KINDS = ("csat", "csat10", "nps", "ces")
UNDELIVERED = ("failed", "undelivered", "canceled")


@dataclass
class PeriodCounts:
    """Counts of one period, overall or per group value."""

    groups: dict[str | None, Counts] = field(default_factory=dict)

    def get(self, key: str | None) -> Counts:
        return self.groups.get(key) or Counts(sent=0, responded=0, buckets=())

    def overall(self) -> Counts:
        return merge(self.groups.values())


def merge(parts: Iterable[Counts]) -> Counts:
    """Add group counts into one: sent and responded add up, equal buckets add their counts."""
    sent = responded = 0
    buckets: dict[tuple[Any, ...], Bucket] = {}
    for part in parts:
        sent += part.sent
        responded += part.responded
        for bucket in part.buckets:
            key = (
                bucket.kind,
                bucket.scale_min,
                bucket.scale_max,
                bucket.value,
                bucket.positive,
                bucket.negative,
            )
            seen = buckets.get(key)
            buckets[key] = (
                bucket if seen is None else replace(seen, count=seen.count + bucket.count)
            )
    return Counts(sent=sent, responded=responded, buckets=tuple(buckets.values()))


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
def _sent_statement(by: str | None) -> tuple[Select[Any], bool]:
    sent_at = col(Invitation.sent_at)
    responded_at = col(Invitation.responded_at)
    before, split, end = _moment("before"), _moment("split"), _moment("end")
    group = _group(Invitation, by)
    keys: list[Any] = [group.label("grp")] if group is not None else []
    delivered = or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )
    statement = select(
        *keys,
        _sum_if(sent_at >= split),
        _sum_if(sent_at < split),
        func.count(case((sent_at >= split, responded_at))),
        func.count(case((sent_at < split, responded_at))),
    ).where(sent_at >= before, sent_at < end, delivered)
    if keys:
        statement = statement.group_by(*keys)
    return statement, group is not None


def two_periods(
    session: Session | Connection,
    previous_start: datetime,
    start: datetime,
    end: datetime,
    by: str | None,
) -> tuple[PeriodCounts, PeriodCounts]:
    """(current, previous) counts; the previous period is [previous_start, start)."""
    current, previous = PeriodCounts(), PeriodCounts()
    sent: dict[tuple[bool, str | None], tuple[int, int]] = {}
    buckets: dict[tuple[bool, str | None], list[Bucket]] = defaultdict(list)

    params = {"before": previous_start, "split": start, "end": end}
    statement, grouped = _answer_statement(by)
    keys = [None] if grouped else []
    for row in session.execute(statement, params):
        values = tuple(row)
        grp = values[0] if grouped else None
        kind, lo, hi, value, positive, negative, now_count, before_count = values[len(keys) :]
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

    sent_statement, sent_grouped = _sent_statement(by)
    sent_keys = [None] if sent_grouped else []
    for row in session.execute(sent_statement, params):
        values = tuple(row)
        grp = values[0] if sent_grouped else None
        now_sent, before_sent, now_responded, before_responded = values[len(sent_keys) :]
        if now_sent:
            sent[(True, grp)] = (int(now_sent), int(now_responded))
        if before_sent:
            sent[(False, grp)] = (int(before_sent), int(before_responded))

    for key in {*buckets, *sent}:
        is_now, grp = key
        s, r = sent.get(key, (0, 0))
        target = current if is_now else previous
        target.groups[grp] = Counts(sent=s, responded=r, buckets=tuple(buckets.get(key, ())))
    return current, previous


def group_keys(counts: Mapping[str | None, Counts]) -> list[str]:
    return sorted(k for k in counts if k is not None)
