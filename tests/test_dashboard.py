"""The web dashboard through the real app: sign-in by one-time link or API token, the numbers
the API gives, the CSV of what is shown, and nothing for anyone else."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlparse

import httpx
import pytest

from bot.errors import NotAllowed
from bot.service import Service
from bot.settings import Settings
from tests.conftest import Clock
from tests.helpers import browse, deliver, trigger

AUTH = {"authorization": "Bearer test-token-0123456789"}
LEAD = "lead-7"


@pytest.fixture
def led(service: Service, settings: Settings) -> Service:
    service.settings = settings.model_copy(update={"csat_leads": f"memory:{LEAD}"})
    for n, (rating, agent) in enumerate([("5", "alice"), ("4", "alice"), ("2", "bob")]):
        trigger(service, to=f"w{n}", interaction=f"W-{n}", agent=agent)
        deliver(service)
        service.handle_text("memory", f"w{n}", rating)
    service.handle_text("memory", "w2", "They never called back")
    return service


def test_nobody_sees_anything_without_signing_in(led: Service) -> None:
    good = led.signin.session("memory:lead-7")
    assert led.signin.lead_of(good) == "memory:lead-7"
    body, _, signature = good.rpartition(".")
    forged_body = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert led.signin.lead_of(f"{forged_body}.{signature}") is None
    assert led.signin.lead_of(f"{body}.{'0' * 64}") is None

    async def scenario(http: httpx.AsyncClient) -> None:
        page = await http.get("/dashboard")
        assert page.status_code == 401 and "/csat dashboard" in page.text
        assert "alice" not in page.text and "csat-score" not in page.text
        assert (await http.get("/dashboard/export.csv")).status_code == 401
        http.cookies.set("csat_session", "eyJ4Ijo.deadbeef", domain="csat.test", path="/dashboard")
        forged = await http.get("/dashboard")
        assert forged.status_code == 401
        http.cookies.clear()
        wrong = await http.post("/dashboard/login", data={"api_token": "guess-guess-guess"})
        assert wrong.status_code == 401 and "Wrong token" in wrong.text

    browse(led, scenario)


def test_a_one_time_link_signs_a_lead_in_and_the_page_matches_the_api(
    led: Service, clock: Clock
) -> None:
    with pytest.raises(NotAllowed):
        led.signin.link_for("memory", "w0")
    link = led.signin.link_for("memory", LEAD)
    path = urlparse(link)
    target = f"{path.path}?{path.query}"

    async def scenario(http: httpx.AsyncClient) -> None:
        entered = await http.get(target)
        assert entered.status_code == 303 and entered.headers["location"] == "/dashboard"
        cookie = entered.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
        page = await http.get("/dashboard", params={"period": "today", "by": "agent"})
        assert page.status_code == 200
        api = (
            await http.get("/v1/scores", params={"period": "today", "by": "agent"}, headers=AUTH)
        ).json()
        score = api["overall"]["csat"]["score"]
        assert re.search(rf'id="csat-score">{score:.1f}%<', page.text)
        assert "alice" in page.text and "bob" in page.text and "low sample" in page.text
        assert "They never called back" in page.text and "<svg" in page.text
        assert "<script" not in page.text
        shown = await http.get("/dashboard/export.csv", params={"period": "today", "by": "agent"})
        rows = {r["agent"]: r for r in csv.DictReader(io.StringIO(shown.text))}
        assert float(rows["overall"]["csat"]) == score
        assert float(rows["alice"]["csat"]) == api["groups"]["alice"]["csat"]["score"]
        http.cookies.clear()
        again = await http.get(target)
        assert again.status_code == 401 and "used up" in again.text

    browse(led, scenario)
    late = led.signin.link_for("memory", LEAD)
    clock.advance(minutes=11)
    late_path = urlparse(late)

    async def expired(http: httpx.AsyncClient) -> None:
        answer = await http.get(f"{late_path.path}?{late_path.query}")
        assert answer.status_code == 401

    browse(led, expired)


def test_the_api_token_signs_in_and_a_session_expires(led: Service, clock: Clock) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.get("/dashboard", headers=AUTH)).status_code == 200
        signed = await http.post("/dashboard/login", data={"api_token": "test-token-0123456789"})
        assert signed.status_code == 303
        assert (await http.get("/dashboard")).status_code == 200
        clock.advance(hours=13)
        assert (await http.get("/dashboard")).status_code == 401
        bad = await http.get("/dashboard", params={"period": "forever"}, headers=AUTH)
        assert bad.status_code == 422

    browse(led, scenario)


def test_a_link_or_cookie_with_other_characters_signs_nobody_in(led: Service) -> None:
    good = led.signin.session("memory:lead-7")
    body, _, signature = good.rpartition(".")
    assert led.signin.lead_of(f"{body}.é{signature[1:]}") is None
    link = urlparse(led.signin.link_for("memory", LEAD))
    token = link.query.removeprefix("token=")

    async def scenario(http: httpx.AsyncClient) -> None:
        for forged in (f"{body}.{signature[:-1]}é", f"{body}é.{signature}", "é" * 40):
            cookie = f"csat_session={forged}".encode("latin-1")
            page = await http.get("/dashboard", headers={"cookie": cookie})
            assert page.status_code == 401, page.text[:200]
            assert "/csat dashboard" in page.text
        for bad in (f"{token[:-1]}é", "ü" * 43, f"{token}\u200b"):
            entered = await http.get("/dashboard/login", params={"token": bad})
            assert entered.status_code == 401 and "used up or has expired" in entered.text
        entered = await http.get(f"{link.path}?{link.query}")  # the link itself still works
        assert entered.status_code == 303

    browse(led, scenario)
