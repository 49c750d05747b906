"""Retry back-off for transient send failures: exponential from 30 s, capped at an hour, and the
provider's Retry-After wins (within its own cap)."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery import BASE, CAP, backoff

# The largest attempt count for which an uncapped exponential term would still fit in a
# timedelta; backoff caps the exponent internally, so larger counts must work too.
MAX_ATTEMPT = 42
RETRY_AFTER_CAP = timedelta(hours=6)


@pytest.mark.parametrize(
    ("attempt", "seconds"),
    [
        (0, 30),
        (1, 30),
        (2, 60),
        (3, 120),
        (4, 240),
        (5, 480),
        (6, 960),
        (7, 1920),
        (8, 3600),  # 3840 s, capped
        (9, 3600),
        (20, 3600),
        (MAX_ATTEMPT, 3600),
    ],
)
def test_backoff_doubles_from_thirty_seconds_up_to_an_hour(attempt: int, seconds: int) -> None:
    assert backoff(attempt) == timedelta(seconds=seconds)
    assert backoff(attempt, None) == timedelta(seconds=seconds)


@pytest.mark.parametrize("attempt", [-5, -1, 0])
def test_attempts_below_one_use_the_base_delay(attempt: int) -> None:
    assert backoff(attempt) == BASE


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (0, timedelta(0)),
        (0.5, timedelta(milliseconds=500)),
        (5, timedelta(seconds=5)),
        (120.0, timedelta(minutes=2)),
        (3600, timedelta(hours=1)),
        (7200, timedelta(hours=2)),  # above the exponential cap: the provider knows best
        (6 * 3600, RETRY_AFTER_CAP),
        (6 * 3600 + 1, RETRY_AFTER_CAP),
        (86_400, RETRY_AFTER_CAP),
        (1e9, RETRY_AFTER_CAP),
    ],
)
@pytest.mark.parametrize("attempt", [1, 3, 8, 20])
def test_retry_after_wins_and_is_capped(
    attempt: int, retry_after: float, expected: timedelta
) -> None:
    assert backoff(attempt, retry_after) == expected


def test_retry_after_cap_is_six_times_the_exponential_cap() -> None:
    assert CAP * 6 == RETRY_AFTER_CAP


@pytest.mark.parametrize(
    "retry_after",
    [float("inf"), 1e20, 1e300, sys.float_info.max, 10**30, 6 * 3600.0, 6 * 3600 + 1e-6],
)
@pytest.mark.parametrize("attempt", [1, 3, 43, 10**6])
def test_huge_or_infinite_retry_after_returns_exactly_the_cap(
    attempt: int, retry_after: float
) -> None:
    assert backoff(attempt, retry_after) == RETRY_AFTER_CAP


def test_listed_overflow_cases_return_the_caps() -> None:
    assert backoff(1, float("inf")) == CAP * 6
    assert backoff(1, 1e20) == CAP * 6
    assert backoff(43) == CAP
    assert backoff(10**6) == CAP


@pytest.mark.parametrize("attempt", [MAX_ATTEMPT + 1, 43, 60, 64, 100, 1000, 10**6, 2**63, 10**30])
def test_very_large_attempts_return_the_exponential_cap(attempt: int) -> None:
    assert backoff(attempt) == CAP
    assert backoff(attempt, None) == CAP
    assert backoff(attempt, -1) == CAP


@pytest.mark.parametrize("retry_after", [-1, -0.001, -3600, float("nan")])
def test_unusable_retry_after_falls_back_to_the_exponential_delay(retry_after: float) -> None:
    for attempt in (1, 2, 5, 9):
        assert backoff(attempt, retry_after) == backoff(attempt)


@settings(max_examples=300, deadline=None, database=None)
@given(
    first=st.one_of(st.integers(-10, 100), st.integers(-10, 10**30)),
    second=st.one_of(st.integers(-10, 100), st.integers(-10, 10**30)),
)
def test_backoff_is_monotonic_in_attempt(first: int, second: int) -> None:
    low, high = sorted((first, second))
    assert backoff(low) <= backoff(high)
    assert BASE <= backoff(low) <= CAP


@settings(max_examples=300, deadline=None, database=None)
@given(
    attempt=st.integers(1, MAX_ATTEMPT),
    retry_after=st.one_of(
        st.none(),
        st.floats(min_value=-1e6, max_value=1e9, allow_nan=False),
        st.integers(-1000, 10**9),
    ),
)
def test_backoff_is_bounded(attempt: int, retry_after: float | None) -> None:
    delay = backoff(attempt, retry_after)
    assert timedelta(0) <= delay <= RETRY_AFTER_CAP
    if retry_after is None or retry_after < 0:
        assert BASE <= delay <= CAP
        assert backoff(attempt + 1, retry_after) >= delay
