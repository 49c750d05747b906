"""A claimed alert as Slack lays it out, drawn in Chromium from the very blocks csat-bot sends.

The blocks come from a real claim (memory channel, the hub, the database); the page lays them out
the way Slack's Block Kit does (a section with fields, a context line, an actions row), and the
test reads back what a lead sees. With ``CSAT_UPDATE_SCREENSHOTS=1`` it also writes the README's
picture, ``docs/images/alert-claimed.png``.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.alerts import Alert
from bot.hub import Hub
from bot.results import Incoming
from bot.service import Service
from channels.slack_blocks import alert_blocks
from storage.values import FollowUpAction
from tests.conftest import Clock
from tests.helpers import deliver, trigger

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)"
)

STYLE = """
body { font: 15px/1.46 -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; margin: 0;
       background: #fff; color: #1d1c1d; }
.message { display: flex; gap: 10px; padding: 14px 18px; width: 620px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
          font-weight: 700; display: flex; align-items: center; justify-content: center; }
.name { font-weight: 900; } .time { color: #616061; font-size: 12px; margin-left: 6px; }
.section { margin: 4px 0; } .fields { display: grid; grid-template-columns: 1fr 1fr;
          gap: 8px 16px; margin-top: 8px; }
.context { color: #616061; font-size: 13px; margin: 8px 0; }
.actions { display: flex; gap: 8px; margin-top: 6px; }
.button { border: 1px solid #bbbabb; border-radius: 4px; padding: 4px 12px; font-weight: 700;
          font-size: 14px; background: #fff; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
"""


def _mrkdwn(text: str) -> str:
    """Slack's escaped mrkdwn as HTML: *bold* and line breaks (all csat-bot's alerts use)."""
    shown = html.escape(html.unescape(text))
    shown = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", shown)
    return shown.replace("\n", "<br>")


def _page(blocks: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for block in blocks:
        if block["type"] == "section":
            parts.append(f'<div class="section">{_mrkdwn(block["text"]["text"])}</div>')
            fields = "".join(f"<div>{_mrkdwn(f['text'])}</div>" for f in block.get("fields", []))
            parts.append(f'<div class="fields">{fields}</div>')
        elif block["type"] == "context":
            text = " ".join(_mrkdwn(e["text"]) for e in block["elements"])
            parts.append(f'<div class="context">{text}</div>')
        elif block["type"] == "actions":
            buttons = "".join(
                f'<span class="button {e.get("style", "")}">{html.escape(e["text"]["text"])}</span>'
                for e in block["elements"]
            )
            parts.append(f'<div class="actions">{buttons}</div>')
    return (
        f"<!doctype html><style>{STYLE}</style><div class='message'><div class='avatar'>CS</div>"
        f"<div><span class='name'>CSAT</span><span class='time'>10:27</span>{''.join(parts)}"
        "</div></div>"
    )


def test_a_claimed_alert_reads_as_a_lead_sees_it(service: Service, clock: Clock) -> None:
    from playwright.sync_api import sync_playwright

    hub = Hub(service)
    trigger(service, agent="alice", team="billing", interaction="T-1042", survey="reasons")
    deliver(service)

    async def rate() -> None:
        await hub.receive(Incoming("memory", "cust-1", "2"))
        # Not one of the listed reasons: the text is the comment, the reason "Something else".
        await hub.receive(Incoming("memory", "cust-1", "Waited three days for an answer"))

    asyncio.run(rate())
    (stored,) = service.store.alerts(None, 5)
    clock.advance(minutes=12)
    claim = service.followups.act("memory", "lead-1", "@ann", stored.id, FollowUpAction.CLAIM)
    assert claim.alert is not None
    claimed = service.store.alert(stored.id)
    assert claimed is not None
    assert claimed.reason == "other"
    blocks = alert_blocks(hub.desk.shown(Alert.of(claimed)))

    assert CHROMIUM is not None
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 660, "height": 600})
            page.set_content(_page(blocks))
            seen = page.inner_text("body")
            assert "Low score 2/5 on memory for interaction T-1042" in seen
            assert "Waited three days for an answer" in seen
            assert "Reason\nSomething else" in seen
            assert "Claimed by @ann 12 min after the rating" in seen
            assert page.locator(".button").all_inner_texts() == ["Resolved"]
            if os.environ.get("CSAT_UPDATE_SCREENSHOTS") == "1":
                height = page.evaluate("document.querySelector('.message').offsetHeight") + 4
                clip = {"x": 0, "y": 0, "width": 660, "height": height}
                page.screenshot(path=str(IMAGES / "alert-claimed.png"), clip=clip)
        finally:
            browser.close()
