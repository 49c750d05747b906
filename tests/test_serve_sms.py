"""``csat serve --workers 2`` with the SMS channel: two processes on one SQLite file, many
customers answering at once, some twice (provider retries); every answer is recorded once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.conftest import TWILIO_ACCOUNT as ACCOUNT
from tests.conftest import TWILIO_TOKEN as TOKEN
from tests.fakes.twilio_api import FakeTwilio
from tests.helpers import start_serve

PUBLIC = "https://csat.example.com"
CUSTOMERS = 60


@pytest.fixture
def served(tmp_path: Path, twilio: FakeTwilio) -> Iterator[tuple[str, Path]]:
    database = tmp_path / "csat.db"
    env = {
        "CSAT_DATABASE_URL": f"sqlite:///{database}",
        "CSAT_API_TOKEN": "t0ken-for-the-tests-0123",
        "CSAT_SENDER_INTERVAL": "0.2",
        "CSAT_PUBLIC_URL": PUBLIC,
        "CSAT_QUIET_START": "00:00",
        "CSAT_QUIET_END": "24:00",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+3197010000000",
        "TWILIO_API_URL": twilio.url,
    }
    base, process = start_serve(env, tmp_path, "--workers", "2")
    yield base, database
    process.terminate()
    process.wait(timeout=20)
    if process.stdout is not None:
        process.stdout.close()


def _number(i: int) -> str:
    return f"+3161{i:07d}"


def test_two_workers_record_every_reply_once_and_answer_retries_the_same(
    served: tuple[str, Path], twilio: FakeTwilio
) -> None:
    base, database = served
    surveys = [
        {"channel": "sms", "to": _number(i), "interaction_id": f"S-{i}", "agent": "alice"}
        for i in range(CUSTOMERS)
    ]
    auth = {"authorization": "Bearer t0ken-for-the-tests-0123"}
    assert httpx.post(f"{base}/v1/surveys", json=surveys, headers=auth).status_code == 201
    deadline = time.monotonic() + 30
    while len(twilio.messages) < CUSTOMERS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(twilio.messages) == CUSTOMERS, "the sender loops sent each survey once"

    signer = RequestValidator(TOKEN)

    def signed(i: int) -> tuple[dict[str, str], dict[str, str]]:
        sid = f"SM{i:032x}"
        form = {"MessageSid": sid, "From": _number(i), "To": "+3197010000000"}
        form |= {"Body": f"{1 + i % 5}", "AccountSid": ACCOUNT, "NumMedia": "0"}
        signature = signer.compute_signature(PUBLIC + "/sms/inbound", form)
        return form, {"X-Twilio-Signature": signature}

    replies = [signed(i) for i in range(CUSTOMERS)]
    retries = replies[::3]

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            first = await asyncio.gather(
                *(client.post("/sms/inbound", data=f, headers=h) for f, h in replies)
            )
            again = await asyncio.gather(
                *(client.post("/sms/inbound", data=f, headers=h) for f, h in retries)
            )
            return [*first, *again]

    responses = asyncio.run(send_all())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses][:3]
    first, again = responses[:CUSTOMERS], responses[CUSTOMERS:]
    assert all("<Message>" in r.text for r in first)
    assert [r.text for r in again] == [r.text for r in first[::3]]
    with sqlite3.connect(database) as conn:
        answers = conn.execute(
            "SELECT value, count(*) FROM answer WHERE question_id = 'csat' GROUP BY value"
        ).fetchall()
        inbound = conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0]
    assert dict(answers) == {v: CUSTOMERS // 5 for v in range(1, 6)}
    assert inbound == CUSTOMERS
    scores = httpx.get(f"{base}/v1/scores", headers=auth).json()
    assert scores["overall"]["responses"] == CUSTOMERS
