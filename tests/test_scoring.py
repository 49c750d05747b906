from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.periods import resolve_period
from bot.scoring import (
    LOW_SAMPLE,
    Bucket,
    Counts,
    band,
    group_report,
    nps,
    report,
    two_proportion_z_test,
    wilson_interval,
)


def csat(value: int, count: int, *, low: int = 1, high: int = 5, satisfied_from: int = 4) -> Bucket:
    return Bucket("csat", low, high, value, value >= satisfied_from, False, count)


def csat10(value: int, count: int) -> Bucket:
    return Bucket("csat10", 1, 10, value, value >= 7, False, count)


def nps_answer(value: int, count: int) -> Bucket:
    return Bucket("nps", 0, 10, value, value >= 9, value <= 6, count)


def ces(value: int, count: int) -> Bucket:
    return Bucket("ces", 1, 7, value, value >= 5, False, count)


ORACLE = (csat(5, 10), csat(4, 20), csat(3, 10), csat(2, 5), csat(1, 5))


def satisfied_of(satisfied: int, total: int) -> tuple[Bucket, ...]:
    return (csat(5, satisfied), csat(2, total - satisfied))


def as_dict(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


def test_wilson_oracles() -> None:
    interval = wilson_interval(30, 50)
    assert interval is not None
    assert (round(interval[0], 2), round(interval[1], 2)) == (46.18, 72.39)
    interval = wilson_interval(71, 100)
    assert interval is not None
    assert (round(interval[0], 4), round(interval[1], 4)) == (61.4611, 78.9852)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) is None
    none_satisfied = wilson_interval(0, 10)
    all_satisfied = wilson_interval(10, 10)
    assert none_satisfied is not None and all_satisfied is not None
    assert none_satisfied[0] == 0.0 and 0 < none_satisfied[1] < 100
    assert all_satisfied[1] == 100.0 and 0 < all_satisfied[0] < 100
    narrow = wilson_interval(71, 100, z=1.0)
    wide = wilson_interval(71, 100)
    assert narrow is not None and wide is not None
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


@pytest.mark.parametrize(("successes", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_rejects_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


@given(n=st.integers(min_value=1, max_value=10**9), data=st.data())
def test_wilson_contains_estimate_and_stays_in_range(n: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(min_value=0, max_value=n))
    interval = wilson_interval(successes, n)
    assert interval is not None
    low, high = interval
    assert 0.0 <= low <= successes / n * 100 <= high <= 100.0


def test_nps_oracle() -> None:
    # Adjusted Wald by hand: n' = 203, p' = 100.75/203, d' = 40.75/203,
    # se = sqrt((p' + d' - (p' - d')^2) / 203) = 0.0548033, margin = 1.96 * se.
    result = nps(100, 60, 40)
    assert result is not None
    assert round(result.score, 2) == 30.0
    assert round(result.margin, 2) == 10.74
    assert (round(result.low, 2), round(result.high, 2)) == (18.82, 40.30)


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [
        # Three identical answers used to report "+100 +/- 0".
        ((3, 0, 0), -6.58, 100.0),
        ((0, 0, 3), -100.0, 6.58),
        ((0, 3, 0), -40.01, 40.01),
        ((1, 0, 0), -48.50, 100.0),
        ((10, 0, 0), 47.50, 100.0),
    ],
)
def test_nps_interval_never_collapses_at_small_n(
    counts: tuple[int, int, int], low: float, high: float
) -> None:
    result = nps(*counts)
    assert result is not None
    assert (round(result.low, 2), round(result.high, 2)) == (low, high)
    assert result.margin > 25


def test_nps_edges() -> None:
    assert nps(0, 0, 0) is None
    with pytest.raises(ValueError):
        nps(-1, 0, 0)


@given(
    promoters=st.integers(0, 10_000),
    passives=st.integers(0, 10_000),
    detractors=st.integers(0, 10_000),
)
def test_nps_is_bounded(promoters: int, passives: int, detractors: int) -> None:
    result = nps(promoters, passives, detractors)
    if promoters + passives + detractors == 0:
        assert result is None
        return
    assert result is not None
    assert -100.0 <= result.low <= result.score <= result.high <= 100.0
    assert result.high - result.low > 0
    assert 0.0 < result.margin <= 100.0


def test_two_proportion_oracle() -> None:
    result = two_proportion_z_test(80, 100, 71, 100)
    assert result is not None
    z, p = result
    assert round(z, 4) == 1.4797
    assert round(p, 3) == 0.139
    assert round(p, 4) == 0.139
    assert p > 0.05
    reverse = two_proportion_z_test(71, 100, 80, 100)
    assert reverse is not None
    assert reverse[0] == pytest.approx(-z)
    assert reverse[1] == pytest.approx(p)


@pytest.mark.parametrize("args", [(0, 0, 5, 10), (5, 10, 0, 0), (0, 10, 0, 20), (10, 10, 20, 20)])
def test_two_proportion_undefined(args: tuple[int, int, int, int]) -> None:
    assert two_proportion_z_test(*args) is None


def test_two_proportion_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        two_proportion_z_test(11, 10, 5, 10)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (100.0, "excellent"),
        (80.0, "excellent"),
        (79.99, "fair"),
        (60.0, "fair"),
        (59.99, "needs attention"),
        (0.0, "needs attention"),
        (None, None),
        (math.nan, None),
    ],
)
def test_band(score: float | None, expected: str | None) -> None:
    assert band(score) == expected


