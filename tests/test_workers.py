"""Sender workers racing on one database, and the schema against the models."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select
from sqlmodel import Session, SQLModel

from bot.channel import OutboundMessage, SendResult
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.db import make_engine
from storage.models import Invitation
from storage.sql_store import SqlStore
from tests.conftest import Clock


@dataclass
class SlowChannel(MemoryChannel):
    """Yields to the loop on every send so two workers' passes interleave."""

    log: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        await asyncio.sleep(0.001)
        with self.lock:
            self.log.append(address)
        return SendResult(provider_message_id=f"{address}-{len(self.log)}")


def test_two_workers_never_send_one_invitation_twice(
    settings: Settings, database_url: str, clock: Clock
) -> None:
    shared = SlowChannel()
    engines: list[Engine] = [make_engine(database_url) for _ in range(2)]
    services = [
        Service(
            settings=settings,
            store=SqlStore(engine),
            surveys=builtin_surveys(),
            channels={"memory": shared},
            clock=clock,
            rng=random.Random(n),
        )
        for n, engine in enumerate(engines)
    ]
    total = 120
    services[0].start_surveys(
        [SurveyRequest(channel="memory", to=f"c{n}", interaction_id=f"T-{n}") for n in range(total)]
    )
    barrier = threading.Barrier(2)
    sent_by: list[int] = [0, 0]

    def work(index: int) -> None:
        sender = Sender(services[index], batch=7)
        barrier.wait()
        while True:
            report = asyncio.run(sender.run_once())
            sent_by[index] += report.sent
            if report.claimed == 0:
                break

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        duplicates = [a for a, count in Counter(shared.log).items() if count > 1]
        assert duplicates == []
        assert len(shared.log) == total == sum(sent_by)
        assert all(sent_by), f"one worker did everything: {sent_by}"
        with Session(engines[0]) as session:
            statuses = session.scalar(
                select(func.count()).select_from(Invitation).where(Invitation.status == "sent")  # type: ignore[arg-type]
            )
        assert statuses == total
    finally:
        for engine in engines:
            engine.dispose()


def test_migrations_match_the_models(db_engine: Engine) -> None:
    from channels.slack_install import slack_metadata
    from storage.outbox import metadata as outbox_metadata
    from storage.rollup import metadata as rollup_metadata

    metadata = [SQLModel.metadata, slack_metadata(), rollup_metadata, outbox_metadata]
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        differences = compare_metadata(context, metadata)  # type: ignore[arg-type]
        if connection.dialect.name == "sqlite":
            indexes = {i["name"] for i in inspect(connection).get_indexes("answer")}
            assert "ix_answer_buckets" in indexes
    assert differences == []


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, other: object
) -> bool:
    """The SQLite-only score index is made by its migration, not declared on the model."""
    return not (type_ == "index" and name == "ix_answer_buckets")
