"""The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.

A lead follows the one-time link, changes the period, drills down by team, downloads the CSV, and
the numbers on screen are checked against ``GET /v1/scores``. At phone and desktop widths the
layout is checked from the rendered boxes (nothing wider than the screen or clipped, no two score
cards overlapping, cards in one row on a desktop and wrapped, never squeezed, on a phone), and
the screenshots are compared with the committed ones in ``docs/images`` (the README's pictures):
more than 2 % of the pixels changed fails. After a deliberate change of the page, run the test
once with ``CSAT_UPDATE_SCREENSHOTS=1`` to write the new pictures, look at them, commit them.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bot.app.web import create_app
from bot.service import Service
from bot.settings import Settings
from tests.conftest import Clock
from tests.helpers import deliver, trigger

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
AUTH = {"authorization": "Bearer test-token-0123456789"}
LEAD = "lead-9"

CHANGED_PIXELS_ALLOWED = 0.02
# Every box of the page that must sit inside the screen, and the score cards' own boxes.
BOXES = """() => {
  const width = document.documentElement.clientWidth;
  const outside = [];
  for (const el of document.querySelectorAll("h1, form, .card, #trend, .scroll, #comments li")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > width + 0.5)) {
      outside.push(`${el.tagName.toLowerCase()}#${el.id || el.className} ${r.left}..${r.right}`);
    }
  }
  const cards = [...document.querySelectorAll(".card")].map((el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            clipped: el.scrollWidth > el.clientWidth + 1};
  });
  return {width, outside, cards};
}"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1
    )


def _layout_problems(boxes: dict[str, object], phone: bool) -> list[str]:
    problems = [f"outside the screen: {what}" for what in boxes["outside"]]  # type: ignore[attr-defined]
    cards: list[dict[str, float]] = boxes["cards"]  # type: ignore[assignment]
    if any(card["clipped"] for card in cards):
        problems.append("a score card's text is wider than the card")
    for i, a in enumerate(cards):
        problems += [
            f"cards {i} and {j} overlap"
            for j, b in enumerate(cards[i + 1 :], i + 1)
            if _overlap(a, b)
        ]
    rows = len({round(card["top"]) for card in cards})
    narrow = [round(c["right"] - c["left"]) for c in cards if c["right"] - c["left"] < 140]
    if phone and narrow:
        problems.append(f"on a phone the cards should wrap, not shrink to {narrow} px")
    if not phone and rows != 1:
        problems.append(f"on a desktop the cards should sit in one row, not {rows}")
    return problems


def _changed_share(shot: Path, committed: Path) -> float:
    """The share of pixels that differ visibly (any channel by more than 40 of 255)."""
    from PIL import Image, ImageChops

    with Image.open(shot) as new, Image.open(committed) as old:
        if new.size != old.size:
            return 1.0
        difference = ImageChops.difference(new.convert("RGB"), old.convert("RGB")).convert("L")
        changed = difference.point(lambda v: 255 if v > 40 else 0).histogram()[255]
        return changed / (new.width * new.height)


pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)"
)


@pytest.fixture
def served(service: Service, settings: Settings, clock: Clock) -> Iterator[tuple[Service, str]]:
    service.settings = settings.model_copy(update={"csat_leads": f"memory:{LEAD}"})
    people = [
        ("5", "alice", "north"),
        ("4", "alice", "north"),
        ("5", "bob", "south"),
        ("2", "bob", "south"),
        ("1", "carol", "south"),
        ("5", "carol", "north"),
    ]
    for n, (rating, agent, team) in enumerate(people):
        trigger(service, to=f"b{n}", interaction=f"B-{n}", agent=agent, team=team)
        deliver(service)
        service.handle_text("memory", f"b{n}", rating)
    service.handle_text("memory", "b4", "Waited two days for an answer")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield service, base
    server.should_exit = True
    thread.join(timeout=10)


def test_a_lead_signs_in_drills_down_and_downloads_in_chromium(
    served: tuple[Service, str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    service, base = served
    link = service.signin.link_for("memory", LEAD)
    link = base + link[link.index("/dashboard/") :]
    api = httpx.get(f"{base}/v1/scores", params={"period": "today", "by": "team"}, headers=AUTH)
    expected = api.json()

    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            desktop = browser.new_context(
                viewport={"width": 1280, "height": 900}, accept_downloads=True
            )
            page = desktop.new_page()
            page.goto(link)
            assert page.url.endswith("/dashboard")
            page.select_option("select[name=period]", "today")
            page.select_option("select[name=by]", "team")
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard?period=today&by=team*")
            score = expected["overall"]["csat"]["score"]
            assert page.inner_text("#csat-score") == f"{score:.1f}%"
            rows = page.locator("#breakdown tbody tr")
            names = [
                rows.nth(i).locator("td").first.inner_text().split()[0] for i in range(rows.count())
            ]
            assert names == sorted(expected["groups"])
            north = expected["groups"]["north"]["csat"]["score"]
            assert f"{north:.1f}%" in rows.nth(0).inner_text()
            assert "Waited two days for an answer" in page.inner_text("#comments")
            with page.expect_download() as download:
                page.click("#csv")
            saved = tmp_path / "shown.csv"
            download.value.save_as(saved)
            table = {r["team"]: r for r in csv.DictReader(io.StringIO(saved.read_text()))}
            assert float(table["overall"]["csat"]) == score
            assert float(table["south"]["csat"]) == expected["groups"]["south"]["csat"]["score"]
            update = os.environ.get("CSAT_UPDATE_SCREENSHOTS") == "1"
            for name, width, height in (("phone", 390, 844), ("desktop", 1280, 900)):
                page.set_viewport_size({"width": width, "height": height})
                overflow = page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= width, (
                    f"{name}: the page is {overflow}px wide on a {width}px screen"
                )
                problems = _layout_problems(page.evaluate(BOXES), phone=width < 600)
                assert problems == [], f"{name}: {problems}"
                shot = tmp_path / f"dashboard-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                committed = IMAGES / f"dashboard-{name}.png"
                if update:
                    shutil.copy(shot, committed)
                    continue
                changed = _changed_share(shot, committed)
                assert changed <= CHANGED_PIXELS_ALLOWED, (
                    f"{name}: {changed:.1%} of the pixels differ from {committed.name} "
                    f"(new picture: {shot}); if the change is meant, see this module's docstring"
                )
            # A stranger's browser: the sign-in page and no numbers.
            stranger = browser.new_context().new_page()
            stranger.goto(f"{base}/dashboard")
            assert "/csat dashboard" in stranger.content()
            assert stranger.locator("#csat-score").count() == 0
            used = browser.new_context().new_page()
            used.goto(link)
            assert "used up" in used.content()
        finally:
            browser.close()
