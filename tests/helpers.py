"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bot.requests import SurveyRequest
from bot.sender import Sender, SendReport
from bot.service import Service, TriggerResult


def deliver(service: Service) -> SendReport:
    return asyncio.run(Sender(service).run_once())


def trigger(
    service: Service, to: str = "cust-1", interaction: str = "T-1", **extra: object
) -> TriggerResult:
    fields: dict[str, object] = {"channel": "memory", "to": to, "interaction_id": interaction}
    fields.update(extra)
    return service.start_survey(SurveyRequest.model_validate(fields))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(env: dict[str, str], cwd: Path, *args: str) -> tuple[str, subprocess.Popen[str]]:
    """``csat serve`` in a child process with only ``env``'s csat and provider settings; waits
    until /healthz answers and returns its base URL and the process (output on its stdout)."""
    port = free_port()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CSAT_", "SLACK_", "TWILIO_", "TELEGRAM_"))
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), *args],
        cwd=cwd,
        env={**inherited, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return base, process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"csat serve did not start: {process.communicate()[0]}")


# What each locale says for the team when CSAT_BRAND is not set ("our team" only in English),
# spelled out rather than read from bot.locales.DEFAULT_BRANDS, so that changing a phrase is a
# visible decision in the tests too.
DEFAULT_BRAND_PHRASES = {
    "en": "our team",
    "nl": "ons team",
    "nb": "teamet vårt",
    "de": "unser Team",
    "es": "nuestro equipo",
    "zh": "我们团队",
    "fr": "notre équipe",
    "pt": "nossa equipe",
}


# Every channel configured (webhook mode), with values that only have to look right: a command
# that loads a channel SDK it does not need would show with these.
EVERY_CHANNEL = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "TWILIO_FROM_NUMBER": "+15005550006",
    "SLACK_BOT_TOKEN": "xoxb-1-2-3",
    "SLACK_SIGNING_SECRET": "s" * 32,
    "TELEGRAM_BOT_TOKEN": "123:abc",
    "CSAT_PUBLIC_URL": "https://csat.example.com",
    "TELEGRAM_WEBHOOK_SECRET": "w" * 32,
}


def browse(service: Service, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """Run ``scenario`` against the real ASGI app of ``service`` at http://csat.test."""
    from bot.app.web import create_app

    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://csat.test") as http:
            await scenario(http)

    asyncio.run(main())
