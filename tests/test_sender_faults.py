"""The sender under faults, in one process with a controlled clock: a storm of 429s uses up
nothing, giving up is by time, a failing channel pauses without touching the rest of the batch, a
slow provider never loses a worker its claim, and a pass that fails never ends the loop."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.channel import OutboundMessage, SendResult
from bot.errors import TransientSendError
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.db import make_engine, upgrade
from storage.models import Invitation
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import deliver, trigger


def _rows(service: Service) -> list[Invitation]:
    with Session(service.store.engine) as session:
        return list(session.scalars(select(Invitation).order_by(Invitation.id)))  # type: ignore[arg-type]


def test_a_long_storm_of_429s_uses_up_nothing(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    for _ in range(120):  # two minutes of "Retry-After: 1", far past any count of attempts
        memory.fail_next(TransientSendError("Too Many Requests", code="429", retry_after=1))
        assert deliver(service).retried == 1
        row = _rows(service)[0]
        assert row.status == "scheduled"
        assert row.send_at == clock.now + timedelta(seconds=1), "the back-off follows Retry-After"
        clock.advance(seconds=1)
    assert deliver(service).sent == 1
    row = _rows(service)[0]
    assert (row.status, row.attempts, row.last_error, row.retry_until) == ("sent", 121, None, None)


def test_a_survey_is_given_up_by_time_since_its_first_failure(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    first_failure = clock.now
    while clock.now < first_failure + timedelta(hours=24):
        memory.fail_next(TransientSendError("Service Unavailable", code="503"))
        assert deliver(service).retried == 1
        assert _rows(service)[0].status == "scheduled"
        clock.advance(minutes=30)
    memory.fail_next(TransientSendError("Service Unavailable", code="503"))
    assert deliver(service).failed == 1
    row = _rows(service)[0]
    assert (row.status, row.reason) == ("failed", "gave up after retries")
    assert row.last_error == "503: Service Unavailable"
    assert memory.outbox == []


def test_the_retry_window_is_a_setting(
    settings: Settings, db_engine: Engine, memory: MemoryChannel, clock: Clock
) -> None:
    quick = settings.model_copy(update={"csat_send_retry_for": "1h"})
    service = Service(
        settings=quick,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory},
        clock=clock,
        rng=random.Random(1),
    )
    trigger(service)
    memory.fail_next(TransientSendError("down", code="503"))
    deliver(service)
    clock.advance(minutes=61)
    memory.fail_next(TransientSendError("down", code="503"))
    assert deliver(service).failed == 1


def test_a_failing_channel_pauses_and_leaves_the_rest_of_the_batch_untried(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    sender = Sender(service)  # one worker, pass after pass
    for n in range(5):
        trigger(service, to=f"c{n}", interaction=f"T-{n}")
    memory.fail_next(TransientSendError("Too Many Requests", code="429", retry_after=10))
    report = asyncio.run(sender.run_once())
    assert (report.claimed, report.retried, report.paused, report.sent) == (5, 1, 4, 0)
    rows = _rows(service)
    assert [r.attempts for r in rows] == [1, 0, 0, 0, 0]
    assert all(r.claim_token is None and r.status == "scheduled" for r in rows)
    clock.advance(seconds=5)
    assert asyncio.run(sender.run_once()).claimed == 0, "paused for the Retry-After"
    clock.advance(seconds=5)
    assert asyncio.run(sender.run_once()).sent == 5
    assert sorted(s.address for s in memory.outbox) == [f"c{n}" for n in range(5)]


def test_without_retry_after_the_pause_doubles_up_to_fifteen_seconds(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    sender = Sender(service)
    trigger(service)
    waits = []
    for _ in range(8):
        memory.fail_next(TransientSendError("Internal Server Error", code="500"))
        start = clock.now
        asyncio.run(sender.run_once())
        waits.append((_rows(service)[0].send_at - start).total_seconds())
        clock.now = _rows(service)[0].send_at
    assert waits == [1, 2, 4, 8, 15, 15, 15, 15]
    assert asyncio.run(sender.run_once()).sent == 1, "sent as soon as the provider recovers"


@dataclass
class SlowProvider(MemoryChannel):
    """Each send takes a simulated minute; on the third, a rival worker makes its own pass."""

    clock: Clock | None = None
    rival: Sender | None = None
    log: list[str] = field(default_factory=list)

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        assert self.clock is not None
        self.clock.advance(minutes=1)
        self.log.append(address)
        if len(self.log) == 3 and self.rival is not None:
            rival, self.rival = self.rival, None
            await rival.run_once()
        return SendResult(provider_message_id=f"p-{len(self.log)}")


def _two_workers(
    settings: Settings, database_url: str, clock: Clock, channel: MemoryChannel
) -> tuple[list[Engine], list[Service]]:
    """Two workers' services, each on its own engine (as two processes), sharing one channel."""
    engines = [make_engine(database_url) for _ in range(2)]
    services = [
        Service(
            settings=settings,
            store=SqlStore(engine),
            surveys=builtin_surveys(),
            channels={"memory": channel},
            clock=clock,
            rng=random.Random(n),
        )
        for n, engine in enumerate(engines)
    ]
    return engines, services