def test_group_report_oracle() -> None:
    result = group_report(Counts(sent=80, responded=50, buckets=ORACLE))
    assert result["sent"] == 80
    assert result["responses"] == 50
    assert result["response_rate"] == 62.5
    assert result["low_sample"] is False
    block = as_dict(result["csat"])
    assert block["responses"] == 50
    assert block["satisfied"] == 30
    assert block["score"] == 60.0
    assert block["ci95"] == [46.18, 72.39]
    assert block["mean"] == 3.5
    assert block["composite"] == 70.0
    assert block["distribution"] == {"1": 5, "2": 5, "3": 10, "4": 20, "5": 10}
    assert block["band"] == "fair"
    assert "grade" not in block
    assert result["nps"] is None
    assert result["ces"] is None
    assert result["previous"] is None


def test_single_scale_distribution_lists_unseen_values() -> None:
    block = as_dict(group_report(Counts(5, 3, (csat(5, 3),)))["csat"])
    assert block["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 3}
    zero_based = as_dict(group_report(Counts(5, 3, (nps_answer(10, 2), nps_answer(0, 1))))["nps"])
    assert zero_based["score"] == round(100 / 3, 2)


# The contract's shape with no CSAT answer: an object whose numbers are null (PRODUCT §5).
NO_CSAT = {
    "responses": 0,
    "satisfied": 0,
    "score": None,
    "ci95": None,
    "composite": None,
    "mean": None,
    "distribution": {},
    "band": None,
}


def test_zero_response_group_has_null_percentages() -> None:
    result = group_report(Counts(sent=0, responded=0, buckets=()))
    assert result == {
        "sent": 0,
        "answered": 0,
        "responses": 0,
        "response_rate": None,
        "low_sample": True,
        "csat": NO_CSAT,
        "nps": None,
        "ces": None,
        "previous": None,
    }
    assert group_report(Counts(sent=12, responded=0, buckets=()))["response_rate"] == 0.0


def test_empty_buckets_give_nulls_not_zero_or_nan() -> None:
    buckets = (csat(5, 0), csat10(8, 0), nps_answer(9, 0), ces(6, 0))
    result = group_report(Counts(sent=3, responded=0, buckets=buckets), Counts(0, 0, ()))
    json.dumps(result, allow_nan=False)
    block = as_dict(result["csat"])
    for key in ("score", "ci95", "composite", "mean", "band", "grade", "pass"):
        assert block[key] is None, key
    promoters = as_dict(result["nps"])
    assert (promoters["score"], promoters["margin"]) == (None, None)
    effort = as_dict(result["ces"])
    assert (effort["mean"], effort["easy_share"]) == (None, None)
    assert effort["distribution"] == {str(v): 0 for v in range(1, 8)}
    previous = as_dict(result["previous"])
    assert previous == {
        "responses": 0,
        "csat": None,
        "change": None,
        "z": None,
        "p": None,
        "significant": False,
    }


@pytest.mark.parametrize(("total", "low"), [(1, True), (LOW_SAMPLE - 1, True), (LOW_SAMPLE, False)])
def test_low_sample_flag(total: int, low: bool) -> None:
    result = group_report(Counts(sent=100, responded=total, buckets=satisfied_of(1, total)))
    assert result["responses"] == total
    assert result["low_sample"] is low


def test_mixed_scales() -> None:
    buckets = (csat(5, 2), csat(2, 2), csat10(9, 3), csat10(6, 1), csat10(4, 2))
    result = group_report(Counts(sent=20, responded=10, buckets=buckets))
    block = as_dict(result["csat"])
    assert block["responses"] == 10
    assert block["satisfied"] == 5
    assert block["score"] == 50.0
    assert block["mean"] is None
    assert block["composite"] == round((10 + 4 + 27 + 6 + 8) / (5 * 4 + 10 * 6) * 100, 2)
    assert block["distribution"] == {"2": 2, "4": 2, "5": 2, "6": 1, "9": 3}
    assert block["grade"] == round((27 + 6 + 8) / 6, 2)
    assert block["pass"] is True
    assert block["band"] == "needs attention"


def test_csat10_grade_below_six_fails() -> None:
    block = as_dict(group_report(Counts(4, 4, (csat10(5, 3), csat10(8, 1))))["csat"])
    assert block["grade"] == 5.75
    assert block["pass"] is False
    assert block["mean"] == 5.75
    assert list(as_dict(block["distribution"])) == [str(v) for v in range(1, 11)]


def test_nps_block() -> None:
    buckets = (nps_answer(10, 50), nps_answer(9, 50), nps_answer(8, 60), nps_answer(3, 40))
    result = group_report(Counts(sent=250, responded=200, buckets=buckets))
    assert result["csat"] == NO_CSAT
    assert result["responses"] == 200
    assert result["response_rate"] == 80.0
    assert result["nps"] == {
        "responses": 200,
        "promoters": 100,
        "passives": 60,
        "detractors": 40,
        "score": 30.0,
        "ci95": [18.82, 40.3],
        "margin": 10.74,
    }


def test_ces_block() -> None:
    buckets = (ces(7, 3), ces(5, 1), ces(2, 4))
    result = group_report(Counts(sent=9, responded=8, buckets=buckets))
    assert result["responses"] == 8
    assert result["low_sample"] is True
    assert result["ces"] == {
        "responses": 8,
        "mean": 4.25,
        "easy": 4,
        "easy_share": 50.0,
        "distribution": {"1": 0, "2": 4, "3": 0, "4": 0, "5": 1, "6": 0, "7": 3},
    }


def test_primary_responses_prefer_csat_then_nps() -> None:
    buckets = (csat(5, 3), nps_answer(10, 40), ces(6, 50))
    assert group_report(Counts(50, 50, buckets))["responses"] == 3
    assert group_report(Counts(50, 50, buckets[1:]))["responses"] == 40


def test_unknown_kinds_are_ignored() -> None:
    result = group_report(Counts(1, 1, (Bucket("text", 0, 0, 0, False, False, 1),)))
    assert (result["csat"], result["nps"], result["ces"], result["responses"]) == (
        NO_CSAT,
        None,
        None,
        0,
    )


def test_answered_and_responses_are_told_apart() -> None:
    # Three surveys sent and answered; one person answered only the NPS question.
    buckets = (csat(5, 2), nps_answer(9, 3))
    result = group_report(Counts(sent=3, responded=3, buckets=buckets))
    assert (result["sent"], result["answered"], result["response_rate"]) == (3, 3, 100.0)
    assert result["responses"] == 2  # the sample behind the CSAT score
    assert as_dict(result["csat"])["responses"] == 2


def test_previous_period_change_not_significant() -> None:
    now = Counts(sent=120, responded=100, buckets=satisfied_of(80, 100))
    before = Counts(sent=110, responded=100, buckets=satisfied_of(71, 100))
    previous = as_dict(group_report(now, before)["previous"])
    assert previous == {
        "responses": 100,
        "csat": 71.0,
        "change": 9.0,
        "z": 1.4797,
        "p": 0.139,
        "significant": False,
    }


def test_previous_period_significant_drop() -> None:
    now = Counts(sent=250, responded=200, buckets=satisfied_of(120, 200))
    before = Counts(sent=250, responded=200, buckets=satisfied_of(160, 200))
    previous = as_dict(group_report(now, before)["previous"])
    assert previous["change"] == -20.0
    z = previous["z"]
    assert isinstance(z, float) and z < -1.96
    assert previous["significant"] is True


def test_previous_without_current_answers() -> None:
    previous = as_dict(group_report(Counts(5, 0, ()), Counts(5, 5, satisfied_of(4, 5)))["previous"])
    assert previous["csat"] == 80.0
    assert previous["change"] is None
    assert previous["significant"] is False


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError):
        group_report(Counts(sent=-1, responded=0, buckets=()))
    with pytest.raises(ValueError):
        group_report(Counts(1, 1, (csat(5, -1),)))


