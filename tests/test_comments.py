"""The comments feed: newest first with the rating, low only, grouped, paged; leads only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.web import create_app
from bot.errors import InvalidInput, NotAllowed
from bot.service import Service
from tests.conftest import Clock
from tests.helpers import deliver, trigger

AUTH = {"authorization": "Bearer test-token-0123456789"}


def _say(service: Service, n: int, rating: str, comment: str | None, agent: str) -> None:
    trigger(service, to=f"k{n}", interaction=f"K-{n}", agent=agent)
    deliver(service)
    assert service.handle_text("memory", f"k{n}", rating).reason == "rating"
    if comment is not None:
        assert service.handle_text("memory", f"k{n}", comment).reason == "comment"


@pytest.fixture
def feed(service: Service, clock: Clock) -> Service:
    _say(service, 1, "1", "Nobody called me back", "alice")
    clock.advance(minutes=5)
    _say(service, 2, "5", "Quick and kind", "bob")
    clock.advance(minutes=5)
    _say(service, 3, "2", "Had to explain it three times", "bob")
    clock.advance(minutes=5)
    _say(service, 4, "4", None, "alice")
    return service


def test_newest_first_with_the_rating_and_low_only(feed: Service) -> None:
    page = feed.comments.latest(feed.comments.parse("today"))
    assert [(c["rating"], c["comment"]) for c in page["comments"]] == [
        (2, "Had to explain it three times"),
        (5, "Quick and kind"),
        (1, "Nobody called me back"),
    ]
    assert page["comments"][0]["scale_max"] == 5 and page["comments"][0]["agent"] == "bob"
    assert page["comments"][0]["interaction_id"] == "K-3"
    low = feed.comments.latest(feed.comments.parse("comments today low"))
    assert [c["interaction_id"] for c in low["comments"]] == ["K-3", "K-1"]
    assert low["filter"] == "low" and all(c["low"] for c in low["comments"])
    grouped = feed.comments.latest(feed.comments.parse("today all by agent"))
    assert [(c["agent"], c["interaction_id"]) for c in grouped["comments"]] == [
        ("alice", "K-1"),
        ("bob", "K-3"),
        ("bob", "K-2"),
    ]


def test_pages_follow_each_other_without_overlap(feed: Service) -> None:
    query = feed.comments.parse("today")
    first = feed.comments.latest(query, limit=2)
    assert len(first["comments"]) == 2 and first["next_cursor"]
    second = feed.comments.latest(query, limit=2, cursor=first["next_cursor"])
    assert [c["interaction_id"] for c in second["comments"]] == ["K-1"]
    assert second["next_cursor"] is None
    with pytest.raises(InvalidInput, match="cursor"):
        feed.comments.latest(query, cursor="2025-01-01T00:00:00+00:00~x")
    with pytest.raises(InvalidInput, match="by"):
        feed.comments.parse("today by day")


def test_only_leads_read_comments(feed: Service) -> None:
    with pytest.raises(NotAllowed):
        feed.comments_for("memory", "k1", "comments today")


def test_the_api_pages_and_refuses_bad_input(feed: Service) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(feed))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            low = await http.get("/v1/comments", params={"filter": "low"}, headers=AUTH)
            assert low.status_code == 200, low.text
            assert [c["interaction_id"] for c in low.json()["comments"]] == ["K-3", "K-1"]
            first = await http.get("/v1/comments", params={"limit": 1}, headers=AUTH)
            cursor = first.json()["next_cursor"]
            second = await http.get(
                "/v1/comments", params={"limit": 1, "cursor": cursor}, headers=AUTH
            )
            assert second.json()["comments"][0]["interaction_id"] == "K-2"
            for bad in ({"cursor": "nope"}, {"filter": "mean"}, {"limit": 0}, {"by": "mood"}):
                refused = await http.get("/v1/comments", params=bad, headers=AUTH)
                assert refused.status_code == 422, (bad, refused.text)
            assert (await http.get("/v1/comments")).status_code == 401

    asyncio.run(main())


def test_the_cli_lists_comments(database_url: str, tmp_path: Path) -> None:
    env = {"CSAT_DATABASE_URL": database_url, "CSAT_TIMEZONE": "Europe/Amsterdam", "COLUMNS": "160"}
    runner = CliRunner()
    chat = runner.invoke(app, ["chat"], input="2\nThe app kept crashing\n", env=env)
    assert chat.exit_code == 0, chat.output
    listed = runner.invoke(app, ["comments", "today", "low"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "2/5" in listed.output and "The app kept crashing" in listed.output
    as_json = runner.invoke(app, ["comments", "--json"], env=env)
    assert json.loads(as_json.output)["comments"][0]["comment"] == "The app kept crashing"
