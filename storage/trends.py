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
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from storage.models import Answer, Invitation
from storage.types import UTCDateTime
from storage.values import SCORED_KINDS, UNDELIVERED, Bucket, Counts

MAX_BUCKETS = 400
NONE_GROUP = "(none)"  # as storage.scores
_UTC = UTCDateTime()


def bucket_index(value: Any, bounds: Sequence[Any], type_: Any = _UTC) -> ColumnElement[Any]:
    """The bucket number of ``value``: ``i`` where ``bounds[i] <= value < bounds[i + 1]`` (the
    caller's WHERE keeps it within the outer bounds), as a balanced tree of comparisons."""

    def tree(low: int, high: int) -> ColumnElement[Any]:
        if high - low == 1:
            return literal(low)
        middle = (low + high) // 2
        split = bindparam(f"b{middle}", bounds[middle], type_=type_)
        return case((value < split, tree(low, middle)), else_=tree(middle, high))

    return tree(0, len(bounds) - 1)


def bucket_counts(engine: Engine, bounds: Sequence[datetime]) -> list[Counts]:
    """Counts of each bucket ``[bounds[i], bounds[i + 1])``, empty buckets included."""
    if len(bounds) - 1 > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} buckets")
    with engine.connect() as connection:
        per_group = grouped_counts(connection, bounds, None)
    return [groups.get(None, EMPTY) for groups in per_group]


EMPTY = Counts(sent=0, responded=0, buckets=())


def grouped_counts(
    connection: Connection, bounds: Sequence[datetime], by: str | None
) -> list[dict[str | None, Counts]]:
    """Each bucket's counts per value of the dimension ``by`` (one group, None, without it)."""
    if len(bounds) < 2:
        return []
    low = bindparam("low", bounds[0], type_=_UTC)
    high = bindparam("high", bounds[-1], type_=_UTC)
    answered_at = col(Answer.answered_at)
    names = ("kind", "scale_min", "scale_max", "value", "positive", "negative")
    groups = [_group(Answer, by)] if by is not None else []
    columns = [*groups, *(getattr(Answer, name) for name in names)]
    placed = (
        select(bucket_index(answered_at, bounds).label("slot"), *columns)
        .where(answered_at >= low, answered_at < high)
        .where(col(Answer.kind).in_(SCORED_KINDS), col(Answer.value).is_not(None))
        .subquery()
    )
    keys = list(placed.c)
    answers = select(*keys, func.count()).group_by(*keys)

    sent_at = col(Invitation.sent_at)
    delivered = or_(
        col(Invitation.delivery_status).is_(None),
        col(Invitation.delivery_status).not_in(UNDELIVERED),
    )
    sent_groups = [_group(Invitation, by)] if by is not None else []
    sent_rows = (
        select(
            bucket_index(sent_at, bounds).label("slot"),
            *sent_groups,
            col(Invitation.responded_at).label("responded_at"),
        )
        .where(sent_at >= low, sent_at < high, delivered)
        .subquery()
    )
    sent_keys = list(sent_rows.c)[:-1]
    sent = select(*sent_keys, func.count(), func.count(sent_rows.c.responded_at)).group_by(
        *sent_keys
    )

    found: dict[tuple[int, str | None], list[Bucket]] = defaultdict(list)
    totals: dict[tuple[int, str | None], tuple[int, int]] = {}
    for row in connection.execute(answers):
        slot, *rest = tuple(row)
        grp = rest.pop(0) if by is not None else None
        kind, lo, hi, value, positive, negative, count = rest
        found[(int(slot), grp)].append(
            Bucket(kind, lo, hi, value, bool(positive), bool(negative), int(count))
        )
    for row in connection.execute(sent):
        slot, *rest = tuple(row)
        grp = rest.pop(0) if by is not None else None
        count, responded = rest
        totals[(int(slot), grp)] = (int(count), int(responded))
    out: list[dict[str | None, Counts]] = [{} for _ in range(len(bounds) - 1)]
    for key in {*found, *totals}:
        slot, grp = key
        sent_count, responded = totals.get(key, (0, 0))
        out[slot][grp] = Counts(sent_count, responded, tuple(found.get(key, ())))
    return out


def _group(model: Any, by: str) -> ColumnElement[Any]:
    column: ColumnElement[Any] = getattr(model, by)
    return func.coalesce(column, NONE_GROUP).label("grp")
