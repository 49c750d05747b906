"""An e-mail survey end to end in a real browser: the mail goes through a local SMTP server
(aiosmtpd), is parsed with the ``email`` package, and its links are opened in headless Chromium
(Debian's package, driven by Playwright) against the app served by uvicorn.

A scanner that runs JavaScript and opens every link of the mail records nothing; a person who
opens one star and presses the page's button records that star once, and the API counts it.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.app.web import create_app
from bot.requests import SurveyRequest
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.email import EmailChannel, SmtpServer
from storage.models import Answer
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import deliver, free_port
from tests.test_email import Inbox, links

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AUTH = {"authorization": "Bearer test-token-0123456789"}
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)"
)


@pytest.fixture
def served(
    settings: Settings, db_engine: Engine, clock: Clock
) -> Iterator[tuple[Service, Inbox, str]]:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    service = Service(
        settings=settings.model_copy(update={"csat_public_url": base}),
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={
            "email": EmailChannel(
                SmtpServer("127.0.0.1", smtp_port, None, None, implicit_tls=False),
                sender="Acme <survey@acme.example>",
                brand="Acme",
            )
        },
        clock=clock,
        rng=random.Random(2),
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield service, inbox, base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        controller.stop()


def mailed(service: Service, inbox: Inbox, to: str) -> list[str]:
    service.start_surveys([SurveyRequest(channel="email", to=to, interaction_id=f"M-{to}")])
    deliver(service)
    return links(inbox.mails[-1])


def ratings(engine: Engine) -> list[tuple[str, int | None]]:
    with Session(engine) as session:
        rows = session.execute(select(Answer.question_id, Answer.value).order_by(Answer.id))  # type: ignore[arg-type]
        return [(str(q), v) for q, v in rows]


def test_chromium_opening_every_link_of_the_mail_records_nothing(
    served: tuple[Service, Inbox, str], db_engine: Engine
) -> None:
    from playwright.sync_api import sync_playwright

    service, inbox, _ = served
    every = mailed(service, inbox, "scan@example.com")
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            for url in every:  # each star in both parts, and the opt-out link
                page.goto(url)
                page.wait_for_load_state("networkidle")
                page.mouse.move(200, 200)  # sandboxes move the mouse too
                page.wait_for_timeout(150)
        finally:
            browser.close()
    assert ratings(db_engine) == []
    pseudonym = service.ctx.pseudonym("email", "scan@example.com")
    assert not service.store.is_suppressed("email", pseudonym)


def test_a_person_answers_from_the_mail_in_chromium_and_the_api_counts_it(
    served: tuple[Service, Inbox, str], db_engine: Engine
) -> None:
    from playwright.sync_api import sync_playwright

    service, inbox, base = served
    four = next(url for url in mailed(service, inbox, "ann@example.com") if url.endswith("=4"))
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 800})
            page.goto(four)
            assert page.is_checked('input[name="value"][value="4"]')
            if os.environ.get("CSAT_UPDATE_SCREENSHOTS") == "1":  # the README's picture
                clip = {"x": 0, "y": 0, "width": 390, "height": 260}
                page.screenshot(path=str(IMAGES / "survey-phone.png"), clip=clip)
            wide = page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            assert not wide, "the page scrolls sideways on a phone"
            page.click("button[type=submit]")
            page.wait_for_selector("textarea#comment")
            page.fill("textarea#comment", "Quick and friendly")
            page.click("button[type=submit]:not([name=skip])")
            page.wait_for_selector("text=Thank you")
            page.go_back()  # back and press again: still one rating
            page.go_back()
            if page.is_visible("button[type=submit]"):
                page.click("button[type=submit]")
        finally:
            browser.close()
    assert ratings(db_engine) == [("csat", 4), ("comment", None)]
    scores = httpx.get(
        f"{base}/v1/scores", params={"period": "today", "by": "channel"}, headers=AUTH
    ).json()
    assert scores["groups"]["email"]["csat"]["responses"] == 1
    assert re.search(r"\b4\b", str(scores["groups"]["email"]["csat"]["distribution"]))
