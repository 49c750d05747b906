"""``by reason``: the reasons of a period's low ratings with exact counts and shares, in the JSON
report (the real app), the CLI, chat, Slack's blocks, the digest and the dashboard, on SQLite
and PostgreSQL; and the statement reads choices through their own index."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.web import create_app
from bot.digest import Digests
from bot.errors import InvalidInput
from bot.periods import ScoreQuery
from bot.report_text import short_summary
from bot.service import Service
from channels.slack_blocks import report_blocks
from tests.conftest import Clock
from tests.helpers import deliver, trigger

AUTH = {"authorization": "Bearer test-token-0123456789"}
DAY = "2025-06-10"  # the test clock's day


def _answer(service: Service, n: int, *replies: str, survey: str = "reasons") -> None:
    trigger(service, to=f"r{n}", interaction=f"R-{n}", survey=survey, agent="alice")
    deliver(service)
    for reply in replies:
        service.handle_text("memory", f"r{n}", reply)


@pytest.fixture
def rated(service: Service, clock: Clock) -> Service:
    _answer(service, 1, "1", "2")  # communication
    _answer(service, 2, "2", "speed")
    _answer(service, 3, "3", "4")  # speed
    _answer(service, 4, "2", "They never called back")  # other, with the text
    _answer(service, 5, "1", "skip")  # no reason
    _answer(service, 6, "5")  # not low: no reason asked
    _answer(service, 7, "2", "Too slow", survey="support")  # low, a survey without reasons
    _answer(service, 8, "3", "speed", "5")  # corrected to 5 after its reason: not low
    _answer(service, 9, "4")
    clock.advance(minutes=5)
    return service


EXPECTED = {
    "speed": {"count": 2, "share": 2 / 6, "label": "Speed"},
    "communication": {
        "count": 1,
        "share": 1 / 6,
        "label": "Communication and responsiveness",
    },
    "other": {"count": 1, "share": 1 / 6, "label": "Something else"},
    "(none)": {"count": 2, "share": 2 / 6, "label": "no reason given"},
}


def test_reasons_in_the_report(rated: Service) -> None:
    report = rated.scores(rated.parse_query("today by reason"))
    assert report["by"] == "reason" and report["low"] == 6
    assert report["groups"] == EXPECTED
    assert list(report["groups"]) == ["speed", "communication", "other", "(none)"]
    assert sum(group["share"] for group in report["groups"].values()) == pytest.approx(1)
    assert report["overall"]["csat"]["responses"] == 9
    assert short_summary(report).splitlines()[1:] == [
        "Reasons of 6 low ratings:",
        "Speed: 2 (33.3%)",
        "Communication and responsiveness: 1 (16.7%)",
        "Something else: 1 (16.7%)",
        "no reason given: 2 (33.3%)",
    ]


def test_a_period_without_low_ratings_has_no_reasons(service: Service, clock: Clock) -> None:
    _answer(service, 1, "5")
    report = service.scores(service.parse_query("today by reason"))
    assert (report["low"], report["groups"]) == (0, {})
    assert "No low ratings in this period." in short_summary(report)
    yesterday = service.scores(service.parse_query("yesterday by reason"))
    assert (yesterday["low"], yesterday["groups"]) == (0, {})


def test_a_rating_counts_in_the_period_it_was_given_in(service: Service, clock: Clock) -> None:
    clock.now = clock.now.replace(hour=21, minute=50)  # 23:50 in Amsterdam
    trigger(service, to="late", interaction="L-1", survey="reasons")
    deliver(service)
    service.handle_text("memory", "late", "1")
    clock.advance(minutes=20)  # the reason arrives after local midnight
    service.handle_text("memory", "late", "knowledge")
    today = service.scores(service.parse_query(f"{DAY} by reason"))
    assert today["groups"] == {"knowledge": {"count": 1, "share": 1.0, "label": "Knowledge"}}
    tomorrow = service.scores(service.parse_query("2025-06-11 by reason"))
    assert (tomorrow["low"], tomorrow["groups"]) == (0, {})


def test_reasons_over_http(rated: Service) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(rated))
        async with httpx.AsyncClient(transport=transport, base_url="http://csat.test") as http:
            got = await http.get(
                "/v1/scores", params={"period": "today", "by": "reason"}, headers=AUTH
            )
            assert got.status_code == 200, got.text
            body = got.json()
            assert (body["by"], body["low"], body["groups"]) == ("reason", 6, EXPECTED)
            refused = await http.get("/v1/scores", params={"by": "reasons"}, headers=AUTH)
            assert refused.status_code == 422 and "reason" in refused.json()["error"]
            assert (await http.get("/v1/scores?by=reason")).status_code == 401

    asyncio.run(main())


def test_reasons_in_the_cli(rated: Service, database_url: str) -> None:
    env = {"CSAT_DATABASE_URL": database_url, "CSAT_TIMEZONE": "Europe/Amsterdam", "COLUMNS": "100"}
    runner = CliRunner()
    table = runner.invoke(app, ["score", f"{DAY} by reason"], env=env)
    assert table.exit_code == 0, table.output
    rows = [" ".join(line.split()) for line in table.output.splitlines()]
    assert "Reasons of 6 low ratings" in table.output
    assert "Speed (speed) 2 33.3%" in rows
    assert "Communication and responsiveness (communication) 1 16.7%" in rows
    assert "Something else (other) 1 16.7%" in rows
    assert "no reason given 2 33.3%" in rows
    assert "total 6 100.0%" in rows
    as_json = runner.invoke(app, ["score", f"{DAY} by reason", "--json"], env=env)
    assert json.loads(as_json.output)["groups"] == EXPECTED
    bad = runner.invoke(app, ["score", f"{DAY} by reasons"], env=env)
    assert bad.exit_code == 2 and "reason" in bad.output


def test_reasons_for_a_lead_in_chat(rated: Service) -> None:
    reply = rated.handle_text("memory", "lead-1", "SCORE today by reason")
    assert "Speed: 2 (33.3%)" in reply.replies[0].text
    stranger = rated.handle_text("memory", "r6", "SCORE today by reason")
    assert "Speed" not in stranger.replies[0].text
    blocks = report_blocks(rated.scores(rated.parse_query("today by reason")))
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "Reasons of 6 low ratings:\\nSpeed: 2 (33.3%)" in shown


def test_the_digest_names_the_top_reasons(rated: Service, clock: Clock) -> None:
    digests = Digests(rated.ctx, [])
    period = rated.parse_query(DAY).period
    text_, _, _ = digests.build(period)
    assert "Top reasons of 6 low ratings: Speed 2, Communication and responsiveness 1, " in text_
    assert "Something else 1" in text_
    quiet = rated.parse_query("2025-06-09").period
    assert "Top reasons" not in digests.build(quiet)[0]


def test_the_dashboard_shows_a_reasons_table(rated: Service) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(rated))
        async with httpx.AsyncClient(transport=transport, base_url="http://csat.test") as http:
            page = await http.get("/dashboard", params={"period": "7d"}, headers=AUTH)
            assert page.status_code == 200
            assert 'id="reasons"' in page.text and "Reasons of 6 low ratings" in page.text
            assert "<td>Speed</td><td>2</td><td>33.3%</td>" in page.text

    asyncio.run(main())


def test_query_language_takes_reason(rated: Service) -> None:
    assert rated.parse_query("30d by reason").by == "reason"
    with pytest.raises(InvalidInput, match="reason"):
        rated.parse_query("30d by mood")
    assert ScoreQuery(period=rated.parse_query("today").period, by="reason").by_reason


def test_the_reasons_statement_reads_choices_through_their_index(
    rated: Service, db_engine: Engine
) -> None:
    from storage.reasons import reason_counts

    period = rated.parse_query("today").period
    window = timedelta(days=8)
    assert reason_counts(db_engine, period.start, period.end, window) == {
        "speed": 2,
        "communication": 1,
        "other": 1,
    }
    plan = _plan(db_engine, period.start, period.end, window)
    assert "ix_answer_choices" in plan, plan


def _plan(engine: Engine, start: Any, end: Any, window: timedelta) -> str:
    from storage.reasons import reasons_statement

    compiled = reasons_statement(start, end, window).compile(
        engine, compile_kwargs={"literal_binds": True}
    )
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            connection.execute(text("SET enable_seqscan = off"))  # a tiny table still seq-scans
        rows = connection.execute(text(prefix + str(compiled))).all()
    return "\n".join(" ".join(str(cell) for cell in row) for row in rows)
