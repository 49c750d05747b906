"""Scores a support lead can trust: intervals next to percentages, and null instead of a fake 0%.

Storage aggregates answers in SQL and hands over counts, so everything here is pure arithmetic
that can be checked to four decimals without a database. The statistical functions return
unrounded floats; only the report builders round, because they produce what people read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.periods import Period
from storage.values import CSAT_KINDS, Bucket, Counts

__all__ = [
    "Bucket",
    "Counts",
    "NpsEstimate",
    "band",
    "group_report",
    "nps",
    "report",
    "two_proportion_z_test",
    "wilson_interval",
]

Z95 = 1.959963984540054
LOW_SAMPLE = 30
ALPHA = 0.05
_PRIMARY: tuple[tuple[str, ...], ...] = (CSAT_KINDS, ("nps",), ("ces",))
PASS_GRADE = 6.0


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """95% Wilson score interval for a proportion, in percent.

    Wilson rather than the textbook normal interval because support samples are small and scores
    sit near 100%, where the normal interval overshoots 100% or collapses to zero width.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else min(max(0.0, centre - half), p)
    high = 1.0 if successes == n else max(min(1.0, centre + half), p)
    return low * 100, high * 100


@dataclass(frozen=True)
class NpsEstimate:
    """An NPS in points (-100..100), with its 95% interval and that interval's half-width."""

    score: float
    low: float
    high: float
    margin: float


NPS_ADJUSTMENT = 0.75
"""The adjusted-Wald constant: added to promoters and to detractors, and four times over to the
sample size (:func:`nps`)."""


def nps(promoters: int, passives: int, detractors: int, z: float = Z95) -> NpsEstimate | None:
    """Net Promoter Score with an adjusted-Wald 95% interval (Rocks, The American Statistician,
    2016; the method MeasuringU's comparisons on real data also found the most accurate).

    The score is the observed share of promoters minus the share of detractors. The interval
    adds 3/4 to the promoters, 3/4 to the detractors and 3 to the sample size (so 3/2 to the
    passives), then takes the difference of the adjusted shares p' - d' with the standard error
    sqrt((p' + d' - (p' - d')**2) / (n + 3)); it is clipped to -100..100 and always contains the
    observed score. Unlike the plain trinomial margin, it never collapses to zero width: three
    promoters give +100 with an interval of [-7, 100], not "+100 +/- 0".
    """
    if min(promoters, passives, detractors) < 0:
        raise ValueError("NPS counts must not be negative")
    total = promoters + passives + detractors
    if total == 0:
        return None
    score = (promoters - detractors) / total
    n = total + 4 * NPS_ADJUSTMENT
    pro = (promoters + NPS_ADJUSTMENT) / n
    det = (detractors + NPS_ADJUSTMENT) / n
    centre = pro - det
    margin = z * math.sqrt((pro + det - centre**2) / n)
    low = max(-1.0, min(centre - margin, score))
    high = min(1.0, max(centre + margin, score))
    return NpsEstimate(score * 100, low * 100, high * 100, margin * 100)


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """Pooled two-proportion z-test: (z, two-sided p); z > 0 when the first proportion is higher.

    Answers "did the score really move?" so a lead does not chase noise. There is no test when a
    sample is empty or every answer is alike, since the pooled variance is then zero.
    """
    if n1 < 0 or n2 < 0 or not 0 <= x1 <= n1 or not 0 <= x2 <= n2:
        raise ValueError(f"need 0 <= x <= n, got {x1}/{n1} and {x2}/{n2}")
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    if pooled <= 0 or pooled >= 1:
        return None
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / standard_error
    return z, math.erfc(abs(z) / math.sqrt(2))


def band(score: float | None) -> str | None:
    """A word for a CSAT percentage, so a list of teams can be scanned without reading numbers."""
    if score is None or math.isnan(score):
        return None
    if score >= 80:
        return "excellent"
    if score >= 60:
        return "fair"
    return "needs attention"


def group_report(counts: Counts, previous: Counts | None = None) -> dict[str, object]:
    """One group's scores as a JSON-able dict; percentages are null, never 0%, without answers.

    Two counts, named apart so that a lead cannot mix them up: ``answered`` is the number of
    surveys with at least one answer, and ``response_rate`` is answered / sent. ``responses`` is
    the number of answers behind the headline score (CSAT, else NPS, else CES), i.e. the sample
    size of that number and of the ``low_sample`` warning; it can be lower than ``answered`` when
    some people answered only another question. Kinds other than csat, csat10, nps and ces are
    ignored so that a new question type cannot break existing reports.
    """
    _check(counts)
    csat = _csat_block(counts.buckets)
    nps_block = _nps_block(counts.buckets)
    ces = _ces_block(counts.buckets)
    primary = next((found for kinds in _PRIMARY if (found := _of(counts.buckets, kinds))), [])
    responses = sum(b.count for b in primary)
    return {
        "sent": counts.sent,
        "answered": counts.responded,
        "responses": responses,
        "response_rate": _round(_percent(counts.responded, counts.sent), 2),
        "low_sample": responses < LOW_SAMPLE,
        "csat": csat,
        "nps": nps_block,
        "ces": ces,
        "previous": None if previous is None else _comparison(counts, previous),
    }


