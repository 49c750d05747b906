"""``csat serve`` as a newcomer runs it: a real uvicorn process on loopback, real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CSAT_", "SLACK_", "TWILIO_", "TELEGRAM_"))
        },
        "CSAT_DATABASE_URL": f"sqlite:///{tmp_path / 'csat.db'}",
        "CSAT_API_TOKEN": "t0ken",
        "CSAT_SENDER_INTERVAL": "0.2",
        "CSAT_BRAND": "Acme",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"csat serve did not start: {process.communicate()[0]}")
    yield base, process
    process.terminate()
    process.wait(timeout=10)


def test_serve_migrates_accepts_a_trigger_and_sends_it(
    server: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, process = server
    assert (tmp_path / "csat.db").exists()
    auth = {"authorization": "Bearer t0ken"}
    created = httpx.post(
        f"{base}/v1/surveys",
        headers=auth,
        json={"channel": "console", "to": "ann", "interaction_id": "T-1", "agent": "alice"},
    )
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 15
    status = None
    while time.monotonic() < deadline:
        rows = httpx.get(f"{base}/v1/responses", headers=auth).json()["responses"]
        status = rows[0]["status"]
        if status == "sent":
            break
        time.sleep(0.2)
    assert status == "sent"
    assert httpx.get(f"{base}/v1/scores", headers={"authorization": "Bearer no"}).status_code == 401
    process.terminate()
    output = process.communicate(timeout=10)[0]
    assert "channels on: console" in output
    assert "Acme" in output
