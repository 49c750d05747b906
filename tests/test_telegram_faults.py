"""Telegram under faults: malformed and hostile webhook bodies get a clear 4xx with no traceback
and store nothing, and in plug-in mode only a message that answers an open survey is ours."""
# ruff: noqa: F811  (pytest fixtures imported from tests.test_telegram are parameters here)

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.hub import Hub
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.telegram import TelegramChannel, add_csat_handlers
from storage.models import InboundMessage
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_telegram import (  # noqa: F401
    SECRET,
    SECRET_HEADER,
    World,
    answers,
    fake,
    fake_server,
    last_message,
    message_update,
    offline,
    play,
    tap_update,
    tg_settings,
)


def count_rows(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    noisy = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert noisy == []


HOSTILE: list[bytes] = [
    b"[" * 200_000 + b"]" * 200_000,
    b'{"update_id": 1, "message": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
    b"not json",
    b"\xff\xfe",
    b"[1, 2]",
    b'{"update_id": "1"}',
    b'{"update_id": 1, "message": 5}',
    b'{"update_id": 1, "message": {"message_id": 1}}',
]


@pytest.mark.parametrize("body", HOSTILE, ids=lambda b: repr(b[:24]))
def test_hostile_bodies_get_a_400_without_a_traceback(
    play: Callable[..., None], db_engine: Engine, no_tracebacks: None, body: bytes
) -> None:
    async def scenario(w: World) -> None:
        answer = await w.client.post(
            "/telegram/webhook",
            content=body,
            headers={SECRET_HEADER: SECRET, "content-type": "application/json"},
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]
        assert count_rows(db_engine, InboundMessage) == 0

    play(scenario)


def test_plug_in_mode_leaves_every_other_message_to_the_host_bot(
    tg_settings: Settings, db_engine: Engine, clock: Clock, fake: FakeTelegram
) -> None:
    """Once the survey is answered (or closed), "hello bot" reaches the host's own handler and
    gets no word from us; only answers to the open survey are consumed."""
    base = tg_settings.telegram_api_url
    echoed: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        echoed.append(update.message.text)

    async def main() -> None:
        application = (
            Application.builder()
            .token(TOKEN)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .updater(None)
            .build()
        )
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        service = Service(
            settings=tg_settings,
            store=SqlStore(db_engine),
            surveys=builtin_surveys(),
            channels={"telegram": TelegramChannel(application.bot)},
            clock=clock,
        )
        add_csat_handlers(application, Hub(service))

        async def feed(update: dict[str, Any]) -> None:
            await application.process_update(Update.de_json(update, application.bot))

        async with application:
            service.start_survey(SurveyRequest(channel="telegram", to="1200", interaction_id="Q-1"))
            assert (await Sender(service).run_once()).sent == 1
            await feed(tap_update(fake, 9501, last_message(fake, 1200), 4))
            await feed(message_update(9502, 1200, "Quick and kind"))  # the comment: ours
            sent_before = len(fake.sent())
            await feed(message_update(9503, 1200, "hello bot"))
            await feed(message_update(9504, 1200, "what are your opening hours?"))
            assert fake.sent()[sent_before:] == [], "no 'already answered' from us"
            clock.advance(days=30)
            await feed(message_update(9505, 1200, "5"))
        assert echoed == ["hello bot", "what are your opening hours?", "5"]
        assert answers(db_engine) == {"csat": (4, None), "comment": (None, "Quick and kind")}

    asyncio.run(main())


@pytest.mark.parametrize(
    ("language", "start", "stop"),
    [
        ("de", "bittet Acme Sie um Ihre Meinung", "keine Umfragen mehr"),
        ("nl-NL", "feedbackbot van Acme", "geen enquêtes meer"),
        ("pt-br", "bot de opiniões de Acme", "não lhe enviará"),
        ("xx", "feedback bot of Acme", "no more surveys"),
    ],
)
def test_start_and_stop_speak_the_language_of_the_persons_app(
    play: Callable[..., None], language: str, start: str, stop: str
) -> None:
    async def scenario(w: World) -> None:
        for update_id, command, expected in ((9601, "/start", start), (9602, "/stop", stop)):
            update = message_update(update_id, 1300, command)
            update["message"]["from"]["language_code"] = language
            await w.post(update)
            assert expected in w.fake.sent()[-1]["text"]

    play(scenario)


@pytest.mark.parametrize(
    ("language", "start", "stop"),
    [
        ("de", "bittet unser Team Sie um Ihre Meinung", "unser Team schickt Ihnen"),
        ("nl", "feedbackbot van ons team", "ons team stuurt je"),
        ("fr", "bot d'avis de notre équipe", "notre équipe ne vous enverra"),
        ("pt-BR", "opiniões de nossa equipe", "nossa equipe não lhe enviará"),
        ("en", "feedback bot of our team", "our team will send you"),
    ],
)
def test_start_and_stop_without_a_brand_name_the_team_in_that_language(
    play: Callable[..., None], language: str, start: str, stop: str
) -> None:
    async def scenario(w: World) -> None:
        for update_id, command, expected in ((9701, "/start", start), (9702, "/stop", stop)):
            update = message_update(update_id, 1301, command)
            update["message"]["from"]["language_code"] = language
            await w.post(update)
            text = w.fake.sent()[-1]["text"]
            assert expected in text, text
            assert "our team" not in text or language == "en"

    play(scenario, csat_brand="")
