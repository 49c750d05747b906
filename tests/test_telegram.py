"""The Telegram channel through the real ASGI app, real PTB and a fake Bot API on loopback.

Updates are real-shaped (the ../shared/fixtures templates with our ids) and posted with the secret
header; every Bot API call PTB makes is checked against the published contract by the fake.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session, col
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.app.web import create_app
from bot.channel import Button, OutboundMessage
from bot.errors import ConfigError, InvalidInput
from bot.hub import Hub
from bot.requests import SurveyRequest
from bot.sender import Sender, SendReport
from bot.service import Service, TriggerResult
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.telegram import (
    SECRET_HEADER,
    TelegramAdapter,
    TelegramChannel,
    add_csat_handlers,
    build_adapter,
    set_webhook,
)
from storage.models import Answer, InboundMessage, Invitation, Suppression
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.fakes.telegram_api import TOKEN, FakeTelegram, running

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SECRET = "s3cret-Webhook_token"
PUBLIC = "https://csat.example.test"
LEAD = 4242
ALERTS = "-100777"
LOCAL = {"127.0.0.1", "localhost", "::1"}


def template(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{name} not found: ../shared/fixtures (real Telegram update shapes) is absent")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def message_update(
    update_id: int,
    chat_id: int,
    text: str,
    *,
    user_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
    group: bool = False,
) -> dict[str, Any]:
    name = "telegram_command_update_supergroup.json" if group else "telegram_command_update.json"
    update = copy.deepcopy(template(name))
    update["update_id"] = update_id
    message = update["message"]
    message.update(message_id=update_id, text=text, date=int(time.time()))
    message["chat"]["id"] = chat_id
    message["from"]["id"] = user_id or chat_id
    message.pop("reply_to_message", None)
    message.pop("message_thread_id", None)
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    else:
        message.pop("entities", None)
    if reply_to is not None:
        message["reply_to_message"] = copy.deepcopy(reply_to)
    return update


def tap_update(
    fake: FakeTelegram, update_id: int, sent: dict[str, Any], value: int
) -> dict[str, Any]:
    """A callback query for the button with ``value`` on a message the fake really sent."""
    update = copy.deepcopy(template("telegram_callback_query_update.json"))
    update["update_id"] = update_id
    query = update["callback_query"]
    query["id"] = f"4382bfdwd{update_id}"
    query["from"]["id"] = sent["chat"]["id"]
    query["message"] = copy.deepcopy(sent)
    buttons = [b for row in sent["reply_markup"]["inline_keyboard"] for b in row]
    query["data"] = next(
        b["callback_data"] for b in buttons if b["callback_data"].endswith(f":{value}")
    )
    fake.expect_callback(query["id"])
    return update


def last_message(fake: FakeTelegram, chat_id: int) -> dict[str, Any]:
    keys = [key for key in fake.messages if key[0] == chat_id]
    return copy.deepcopy(fake.messages[max(keys)])


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def answers(engine: Engine) -> dict[str, tuple[int | None, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(select(Answer).order_by(col(Answer.id)))
        return {row.question_id: (row.value, row.comment) for row in rows}


def invitation(engine: Engine, invitation_id: int) -> Invitation:
    with Session(engine) as session:
        row = session.get(Invitation, invitation_id)
        assert row is not None
        return row


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_server() -> Iterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    with running(fake) as url:
        yield fake, url


@pytest.fixture
def fake(fake_server: tuple[FakeTelegram, str]) -> Iterator[FakeTelegram]:
    api = fake_server[0]
    api.reset()
    yield api
    assert api.violations == [], "calls broke the Bot API contract"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any lookup of a real host (api.telegram.org) fails the test; PTB's RetryAfter uses
    timedeltas without its deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    tried: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if host is not None and name not in LOCAL:
            tried.append(name)
            raise OSError(f"test tried to reach {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert tried == [], f"tests must not touch the internet: {tried}"


@pytest.fixture
def tg_settings(settings: Settings, fake_server: tuple[FakeTelegram, str]) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_webhook_secret": SecretStr(SECRET),
            "telegram_api_url": fake_server[1],
            "csat_public_url": PUBLIC,
            "csat_leads": f"telegram:{LEAD}",
            "telegram_alert_chat": ALERTS,
        }
    )


@dataclass
class World:
    service: Service
    adapter: TelegramAdapter
    fake: FakeTelegram
    client: httpx.AsyncClient
    engine: Engine
    hub: Hub

    async def post(self, update: Any, secret: str | None = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.client.post("/telegram/webhook", json=update, headers=headers)

    def trigger(self, chat_id: int, interaction: str, survey: str = "support") -> TriggerResult:
        request = SurveyRequest(
            channel="telegram",
            to=str(chat_id),
            interaction_id=interaction,
            survey=survey,
            agent="alice",
        )
        return self.service.start_survey(request)

    async def deliver(self) -> SendReport:
        return await Sender(self.service).run_once()


@asynccontextmanager
async def world(
    settings: Settings, engine: Engine, clock: Clock, fake: FakeTelegram
) -> AsyncIterator[World]:
    adapter = build_adapter(settings)
    service = Service(
        settings=settings,
        store=SqlStore(engine),
        surveys=builtin_surveys(),
        channels={"telegram": adapter.channel},
        clock=clock,
        rng=random.Random(7),
    )
    app = create_app(service, adapters=[adapter])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://csat.test") as client,
    ):
        yield World(service, adapter, fake, client, engine, app.state.hub)


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def play(
    tg_settings: Settings, db_engine: Engine, clock: Clock, fake: FakeTelegram
) -> Callable[..., None]:
    def run(scenario: Scenario, **overrides: Any) -> None:
        settings = tg_settings.model_copy(update=overrides)

        async def main() -> None:
            async with world(settings, db_engine, clock, fake) as w:
                await scenario(w)

        asyncio.run(main())

    return run


# -- the survey conversation ---------------------------------------------------------------


def test_tap_is_answered_recorded_edited_and_comment_asked_with_force_reply(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        trigger = w.trigger(1001, "T-1")
        assert (await w.deliver()).sent == 1
        survey = w.fake.sent()[0]
        assert survey["chat_id"] == "1001" and "Acme" in survey["text"]
        keyboard = json.loads(survey["reply_markup"])["inline_keyboard"]
        labels = [[b["text"] for b in row] for row in keyboard]
        assert labels == [["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]]
        assert all(len(b["callback_data"].encode()) <= 64 for row in keyboard for b in row)
        assert "Reply with a number" not in survey["text"]

        sent = last_message(w.fake, 1001)
        response = await w.post(tap_update(w.fake, 5001, sent, 4))
        assert response.status_code == 200, response.text
        methods = [c.method for c in w.fake.calls]
        assert methods[-3:] == ["answerCallbackQuery", "editMessageText", "sendMessage"]
        edited = w.fake.messages[(1001, sent["message_id"])]
        assert edited["text"].endswith("✅ 4⭐") and "reply_markup" not in edited
        follow_up = w.fake.sent()[-1]
        assert "main reason" in follow_up["text"]
        assert json.loads(follow_up["reply_markup"]) == {"force_reply": True, "selective": True}
        assert answers(db_engine) == {"csat": (4, None)}

        comment = message_update(5002, 1001, "Quick and friendly")
        assert (await w.post(comment)).status_code == 200
        assert answers(db_engine) == {"csat": (4, None), "comment": (None, "Quick and friendly")}
        assert w.fake.sent()[-1]["text"] == "Thank you for your feedback!"
        assert invitation(db_engine, trigger.invitation_id).status == "completed"

    play(scenario)


@pytest.mark.parametrize(("typed", "value"), [("4", 4), ("vier", 4), ("⭐⭐", 2)])
def test_typed_rating_works_like_a_tap(
    play: Callable[..., None], db_engine: Engine, typed: str, value: int
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1002, "T-2")
        await w.deliver()
        assert (await w.post(message_update(6001, 1002, typed))).status_code == 200
        assert answers(db_engine) == {"csat": (value, None)}
        to_customer = [m for m in w.fake.sent() if str(m["chat_id"]) == "1002"]
        assert "main reason" in to_customer[-1]["text"]

    play(scenario)


def test_unreadable_reply_is_reprompted_with_the_keyboard(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1003, "T-3")
        await w.deliver()
        await w.post(message_update(6101, 1003, "not bad"))
        reprompt = w.fake.sent()[-1]
        assert "number from 1 to 5" in reprompt["text"]
        assert len(json.loads(reprompt["reply_markup"])["inline_keyboard"][0]) == 5
        assert answers(db_engine) == {}

    play(scenario)


def test_nps_and_ces_render_as_fitting_keyboards(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1004, "T-4", survey="nps")
        w.trigger(1005, "T-5", survey="ces")
        await w.deliver()
        by_chat = {m["chat_id"]: json.loads(m["reply_markup"]) for m in w.fake.sent()}
        nps = [[b["text"] for b in row] for row in by_chat["1004"]["inline_keyboard"]]
        assert nps == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]
        ces = [[b["text"] for b in row] for row in by_chat["1005"]["inline_keyboard"]]
        assert ces == [["1", "2", "3", "4", "5", "6", "7"]]
        await w.post(tap_update(w.fake, 6201, last_message(w.fake, 1004), 9))
        await w.post(tap_update(w.fake, 6202, last_message(w.fake, 1005), 6))
        assert answers(db_engine) == {"nps": (9, None), "ces": (6, None)}

    play(scenario)


def test_same_update_twice_records_once_and_replies_once(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1006, "T-6")
        await w.deliver()
        tap = tap_update(w.fake, 7001, last_message(w.fake, 1006), 5)
        assert (await w.post(tap)).status_code == 200
        sends = len(w.fake.sent())
        w.fake.expect_callback(tap["callback_query"]["id"])
        assert (await w.post(tap)).status_code == 200
        comment = message_update(7002, 1006, "Great")
        assert (await w.post(comment)).status_code == 200
        assert (await w.post(comment)).status_code == 200
        assert count(db_engine, InboundMessage) == 2
        assert answers(db_engine) == {"csat": (5, None), "comment": (None, "Great")}
        assert len(w.fake.sent()) == sends + 1
        assert len(w.fake.sent("editMessageText")) == 1

    play(scenario)


def test_a_forged_tap_for_someone_elses_survey_records_nothing(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1007, "T-7")
        await w.deliver()
        tap = tap_update(w.fake, 7101, last_message(w.fake, 1007), 1)
        tap["callback_query"]["message"]["chat"]["id"] = 1999
        tap["callback_query"]["from"]["id"] = 1999
        assert (await w.post(tap)).status_code == 200
        assert answers(db_engine) == {}
        assert w.fake.sent()[-1]["text"] == "There is no open survey for you right now."

    play(scenario)


def test_group_messages_count_only_as_replies_to_the_bot(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        group = -1001293752024
        w.trigger(group, "T-8")
        await w.deliver()
        survey = last_message(w.fake, group)
        sends = len(w.fake.sent())
        chatter = message_update(7201, group, "3 people are here", user_id=55, group=True)
        assert (await w.post(chatter)).status_code == 200
        assert len(w.fake.sent()) == sends and count(db_engine, InboundMessage) == 0
        reply = message_update(7202, group, "3", user_id=55, group=True, reply_to=survey)
        assert (await w.post(reply)).status_code == 200
        assert answers(db_engine) == {"csat": (3, None)}

    play(scenario)


def test_a_failed_update_is_500_so_telegram_retries_and_the_retry_records_once(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1009, "T-9")
        await w.deliver()
        update = message_update(7301, 1009, "5")
        # A real database failure: the table the reply is written to is away for a moment.
        with db_engine.begin() as connection:
            connection.execute(text("ALTER TABLE inbound_message RENAME TO inbound_message_away"))
        try:
            assert (await w.post(update)).status_code == 500
        finally:
            with db_engine.begin() as connection:
                connection.execute(
                    text("ALTER TABLE inbound_message_away RENAME TO inbound_message")
                )
        assert (await w.post(update)).status_code == 200
        assert (await w.post(update)).status_code == 200
        assert answers(db_engine) == {"csat": (5, None)}
        assert count(db_engine, InboundMessage) == 1

    play(scenario)


# -- the webhook's guard -------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
def test_wrong_or_missing_secret_is_403_and_stores_nothing(
    play: Callable[..., None], db_engine: Engine, secret: str | None
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1010, "T-10")
        await w.deliver()
        calls = len(w.fake.calls)
        response = await w.post(message_update(8001, 1010, "5"), secret=secret)
        assert response.status_code == 403
        assert SECRET_HEADER in response.json()["error"]
        assert count(db_engine, InboundMessage) == 0 and answers(db_engine) == {}
        assert len(w.fake.calls) == calls

    play(scenario)


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "x"}', b"\xff\xfe"]
)
def test_malformed_update_is_400_and_stores_nothing(
    play: Callable[..., None], db_engine: Engine, body: bytes
) -> None:
    async def scenario(w: World) -> None:
        response = await w.client.post(
            "/telegram/webhook",
            content=body,
            headers={SECRET_HEADER: SECRET, "content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert count(db_engine, InboundMessage) == 0

    play(scenario)


def test_update_missing_required_fields_is_400(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        update = message_update(8101, 1011, "5")
        del update["message"]["chat"]
        assert (await w.post(update)).status_code == 400
        assert count(db_engine, InboundMessage) == 0

    play(scenario)


# -- commands ------------------------------------------------------------------------------


def test_start_greets_stop_opts_out_and_start_opts_in_again(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        await w.post(message_update(9001, 1020, "/start"))
        greeting = w.fake.sent()[-1]["text"]
        assert "Acme" in greeting and "/stop" in greeting
        await w.post(message_update(9002, 1020, "/stop"))
        assert "no more surveys" in w.fake.sent()[-1]["text"]
        assert count(db_engine, Suppression) == 1
        assert w.trigger(1020, "T-20").reason == "opted out"
        await w.post(message_update(9003, 1020, "/start"))
        assert count(db_engine, Suppression) == 0

    play(scenario)


def test_score_for_a_lead_and_a_polite_refusal_for_others(
    play: Callable[..., None], db_engine: Engine
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1030, "T-30")
        await w.deliver()
        await w.post(tap_update(w.fake, 9100, last_message(w.fake, 1030), 5))
        await w.post(message_update(9101, LEAD, "/score week by channel"))
        report = w.fake.sent()[-1]
        assert report["chat_id"] == str(LEAD)
        assert report["text"].startswith("Score week (Europe/Amsterdam): CSAT 100.0%")
        assert "\ntelegram: CSAT 100.0%" in report["text"]
        await w.post(message_update(9102, 1030, "/score today"))
        assert w.fake.sent()[-1]["text"] == "Sorry, scores are only available to team leads."
        await w.post(message_update(9103, LEAD, "/score fortnight"))
        assert "fortnight" in w.fake.sent()[-1]["text"]
        await w.post(message_update(9104, -1001293752024, "/score", user_id=LEAD, group=True))
        assert w.fake.sent()[-1]["text"].startswith("Score today (Europe/Amsterdam)")
        assert answers(db_engine) == {"csat": (5, None)}

    play(scenario)


def test_a_lead_reads_the_latest_comments_with_score_comments(
    play: Callable[..., None],
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1040, "T-40")
        await w.deliver()
        await w.post(tap_update(w.fake, 9200, last_message(w.fake, 1040), 1))
        await w.post(message_update(9201, 1040, "Nobody picked up the phone"))
        await w.post(message_update(9202, LEAD, "/score comments week low"))
        listed = w.fake.sent()[-1]
        assert listed["chat_id"] == str(LEAD)
        assert "1/5 alice T-40: Nobody picked up the phone" in listed["text"]
        await w.post(message_update(9203, 1040, "/score comments"))
        assert w.fake.sent()[-1]["text"] == "Sorry, scores are only available to team leads."

    play(scenario)


def test_score_trend_answers_with_a_chart(play: Callable[..., None]) -> None:
    from tests.fakes.telegram_api import Upload

    async def scenario(w: World) -> None:
        w.trigger(1050, "T-50")
        await w.deliver()
        await w.post(tap_update(w.fake, 9300, last_message(w.fake, 1050), 4))
        await w.post(message_update(9301, LEAD, "/score trend 7d"))
        photos = w.fake.sent("sendPhoto")
        assert len(photos) == 1 and photos[0]["chat_id"] == str(LEAD)
        photo = photos[0]["photo"]
        assert isinstance(photo, Upload) and photo.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert photos[0]["caption"].startswith("Score 7d (Europe/Amsterdam): CSAT 100.0%")
        assert not w.fake.violations
        await w.post(message_update(9302, 1050, "/score trend 7d"))
        assert w.fake.sent()[-1]["text"] == "Sorry, scores are only available to team leads."
        assert len(w.fake.sent("sendPhoto")) == 1

    play(scenario)


def _alert_press(
    fake: FakeTelegram, update_id: int, sent: dict[str, Any], action: str, user: int, name: str
) -> dict[str, Any]:
    """A lead (or anyone) pressing a follow-up button on an alert in the alert chat."""
    update = copy.deepcopy(template("telegram_callback_query_update.json"))
    update["update_id"] = update_id
    query = update["callback_query"]
    query["id"] = f"alert{update_id}"
    query["from"].update(id=user, username=name, first_name=name.title())
    query["message"] = copy.deepcopy(sent)
    buttons = [b for row in sent["reply_markup"]["inline_keyboard"] for b in row]
    query["data"] = next(
        b["callback_data"] for b in buttons if b["callback_data"].startswith(f"csat_alert:{action}")
    )
    fake.expect_callback(query["id"])
    return update


def test_a_low_score_alert_shows_its_comment_and_is_claimed_and_resolved_in_telegram(
    play: Callable[..., None], clock: Clock
) -> None:
    async def scenario(w: World) -> None:
        w.trigger(1040, "T-40")
        await w.deliver()
        await w.post(tap_update(w.fake, 9201, last_message(w.fake, 1040), 1))
        await w.post(message_update(9202, 1040, "Nobody answered for a week"))
        await w.hub.drain()
        posted = [m for m in w.fake.sent() if m["chat_id"] == ALERTS]
        assert len(posted) == 1, "the comment edits the alert, it is not posted twice"
        alert = last_message(w.fake, int(ALERTS))
        assert alert["text"].startswith(
            "Low score 1/5 on telegram for interaction T-40 (agent alice"
        )
        assert 'Comment: "Nobody answered for a week"' in alert["text"]
        labels = [b["text"] for row in alert["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == ["I'll follow up", "Resolved"]

        # The customer is no lead: a pop-up says so, the alert stays as it was.
        await w.post(_alert_press(w.fake, 9203, alert, "claim", 1040, "cust"))
        refusal = w.fake.sent("answerCallbackQuery")[-1]
        assert refusal["callback_query_id"] == "alert9203"
        assert refusal["show_alert"] in (True, "true") and "Only leads" in refusal["text"]
        assert last_message(w.fake, int(ALERTS)) == alert

        clock.advance(minutes=12)
        await w.post(_alert_press(w.fake, 9204, alert, "claim", LEAD, "ann"))
        claimed = last_message(w.fake, int(ALERTS))
        assert "Claimed by @ann 12 min after the rating" in claimed["text"]
        labels = [b["text"] for row in claimed["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == ["Resolved"]
        clock.advance(hours=2)
        await w.post(_alert_press(w.fake, 9205, claimed, "resolve", LEAD, "ann"))
        resolved = last_message(w.fake, int(ALERTS))
        assert "Resolved by @ann 2 h 12 min after the rating" in resolved["text"]
        assert "reply_markup" not in resolved
        assert not w.fake.violations

    play(scenario)


# -- delivery ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (403, "Forbidden: bot was blocked by the user", "forbidden: Forbidden: bot was blocked"),
        (403, "Forbidden: bot can't initiate conversation with a user", "forbidden: Forbidden"),
        (400, "Bad Request: chat not found", "bad_request: Chat not found"),
    ],
)
def test_undeliverable_chat_marks_the_invitation_failed_with_the_reason(
    play: Callable[..., None], db_engine: Engine, status: int, description: str, error: str
) -> None:
    async def scenario(w: World) -> None:
        trigger = w.trigger(1050, "T-50")
        w.fake.fail("sendMessage", status, description)
        report = await w.deliver()
        assert report.failed == 1 and report.sent == 0
        row = invitation(db_engine, trigger.invitation_id)
        assert row.status == "failed" and row.reason == "delivery failed"
        assert row.last_error is not None and row.last_error.startswith(error)

    play(scenario)


def test_retry_after_is_honoured_for_the_whole_batch(
    play: Callable[..., None], db_engine: Engine, clock: Clock
) -> None:
    async def scenario(w: World) -> None:
        first, second = w.trigger(1060, "T-60"), w.trigger(1061, "T-61")
        w.fake.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        report = await w.deliver()
        assert (report.retried, report.paused, report.sent) == (1, 1, 0)
        assert len(w.fake.sent()) == 1
        row = invitation(db_engine, first.invitation_id)
        assert row.status == "scheduled" and row.attempts == 1
        assert row.last_error is not None and row.last_error.startswith("retry_after")
        assert 6 <= (row.send_at - clock.now).total_seconds() <= 7
        untried = invitation(db_engine, second.invitation_id)
        assert (untried.status, untried.attempts, untried.claim_token) == ("scheduled", 0, None)

    play(scenario)


def test_server_errors_are_retried_with_back_off(
    play: Callable[..., None], db_engine: Engine, clock: Clock
) -> None:
    async def scenario(w: World) -> None:
        trigger = w.trigger(1070, "T-70")
        w.fake.fail("sendMessage", 502, "Bad Gateway")
        assert (await w.deliver()).retried == 1
        row = invitation(db_engine, trigger.invitation_id)
        assert row.status == "scheduled" and row.send_at - clock.now >= clock.now - clock.now
        assert row.last_error == "network: Bad Gateway"
        clock.advance(minutes=1)
        assert (await w.deliver()).sent == 1

    play(scenario)


def test_bulk_sends_respect_the_rate_limit(
    play: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    total = 60

    async def scenario(w: World) -> None:
        w.trigger(19_999, "B-0")
        assert (await w.deliver()).sent == 1
        survey = OutboundMessage(
            text="How was it?",
            buttons=(Button("1", 1), Button("2", 2)),
            invitation_id=1,
            question_id="csat",
            question_kind="csat",
        )
        started = time.monotonic()
        results = await asyncio.gather(
            *(w.adapter.channel.send(str(20_000 + n), survey) for n in range(total))
        )
        elapsed = time.monotonic() - started
        assert len({r.provider_message_id for r in results}) == total
        times = sorted(c.at for c in w.fake.calls if c.method == "sendMessage")[-total:]
        early = sum(1 for t in times if t < started + 0.5)
        # AIORateLimiter: a burst of 30, then 30 per second, so at most 45 sends can leave in the
        # first half second and the 60 take at least a second; without it all 60 leave at once.
        # Both bounds hold however loaded the machine is: load only delays arrivals, it cannot
        # bring them forward (measuring the busiest half second at the fake did not: a stalled
        # fake drains a queue in a bunch).
        assert elapsed >= 0.8 and early <= 46  # one for rounding at the bucket's edge
        with capsys.disabled():
            print(
                f"\ntelegram: {total} concurrent sends took {elapsed:.2f} s "
                f"({early} arrived in the first half second)"
            )

    play(scenario)


def test_the_bot_token_never_reaches_the_logs(
    play: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario(w: World) -> None:
        w.trigger(1080, "T-80")
        w.fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        await w.deliver()
        w.trigger(1081, "T-81")
        await w.deliver()

    play(scenario)
    assert "sendMessage" in caplog.text
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


def test_a_worker_process_sends_without_starting_the_adapter(
    tg_settings: Settings, db_engine: Engine, clock: Clock, fake: FakeTelegram
) -> None:
    adapter = build_adapter(tg_settings)
    service = Service(
        settings=tg_settings,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"telegram": adapter.channel},
        clock=clock,
    )
    service.start_survey(SurveyRequest(channel="telegram", to="1200", interaction_id="W-1"))

    async def main() -> None:
        try:
            assert (await Sender(service).run_once()).sent == 1
        finally:
            await adapter.stop()

    asyncio.run(main())
    assert [c.method for c in fake.calls] == ["getMe", "sendMessage"]


# -- modes and set-up ----------------------------------------------------------------------


def test_polling_mode_without_a_public_url(
    play: Callable[..., None], db_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(w: World) -> None:
        assert w.adapter.mode == "polling"
        assert (await w.post(message_update(9301, 1090, "5"))).status_code == 404
        w.trigger(1090, "T-90")
        await w.deliver()
        w.fake.push_update(message_update(9302, 1090, "5"))
        deadline = time.monotonic() + 5
        while not answers(db_engine) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert answers(db_engine) == {"csat": (5, None)}
        assert "deleteWebhook" in [c.method for c in w.fake.calls]

    play(scenario, csat_public_url=None)
    assert "only ONE process" in caplog.text


def test_a_leftover_long_poll_cannot_swallow_a_later_update(
    fake_server: tuple[FakeTelegram, str], fake: FakeTelegram
) -> None:
    """PTB's stop cancels its open getUpdates, but the server still finishes that request. Such
    a leftover poll (offset 9503 here) must neither confirm an update pushed after it arrived
    (the next test reuses update ids) nor hand out anything after ``reset``."""
    url = f"{fake_server[1]}/bot{TOKEN}/getUpdates"

    async def main() -> None:
        async with httpx.AsyncClient() as client:

            async def poll(offset: int, timeout: int) -> list[int]:
                response = await client.post(url, json={"offset": offset, "timeout": timeout})
                return [u["update_id"] for u in response.json()["result"]]

            leftover = asyncio.create_task(poll(9503, 10))
            await asyncio.sleep(0.05)
            fake.push_update({"update_id": 9502})
            await asyncio.sleep(0.05)
            assert await poll(0, 0) == [9502]
            fake.reset()
            fake.push_update({"update_id": 9503})
            assert await leftover == []
            assert await poll(0, 0) == [9503]

    asyncio.run(main())


def test_set_webhook_registers_url_secret_and_update_types(
    tg_settings: Settings, fake: FakeTelegram
) -> None:
    url = asyncio.run(set_webhook(tg_settings))
    assert url == f"{PUBLIC}/telegram/webhook"
    assert fake.webhook["url"] == url and fake.webhook["secret_token"] == SECRET
    assert json.loads(fake.webhook["allowed_updates"]) == ["message", "callback_query"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"csat_public_url": None}, "CSAT_PUBLIC_URL"),
        ({"telegram_webhook_secret": None}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_webhook_secret": SecretStr("has space")}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_bot_token": None}, "TELEGRAM_BOT_TOKEN"),
        ({"telegram_bot_token": SecretStr("123:wrong")}, "TELEGRAM_BOT_TOKEN"),
    ],
)
def test_set_webhook_refuses_with_the_setting_named(
    tg_settings: Settings, fake: FakeTelegram, overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        asyncio.run(set_webhook(tg_settings.model_copy(update=overrides)))
    assert fake.webhook == {}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"telegram_webhook_secret": None}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_webhook_secret": SecretStr("x" * 257)}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_alert_chat": "leads room"}, "TELEGRAM_ALERT_CHAT"),
        ({"telegram_bot_token": None}, "TELEGRAM_BOT_TOKEN"),
    ],
)
def test_bad_settings_fail_at_start_up_naming_the_key(
    tg_settings: Settings, overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        build_adapter(tg_settings.model_copy(update=overrides))


@pytest.mark.parametrize("raw", ["abc", "0", "+31612345678", "12 34", "", "@channel", "-0"])
def test_a_bad_chat_id_is_refused_and_nothing_is_stored(
    play: Callable[..., None], db_engine: Engine, raw: str
) -> None:
    async def scenario(w: World) -> None:
        assert w.adapter.channel.normalise_address(" -100123 ") == "-100123"
        with pytest.raises(InvalidInput, match="'to'"):
            w.adapter.channel.normalise_address(raw)
        if not raw:
            return
        response = await w.client.post(
            "/v1/surveys",
            json={"channel": "telegram", "to": raw, "interaction_id": "T-x"},
            headers={"authorization": "Bearer test-token-0123456789"},
        )
        assert response.status_code == 422 and "'to'" in response.json()["error"]
        assert count(db_engine, Invitation) == 0

    play(scenario)


# -- plug-in mode --------------------------------------------------------------------------


def test_plug_in_mode_adds_surveys_to_a_teams_own_bot(
    tg_settings: Settings, db_engine: Engine, clock: Clock, fake: FakeTelegram
) -> None:
    """A team's existing PTB bot (its own echo handler, no webhook of ours) gains the survey."""
    base = tg_settings.telegram_api_url
    echoed: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        echoed.append(update.message.text)
        await context.bot.send_message(update.message.chat.id, f"echo: {update.message.text}")

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
        channel = TelegramChannel(application.bot)
        service = Service(
            settings=tg_settings,
            store=SqlStore(db_engine),
            surveys=builtin_surveys(),
            channels={"telegram": channel},
            clock=clock,
        )
        add_csat_handlers(application, Hub(service))

        async def feed(update: dict[str, Any]) -> None:
            await application.process_update(Update.de_json(update, application.bot))

        async with application:
            await feed(message_update(9401, 1100, "hello"))
            assert echoed == ["hello"] and fake.sent()[-1]["text"] == "echo: hello"
            service.start_survey(SurveyRequest(channel="telegram", to="1100", interaction_id="P-1"))
            assert (await Sender(service).run_once()).sent == 1
            await feed(tap_update(fake, 9402, last_message(fake, 1100), 2))
            await feed(message_update(9403, 1100, "Took too long"))
            await feed(message_update(9404, LEAD, "/score"))
        assert echoed == ["hello"]
        assert answers(db_engine) == {"csat": (2, None), "comment": (None, "Took too long")}
        assert fake.sent()[-1]["text"].startswith("Score today (Europe/Amsterdam): CSAT 0.0%")

    asyncio.run(main())


