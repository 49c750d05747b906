"""Plain values that cross the storage seam: what the store counts, the core computes with.

They live at the bottom so that storage never imports the layers above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


class Status(StrEnum):
    """Where an invitation is. A StrEnum: stored and compared as its plain value."""

    SCHEDULED = "scheduled"  # due at send_at
    SENT = "sent"  # asked; waiting for the answer
    COMPLETED = "completed"
    UNPARSED = "unparsed"  # closed after replies that never read as a rating
    EXPIRED = "expired"
    SKIPPED = "skipped"  # never sent: opted out, throttled, not sampled
    CANCELLED = "cancelled"
    FAILED = "failed"


LIVE_STATUSES = (
    Status.SCHEDULED,
    Status.SENT,
    Status.COMPLETED,
    Status.UNPARSED,
    Status.EXPIRED,
)
"""Statuses that count for throttling: the person was (or is about to be) asked."""

OPEN_STATUSES = (Status.SCHEDULED, Status.SENT)
"""Not yet answered or closed: what cancelling or erasing stops."""

CLOSED_STATUSES = frozenset(
    {
        Status.COMPLETED,
        Status.EXPIRED,
        Status.CANCELLED,
        Status.SKIPPED,
        Status.FAILED,
        Status.UNPARSED,
    }
)


class Kind(StrEnum):
    """What a question asks for."""

    CSAT = "csat"
    CSAT10 = "csat10"
    NPS = "nps"
    CES = "ces"
    TEXT = "text"


QUESTION_KINDS = tuple(Kind)
SCORED_KINDS = (Kind.CSAT, Kind.CSAT10, Kind.NPS, Kind.CES)
CSAT_KINDS = (Kind.CSAT, Kind.CSAT10)
