"""The ``reasons`` survey through the real app on every channel: SMS (signed webhooks, the fake
Twilio API), Slack and Telegram (their fake APIs), and the web survey page. A low rating brings
the reason list; the answer is stored by the option's id, on SQLite and PostgreSQL."""
# ruff: noqa: F811  (pytest fixtures imported from the fakes are parameters here)

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from bot.requests import SurveyRequest
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.link import LinkChannel
from channels.memory import MemoryChannel
from storage.models import Answer, Invitation
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.fakes.slack_api import FakeSlack, block_actions, slack, slack_server  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.helpers import browse, deliver
from tests.test_slack import CUSTOMER as SLACK_CUSTOMER
from tests.test_slack import World as SlackWorld
from tests.test_slack import run as run_slack
from tests.test_sms import CUSTOMER, Phone, build_phone
from tests.test_telegram import World as TelegramWorld
from tests.test_telegram import (
    fake,  # noqa: F401
    fake_server,  # noqa: F401
    last_message,
    message_update,
    tap_update,
    tg_settings,  # noqa: F401
    world,
)

Row = tuple[str, str, int | None, str | None, str | None]


def stored(engine: Engine) -> list[Row]:
    """(question, kind, value, choice, comment) of every answer, in the order given."""
    with Session(engine) as session:
        rows = session.scalars(select(Answer).order_by(col(Answer.id)))
        return [(a.question_id, a.kind, a.value, a.choice, a.comment) for a in rows]


# -- SMS ----------------------------------------------------------------------------------------


@pytest.fixture
def phone(
    database_url: str, db_engine: Engine, clock: Clock, twilio: FakeTwilio
) -> Iterator[Phone]:
    client = build_phone(database_url, db_engine, clock, twilio.url)
    yield client
    client.close()


def test_sms_low_rating_lists_the_reasons_and_a_number_records_the_id(
    phone: Phone, twilio: FakeTwilio, db_engine: Engine
) -> None:
    phone.trigger(CUSTOMER, "T-1", survey="reasons", agent="alice")
    assert phone.deliver().sent == 1
    assert "Reply with a number from 1 to 5." in twilio.messages[0]["Body"]
    [listed] = phone.text(CUSTOMER, "2")
    assert listed == (
        "Thanks! You rated us 2 out of 5. What was the main problem?\n"
        "1 Knowledge\n2 Communication and responsiveness\n3 Professionalism\n4 Speed\n"
        "5 Effective resolution\n6 Something else\n"
        "Reply with a number from 1 to 6. (Optional: reply SKIP to skip this question.)"
    )
    assert phone.text(CUSTOMER, "2") == ["Thank you for your feedback!"]
    assert stored(db_engine) == [
        ("csat", "csat", 2, None, None),
        ("reason", "choice", None, "communication", None),
    ]


def test_sms_bad_numbers_are_asked_again_and_other_text_is_the_comment(
    phone: Phone, db_engine: Engine
) -> None:
    phone.trigger(CUSTOMER, "T-2", survey="reasons", locale="nl")
    phone.deliver()
    phone.text(CUSTOMER, "1")
    [again] = phone.text(CUSTOMER, "7")
    assert again.startswith("Sorry, dat begreep ik niet. Antwoord met het nummer van een keuze")
    assert "\n4 Snelheid\n" in again
    assert stored(db_engine) == [("csat", "csat", 1, None, None)]
    assert phone.text(CUSTOMER, "Niemand belde terug") == ["Bedankt voor je feedback!"]
    assert stored(db_engine)[1:] == [("reason", "choice", None, "other", "Niemand belde terug")]


def test_sms_a_good_rating_finishes_and_a_later_correction_keeps_the_reason(
    phone: Phone, db_engine: Engine
) -> None:
    phone.trigger(CUSTOMER, "T-3", survey="reasons")
    phone.deliver()
    phone.text(CUSTOMER, "3")
    phone.text(CUSTOMER, "speed")
    assert phone.text(CUSTOMER, "5") == ["Got it, we've changed your rating to 5 out of 5."]
    assert stored(db_engine) == [
        ("csat", "csat", 5, None, None),
        ("reason", "choice", None, "speed", None),
    ]


