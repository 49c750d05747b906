"""``csat serve`` as a newcomer runs it: a real uvicorn process on loopback, real HTTP."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import start_serve


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    env = {
        "CSAT_DATABASE_URL": f"sqlite:///{tmp_path / 'csat.db'}",
        "CSAT_API_TOKEN": "t0ken-for-the-tests-0123",
        "CSAT_SENDER_INTERVAL": "0.2",
        "CSAT_BRAND": "Acme",
    }
    base, process = start_serve(env, tmp_path)
    yield base, process
    process.terminate()
    process.wait(timeout=10)


def test_serve_migrates_accepts_a_trigger_and_sends_it(
    server: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, process = server
    assert (tmp_path / "csat.db").exists()
    auth = {"authorization": "Bearer t0ken-for-the-tests-0123"}
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
