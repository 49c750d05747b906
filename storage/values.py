"""Plain values that cross the storage seam: what the store counts, the core computes with.

They live at the bottom so that storage never imports the layers above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True)
class Refreshed:
    """What one refresh did."""

    days: int = 0  # days counted (again)
    marks: int = 0  # marks taken away
    pending: bool = False  # more work was left for the next round
    skipped: str | None = None  # why nothing was done, if so


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


class AlertStatus(StrEnum):
    """Where the follow-up of a low rating is."""

    OPEN = "open"  # nobody has taken it yet
    CLAIMED = "claimed"  # someone said they will follow up
    RESOLVED = "resolved"  # followed up and closed


class FollowUpAction(StrEnum):
    CLAIM = "claim"
    RESOLVE = "resolve"


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
    CHOICE = "choice"  # one option of a short list, stored by its id (answer.choice)


class Reason(StrEnum):
    """What an inbound message came to: the core's own code, stored with the message (and shown
    in logs and the ``csat_replies_total`` metric). Adapters act on ``InboundResult.outcome``."""

    RATING = "rating"
    COMMENT = "comment"
    CHOICE = "choice"  # an option of a choice question was picked
    CORRECTION = "correction"  # a new rating replaced the one given
    COMMENT_SKIPPED = "comment_skipped"
    EMPTY_COMMENT = "empty_comment"
    UNPARSED = "unparsed"  # re-prompts used up
    LATE = "late"  # the survey expired
    CLOSED = "closed"
    SURVEY_CHANGED = "survey_changed"  # its definition changed since it was sent
    AFTER_COMPLETION = "after_completion"
    STALE_BUTTON = "stale_button"
    INVALID_BUTTON = "invalid_button"
    NO_OPEN_SURVEY = "no_open_survey"
    NOT_A_LEAD = "not_a_lead"
    SCORE = "score"  # a lead's report
    KEYWORD_STOP = "keyword:stop"
    KEYWORD_START = "keyword:start"
    KEYWORD_HELP = "keyword:help"
    # A re-prompt, by what was wrong with the reply (bot.parsing.Reprompt.problem).
    REPROMPT_EMPTY = "reprompt:empty"
    REPROMPT_NO_NUMBER = "reprompt:no_number"
    REPROMPT_OUT_OF_RANGE = "reprompt:out_of_range"
    REPROMPT_RANGE_GIVEN = "reprompt:range_given"
    REPROMPT_DECIMAL = "reprompt:decimal"
    REPROMPT_MULTIPLE_NUMBERS = "reprompt:multiple_numbers"
    REPROMPT_WRONG_DENOMINATOR = "reprompt:wrong_denominator"
    REPROMPT_QUALIFIED = "reprompt:qualified"
    REPROMPT_NO_CHOICE = "reprompt:no_choice"  # a choice question's reply named no option

    @classmethod
    def keyword(cls, keyword: str) -> Reason:
        return cls(f"keyword:{keyword}")

    @classmethod
    def reprompt(cls, problem: str) -> Reason:
        return cls(f"reprompt:{problem}")


class Closure(StrEnum):
    """Why an invitation was skipped or closed before an answer (``invitation.reason``)."""

    OPTED_OUT = "opted out"
    THROTTLED = "throttled"
    NOT_SAMPLED = "not sampled"
    CANCELLED = "cancelled"
    ERASED = "erased"
    UNDELIVERED = "undelivered"
    DELIVERY_FAILED = "delivery failed"
    GAVE_UP = "gave up after retries"
    CHANNEL_NOT_ENABLED = "channel not enabled"
    RESPONDENT_ERASED = "respondent erased"
    SURVEY_CHANGED = "survey definition changed"
    UNPARSED = "unparsed reply"


QUESTION_KINDS = tuple(Kind)
SCORED_KINDS = (Kind.CSAT, Kind.CSAT10, Kind.NPS, Kind.CES)
CSAT_KINDS = (Kind.CSAT, Kind.CSAT10)


UNDELIVERED = ("failed", "undelivered", "canceled")  # provider delivery statuses, not ours


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


def group_keys(counts: Mapping[str | None, Counts]) -> list[str]:
    return sorted(k for k in counts if k is not None)


# The export's columns (storage.export.iter_responses), in order.
COLUMNS = (
    "invitation_id",
    "interaction_id",
    "survey",
    "survey_version",
    "channel",
    "agent",
    "team",
    "touchpoint",
    "locale",
    "status",
    "reason",
    "delivery_status",
    "last_error",
    "created_at",
    "sent_at",
    "responded_at",
    "question",
    "kind",
    "rating",
    "scale_max",
    "comment",
    "choice",
)
