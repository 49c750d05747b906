"""The pause after a transient send failure: a second doubling up to 15 s, and the
provider's Retry-After wins (within its own cap)."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery import BASE, CAP, LONGEST, pause


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8), (5, 15), (6, 15), (9, 15), (10**6, 15), (2**63, 15)],
)
def test_pause_doubles_from_a_second_up_to_fifteen(failures: int, seconds: int) -> None:
    assert pause(failures) == timedelta(seconds=seconds)
    assert pause(failures, None) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (0, timedelta(0)),
        (0.5, timedelta(milliseconds=500)),
        (1, timedelta(seconds=1)),
        (120.0, timedelta(minutes=2)),
        (7200, timedelta(hours=2)),  # above the exponential cap: the provider knows best
        (6 * 3600, LONGEST),
        (1e9, LONGEST),
        (float("inf"), LONGEST),
        (sys.float_info.max, LONGEST),
        (10**30, LONGEST),
    ],
)
@pytest.mark.parametrize("failures", [1, 3, 8, 20])
def test_retry_after_wins_and_is_capped(
    failures: int, retry_after: float, expected: timedelta
) -> None:
    assert pause(failures, retry_after) == expected


@pytest.mark.parametrize("retry_after", [-1, -0.001, -3600, float("nan")])
def test_unusable_retry_after_falls_back_to_doubling(retry_after: float) -> None:
    for failures in (1, 2, 5, 9):
        assert pause(failures, retry_after) == pause(failures)


@settings(max_examples=300, deadline=None, database=None)
@given(
    first=st.integers(-10, 10**30),
    second=st.integers(-10, 10**30),
    retry_after=st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-1000, 10**12)),
)
def test_pause_is_monotonic_and_bounded(first: int, second: int, retry_after: float | None) -> None:
    low, high = sorted((first, second))
    assert BASE <= pause(low) <= pause(high) <= CAP
    assert timedelta(0) <= pause(low, retry_after) <= LONGEST