# -- Slack --------------------------------------------------------------------------------------


@pytest.fixture
def slack_world(
    settings: Settings, db_engine: Engine, clock: Clock, slack: FakeSlack
) -> Callable[..., None]:
    def play(scenario: Callable[[SlackWorld], Any]) -> None:
        run_slack(settings, db_engine, clock, slack, scenario)

    return play


def _slack_tap(world: SlackWorld, action_id: str, action_ts: str) -> str:
    channel, ts, args = world.last_message()
    button = next(
        e
        for b in args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    return block_actions(
        user=SLACK_CUSTOMER,
        channel=channel,
        message={"ts": ts, "blocks": args["blocks"], "text": args["text"]},
        action={"action_id": action_id, "value": button["value"], "action_ts": action_ts},
    )


def test_slack_reason_buttons_are_sent_and_a_tap_records_the_option_id(
    slack_world: Callable[..., None], slack: FakeSlack, db_engine: Engine
) -> None:
    async def scenario(w: SlackWorld) -> None:
        await w.send(survey="reasons")
        assert (await w.tap(1)).status_code == 200
        await w.settle()
        prompt = slack.to("chat.postMessage")[-1].args
        buttons = [e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [b["text"]["text"] for b in buttons] == [
            "Knowledge",
            "Communication and responsiveness",
            "Professionalism",
            "Speed",
            "Effective resolution",
            "Something else",
            "Skip",
        ]
        invitation_id = w.service.store.page_target(1)
        assert invitation_id is not None
        assert buttons[3]["value"] == f"{invitation_id.id}:reason:4"
        assert "1 Knowledge" in prompt["text"]  # the notification text lists them
        response = await w.post(_slack_tap(w, "csat_rate_4", "1678252217.1"))
        assert response.status_code == 200
        await w.settle()
        update = slack.to("chat.update")[-1].args
        assert not [b for b in update["blocks"] if b["type"] == "actions"]
        assert "✓ Speed" in json.dumps(update["blocks"], ensure_ascii=False)
        assert "Thank you" in slack.to("chat.postMessage")[-1].args["text"]

    slack_world(scenario)
    assert stored(db_engine) == [
        ("csat", "csat", 1, None, None),
        ("reason", "choice", None, "speed", None),
    ]


def test_slack_a_tampered_reason_value_records_nothing(
    slack_world: Callable[..., None], slack: FakeSlack, db_engine: Engine
) -> None:
    async def scenario(w: SlackWorld) -> None:
        await w.send(survey="reasons")
        await w.tap(2)
        await w.settle()
        body = _slack_tap(w, "csat_rate_1", "1678252218.1")
        forged = body.replace("%3Areason%3A1", "%3Areason%3A8")
        assert forged != body
        assert (await w.post(forged)).status_code == 200
        await w.settle()
        assert "number of one option" in slack.to("chat.postMessage")[-1].args["text"]
        skip = _slack_tap(w, "csat_comment_skip", "1678252219.1")
        assert (await w.post(skip)).status_code == 200

    slack_world(scenario)
    assert stored(db_engine) == [("csat", "csat", 2, None, None)]
    with Session(db_engine) as session:
        assert session.scalars(select(Invitation.status)).one() == "completed"  # type: ignore[call-overload]


# -- Telegram -----------------------------------------------------------------------------------


def test_telegram_reason_keyboard_and_a_tap_records_the_option_id(
    tg_settings: Settings, db_engine: Engine, clock: Clock, fake: FakeTelegram
) -> None:
    import asyncio

    async def main() -> None:
        async with world(tg_settings, db_engine, clock, fake) as w:
            await scenario(w)

    async def scenario(w: TelegramWorld) -> None:
        w.trigger(3001, "T-9", survey="reasons")
        await w.deliver()
        survey = last_message(w.fake, 3001)
        assert (await w.post(tap_update(w.fake, 7001, survey, 3))).status_code == 200
        listed = w.fake.sent()[-1]
        keyboard = json.loads(listed["reply_markup"])["inline_keyboard"]
        assert [[b["text"] for b in row] for row in keyboard] == [
            ["Knowledge"],
            ["Communication and responsiveness"],
            ["Professionalism"],
            ["Speed"],
            ["Effective resolution"],
            ["Something else"],
        ]
        assert keyboard[4][0]["callback_data"].endswith(":reason:5")
        assert "reply SKIP" in listed["text"] and "1 Knowledge" not in listed["text"]
        reasons = last_message(w.fake, 3001)
        assert (await w.post(tap_update(w.fake, 7002, reasons, 5))).status_code == 200
        edited = w.fake.messages[(3001, reasons["message_id"])]
        assert edited["text"].endswith("✅ Effective resolution")
        assert w.fake.sent()[-1]["text"] == "Thank you for your feedback!"
        typed = message_update(7003, 3001, "knowledge")  # the survey is done: not an answer
        assert (await w.post(typed)).status_code == 200

    asyncio.run(main())
    assert stored(db_engine) == [
        ("csat", "csat", 3, None, None),
        ("reason", "choice", None, "resolution", None),
    ]


# -- the web survey page ------------------------------------------------------------------------


@pytest.fixture
def web(settings: Settings, db_engine: Engine, memory: MemoryChannel, clock: Clock) -> Service:
    return Service(
        settings=settings,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory, "link": LinkChannel()},
        clock=clock,
        rng=random.Random(5),
    )


def _link(service: Service, person: str) -> str:
    request = SurveyRequest(
        channel="link", to=person, interaction_id=f"chat-{person}", survey="reasons"
    )
    result = service.start_surveys([request])[0]
    deliver(service)
    assert result.url is not None
    return result.url


ORIGIN = {"origin": "http://csat.test"}


def test_web_page_shows_the_reasons_as_radio_buttons_and_records_the_id(
    web: Service, db_engine: Engine
) -> None:
    url = _link(web, "visitor-1")

    async def scenario(http: httpx.AsyncClient) -> None:
        await http.post(url, data={"question": "csat", "value": "1"}, headers=ORIGIN)
        page = await http.get(url)
        assert page.text.count('type="radio" name="value"') == 6
        assert 'class="options"' in page.text and "Effective resolution" in page.text
        assert 'name="question" value="reason"' in page.text
        assert 'name="skip"' in page.text  # the reason question is optional
        for bad in ("0", "7", "-3", "1000"):
            refused = await http.post(
                url, data={"question": "reason", "value": bad}, headers=ORIGIN
            )
            assert refused.status_code == 303
        wrong = await http.post(url, data={"question": "reason", "value": "x"}, headers=ORIGIN)
        assert wrong.status_code == 422
        assert stored(db_engine) == [("csat", "csat", 1, None, None)]
        assert 'name="question" value="reason"' in (await http.get(url)).text
        done = await http.post(url, data={"question": "reason", "value": "2"}, headers=ORIGIN)
        assert done.status_code == 303
        assert "Thank you" in (await http.get(url)).text

    browse(web, scenario)
    assert stored(db_engine)[1:] == [("reason", "choice", None, "communication", None)]


def test_web_page_skip_and_a_typed_comment_on_the_reason_question(
    web: Service, db_engine: Engine
) -> None:
    first, second = _link(web, "visitor-2"), _link(web, "visitor-3")

    async def scenario(http: httpx.AsyncClient) -> None:
        await http.post(first, data={"question": "csat", "value": "2"}, headers=ORIGIN)
        await http.post(first, data={"question": "reason", "skip": "1"}, headers=ORIGIN)
        assert "Thank you" in (await http.get(first)).text
        await http.post(second, data={"question": "csat", "value": "3"}, headers=ORIGIN)
        page = await http.get(second)
        assert re.search(r'value="4" required\s*><span>Speed', page.text)

    browse(web, scenario)
    assert [row[:4] for row in stored(db_engine)] == [
        ("csat", "csat", 2, None),
        ("csat", "csat", 3, None),
    ]