def report(
    *,
    period: Period,
    overall: dict[str, object],
    groups: Mapping[str, dict[str, object]] | None = None,
    by: str | None = None,
) -> dict[str, object]:
    """Wrap group reports with the period they cover, so a reader can tell which days were used."""
    return {
        "period": {
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "timezone": period.timezone,
        },
        "by": by,
        "overall": overall,
        "groups": dict(groups) if groups is not None else {},
    }


def _check(counts: Counts) -> None:
    if counts.sent < 0 or counts.responded < 0:
        raise ValueError("sent and responded must not be negative")
    if any(bucket.count < 0 for bucket in counts.buckets):
        raise ValueError("bucket counts must not be negative")


def _of(buckets: Iterable[Bucket], kinds: tuple[str, ...]) -> list[Bucket]:
    return [bucket for bucket in buckets if bucket.kind in kinds]


def _csat_totals(buckets: Iterable[Bucket]) -> tuple[int, int]:
    picked = _of(buckets, CSAT_KINDS)
    return sum(b.count for b in picked), sum(b.count for b in picked if b.positive)


def _csat_block(buckets: tuple[Bucket, ...]) -> dict[str, object]:
    """Always an object (PRODUCT §5): without CSAT answers its numbers are null, never 0."""
    picked = _of(buckets, CSAT_KINDS)
    responses, satisfied = _csat_totals(picked)
    score = _round(_percent(satisfied, responses), 2)
    interval = wilson_interval(satisfied, responses)
    ceiling = sum(b.scale_max * b.count for b in picked)
    block: dict[str, object] = {
        "responses": responses,
        "satisfied": satisfied,
        "score": score,
        "ci95": None if interval is None else [round(interval[0], 2), round(interval[1], 2)],
        "composite": _round(_percent(_total(picked), ceiling), 2),
        "mean": _round(_mean(picked), 2),
        "distribution": _distribution(picked),
        "band": band(score),
    }
    tens = [b for b in picked if b.kind == "csat10"]
    if tens:
        count = sum(b.count for b in tens)
        grade = _round(_total(tens) / count, 2) if count else None
        block["grade"] = grade
        block["pass"] = None if grade is None else grade >= PASS_GRADE
    return block


def _nps_block(buckets: tuple[Bucket, ...]) -> dict[str, object] | None:
    picked = _of(buckets, ("nps",))
    if not picked:
        return None
    promoters = sum(b.count for b in picked if b.positive)
    detractors = sum(b.count for b in picked if b.negative and not b.positive)
    responses = sum(b.count for b in picked)
    passives = responses - promoters - detractors
    result = nps(promoters, passives, detractors)
    return {
        "responses": responses,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "score": None if result is None else _round(result.score, 2),
        "ci95": None if result is None else [round(result.low, 2), round(result.high, 2)],
        "margin": None if result is None else _round(result.margin, 2),
    }


def _ces_block(buckets: tuple[Bucket, ...]) -> dict[str, object] | None:
    picked = _of(buckets, ("ces",))
    if not picked:
        return None
    responses = sum(b.count for b in picked)
    easy = sum(b.count for b in picked if b.positive)
    return {
        "responses": responses,
        "mean": _round(_mean(picked), 2),
        "easy": easy,
        "easy_share": _round(_percent(easy, responses), 2),
        "distribution": _distribution(picked),
    }


def _comparison(counts: Counts, previous: Counts) -> dict[str, object]:
    _check(previous)
    now_responses, now_satisfied = _csat_totals(counts.buckets)
    then_responses, then_satisfied = _csat_totals(previous.buckets)
    now_score = _percent(now_satisfied, now_responses)
    then_score = _percent(then_satisfied, then_responses)
    change = None if now_score is None or then_score is None else now_score - then_score
    test = two_proportion_z_test(now_satisfied, now_responses, then_satisfied, then_responses)
    return {
        "responses": then_responses,
        "csat": _round(then_score, 2),
        "change": _round(change, 2),
        "z": None if test is None else _round(test[0], 4),
        "p": None if test is None else _round(test[1], 4),
        "significant": test is not None and test[1] < ALPHA,
    }


def _total(buckets: Iterable[Bucket]) -> int:
    return sum(b.value * b.count for b in buckets)


def _mean(buckets: list[Bucket]) -> float | None:
    """Mean answer on the answers' own scale; undefined when scales are mixed (a 4 of 5 is not a
    4 of 10), in which case ``composite`` is the comparable number."""
    count = sum(b.count for b in buckets)
    if count == 0 or len({(b.scale_min, b.scale_max) for b in buckets}) > 1:
        return None
    return _total(buckets) / count


def _distribution(buckets: list[Bucket]) -> dict[str, int]:
    """Counts per answer value; a single scale lists every value so empty bars still show."""
    scales = {(b.scale_min, b.scale_max) for b in buckets}
    tally: dict[int, int] = {}
    if len(scales) == 1:
        (low, high) = next(iter(scales))
        tally = dict.fromkeys(range(low, high + 1), 0)
    for bucket in buckets:
        tally[bucket.value] = tally.get(bucket.value, 0) + bucket.count
    return {str(value): tally[value] for value in sorted(tally)}


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole * 100


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits) + 0.0
