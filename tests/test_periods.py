from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import CsatError, InvalidInput
from bot.periods import DIMENSIONS, Period, ScoreQuery, parse_query, resolve_period

NY = "America/New_York"
# Wednesday 2025-03-12, 11:00 in New York (EDT, UTC-4).
NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def noon(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def hours(period: Period) -> float:
    return (period.end - period.start) / timedelta(hours=1)


@pytest.mark.parametrize(
    ("timezone", "day", "length"),
    [
        (NY, date(2025, 3, 9), 23),
        (NY, date(2025, 11, 2), 25),
        (NY, date(2025, 3, 10), 24),
        (NY, date(2025, 7, 1), 24),
        ("Europe/Amsterdam", date(2025, 3, 30), 23),
        ("Europe/Amsterdam", date(2025, 10, 26), 25),
        ("Europe/Amsterdam", date(2025, 3, 29), 24),
        ("America/Santiago", date(2024, 9, 8), 23),
        ("America/Santiago", date(2025, 4, 5), 25),
        ("Asia/Beirut", date(2025, 3, 30), 23),
        ("Australia/Lord_Howe", date(2025, 4, 6), 24.5),
        ("UTC", date(2025, 3, 9), 24),
    ],
)
def test_today_follows_local_calendar_day(timezone: str, day: date, length: float) -> None:
    today = resolve_period("today", now=noon(day, timezone), timezone=timezone)
    assert today.label == "today"
    assert hours(today) == length
    assert today.start.astimezone(ZoneInfo(timezone)).date() == day
    assert today.end.astimezone(ZoneInfo(timezone)).date() == day + timedelta(days=1)
    dated = resolve_period(day.isoformat(), now=NOW, timezone=timezone)
    assert (dated.start, dated.end) == (today.start, today.end)


def test_dst_day_bounds_are_local_midnights_in_utc() -> None:
    spring = resolve_period("2025-03-09", now=NOW, timezone=NY)
    assert (spring.start, spring.end) == (utc(2025, 3, 9, 5), utc(2025, 3, 10, 4))
    autumn = resolve_period("2025-11-02", now=NOW, timezone=NY)
    assert (autumn.start, autumn.end) == (utc(2025, 11, 2, 4), utc(2025, 11, 3, 5))
    amsterdam = resolve_period("2025-03-30", now=NOW, timezone="Europe/Amsterdam")
    assert (amsterdam.start, amsterdam.end) == (utc(2025, 3, 29, 23), utc(2025, 3, 30, 22))


@pytest.mark.parametrize(
    ("timezone", "day", "start", "local_start"),
    [
        ("America/Santiago", "2024-09-08", utc(2024, 9, 8, 4), (1, 0)),
        ("Asia/Beirut", "2025-03-30", utc(2025, 3, 29, 22), (1, 0)),
        ("America/Havana", "2025-03-09", utc(2025, 3, 9, 5), (1, 0)),
    ],
)
def test_day_whose_midnight_does_not_exist_starts_at_the_transition(
    timezone: str, day: str, start: datetime, local_start: tuple[int, int]
) -> None:
    period = resolve_period(day, now=NOW, timezone=timezone)
    assert period.start == start
    local = period.start.astimezone(ZoneInfo(timezone))
    assert (local.hour, local.minute) == local_start
    assert local.date().isoformat() == day
    assert hours(period) == 23


def test_day_skipped_by_the_zone_is_empty_not_an_error() -> None:
    # Samoa jumped from 2011-12-29 straight to 2011-12-31.
    skipped = resolve_period("2011-12-30", now=NOW, timezone="Pacific/Apia")
    assert skipped.start == skipped.end == utc(2011, 12, 30, 10)
    around = resolve_period("2011-12-29..2011-12-31", now=NOW, timezone="Pacific/Apia")
    assert hours(around) == 48
    assert skipped.previous().label == "2011-12-29"
    assert skipped.previous().end == skipped.start


def test_today_uses_the_local_date_not_the_utc_date() -> None:
    late_evening = utc(2025, 3, 13, 2, 30)  # 22:30 on 12 March in New York
    today = resolve_period("today", now=late_evening, timezone=NY)
    assert (today.start, today.end) == (utc(2025, 3, 12, 4), utc(2025, 3, 13, 4))
    tokyo = resolve_period("today", now=late_evening, timezone="Asia/Tokyo")
    assert (tokyo.start, tokyo.end) == (utc(2025, 3, 12, 15), utc(2025, 3, 13, 15))


def test_named_period_bounds() -> None:
    today = resolve_period("today", now=NOW, timezone=NY)
    assert (today.start, today.end, today.timezone) == (
        utc(2025, 3, 12, 4),
        utc(2025, 3, 13, 4),
        NY,
    )
    yesterday = resolve_period("yesterday", now=NOW, timezone=NY)
    assert (yesterday.start, yesterday.end) == (utc(2025, 3, 11, 4), utc(2025, 3, 12, 4))
    week = resolve_period("week", now=NOW, timezone=NY)
    assert (week.start, week.end) == (utc(2025, 3, 10, 4), utc(2025, 3, 17, 4))
    month = resolve_period("month", now=NOW, timezone=NY)
    assert (month.start, month.end) == (utc(2025, 3, 1, 5), utc(2025, 4, 1, 4))
    assert hours(month) == 31 * 24 - 1


def test_week_is_monday_to_monday_even_on_sunday_and_monday() -> None:
    sunday = resolve_period("week", now=noon(date(2025, 3, 16), NY), timezone=NY)
    monday = resolve_period("week", now=utc(2025, 3, 10, 4), timezone=NY)
    assert sunday == monday
    assert sunday.start.astimezone(ZoneInfo(NY)).weekday() == 0
    assert hours(sunday) == 7 * 24


def test_month_in_december_and_february() -> None:
    december = resolve_period("month", now=utc(2024, 12, 31, 12), timezone="UTC")
    assert (december.start, december.end) == (utc(2024, 12, 1), utc(2025, 1, 1))
    leap = resolve_period("month", now=utc(2024, 2, 10), timezone="UTC")
    assert (leap.start, leap.end) == (utc(2024, 2, 1), utc(2024, 3, 1))


@pytest.mark.parametrize(
    ("word", "label", "start"),
    [
        ("1d", "1d", utc(2025, 3, 12, 4)),
        ("7d", "7d", utc(2025, 3, 6, 5)),
        ("30d", "30d", utc(2025, 2, 11, 5)),
        ("007d", "7d", utc(2025, 3, 6, 5)),
        ("366d", "366d", utc(2024, 3, 12, 4)),
    ],
)
def test_last_n_days_include_today(word: str, label: str, start: datetime) -> None:
    period = resolve_period(word, now=NOW, timezone=NY)
    assert (period.label, period.start, period.end) == (label, start, utc(2025, 3, 13, 4))


def test_date_range_includes_both_days() -> None:
    period = resolve_period("2025-03-01..2025-03-09", now=NOW, timezone=NY)
    assert period.label == "2025-03-01..2025-03-09"
    assert (period.start, period.end) == (utc(2025, 3, 1, 5), utc(2025, 3, 10, 4))
    single = resolve_period("2025-03-09..2025-03-09", now=NOW, timezone=NY)
    assert (single.start, single.end) == (utc(2025, 3, 9, 5), utc(2025, 3, 10, 4))


def test_previous_chain_of_today() -> None:
    today = resolve_period("today", now=NOW, timezone=NY)
    yesterday = today.previous()
    assert yesterday == resolve_period("yesterday", now=NOW, timezone=NY)
    before = yesterday.previous()
    assert before.label == "2025-03-10"
    assert before.end == yesterday.start
    dst_day = before.previous()
    assert (dst_day.label, hours(dst_day)) == ("2025-03-09", 23)


def test_previous_chain_of_week() -> None:
    week = resolve_period("week", now=NOW, timezone=NY)
    last = week.previous()
    assert last.label == "previous week"
    assert (last.start, last.end) == (utc(2025, 3, 3, 5), utc(2025, 3, 10, 4))
    earlier = last.previous()
    assert earlier.label == "2025-02-24..2025-03-02"
    assert (earlier.start, earlier.end) == (utc(2025, 2, 24, 5), utc(2025, 3, 3, 5))


def test_previous_chain_of_month_steps_calendar_months() -> None:
    month = resolve_period("month", now=NOW, timezone=NY)
    february = month.previous()
    assert february.label == "previous month"
    assert (february.start, february.end) == (utc(2025, 2, 1, 5), utc(2025, 3, 1, 5))
    january = february.previous()
    assert january.label == "2025-01"
    assert (january.start, january.end) == (utc(2025, 1, 1, 5), utc(2025, 2, 1, 5))
    december = january.previous()
    assert december.label == "2024-12"
    assert (december.start, december.end) == (utc(2024, 12, 1, 5), utc(2025, 1, 1, 5))


def test_previous_of_last_n_days_and_of_ranges_is_the_same_number_of_days() -> None:
    seven = resolve_period("7d", now=NOW, timezone=NY)
    before = seven.previous()
    assert before.label == "previous 7d"
    assert (before.start, before.end) == (utc(2025, 2, 27, 5), utc(2025, 3, 6, 5))
    assert before.previous().label == "2025-02-20..2025-02-26"
    march = resolve_period("2025-03-01..2025-03-31", now=NOW, timezone=NY)
    assert march.previous().label == "2025-01-29..2025-02-28"
    single = resolve_period("2025-03-01", now=NOW, timezone=NY)
    assert single.previous().label == "2025-02-28"


@pytest.mark.parametrize(
    ("text", "label", "by"),
    [
        ("", "today", None),
        ("   ", "today", None),
        ("today", "today", None),
        ("TODAY", "today", None),
        ("yesterday by team", "yesterday", "team"),
        ("  Week   BY   Agent ", "week", "agent"),
        ("by agent", "today", "agent"),
        ("By Channel", "today", "channel"),
        ("month by touchpoint", "month", "touchpoint"),
        ("7d by survey", "7d", "survey"),
        ("30D", "30d", None),
        ("2025-03-09 by locale", "2025-03-09", "locale"),
        ("2025-03-01..2025-03-09", "2025-03-01..2025-03-09", None),
        ("2025-03-01 .. 2025-03-09 by agent", "2025-03-01..2025-03-09", "agent"),
    ],
)
def test_parse_valid_queries(text: str, label: str, by: str | None) -> None:
    query = parse_query(text, now=NOW, timezone=NY)
    assert isinstance(query, ScoreQuery)
    assert (query.period.label, query.by) == (label, by)
    assert query.period == resolve_period(label, now=NOW, timezone=NY)


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_every_dimension_parses(dimension: str) -> None:
    assert parse_query(f"week by {dimension}", now=NOW, timezone=NY).by == dimension


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("last week", "'last'"),
        ("weeks", "'weeks'"),
        ("agent", "'by agent'"),
        ("by", "'by'"),
        ("week by", "'by'"),
        ("by planet", "'planet'"),
        ("by hour", "'hour'"),  # by week is a unit of time now
        ("week by agent please", "'please'"),
        ("week month", "'month'"),
        ("0d", "'0d'"),
        ("367d", "'367d'"),
        ("99999999999999999999d", "'99999999999999999999d'"),
        ("-7d", "'-7d'"),
        ("2025-02-30", "'2025-02-30'"),
        ("2025-13-01", "'2025-13-01'"),
        ("2025-3-9", "'2025-3-9'"),
        ("2025-03-09..2025-03-01", "'2025-03-09..2025-03-01'"),
        ("2025-03-01..", "'2025-03-01..'"),
        ("9999-12-31", "'9999-12-31'"),
    ],
)
def test_parse_errors_name_the_offending_word(text: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query(text, now=NOW, timezone=NY)
    assert named in str(caught.value)


def test_parse_error_lists_what_is_accepted() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("fortnight", now=NOW, timezone=NY)
    message = str(caught.value)
    for accepted in ("today", "yesterday", "week", "month", "7d", "YYYY-MM-DD..YYYY-MM-DD"):
        assert accepted in message
    for dimension in DIMENSIONS:
        assert dimension in message
    with pytest.raises(InvalidInput) as unknown_dimension:
        parse_query("by planet", now=NOW, timezone=NY)
    assert all(dimension in str(unknown_dimension.value) for dimension in DIMENSIONS)


def test_invalid_input_is_a_csat_error() -> None:
    with pytest.raises(CsatError):
        parse_query("nonsense", now=NOW, timezone=NY)


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "America", "../etc/passwd", "/etc/UTC"])
def test_unknown_timezone_is_invalid_input_naming_it(timezone: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve_period("today", now=NOW, timezone=timezone)
    assert repr(timezone) in str(caught.value)
    with pytest.raises(InvalidInput):
        parse_query("week", now=NOW, timezone=timezone)


def test_resolve_period_takes_a_single_period() -> None:
    assert resolve_period("", now=NOW, timezone=NY).label == "today"
    assert resolve_period(" Week ", now=NOW, timezone=NY).label == "week"
    with pytest.raises(InvalidInput, match="'by'"):
        resolve_period("week by agent", now=NOW, timezone=NY)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_period("today", now=datetime(2025, 3, 12, 15), timezone=NY)


ZONES = [
    "UTC",
    NY,
    "Europe/Amsterdam",
    "America/Santiago",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Pacific/Apia",
    "America/Havana",
]


@given(
    now=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31)).map(
        lambda naive: naive.replace(tzinfo=UTC)
    ),
    timezone=st.sampled_from(ZONES),
    word=st.sampled_from(["today", "week", "month", "7d", "30d"]),
)
def test_current_periods_contain_now_and_previous_is_adjacent(
    now: datetime, timezone: str, word: str
) -> None:
    period = resolve_period(word, now=now, timezone=timezone)
    assert period.start <= now < period.end
    assert period.start.tzinfo is not None
    earlier = period.previous()
    assert earlier.end == period.start
    assert earlier.start < earlier.end
    assert earlier.previous().end == earlier.start
