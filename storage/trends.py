"""Counts per time bucket (a day, a week, a month in the team's zone) in one pass over a range.

The buckets' bounds are local midnights converted to UTC by the caller, so they are uneven (a
DST day is 23 or 25 hours; months differ) and no arithmetic on the stored instants can find them.
Each row is placed by a balanced tree of ``CASE WHEN instant < bound`` tests instead: about
log2(buckets) comparisons (nine for a year by day), and one statement whatever the zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, literal, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from storage.models import Answer, Invitation
from storage.types import UTCDateTime
from storage.values import SCORED_KINDS, UNDELIVERED, Bucket, Counts

MAX_BUCKETS = 400
_UTC = UTCDateTime()


def _index(instant: Any, bounds: Sequence[datetime]) -> ColumnElement[Any]:
    """The bucket number of ``instant``: ``i`` where ``bounds[i] <= instant < bounds[i + 1]``
    (the caller's WHERE keeps the instant within the outer bounds)."""

    def tree(low: int, high: int) -> ColumnElement[Any]:
        if high - low == 1:
            return literal(low)
        middle = (low + high) // 2
        split = bindparam(f"b{middle}", bounds[middle], type_=_UTC)
        return case((instant < split, tree(low, middle)), else_=tree(middle, high))

    return tree(0, len(bounds) - 1)


def bucket_counts(engine: Engine, bounds: Sequence[datetime]) -> list[Counts]:
    """Counts of each bucket ``[bounds[i], bounds[i + 1])``, empty buckets included."""
    if len(bounds) < 2:
        return []
    if len(bounds) - 1 > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} buckets")
    low = bindparam("low", bounds[0], type_=_UTC)
    high = bindparam("high", bounds[-1], type_=_UTC)
    answered_at = col(Answer.answered_at)
    names = ("kind", "scale_min", "scale_max", "value", "positive", "negative")
    columns = [getattr(Answer, name) for name in names]
    placed = (
        select(_index(answered_at, bounds).label("slot"), *columns)
        .where(answered_at >= low, answered_at < high)
        .where(col(Answer.kind).in_(SCORED_KINDS), col(Answer.value).is_not(None))
        .subquery()
    )
    keys = [placed.c.slot, *(placed.c[name] for name in names)]
    answers = select(*keys, func.count()).group_by(*keys)

    sent_at = col(Invitation.sent_at)
    delivered = or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )
    sent_rows = (
        select(
            _index(sent_at, bounds).label("slot"),
            col(Invitation.responded_at).label("responded_at"),
        )
        .where(sent_at >= low, sent_at < high, delivered)
        .subquery()
    )
    sent = select(sent_rows.c.slot, func.count(), func.count(sent_rows.c.responded_at)).group_by(
        sent_rows.c.slot
    )

    found: dict[int, list[Bucket]] = defaultdict(list)
    totals: dict[int, tuple[int, int]] = {}
    with engine.connect() as connection:
        for row in connection.execute(answers):
            slot, kind, lo, hi, value, positive, negative, count = tuple(row)
            found[int(slot)].append(
                Bucket(kind, lo, hi, value, bool(positive), bool(negative), int(count))
            )
        for row in connection.execute(sent):
            slot, count, responded = tuple(row)
            totals[int(slot)] = (int(count), int(responded))
    return [
        Counts(
            sent=totals.get(i, (0, 0))[0],
            responded=totals.get(i, (0, 0))[1],
            buckets=tuple(found.get(i, ())),
        )
        for i in range(len(bounds) - 1)
    ]