def test_the_digest_goes_to_the_digest_chat_as_a_chart_then_text(
    tg_settings: Settings, fake: FakeTelegram
) -> None:
    from bot.charts import trend_png
    from tests.fakes.telegram_api import Upload

    adapter = build_adapter(tg_settings.model_copy(update={"telegram_digest_chat": "-100123"}))
    sink = adapter.digest_sink
    assert sink is not None
    chart = trend_png(
        {
            "period": {"label": "7d", "timezone": "UTC"},
            "by": "day",
            "overall": {},
            "groups": {"2025-06-09": {"csat": {"score": 80.0, "ci95": [60, 92]}, "responses": 5}},
        }
    )

    async def main() -> None:
        async with adapter.application.bot:
            await sink.post_digest("CSAT digest 2025-06-09: CSAT 80.0%", chart, "CSAT 14 days")

    asyncio.run(main())
    (photo,) = fake.sent("sendPhoto")
    assert photo["chat_id"] == "-100123" and photo["caption"] == "CSAT 14 days"
    assert isinstance(photo["photo"], Upload) and photo["photo"].content == chart
    assert fake.sent()[-1]["text"] == "CSAT digest 2025-06-09: CSAT 80.0%"
    with pytest.raises(ConfigError, match="TELEGRAM_DIGEST_CHAT"):
        build_adapter(tg_settings.model_copy(update={"telegram_digest_chat": "the leads"}))
