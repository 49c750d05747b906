"""Slack under faults: hostile headers and bodies get a clear 4xx with no traceback, and a failing
Web API after a tap or a comment never costs the user the ack or the thank-you."""
# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from storage.models import Answer, InboundMessage
from tests.fakes.slack_api import (
    SIGNING_SECRET,
    FakeSlack,
    block_actions,
    slack,  # noqa: F401
    slack_server,  # noqa: F401
    view_submission,
)
from tests.test_slack import CUSTOMER, World, answers, count, world  # noqa: F401


async def press_add_comment(w: World, action_ts: str) -> None:
    """Press "Add a comment" on the last message, as Slack posts it."""
    channel, ts, prompt = w.last_message()
    button = prompt["blocks"][1]["elements"][0]
    pressed = block_actions(
        user=CUSTOMER,
        channel=channel,
        message={"ts": ts, "blocks": prompt["blocks"], "text": prompt["text"]},
        action={"action_id": button["action_id"], "value": button["value"], "action_ts": action_ts},
    )
    assert (await w.post(pressed)).status_code == 200
    await w.settle()


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    noisy = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert noisy == []


def _signed(body: bytes, timestamp: str) -> dict[str, str]:
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
        "content-type": "application/x-www-form-urlencoded",
    }


@pytest.mark.parametrize("timestamp", ["abc", "", " ", "1e9", "-5", "9" * 400, "12.5", "0x10"])
def test_a_bad_timestamp_is_a_401(
    world: Callable[..., None], db_engine: Engine, no_tracebacks: None, timestamp: str
) -> None:
    async def scenario(w: World) -> None:
        body = b"payload=%7B%7D"
        headers = _signed(body, timestamp)
        answer = await w.http.post("/slack/events", content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert count(db_engine, InboundMessage) == 0

    world(scenario)


@pytest.mark.parametrize("body", [b"\xff\xfe\xfd", b"payload=\xc3\x28", b"text=caf\xe9"])
def test_a_signed_body_that_is_not_utf8_is_a_400(
    world: Callable[..., None], db_engine: Engine, no_tracebacks: None, body: bytes
) -> None:
    async def scenario(w: World) -> None:
        headers = _signed(body, str(int(time.time())))
        answer = await w.http.post("/slack/events", content=body, headers=headers)
        assert answer.status_code == 400, answer.text
        assert count(db_engine, InboundMessage) == 0

    world(scenario)


def test_a_tap_whose_message_cannot_be_updated_is_still_acked_and_thanked(
    world: Callable[..., None], db_engine: Engine, slack: FakeSlack
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        slack.fail("chat.update", "message_not_found")
        answer = await w.tap(4)
        assert answer.status_code == 200, answer.text
        await w.settle()
        assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 4)]
        posted = [c.args.get("text", "") for c in slack.to("chat.postMessage")]
        assert any("4" in text and "★" in text for text in posted), posted
        assert len(posted) == 3, "the survey, the rating in place of the stars, the follow-up"

    world(scenario)


def test_a_comment_whose_message_cannot_be_updated_still_thanks_the_user(
    world: Callable[..., None], db_engine: Engine, slack: FakeSlack
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        await w.tap(2)
        await w.settle()
        await press_add_comment(w, "9.1")
        view = slack.to("views.open")[0].args["view"]
        view = view if isinstance(view, dict) else json.loads(view)
        slack.fail("chat.update", "message_not_found")
        slack.fail("chat.postMessage", "channel_not_found")
        submitted = view_submission(user=CUSTOMER, view=view, view_id="V9", text="too slow")
        answer = await w.post(submitted)
        assert answer.status_code == 200, answer.text
        # The thank-you travels in the answer to the submission: the modal shows it.
        assert answer.json()["response_action"] == "update"
        assert "Thank you" in json.dumps(answer.json()["view"])
        await w.settle()
        assert ("comment", None, "too slow") in [
            (a.question_id, a.value, a.comment) for a in answers(db_engine)
        ]

    world(scenario)


def test_a_modal_that_cannot_open_offers_a_typed_comment(
    world: Callable[..., None], db_engine: Engine, slack: FakeSlack
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        await w.tap(3)
        await w.settle()
        prompt = w.last_message()[2]
        slack.fail("views.open", "expired_trigger_id")
        await press_add_comment(w, "9.2")
        question = prompt["blocks"][0]["text"]["text"]
        assert slack.to("chat.postMessage")[-1].args["text"] == question  # type it instead
        assert count(db_engine, Answer) == 1

    world(scenario)


def test_start_up_is_quiet_about_the_token_bolt_reads_from_the_environment(
    world: Callable[..., None], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    caplog.set_level(logging.DEBUG)

    async def scenario(w: World) -> None:
        assert (await w.http.get("/healthz")).status_code == 200

    world(scenario)
    assert not [r for r in caplog.records if "unused" in r.getMessage()]


def test_the_comment_controls_speak_the_surveys_language(
    world: Callable[..., None], slack: FakeSlack
) -> None:
    async def scenario(w: World) -> None:
        await w.send(locale="nl")
        await w.tap(2)
        await w.settle()
        prompt = w.last_message()[2]
        labels = [e["text"]["text"] for e in prompt["blocks"][1]["elements"]]
        assert labels == ["Opmerking toevoegen", "Overslaan"]
        await press_add_comment(w, "9.3")
        view = slack.to("views.open")[0].args["view"]
        view = view if isinstance(view, dict) else json.loads(view)
        shown = (view["title"]["text"], view["submit"]["text"], view["close"]["text"])
        assert shown == ("Je opmerking", "Versturen", "Annuleren")
        submitted = view_submission(user=CUSTOMER, view=view, view_id="V8", text="te traag")
        answer = await w.post(submitted)
        assert answer.json()["view"]["close"]["text"] == "Sluiten"

    world(scenario)
