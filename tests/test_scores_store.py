"""Scores computed by the SQL aggregates on real rows, against the oracles."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import NotAllowed
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.scores import two_periods
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import deliver, trigger


def _answer(service: Service, n: int, rating: str, **extra: object) -> None:
    trigger(service, to=f"c{n}", interaction=f"T-{n}", **extra)
    deliver(service)
    result = service.handle_text("memory", f"c{n}", rating)
    assert result.reason == "rating", (rating, result)


def test_csat_oracle_through_the_store(service: Service) -> None:
    ratings = ["5"] * 10 + ["4"] * 20 + ["3"] * 10 + ["2"] * 5 + ["1"] * 5
    for n, rating in enumerate(ratings):
        _answer(service, n, rating, agent="alice" if n % 2 else "bob")
    trigger(service, to="silent", interaction="T-silent")
    deliver(service)
    report = service.scores(service.parse_query("today"))
    overall = report["overall"]
    csat = overall["csat"]
    assert csat["score"] == 60.0
    assert csat["ci95"] == [46.18, 72.39]
    assert csat["mean"] == 3.5
    assert csat["composite"] == 70.0
    assert csat["distribution"] == {"1": 5, "2": 5, "3": 10, "4": 20, "5": 10}
    assert csat["band"] == "fair"
    assert overall["sent"] == 51 and overall["responses"] == 50
    assert overall["response_rate"] == pytest.approx(50 / 51 * 100, abs=0.01)
    assert overall["low_sample"] is False

    by_agent = service.scores(service.parse_query("today by agent"))
    assert set(by_agent["groups"]) == {"alice", "bob", "(none)"}
    assert by_agent["groups"]["(none)"]["sent"] == 1
    assert by_agent["groups"]["(none)"]["responses"] == 0
    assert sum(g["responses"] for g in by_agent["groups"].values()) == 50


def test_previous_period_change_and_low_sample(service: Service, clock: Clock) -> None:
    for n in range(4):
        _answer(service, n, "5" if n else "1")
    clock.advance(days=1)
    for n in range(4, 8):
        _answer(service, n, "2" if n == 4 else "4")
    report = service.scores(service.parse_query("today"))["overall"]
    assert report["low_sample"] is True
    assert report["csat"]["score"] == 75.0
    assert report["previous"]["csat"] == 75.0
    assert report["previous"]["change"] == 0.0
    assert report["previous"]["significant"] is False
    yesterday = service.scores(service.parse_query("yesterday"))["overall"]
    assert yesterday["responses"] == 4


def test_period_edges_to_the_microsecond(service: Service, clock: Clock) -> None:
    """Each moment reaches the database in the column's stored form (naive UTC, whatever zone
    the caller's moments are in): a period holds its start and not its end."""
    split = clock.now
    before, end = split - timedelta(days=1), split + timedelta(days=1)
    tick = timedelta(microseconds=1)
    outside = [before - tick, end]
    earlier = [before, split - tick]
    current = [split, split + timedelta(hours=1), end - tick]
    for n, moment in enumerate([*outside, *earlier, *current]):
        clock.now = moment
        _answer(service, n, "5", agent="alice")
    local = [moment.astimezone(ZoneInfo("Europe/Amsterdam")) for moment in (before, split, end)]
    for by, key in ((None, None), ("agent", "alice")):
        now, previous = two_periods(service.store.engine, *local, by)
        for counts, expected in ((now.get(key), len(current)), (previous.get(key), len(earlier))):
            assert (counts.sent, counts.responded) == (expected, expected), by
            assert sum(bucket.count for bucket in counts.buckets) == expected, by


def test_empty_period_shows_no_percentage(service: Service) -> None:
    overall = service.scores(service.parse_query("2024-01-01"))["overall"]
    assert overall["responses"] == 0 and overall["response_rate"] is None
    assert overall["csat"] is None or overall["csat"]["score"] is None


def test_nps_and_ces_reported(service: Service) -> None:
    for n, value in enumerate(["10", "9", "8", "3"]):
        _answer(service, n, value, survey="nps")
    for n, value in enumerate(["7", "6", "2"]):
        _answer(service, 10 + n, value, survey="ces")
    overall = service.scores(service.parse_query("today"))["overall"]
    assert overall["nps"]["promoters"] == 2 and overall["nps"]["detractors"] == 1
    assert overall["nps"]["score"] == 25.0
    assert overall["ces"]["responses"] == 3 and overall["ces"]["mean"] == 5.0


def test_today_follows_the_team_zone_across_dst(
    settings: Settings, db_engine: object, memory: MemoryChannel
) -> None:
    clock = Clock(datetime(2025, 3, 9, 4, 30, tzinfo=UTC))  # 23:30 EST on the 8th
    service = Service(
        settings=settings.model_copy(update={"csat_timezone": "America/New_York"}),
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory},
        clock=clock,
        rng=random.Random(1),
    )
    moments = [
        datetime(2025, 3, 9, 4, 30, tzinfo=UTC),  # 2025-03-08 23:30 EST: yesterday
        datetime(2025, 3, 9, 5, 30, tzinfo=UTC),  # 00:30 EST: today
        datetime(2025, 3, 10, 3, 30, tzinfo=UTC),  # 23:30 EDT: still today (23 h day)
        datetime(2025, 3, 10, 4, 30, tzinfo=UTC),  # 00:30 EDT on the 10th: tomorrow
    ]
    for n, moment in enumerate(moments):
        clock.now = moment
        _answer(service, n, "5")
    clock.now = datetime(2025, 3, 9, 15, 0, tzinfo=UTC)
    report = service.scores(service.parse_query("today"))
    start = datetime.fromisoformat(report["period"]["start"])
    end = datetime.fromisoformat(report["period"]["end"])
    assert (end - start).total_seconds() == 23 * 3600
    assert report["overall"]["responses"] == 2
    assert report["period"]["timezone"] == "America/New_York"


def test_scores_are_for_leads_only(service: Service) -> None:
    _answer(service, 1, "4")
    assert service.scores_for("memory", "lead-1", "today")["overall"]["responses"] == 1
    with pytest.raises(NotAllowed) as refused:
        service.scores_for("memory", "c1", "today")
    assert "%" not in str(refused.value)


def test_score_keyword_from_lead_and_refusal(service: Service) -> None:
    _answer(service, 1, "4")
    lead = service.handle_text("memory", "lead-1", "SCORE 7d by agent")
    assert lead.reason == "score" and "CSAT 100.0%" in lead.replies[0].text
    assert "Europe/Amsterdam" in lead.replies[0].text
    stranger = service.handle_text("memory", "someone-else", "score")
    assert stranger.reason == "not_a_lead"
    assert "%" not in stranger.replies[0].text
