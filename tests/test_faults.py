"""Faults on purpose, against real processes: ``csat worker`` and ``csat serve`` run as child
processes on SQLite and PostgreSQL and talk to the fake Twilio API over loopback.

- A storm of 429s (Retry-After: 1) and then 500s, longer than any count of attempts would allow:
  every survey is sent exactly once after the recovery, within a minute of it.
- A slow provider (a second per send) with two workers and a short claim lease: no duplicates.
- ``kill -9`` of a worker mid-batch: every survey sent; at most the one in flight twice.
- ``kill -9`` of ``csat serve`` under a load of signed SMS replies, retried as Twilio retries:
  every reply recorded exactly once, and the SQLite file passes ``integrity_check``.
- ``kill -9`` of one of two workers while they count days into the rollups, with older rows
  changing meanwhile: every report still equals the raw rows, and the survivor finishes.

They take a minute or two; ``-m "not faults"`` leaves them out of a quick run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bot.app.assembly import build_service
from bot.requests import SurveyRequest
from bot.settings import Settings
from storage.db import is_sqlite, make_engine
from storage.models import Answer, InboundMessage, Invitation
from tests.conftest import TWILIO_ACCOUNT as ACCOUNT
from tests.conftest import TWILIO_TOKEN as TOKEN
from tests.fakes.twilio_api import FakeTwilio
from tests.helpers import start_serve

pytestmark = pytest.mark.faults

PUBLIC = "https://csat.example.com"
FROM = "+3197010000000"
API_TOKEN = "fault-suite-token-0123456789abcdef"


def number(i: int) -> str:
    return f"+3161{i:07d}"


@pytest.fixture
def env(database_url: str, twilio: FakeTwilio) -> dict[str, str]:
    return {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_API_TOKEN": API_TOKEN,
        "CSAT_PUBLIC_URL": PUBLIC,
        "CSAT_QUIET_START": "00:00",
        "CSAT_QUIET_END": "24:00",
        "CSAT_SENDER_INTERVAL": "0.2",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": FROM,
        "TWILIO_API_URL": twilio.url,
    }


def trigger(env: dict[str, str], count: int) -> None:
    """Schedule ``count`` SMS surveys, due now, through the service as the API would."""
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in env.items()})  # type: ignore[call-arg]
    service = build_service(settings)
    try:
        service.start_surveys(
            [
                SurveyRequest(channel="sms", to=number(i), interaction_id=f"F-{i}")
                for i in range(count)
            ]
        )
    finally:
        service.store.engine.dispose()


Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Starts ``csat <args>`` with ``env``; every process still running is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CSAT_", "SLACK_", "TWILIO_", "TELEGRAM_"))
        }
        log = (tmp_path / f"process-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=tmp_path,
            env={**inherited, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    """Polls ``condition`` until it holds; returns how long that took (fails past ``seconds``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - start


def statuses(database_url: str) -> Counter[str]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(Invitation.status, func.count()).group_by(Invitation.status)  # type: ignore[arg-type]
            )
            return Counter({str(status): int(n) for status, n in rows})
    finally:
        engine.dispose()


def test_a_storm_of_429s_then_500s_loses_no_survey_and_sends_none_twice(
    env: dict[str, str], twilio: FakeTwilio, spawn: Spawn, database_url: str
) -> None:
    count = 60
    trigger(env, count)
    # 12 s of "429, Retry-After: 1" alone is more tries than the old budget of eight allowed.
    recovered = twilio.storm((12, 429, 1), (8, 500, None))
    spawn(env, "worker", "--interval", "0.2")
    wait_for(lambda: time.monotonic() >= recovered, 60)
    assert twilio.created == [], "nothing gets through during the storm"
    tried = len(twilio.received)
    drained = wait_for(lambda: len(twilio.created) >= count, 60)
    print(f"storm: {tried} refused tries, backlog of {count} sent {drained:.1f} s after recovery")
    wait_for(lambda: statuses(database_url)["sent"] == count, 10)
    assert Counter(m["To"] for m in twilio.created) == {number(i): 1 for i in range(count)}
    assert statuses(database_url) == {"sent": count}
    assert tried < 200, "a paused channel is probed, not hammered by every due survey"


def test_a_slow_provider_with_two_workers_sends_nothing_twice(
    env: dict[str, str], twilio: FakeTwilio, spawn: Spawn, database_url: str
) -> None:
    count = 12
    trigger(env, count)
    twilio.delay = 1.0  # each send takes a second: one worker's batch outlasts the lease twice
    slow = {**env, "CSAT_CLAIM_LEASE": "5"}
    spawn(slow, "worker", "--interval", "0.2")
    spawn(slow, "worker", "--interval", "0.2")
    took = wait_for(lambda: statuses(database_url)["sent"] == count, 90)
    time.sleep(2 * float(slow["CSAT_CLAIM_LEASE"]))  # time for a wrong re-claim to show
    print(f"slow provider: {count} surveys in {took:.1f} s, {len(twilio.created)} messages")
    assert Counter(m["To"] for m in twilio.created) == {number(i): 1 for i in range(count)}


