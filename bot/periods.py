"""What a support lead types after ``/score``, turned into a query over a span of UTC instants.

Answers are stored in UTC but people think in their own calendar days, so every period is cut at
local midnights (through :mod:`zoneinfo`) and only then converted. A DST day is therefore 23 or 25
hours long rather than a 24-hour window that starts at 01:00 or 23:00 and mixes two days' answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import InvalidInput

DIMENSIONS: tuple[str, ...] = ("channel", "agent", "team", "touchpoint", "survey", "locale")
# Why low scores were low: the options chosen on choice questions (bot.reports.Reports.reasons).
REASON = "reason"
# Time as a dimension: calendar days, weeks (Monday to Sunday) and months in the team's zone.
TIME_UNITS: tuple[str, ...] = ("day", "week", "month")
MAX_DAYS = 366

_NAMED_PERIODS = ("today", "yesterday", "week", "month")
_DAYS_RE = re.compile(r"(\d+)d")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RANGE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")
_MONTH_LABEL_RE = re.compile(r"(\d{4})-(\d{2})")
PERIODS_HELP = (
    f"today (the default), yesterday, week, month, <N>d for the last N days (N = 1..{MAX_DAYS}, "
    "e.g. 7d), YYYY-MM-DD, or YYYY-MM-DD..YYYY-MM-DD (both days included)"
)
_USAGE = (
    f"Write '[period] [by dimension]', e.g. 'week by agent'. Periods: {PERIODS_HELP}. "
    f"Dimensions: {', '.join(DIMENSIONS)}, {REASON}; over time: {', '.join(TIME_UNITS)}."
)


@dataclass(frozen=True)
class Period:
    """A half-open span ``[start, end)`` of UTC instants cut at local midnights.

    ``label`` is what people see in a report; it is also how :meth:`previous` knows whether the
    period is a calendar month (months differ in length, so "the same number of days before" would
    drift away from month boundaries).
    """

    label: str
    start: datetime
    end: datetime
    timezone: str

    def previous(self) -> Period:
        """The comparable period just before this one, ending where this one starts.

        Calendar months step back one calendar month; everything else steps back the same number
        of calendar days (a week is seven days even when DST makes it 167 or 169 hours). Only the
        first step keeps a relative label ("yesterday", "previous week"); later steps are dated so
        that a chain of comparisons stays readable.
        """
        zone = _zone(self.timezone)
        first, stop = self._local_days(zone)
        if self._is_month():
            before = (first - timedelta(days=1)).replace(day=1)
            label = "previous month" if self.label == "month" else f"{before:%Y-%m}"
            return _span(label, before, first, zone, self.timezone)
        days = max((stop - first).days, 1)
        before = first - timedelta(days=days)
        if self.label == "today":
            label = "yesterday"
        elif self.label == "week" or _DAYS_RE.fullmatch(self.label):
            label = f"previous {self.label}"
        else:
            label = _dates_label(before, first)
        return _span(label, before, first, zone, self.timezone)

    def _is_month(self) -> bool:
        return self.label in ("month", "previous month") or bool(
            _MONTH_LABEL_RE.fullmatch(self.label)
        )

    def _local_days(self, zone: ZoneInfo) -> tuple[date, date]:
        """First day and the day after the last, read from a dated label when there is one.

        The label is preferred because on a day a zone skipped entirely (Samoa, 2011-12-30) the
        start instant is also the next day's midnight, so the instant alone is ambiguous.
        """
        label = self.label
        if _DATE_RE.fullmatch(label):
            day = date.fromisoformat(label)
            return day, day + timedelta(days=1)
        if match := _RANGE_RE.fullmatch(label):
            return (
                date.fromisoformat(match.group(1)),
                date.fromisoformat(match.group(2)) + timedelta(days=1),
            )
        if match := _MONTH_LABEL_RE.fullmatch(label):
            first = date(int(match.group(1)), int(match.group(2)), 1)
            return first, _next_month(first)
        return self.start.astimezone(zone).date(), self.end.astimezone(zone).date()


def buckets(period: Period, unit: str) -> list[Period]:
    """The calendar days, weeks (Monday to Sunday) or months of ``period`` in its zone, in order,
    the first and last cut to the period. Each is cut at local midnights, so a DST day is 23 or
    25 hours long; a whole month is labelled ``YYYY-MM``, a day ``YYYY-MM-DD``, anything else by
    its first and last day."""
    if unit not in TIME_UNITS:
        raise ValueError(f"unknown time unit {unit!r}")
    zone = _zone(period.timezone)
    first, stop = period._local_days(zone)
    spans: list[Period] = []
    day = first
    while day < stop:
        if unit == "day":
            nxt = day + timedelta(days=1)
        elif unit == "week":
            nxt = day + timedelta(days=7 - day.weekday())
        else:
            nxt = _next_month(day.replace(day=1))
        end = min(nxt, stop)
        if unit == "month" and day.day == 1 and end == nxt:
            label = f"{day:%Y-%m}"
        else:
            label = _dates_label(day, end)
        spans.append(_span(label, day, end, zone, period.timezone))
        day = end
    return spans


@dataclass(frozen=True)
class ScoreQuery:
    """A parsed ``/score`` request: which period, optionally split by one dimension or by a
    unit of time (:data:`TIME_UNITS`)."""

    period: Period
    by: str | None

    @property
    def over_time(self) -> bool:
        return self.by in TIME_UNITS

    @property
    def by_reason(self) -> bool:
        return self.by == REASON


def parse_query(text: str, *, now: datetime, timezone: str) -> ScoreQuery:
    """Parse ``[period] [by dimension]``; every refusal names the offending word and the grammar.

    Leads type this in chat, so case, extra spaces and spaces around ``..`` are forgiven, while
    anything ambiguous is refused rather than guessed.
    """
    zone = _zone(timezone)
    words = _words(text)
    by: str | None = None
    if "by" in words:
        at = words.index("by")
        by = _dimension(words[at + 1 :])
        words = words[:at]
    period = _resolve(words[0] if words else "today", now, zone, timezone)
    if len(words) > 1:
        raise InvalidInput(f"Unexpected {words[1]!r} after {words[0]!r}. {_USAGE}")
    return ScoreQuery(period=period, by=by)


def resolve_period(label: str, *, now: datetime, timezone: str) -> Period:
    """Resolve a bare period (the HTTP ``?period=`` parameter); empty means today."""
    zone = _zone(timezone)
    words = _words(label)
    period = _resolve(words[0] if words else "today", now, zone, timezone)
    if len(words) > 1:
        raise InvalidInput(
            f"Unexpected {words[1]!r} after {words[0]!r}: expected a single period, "
            f"one of {PERIODS_HELP}."
        )
    return period


def _words(text: str) -> list[str]:
    return re.sub(r"\s*\.\.\s*", "..", text.strip().lower()).split()


def _dimension(rest: list[str]) -> str:
    if not rest:
        raise InvalidInput(f"'by' needs a dimension: one of {', '.join((*DIMENSIONS, REASON))}.")
    word = rest[0]
    if word not in DIMENSIONS and word not in TIME_UNITS and word != REASON:
        hint = " (periods go before 'by')" if _looks_like_period(word) else ""
        known = ", ".join((*DIMENSIONS, REASON, *TIME_UNITS))
        raise InvalidInput(f"Unknown dimension {word!r}{hint}; use one of {known}.")
    if len(rest) > 1:
        raise InvalidInput(f"Unexpected {rest[1]!r} after 'by {word}'. {_USAGE}")
    return word


def _looks_like_period(word: str) -> bool:
    return word in _NAMED_PERIODS or bool(
        _DAYS_RE.fullmatch(word) or _DATE_RE.fullmatch(word) or _RANGE_RE.fullmatch(word)
    )


def _resolve(word: str, now: datetime, zone: ZoneInfo, timezone: str) -> Period:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(zone).date()
    one = timedelta(days=1)
    try:
        if word == "today":
            return _span("today", today, today + one, zone, timezone)
        if word == "yesterday":
            return _span("yesterday", today - one, today, zone, timezone)
        if word == "week":
            monday = today - timedelta(days=today.weekday())
            return _span("week", monday, monday + 7 * one, zone, timezone)
        if word == "month":
            first = today.replace(day=1)
            return _span("month", first, _next_month(first), zone, timezone)
        if match := _DAYS_RE.fullmatch(word):
            days = _day_count(match.group(1), word)
            return _span(f"{days}d", today - (days - 1) * one, today + one, zone, timezone)
        if _DATE_RE.fullmatch(word):
            day = _date(word)
            return _span(word, day, day + one, zone, timezone)
        if match := _RANGE_RE.fullmatch(word):
            first, last = _date(match.group(1)), _date(match.group(2))
            if first > last:
                raise InvalidInput(
                    f"The range {word!r} starts after it ends; write the earlier day first."
                )
            return _span(word, first, last + one, zone, timezone)
    except OverflowError as exc:
        raise InvalidInput(f"The period {word!r} is outside the supported calendar.") from exc
    if word in DIMENSIONS:
        raise InvalidInput(f"{word!r} is a dimension; write 'by {word}'. {_USAGE}")
    raise InvalidInput(f"Unknown period {word!r}. {_USAGE}")


def _day_count(digits: str, word: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > len(str(MAX_DAYS)) or not 1 <= int(significant or "0") <= MAX_DAYS:
        raise InvalidInput(f"{word!r} is out of range: the number of days must be 1..{MAX_DAYS}.")
    return int(significant)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a calendar date (expected YYYY-MM-DD).") from exc


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _dates_label(first: date, stop: date) -> str:
    last = stop - timedelta(days=1)
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def calendar_span(label: str, first: date, stop: date, timezone: str) -> Period:
    """The local days ``[first, stop)`` of ``timezone`` as a period, cut at local midnights."""
    return _span(label, first, stop, _zone(timezone), timezone)


def local_midnight(day: date, timezone: str) -> datetime:
    return _local_midnight(day, _zone(timezone))


def _span(label: str, first: date, stop: date, zone: ZoneInfo, timezone: str) -> Period:
    return Period(
        label=label,
        start=_local_midnight(first, zone),
        end=_local_midnight(stop, zone),
        timezone=timezone,
    )


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose local date is ``day``.

    Some zones move their clocks at midnight (Chile, Lebanon, Cuba), so local 00:00 may not
    exist; the day then starts at the transition, which lies between the readings of midnight
    under the offsets before and after it and is found by bisection instead of trusting either.
    """
    wall = datetime.combine(day, time())
    before = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if before.astimezone(zone).replace(tzinfo=None) == wall:
        return before
    after = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(before, after), max(before, after)
    if low.astimezone(zone).date() >= day:
        return low
    second = timedelta(seconds=1)
    while high - low > second:
        middle = low + ((high - low) // second // 2) * second
        if middle.astimezone(zone).date() >= day:
            high = middle
        else:
            low = middle
    return high


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput(
            f"Unknown timezone {name!r}; use an IANA name such as 'Europe/Amsterdam'."
        ) from exc