def test_report_wraps_groups_with_their_period() -> None:
    period = resolve_period(
        "2025-03-09", now=datetime(2025, 3, 12, tzinfo=UTC), timezone="America/New_York"
    )
    agent = group_report(Counts(4, 3, satisfied_of(2, 3)))
    result = report(period=period, overall=agent, groups={"ana": agent}, by="agent")
    assert result["period"] == {
        "label": "2025-03-09",
        "start": "2025-03-09T05:00:00+00:00",
        "end": "2025-03-10T04:00:00+00:00",
        "timezone": "America/New_York",
    }
    assert result["by"] == "agent"
    assert result["groups"] == {"ana": agent}
    json.dumps(result, allow_nan=False)


KINDS = {"csat": (1, 5), "csat10": (1, 10), "nps": (0, 10), "ces": (1, 7)}


@st.composite
def buckets(draw: st.DrawFn) -> Bucket:
    kind = draw(st.sampled_from(sorted(KINDS)))
    low, high = KINDS[kind]
    value = draw(st.integers(low, high))
    positive = draw(st.booleans())
    negative = kind == "nps" and not positive and draw(st.booleans())
    return Bucket(kind, low, high, value, positive, negative, draw(st.integers(0, 500)))


@given(
    current=st.lists(buckets(), max_size=12),
    earlier=st.lists(buckets(), max_size=12),
    sent=st.integers(0, 1000),
)
def test_group_report_is_always_json_without_nan(
    current: list[Bucket], earlier: list[Bucket], sent: int
) -> None:
    result = group_report(Counts(sent, sent // 2, tuple(current)), Counts(0, 0, tuple(earlier)))
    json.dumps(result, allow_nan=False)
    block = result["csat"]
    if isinstance(block, dict) and block["score"] is not None:
        low, high = block["ci95"]
        assert 0 <= low <= block["score"] <= high <= 100


def test_text_lines_name_the_nps_interval_and_the_answered_count() -> None:
    from bot.report_text import group_line

    three_promoters = group_report(Counts(3, 3, (nps_answer(10, 3),)))
    assert group_line(three_promoters).startswith("NPS +100 [-7..+100], n=3")
    only_comments = group_report(Counts(4, 2, (Bucket("text", 0, 0, 0, False, False, 2),)))
    assert group_line(only_comments) == "no rating yet (2 of 4 answered)"