@pytest.mark.parametrize("in_flight", [1, 8])
def test_kill_9_of_a_worker_mid_batch_resends_at_most_the_messages_in_flight(
    env: dict[str, str], twilio: FakeTwilio, spawn: Spawn, database_url: str, in_flight: int
) -> None:
    count = 20
    trigger(env, count)
    twilio.delay = 0.3
    short = {**env, "CSAT_CLAIM_LEASE": "5", "CSAT_SEND_IN_FLIGHT": str(in_flight)}
    first = spawn(short, "worker", "--interval", "0.2")
    wait_for(lambda: len(twilio.received) >= 6, 60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    spawn(short, "worker", "--interval", "0.2")
    took = wait_for(lambda: statuses(database_url)["sent"] == count, 60)
    sends = Counter(m["To"] for m in twilio.created)
    twice = [to for to, n in sends.items() if n > 1]
    print(f"kill -9 worker: {count} sent in {took:.1f} s after the kill, twice: {twice}")
    assert set(sends) == {number(i) for i in range(count)}
    assert len(twice) <= in_flight and all(sends[to] == 2 for to in twice)


def test_kill_9_of_serve_under_signed_replies_records_each_exactly_once(
    env: dict[str, str], twilio: FakeTwilio, tmp_path: Path, database_url: str
) -> None:
    count = 300
    base, process = serve(env, tmp_path)
    try:
        surveys = [
            {"channel": "sms", "to": number(i), "interaction_id": f"K-{i}"} for i in range(count)
        ]
        auth = {"authorization": f"Bearer {API_TOKEN}"}
        created = httpx.post(f"{base}/v1/surveys", json=surveys, headers=auth, timeout=60)
        assert created.status_code == 201, created.text
        wait_for(lambda: len(twilio.created) >= count, 60)
        signer = RequestValidator(TOKEN)

        def reply(i: int) -> tuple[dict[str, str], dict[str, str]]:
            form = {"MessageSid": f"SM{i:032x}", "From": number(i), "To": FROM}
            form |= {"Body": str(1 + i % 5), "AccountSid": ACCOUNT, "NumMedia": "0"}
            signature = signer.compute_signature(PUBLIC + "/sms/inbound", form)
            return form, {"X-Twilio-Signature": signature}

        replies = [reply(i) for i in range(count)]
        answered: dict[int, str] = {}

        async def post_all(url: str, todo: list[int], kill_after: int | None) -> None:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in todo:
                queue.put_nowait(i)

            async def customer(client: httpx.AsyncClient) -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    form, headers = replies[i]
                    try:
                        answer = await client.post("/sms/inbound", data=form, headers=headers)
                    except httpx.TransportError:
                        continue  # Twilio retries a webhook that got no answer
                    if answer.status_code == 200:
                        answered[i] = answer.text
                    landed = kill_after is not None and len(answered) >= kill_after
                    if landed and process.poll() is None:
                        process.send_signal(signal.SIGKILL)

            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                await asyncio.gather(*(customer(client) for _ in range(10)))

        asyncio.run(post_all(base, list(range(count)), kill_after=count // 3))
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        assert count // 3 <= len(answered) < count, "the kill landed mid-load"
        if is_sqlite(database_url):
            integrity(database_url)
        base, process = serve(env, tmp_path)
        # Twilio retries what got no 200, and some of what did (a lost answer looks the same).
        retry = [i for i in range(count) if i not in answered] + list(answered)[:20]
        before = dict(answered)
        asyncio.run(post_all(base, retry, kill_after=None))
        assert len(answered) == count
        assert all(answered[i] == text for i, text in before.items()), "a retry is answered alike"
        print(
            f"kill -9 serve: {len(before)} of {count} replies answered before the kill, "
            f"{len(retry)} posted again after the restart"
        )
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=20)
        while readers:
            readers.pop().join(timeout=10)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            inbound = Counter(session.scalars(select(InboundMessage.provider_message_id)))  # type: ignore[call-overload]
            answers = session.scalar(
                select(func.count()).select_from(Answer).where(Answer.question_id == "csat")  # type: ignore[arg-type]
            )
            if not is_sqlite(database_url):
                assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    assert inbound == {f"SM{i:032x}": 1 for i in range(count)}
    assert answers == count
    if is_sqlite(database_url):
        integrity(database_url)


def serve(env: dict[str, str], cwd: Path) -> tuple[str, subprocess.Popen[str]]:
    """``csat serve`` with its output read away (a full pipe would stall it) and closed at EOF."""
    base, process = start_serve(env, cwd)
    output = process.stdout
    assert output is not None

    def drain() -> None:
        with output:
            for _ in output:
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    readers.append(reader)
    return base, process


readers: list[threading.Thread] = []


def integrity(database_url: str) -> None:
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_kill_9_while_two_workers_count_days_leaves_reports_equal_to_the_raw_rows(
    env: dict[str, str], spawn: Spawn, database_url: str
) -> None:
    import random
    from datetime import timedelta

    from sqlalchemy import update

    from storage import rollup
    from storage.sql_store import SqlStore
    from tests.test_rollup import _check_all, _marks, _seed

    zone = "Europe/Amsterdam"
    engine = make_engine(database_url)
    try:
        _seed(engine, random.Random(11), 3000, oldest=timedelta(days=200))
        store = SqlStore(engine)
        timed = {**env, "CSAT_TIMEZONE": zone}
        first = spawn(timed, "worker", "--interval", "0.2")
        spawn(timed, "worker", "--interval", "0.2")

        def counted() -> int:
            with engine.connect() as connection:
                days = connection.execute(select(func.count()).select_from(rollup.day_table))
                return int(days.scalar_one())

        wait_for(lambda: counted() >= 20, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        with engine.begin() as connection:  # older rows change while the survivor counts
            connection.execute(
                update(Invitation)
                .where(Invitation.id % 7 == 0)  # type: ignore[operator]
                .values(delivery_status="undelivered")
            )
            connection.execute(update(Answer).where(Answer.id % 5 == 0).values(value=1))  # type: ignore[operator]
        took = wait_for(lambda: counted() >= 195 and _marks(engine, zone) == 0, 120)
        print(f"kill -9 while counting: the survivor caught up {took:.1f} s after the kill")
        _check_all(store, zone, expect_rollups=True)
    finally:
        engine.dispose()
