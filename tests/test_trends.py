"""Time as a dimension: scores by day, week and month, cut at the team's local midnights."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.app.web import create_app
from bot.errors import InvalidInput
from bot.periods import buckets, parse_query
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import deliver, trigger

ZONE = "Europe/Amsterdam"


def test_by_day_week_month_are_calendar_periods_in_the_zone() -> None:
    now = datetime(2025, 3, 31, 12, tzinfo=UTC)
    days = buckets(
        parse_query("2025-03-29..2025-03-31 by day", now=now, timezone=ZONE).period, "day"
    )
    assert [d.label for d in days] == ["2025-03-29", "2025-03-30", "2025-03-31"]
    assert [d.end - d.start for d in days] == [
        timedelta(hours=24),
        timedelta(hours=23),
        timedelta(hours=24),
    ]
    assert days[1].start == datetime(2025, 3, 29, 23, tzinfo=UTC)  # local midnight, CET
    assert days[2].start == datetime(2025, 3, 30, 22, tzinfo=UTC)  # local midnight, CEST

    weeks = buckets(parse_query("30d by week", now=now, timezone=ZONE).period, "week")
    assert weeks[0].label == "2025-03-02"  # a Sunday: the period starts at the week's end
    assert weeks[1].label == "2025-03-03..2025-03-09"  # Monday to Sunday
    assert weeks[-1].label == "2025-03-31"
    assert all(a.end == b.start for a, b in itertools.pairwise(weeks))

    months = buckets(
        parse_query("2025-01-15..2025-04-10 by month", now=now, timezone=ZONE).period, "month"
    )
    assert [m.label for m in months] == [
        "2025-01-15..2025-01-31",
        "2025-02",
        "2025-03",
        "2025-04-01..2025-04-10",
    ]


def test_an_unknown_unit_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidInput, match="day, week, month"):
        parse_query("30d by fortnight", now=datetime(2025, 3, 31, tzinfo=UTC), timezone=ZONE)


def _service(settings: Settings, engine: object, clock: Clock) -> Service:
    return Service(
        settings=settings.model_copy(update={"csat_timezone": ZONE}),
        store=SqlStore(engine),  # type: ignore[arg-type]
        surveys=builtin_surveys(),
        channels={"memory": MemoryChannel()},
        clock=clock,
        rng=random.Random(5),
    )


def _answer(service: Service, n: int, rating: str) -> None:
    trigger(service, to=f"t{n}", interaction=f"TR-{n}")
    deliver(service)
    assert service.handle_text("memory", f"t{n}", rating).reason == "rating"


def test_scores_by_day_have_every_day_with_its_interval(
    settings: Settings, db_engine: object, clock: Clock
) -> None:
    # 2025-03-29 22:30 UTC is 23:30 on the 29th in Amsterdam; 23:30 UTC is already the 30th.
    clock.now = datetime(2025, 3, 29, 22, 30, tzinfo=UTC)
    service = _service(settings, db_engine, clock)
    for n in range(3):
        _answer(service, n, "5")
    clock.now = datetime(2025, 3, 29, 23, 30, tzinfo=UTC)
    _answer(service, 10, "1")
    clock.now = datetime(2025, 3, 31, 10, tzinfo=UTC)
    _answer(service, 20, "4")
    _answer(service, 21, "2")

    report = service.scores(service.parse_query("2025-03-28..2025-03-31 by day"))
    assert report["by"] == "day"
    days = report["groups"]
    assert list(days) == ["2025-03-28", "2025-03-29", "2025-03-30", "2025-03-31"]
    assert [days[d]["responses"] for d in days] == [0, 3, 1, 2]
    assert [days[d]["sent"] for d in days] == [0, 3, 1, 2]
    assert days["2025-03-28"]["csat"]["score"] is None  # an empty day: no percentage, not 0 %
    assert days["2025-03-29"]["csat"]["score"] == 100.0
    assert days["2025-03-29"]["csat"]["ci95"][0] < 100.0  # the Wilson interval of three answers
    assert days["2025-03-30"]["csat"]["score"] == 0.0
    assert days["2025-03-31"]["csat"]["score"] == 50.0
    assert all(days[d]["low_sample"] for d in days)
    assert days["2025-03-30"]["start"] == "2025-03-29T23:00:00+00:00"
    assert days["2025-03-30"]["end"] == "2025-03-30T22:00:00+00:00"  # 23 hours: DST began
    assert report["overall"]["responses"] == 6
    assert sum(days[d]["responses"] for d in days) == report["overall"]["responses"]

    weeks = service.scores(service.parse_query("2025-03-24..2025-04-06 by week"))["groups"]
    assert [(label, week["responses"]) for label, week in weeks.items()] == [
        ("2025-03-24..2025-03-30", 4),
        ("2025-03-31..2025-04-06", 2),
    ]


def test_the_api_and_a_leads_text_take_by_day(
    settings: Settings, db_engine: object, clock: Clock
) -> None:
    clock.now = datetime(2025, 6, 10, 9, tzinfo=UTC)
    lead = "lead-1"
    configured = settings.model_copy(update={"csat_leads": f"memory:{lead}"})
    service = _service(configured, db_engine, clock)
    _answer(service, 1, "5")

    async def main() -> dict[str, object]:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get(
                "/v1/scores",
                params={"period": "7d", "by": "day"},
                headers={"authorization": f"Bearer {settings.csat_api_token.get_secret_value()}"},
            )
            assert answer.status_code == 200, answer.text
            bad = await http.get(
                "/v1/scores",
                params={"period": "7d", "by": "hour"},
                headers={"authorization": f"Bearer {settings.csat_api_token.get_secret_value()}"},
            )
            assert bad.status_code == 422
            return dict(answer.json())

    body = asyncio.run(main())
    groups = body["groups"]
    assert isinstance(groups, dict) and len(groups) == 7
    assert list(groups)[-1] == "2025-06-10" and groups["2025-06-10"]["responses"] == 1

    reply = service.handle_text("memory", lead, "SCORE 7d by day")
    assert reply.reason == "score"
    text = reply.replies[0].text
    assert text.splitlines()[-1].startswith("2025-06-10: CSAT 100.0%")  # the newest day last
    assert "(1 earlier not shown)" in text and "vs previous" not in text.split("\n", 1)[1]


def test_the_terminal_draws_the_trend_within_80_columns(
    settings: Settings, db_engine: object, clock: Clock
) -> None:
    from rich.console import Console

    from bot.app.report_view import print_report

    clock.now = datetime(2025, 6, 9, 9, tzinfo=UTC)
    service = _service(settings, db_engine, clock)
    for n in range(4):
        _answer(service, 100 + n, "5" if n else "2")
    clock.now = datetime(2025, 6, 10, 9, tzinfo=UTC)
    _answer(service, 200, "4")
    console = Console(width=80, record=True, color_system=None)
    print_report(service.scores(service.parse_query("7d by day")), console)
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    trend = next(line for line in lines if line.startswith("trend"))
    assert trend.endswith("▇█")  # 75 % then 100 %, the empty days blank before them
    bar_09 = next(line for line in lines if line.strip().startswith("2025-06-09") and "█" in line)
    assert "75.0% n=4*" in bar_09  # low sample marked
    assert "░" in bar_09  # the interval drawn around the score
    assert any(line.strip().startswith("2025-06-04") and "no answers" in line for line in lines)


def test_the_trend_chart_is_a_png_with_empty_and_low_sample_buckets(
    settings: Settings, db_engine: object, clock: Clock
) -> None:
    import time

    from bot.charts import trend_png

    clock.now = datetime(2025, 6, 10, 9, tzinfo=UTC)
    service = _service(settings, db_engine, clock)
    _answer(service, 300, "5")
    report, chart = service.reports.trend("trend 30d")
    assert report["by"] == "day" and len(report["groups"]) == 30
    assert chart.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(chart[16:20], "big"), int.from_bytes(chart[20:24], "big")
    assert (width, height) == (800, 400)
    assert service.reports.trend("trend 2025-01-01..2025-06-30")[0]["by"] == "week"
    with pytest.raises(InvalidInput, match="by day, week or month"):
        service.reports.trend("trend week by agent")
    started = time.perf_counter()
    trend_png(report)
    print(f"trend chart, 30 buckets: {1000 * (time.perf_counter() - started):.0f} ms")
