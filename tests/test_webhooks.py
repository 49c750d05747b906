"""Signed outbound webhooks against a real receiver (Starlette under uvicorn, on loopback) that
checks every signature and counts every id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import ConfigError
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.outbox import outbox_table
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import deliver, free_port, trigger

SECRET = "webhook-secret-0123456789abcdef"


@dataclass
class Receiver:
    """Checks the signature of every post the way the README tells receivers to."""

    url: str = ""
    fail_first: int = 0  # answer 500 to this many posts first
    delay: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        if "csat-webhook-timestamp" not in request.headers:
            return Response(status_code=400)  # the fixture's own "are you up?" post
        timestamp = request.headers["csat-webhook-timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
        given = request.headers["csat-webhook-signature"].removeprefix("v1=")
        if not hmac.compare_digest(expected.hexdigest(), given):
            self.bad_signatures += 1
            return Response(status_code=400)
        event = json.loads(body)
        assert event["id"] == request.headers["csat-webhook-id"]
        self.posts.append(event)
        if self.delay:
            await asyncio.sleep(self.delay)
        if len(self.posts) <= self.fail_first:
            return Response(status_code=500)
        return Response(status_code=204)

    def ids(self) -> list[str]:
        return [post["id"] for post in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    port = free_port()
    app = Starlette(routes=[Route("/hook", found.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{port}/hook"
    for _ in range(100):
        try:
            httpx.post(found.url, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield found
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def hooked(
    settings: Settings,
    db_engine: Engine,
    memory: MemoryChannel,
    clock: Clock,
    receiver: Receiver,
) -> Service:
    return Service(
        settings=settings.model_copy(
            update={"csat_webhook_urls": receiver.url, "csat_webhook_secret": SecretStr(SECRET)}
        ),
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory},
        clock=clock,
        rng=random.Random(3),
    )


def post_due(service: Service) -> Any:
    return asyncio.run(Sender(service).webhooks.deliver_due())


def waiting(engine: Engine) -> int:
    with Session(engine) as session:
        rows = session.execute(
            select(outbox_table.c.id).where(outbox_table.c.delivered_at.is_(None))
        ).all()
    return len(rows)


def test_each_event_is_signed_and_delivered_once(
    hooked: Service, receiver: Receiver, db_engine: Engine
) -> None:
    trigger(hooked, to="c1", interaction="T-1", agent="ann")
    deliver(hooked)
    hooked.handle_text("memory", "c1", "1")  # a low rating: the response and an alert
    hooked.handle_text("memory", "c1", "Nobody called back")  # its comment
    assert receiver.posts == [] and waiting(db_engine) == 3  # queued with the reply, not posted
    done = post_due(hooked)
    assert (done.delivered, done.retried, done.failed) == (3, 0, 0)
    assert receiver.bad_signatures == 0
    kinds = sorted(post["type"] for post in receiver.posts)
    assert kinds == ["alert.created", "response.created", "response.updated"]
    created = next(p for p in receiver.posts if p["type"] == "response.created")["data"]
    assert (created["interaction_id"], created["agent"], created["answers"][0]["value"]) == (
        "T-1",
        "ann",
        1,
    )
    updated = next(p for p in receiver.posts if p["type"] == "response.updated")["data"]
    assert updated["answers"][0]["comment"] == "Nobody called back"
    assert len(set(receiver.ids())) == 3
    assert post_due(hooked).delivered == 0 and waiting(db_engine) == 0  # never again


def test_a_failing_receiver_is_retried_with_back_off_until_it_takes_the_event(
    hooked: Service, receiver: Receiver, clock: Clock, db_engine: Engine
) -> None:
    receiver.fail_first = 2
    trigger(hooked, to="c2", interaction="T-2")
    deliver(hooked)
    hooked.handle_text("memory", "c2", "5")
    assert post_due(hooked).retried == 1
    assert post_due(hooked).retried == 0  # not due yet: 10 s back-off
    clock.advance(seconds=11)
    assert post_due(hooked).retried == 1
    clock.advance(seconds=15)
    assert post_due(hooked).retried == 0  # 20 s the second time
    clock.advance(seconds=10)
    assert post_due(hooked).delivered == 1
    assert len(receiver.posts) == 3 and len(set(receiver.ids())) == 1  # one id, three tries
    assert waiting(db_engine) == 0


def test_two_workers_post_each_event_once(
    hooked: Service, receiver: Receiver, settings: Settings, database_url: str
) -> None:
    from storage.db import make_engine

    for n in range(12):
        trigger(hooked, to=f"w{n}", interaction=f"T-w{n}")
    deliver(hooked)
    for n in range(12):
        hooked.handle_text("memory", f"w{n}", "4")
    receiver.delay = 0.05
    engine = make_engine(database_url)
    try:
        other = Service(
            settings=hooked.settings,
            store=SqlStore(engine),
            surveys=builtin_surveys(),
            channels={},
            clock=hooked.ctx.clock,
        )

        async def both() -> None:
            await asyncio.gather(
                Sender(hooked).webhooks.deliver_due(), Sender(other).webhooks.deliver_due()
            )

        asyncio.run(both())
    finally:
        engine.dispose()
    assert sorted(receiver.ids()) == sorted(set(receiver.ids()))
    assert len(receiver.ids()) == 12


def test_webhook_urls_without_a_secret_stop_start_up(settings: Settings) -> None:
    broken = settings.model_copy(update={"csat_webhook_urls": "https://hooks.example/csat"})
    with pytest.raises(ConfigError, match="CSAT_WEBHOOK_SECRET"):
        Service(settings=broken, store=None, surveys=builtin_surveys(), channels={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="http"):
        Settings(_env_file=None, csat_webhook_urls="ftp://x")  # type: ignore[call-arg]


def test_csat_serve_posts_the_events_of_a_link_answer(
    receiver: Receiver, database_url: str, tmp_path: Any
) -> None:
    """The wiring in a real process: the sender loop's own task posts what a reply queued."""
    import re

    from tests.helpers import start_serve

    env = {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_API_TOKEN": "webhook-serve-token-0123456789",
        "CSAT_SENDER_INTERVAL": "0.1",
        "CSAT_WEBHOOK_URLS": receiver.url,
        "CSAT_WEBHOOK_SECRET": SECRET,
    }
    base, process = start_serve(env, tmp_path)
    try:
        auth = {"Authorization": f"Bearer {env['CSAT_API_TOKEN']}"}
        made = httpx.post(
            f"{base}/v1/surveys",
            json={"channel": "link", "to": "v-1", "interaction_id": "W-1", "agent": "ann"},
            headers=auth,
        )
        path = made.json()["url"]
        for _ in range(200):
            page = httpx.get(f"{base}{path}")
            if 'name="value"' in page.text:
                break
            time.sleep(0.05)
        question = re.search(r'name="question" value="([^"]+)"', page.text)
        assert question is not None
        httpx.post(
            f"{base}{path}",
            data={"question": question.group(1), "value": "2"},
            headers={"origin": base},
        )
        deadline = time.monotonic() + 20
        while len(receiver.posts) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert sorted(p["type"] for p in receiver.posts) == ["alert.created", "response.created"]
    assert receiver.bad_signatures == 0
    assert "Traceback" not in output, output
