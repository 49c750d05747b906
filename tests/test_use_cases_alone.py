"""Each use case is built from a context and a store alone, and works without the others."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import Engine

from bot.context import ServiceContext
from bot.conversations import Conversations
from bot.optouts import OptOuts
from bot.privacy import Privacy
from bot.reports import Reports
from bot.requests import SurveyRequest
from bot.results import Outcome
from bot.sender import Sender
from bot.settings import Settings
from bot.surveys import builtin_surveys
from bot.triggering import Triggering
from channels.memory import MemoryChannel
from storage.sql_store import SqlStore
from storage.values import Status
from tests.conftest import Clock


def _context(settings: Settings, engine: Engine, clock: Clock) -> ServiceContext:
    return ServiceContext(
        settings=settings,
        store=SqlStore(engine),
        surveys=builtin_surveys(),
        channels={"memory": MemoryChannel()},
        clock=clock,
        rng=random.Random(3),
    )


def test_triggering_alone_schedules_and_cancels(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    triggering = Triggering(_context(settings, db_engine, clock))
    request = SurveyRequest(channel="memory", to="alone-1", interaction_id="ALONE-1")
    first = triggering.start_survey(request)
    assert first.status == Status.SCHEDULED and not first.duplicate
    assert triggering.start_survey(request).duplicate
    assert triggering.cancel("ALONE-1") == 1


def test_opt_out_alone_suppresses_the_next_trigger(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    ctx = _context(settings, db_engine, clock)
    assert OptOuts(ctx).opt_out("memory", "alone-2", "keyword")
    assert not OptOuts(ctx).opt_out("memory", "alone-2", "keyword")  # already on the list
    result = Triggering(ctx).start_survey(
        SurveyRequest(channel="memory", to="alone-2", interaction_id="ALONE-2")
    )
    assert (result.status, result.reason) == (Status.SKIPPED, "opted out")


def test_the_parts_alone_carry_a_survey_from_trigger_to_score(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    """Trigger, send, answer, report: four parts on one context, no facade."""
    ctx = _context(settings, db_engine, clock)
    memory = ctx.channels["memory"]
    assert isinstance(memory, MemoryChannel)
    reports = Reports(ctx)
    conversations = Conversations(ctx, reports, OptOuts(ctx))
    before = reports.query_scores("today")["overall"]["csat"]["responses"]
    assert conversations.handle_text("memory", "alone-3", "5").outcome is Outcome.NOT_AN_ANSWER

    Triggering(ctx).start_survey(
        SurveyRequest(channel="memory", to="alone-3", interaction_id="ALONE-3", delay=0)
    )
    report = asyncio.run(Sender(ctx).run_once())
    assert report.sent == 1 and memory.outbox[-1].address == "alone-3"

    answered = conversations.handle_text("memory", "alone-3", "5")
    assert answered.outcome is Outcome.RECORDED
    assert reports.query_scores("today")["overall"]["csat"]["responses"] == before + 1


def test_privacy_alone_refuses_an_unknown_respondent(
    settings: Settings, db_engine: Engine, clock: Clock
) -> None:
    import pytest

    from bot.errors import NotFound

    with pytest.raises(NotFound):
        Privacy(_context(settings, db_engine, clock)).forget("memory", "never-seen")
