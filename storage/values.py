"""Plain values that cross the storage seam: what the store counts, the core computes with.

They live at the bottom so that storage never imports the layers above it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    """Answers sharing one (kind, scale, value, flags) combination, counted in SQL.

    ``positive`` and ``negative`` are decided when an answer is recorded (by the survey's own
    thresholds), so reports never re-derive what "satisfied" meant for a question.
    """

    kind: str
    scale_min: int
    scale_max: int
    value: int
    positive: bool
    negative: bool
    count: int


@dataclass(frozen=True)
class Counts:
    """Everything one group's report is computed from."""

    sent: int
    responded: int
    buckets: tuple[Bucket, ...]