def test_a_slow_provider_never_costs_a_live_worker_its_claim(
    settings: Settings, database_url: str, clock: Clock
) -> None:
    slow = SlowProvider(clock=clock)
    engines, services = _two_workers(settings, database_url, clock, slow)
    try:
        for n in range(6):
            trigger(services[0], to=f"c{n}", interaction=f"T-{n}")
        slow.rival = Sender(services[1])
        # Six sends of a minute each: the batch outlasts the two-minute lease three times over.
        report = asyncio.run(Sender(services[0]).run_once())
        assert Counter(slow.log) == {f"c{n}": 1 for n in range(6)}
        assert report.sent == 6
        assert all(r.status == "sent" for r in _rows(services[0]))
    finally:
        for engine in engines:
            engine.dispose()


@dataclass
class StalledProvider(MemoryChannel):
    """The first send stalls past the whole lease; meanwhile a rival worker claims the batch's
    expired rows and sends them. Every later send is instant."""

    clock: Clock | None = None
    rival: Sender | None = None
    log: list[str] = field(default_factory=list)

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        assert self.clock is not None
        self.log.append(address)
        if self.rival is not None:
            rival, self.rival = self.rival, None
            self.clock.advance(minutes=3)  # the lease is two minutes
            await rival.run_once()
        return SendResult(provider_message_id=f"p-{len(self.log)}")


@pytest.mark.parametrize("in_flight", [1, 8])
def test_rows_taken_after_a_lease_ran_out_are_never_sent_again(
    settings: Settings, database_url: str, clock: Clock, in_flight: int
) -> None:
    """Only the send that outlasted the lease can go out twice (the rival cannot know it is in
    flight); every other row of the batch belongs to the rival once its lease ran out, and the
    renewal before the next send tells this worker which rows it still holds."""
    stalled = StalledProvider(clock=clock)
    engines, services = _two_workers(settings, database_url, clock, stalled)
    try:
        for n in range(6):
            trigger(services[0], to=f"c{n}", interaction=f"S-{n}")
        stalled.rival = Sender(services[1])
        report = asyncio.run(Sender(services[0], in_flight=in_flight).run_once())
        sends = Counter(stalled.log)
        first = stalled.log[0]
        assert sends[first] == 2, "the stalled send, and the rival's"
        assert {a: n for a, n in sends.items() if a != first} == {
            f"c{n}": 1 for n in range(6) if f"c{n}" != first
        }
        assert report.sent == 1 and report.lost == 5
        assert all(r.status == "sent" for r in _rows(services[0]))
    finally:
        for engine in engines:
            engine.dispose()


@dataclass
class CountingProvider(MemoryChannel):
    """Notes how many sends are in flight as each one begins; the ``fail_at``-th fails for now."""

    fail_at: int = 0
    flying: int = 0
    seen: list[int] = field(default_factory=list)

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        self.flying += 1
        self.seen.append(self.flying)
        number = len(self.seen)
        try:
            await asyncio.sleep(0.005)
            if number == self.fail_at:
                raise TransientSendError("busy", code="503")
            return SendResult(provider_message_id=f"p-{len(self.seen)}")
        finally:
            self.flying -= 1


def test_sends_overlap_after_a_lone_probe_and_a_failure_stops_the_rest(
    settings: Settings, database_url: str, clock: Clock
) -> None:
    provider = CountingProvider()
    engine = make_engine(database_url)
    service = Service(
        settings=settings,
        store=SqlStore(engine),
        surveys=builtin_surveys(),
        channels={"memory": provider},
        clock=clock,
        rng=random.Random(5),
    )
    try:
        for n in range(40):
            trigger(service, to=f"o{n}", interaction=f"O-{n}")
        sender = Sender(service, batch=20, in_flight=4)
        report = asyncio.run(sender.run_once())
        assert report.sent == 20
        assert provider.seen[:2] == [1, 1], "alone until the first success"
        assert max(provider.seen) == 4, "never more than the window"
        provider.seen.clear()
        provider.fail_at = 6
        report = asyncio.run(sender.run_once())
        # The window is still four wide: the failure lands with others in flight, which finish;
        # nothing starts after it, and the rest of the batch stays due, untried.
        assert len(provider.seen) < 10 and report.retried == 1
        assert report.sent == len(provider.seen) - 1
        assert report.paused == 20 - len(provider.seen)
        clock.advance(seconds=2)
        provider.seen.clear()
        asyncio.run(sender.run_once())
        assert provider.seen[:2] == [1, 1], "after a failure the channel is probed alone"
    finally:
        engine.dispose()


def test_a_pass_that_fails_never_ends_the_loop(
    tmp_path: Path, settings: Settings, memory: MemoryChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """The database has no tables yet, so the first passes fail; once it is migrated the loop,
    still running, sends the survey."""
    url = f"sqlite:///{tmp_path / 'late.db'}"
    engine = make_engine(url)
    service = Service(
        settings=settings.model_copy(update={"csat_database_url": url}),
        store=SqlStore(engine),
        surveys=builtin_surveys(),
        channels={"memory": memory},
        rng=random.Random(3),
    )
    sender = Sender(service)
    failed = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "sender pass failed" in record.getMessage():
                failed.set()

    watch = Watch()
    logging.getLogger("csat.sender").addHandler(watch)

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(sender.run_forever(stop, 0.05))
        assert await asyncio.to_thread(failed.wait, 10), "the first pass should have failed"
        await asyncio.to_thread(upgrade, url)
        await asyncio.to_thread(trigger, service)
        for _ in range(400):
            if memory.outbox or loop.done():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, 10)

    try:
        with caplog.at_level(logging.ERROR, logger="csat.sender"):
            asyncio.run(scenario())
    finally:
        logging.getLogger("csat.sender").removeHandler(watch)
        engine.dispose()
    assert [s.address for s in memory.outbox] == ["cust-1"]
    assert sender.metrics.sender_errors._value.get() >= 1
