"""Scheduled digests: due at the team's local time, sent once across processes, caught up."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.digest import Digests, Schedule
from bot.errors import ConfigError
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.models import Digest
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import deliver, trigger

ZONE = "Europe/Amsterdam"


class Inbox:
    """A digest sink that keeps what it was given."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, bytes, str]] = []

    async def post_digest(self, text: str, chart: bytes, title: str) -> None:
        self.posted.append((text, chart, title))


def test_schedules_parse_and_fall_at_local_time_across_dst() -> None:
    daily = Schedule.parse("daily 09:00")
    assert (daily.weekly, daily.at) == (False, time(9, 0))
    weekly = Schedule.parse(" Weekly  MON 08:30 ")
    assert (weekly.weekly, weekly.weekday, weekly.key) == (True, 0, "weekly mon 08:30")
    for bad in ("hourly", "daily 9:00", "weekly funday 09:00", "daily 24:00"):
        with pytest.raises(ConfigError, match="CSAT_DIGEST"):
            Schedule.parse(bad)
    # 09:00 in Amsterdam is 08:00 UTC in winter and 07:00 UTC in summer (DST began on 30 March).
    due = daily.due(
        datetime(2025, 3, 31, 7, 30, tzinfo=UTC), ZONE, datetime(2025, 3, 29, 7, 59, tzinfo=UTC)
    )
    assert [p.label for p in due] == ["2025-03-28", "2025-03-29", "2025-03-30"]
    assert due[-1].end - due[-1].start == datetime(2025, 3, 30, 22, tzinfo=UTC) - datetime(
        2025, 3, 29, 23, tzinfo=UTC
    )  # the 23-hour day
    week = weekly.due(
        datetime(2025, 6, 9, 7, tzinfo=UTC), ZONE, datetime(2025, 6, 8, 7, tzinfo=UTC)
    )
    assert [p.label for p in week] == ["2025-06-02..2025-06-08"]


def test_the_setting_is_checked_at_start_up() -> None:
    with pytest.raises(ValueError, match="daily HH:MM"):
        Settings(csat_digest="every morning", _env_file=None)  # type: ignore[call-arg]


def _service(settings: Settings, engine: Engine, clock: Clock) -> Service:
    from sqlalchemy import delete

    with Session(engine) as session:  # PostgreSQL's test database is shared between tests
        session.exec(delete(Digest))  # type: ignore[call-overload]
        session.commit()
    return Service(
        settings=settings.model_copy(update={"csat_timezone": ZONE, "csat_digest": "daily 09:00"}),
        store=SqlStore(engine),
        surveys=builtin_surveys(),
        channels={"memory": MemoryChannel()},
        clock=clock,
        rng=random.Random(9),
    )


def _answer(service: Service, n: int, rating: str, agent: str, comment: str | None = None) -> None:
    trigger(service, to=f"d{n}", interaction=f"D-{n}", agent=agent)
    deliver(service)
    service.handle_text("memory", f"d{n}", rating)
    if comment:
        service.handle_text("memory", f"d{n}", comment)


def test_one_digest_per_period_however_many_processes_look(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    clock.now = datetime(2025, 6, 9, 12, tzinfo=UTC)
    service = _service(settings, db_engine, clock)
    for n in range(31):
        _answer(service, n, "5" if n % 3 else "4", "alice")
    for n in range(31, 62):
        _answer(service, n, "2" if n % 2 else "4", "bob")
    _answer(service, 99, "1", "bob", "Nobody called me back")
    clock.now = datetime(2025, 6, 10, 7, 5, tzinfo=UTC)  # 09:05 in Amsterdam

    inboxes = [Inbox(), Inbox(), Inbox()]
    workers = [Digests(service.ctx, [inbox]) for inbox in inboxes]

    async def everyone() -> list[int]:
        return list(await asyncio.gather(*(w.run_due() for w in workers)))

    assert sorted(asyncio.run(everyone())) == [0, 0, 1]
    posted = [p for inbox in inboxes for p in inbox.posted]
    assert len(posted) == 1
    text, chart, title = posted[0]
    assert text.startswith("CSAT digest 2025-06-09 (Europe/Amsterdam)")
    assert "CSAT" in text and "[" in text  # the score with its interval
    assert "Weakest by agent: bob" in text  # bob has enough answers and the lower score
    assert "1/5 bob: Nobody called me back" in text
    assert "Follow-up: 0/17 alerts claimed" in text  # sixteen 2s and one 1, nobody on them
    assert chart.startswith(b"\x89PNG") and title.startswith("CSAT 2025-05-27..2025-06-09 by day")
    with Session(db_engine) as session:
        rows = session.exec(select(Digest)).all()
    assert len(rows) == 1 and rows[0].sent_at is not None
    # Later passes the same day find nothing new to send.
    assert asyncio.run(everyone()) == [0, 0, 0]


def test_missed_digests_are_caught_up_and_a_new_install_sends_only_the_latest(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    clock.now = datetime(2025, 6, 10, 7, 5, tzinfo=UTC)
    service = _service(settings, db_engine, clock)
    first = Inbox()
    assert asyncio.run(Digests(service.ctx, [first]).run_due()) == 1
    assert [t.split("\n")[0] for t, _, _ in first.posted] == [
        "CSAT digest 2025-06-09 (Europe/Amsterdam)"
    ]
    clock.now = datetime(2025, 6, 13, 10, tzinfo=UTC)  # down for three mornings
    later = Inbox()
    assert asyncio.run(Digests(service.ctx, [later]).run_due()) == 3
    assert [t.split("\n")[0][12:22] for t, _, _ in later.posted] == [
        "2025-06-10",
        "2025-06-11",
        "2025-06-12",
    ]


def test_a_claim_left_by_a_dead_process_is_taken_when_its_lease_runs_out(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    clock.now = datetime(2025, 6, 10, 7, 5, tzinfo=UTC)
    service = _service(settings, db_engine, clock)
    store = service.store
    schedule = Schedule.parse("daily 09:00")
    period = schedule.due(clock.now, ZONE, datetime(2025, 6, 10, 6, tzinfo=UTC))[0]
    lease = datetime(2025, 6, 10, 7, 15, tzinfo=UTC)
    assert store.claim_digest(schedule.key, period.start, clock.now, lease) is not None  # dies
    inbox = Inbox()
    live = Digests(service.ctx, [inbox])  # a process that keeps running
    assert asyncio.run(live.run_due()) == 0  # held by the dead one
    clock.now = datetime(2025, 6, 10, 7, 14, tzinfo=UTC)
    assert asyncio.run(live.run_due()) == 0  # its lease still holds
    clock.now = datetime(2025, 6, 10, 7, 20, tzinfo=UTC)
    assert asyncio.run(live.run_due()) == 1, "taken over without a restart"
    assert len(inbox.posted) == 1
    clock.now = datetime(2025, 6, 10, 7, 40, tzinfo=UTC)
    assert asyncio.run(live.run_due()) == 0 and len(inbox.posted) == 1
    restarted = Digests(service.ctx, [inbox])
    assert asyncio.run(restarted.run_due()) == 0 and len(inbox.posted) == 1
