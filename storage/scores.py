"""Score aggregates: a period and the equal period before it, in two statements.

Both periods are read in one range scan each over ``answer`` and ``invitation``, grouped in SQL
down to (period, group, kind, value, flags) buckets; a report never reads single answers into
Python, and a "by agent" report derives its overall figures from its groups instead of asking the
database again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.scoring import Bucket, Counts
from storage.models import Answer, Invitation

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


def two_periods(
    session: Session, previous_start: datetime, start: datetime, end: datetime, by: str | None
) -> tuple[PeriodCounts, PeriodCounts]:
    """(current, previous) counts; the previous period is [previous_start, start)."""
    current, previous = PeriodCounts(), PeriodCounts()
    sent: dict[tuple[bool, str | None], tuple[int, int]] = {}
    buckets: dict[tuple[bool, str | None], list[Bucket]] = defaultdict(list)

    # Conditional sums, not a GROUP BY on the period: the groups then follow the bucket index,
    # so SQLite reads them in order instead of sorting the period's answers.
    answered_at = col(Answer.answered_at)
    group = _group(Answer, by)
    keys: list[Any] = [group.label("grp")] if group is not None else []
    columns: list[Any] = [
        *keys,
        col(Answer.kind),
        col(Answer.scale_min),
        col(Answer.scale_max),
        col(Answer.value),
        col(Answer.positive),
        col(Answer.negative),
    ]
    statement = (
        select(*columns, _sum_if(answered_at >= start), _sum_if(answered_at < start))
        .where(answered_at >= previous_start, answered_at < end)
        .where(col(Answer.kind).in_(SCORED_KINDS), col(Answer.value).is_not(None))
        .group_by(*columns)
    )
    for row in session.execute(statement):
        values = tuple(row)
        grp = values[0] if group is not None else None
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

    sent_at = col(Invitation.sent_at)
    responded_at = col(Invitation.responded_at)
    sent_group = _group(Invitation, by)
    sent_keys: list[Any] = [sent_group.label("grp")] if sent_group is not None else []
    delivered = or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )
    sent_statement = select(
        *sent_keys,
        _sum_if(sent_at >= start),
        _sum_if(sent_at < start),
        func.count(case((sent_at >= start, responded_at))),
        func.count(case((sent_at < start, responded_at))),
    ).where(sent_at >= previous_start, sent_at < end, delivered)
    if sent_keys:
        sent_statement = sent_statement.group_by(*sent_keys)
    for row in session.execute(sent_statement):
        values = tuple(row)
        grp = values[0] if sent_group is not None else None
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
