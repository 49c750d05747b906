"""Fixtures: a real database (SQLite always, PostgreSQL when CSAT_TEST_DATABASE_URL is set), a
controllable clock, and the service wired to in-memory and console channels."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage.db import make_engine, upgrade
from storage.sql_store import SqlStore
from tests.fakes.twilio_api import FakeTwilio

PG_URL = os.environ.get("CSAT_TEST_DATABASE_URL")
TABLES = (
    "inbound_message",
    "answer",
    "invitation",
    "suppression",
    "respondent",
    "csat_setting",
    "slack_installations",
    "slack_bots",
    "slack_oauth_states",
    "alert_post",
    "alert",
    "rollup_state",
    "rollup_day",
    "rollup_day_answer",
    "rollup_day_sent",
    "rollup_month",
    "rollup_month_answer",
    "rollup_month_sent",
    "rollup_mark",
    "webhook_outbox",
)
_migrated: set[str] = set()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skips once per reason with a count, instead of a line per skipped case."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped", sep="-")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count} skipped: {reason}")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def _database_params() -> list[object]:
    pg = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not PG_URL,
            reason="PostgreSQL half: set CSAT_TEST_DATABASE_URL=postgresql://... to run it",
        ),
    )
    return ["sqlite", pg]


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'csat.db'}"
        upgrade(url)
        yield url
        return
    assert PG_URL is not None
    if PG_URL not in _migrated:
        engine = make_engine(PG_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(PG_URL)
        _migrated.add(PG_URL)
    engine = make_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield PG_URL


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 6, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        csat_database_url=database_url,
        csat_api_token="test-token-0123456789",
        csat_leads="memory:lead-1,console:boss",
        csat_brand="Acme",
        csat_timezone="Europe/Amsterdam",
    )


@pytest.fixture
def memory() -> MemoryChannel:
    return MemoryChannel()


@pytest.fixture
def service(settings: Settings, db_engine: Engine, memory: MemoryChannel, clock: Clock) -> Service:
    return Service(
        settings=settings,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory},
        clock=clock,
        rng=random.Random(7),
    )


# The Twilio account the SMS tests sign with and the fake Twilio API checks.
TWILIO_ACCOUNT = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-for-tests"


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_ACCOUNT, TWILIO_TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio(fake_twilio: FakeTwilio) -> Iterator[FakeTwilio]:
    fake_twilio.reset()
    yield fake_twilio
    assert fake_twilio.problems == [], "requests the real Twilio API would refuse"
