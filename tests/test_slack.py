"""Slack through the real ASGI app: signed requests in, a contract-checked fake Web API out."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.slack_api are parameters here)

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.app.web import create_app
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.slack import SlackAdapter, build_adapter
from storage.models import Answer, InboundMessage, Invitation
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.fakes.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    block_actions,
    fixture,
    message_event,
    signed_headers,
    slack,  # noqa: F401
    slack_server,  # noqa: F401
    slash_command,
    view_submission,
)

LEAD = "ULEAD1"
CUSTOMER = "U111"


def slack_settings(settings: Settings, fake: FakeSlack, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_api_url": fake.base_url,
        "csat_leads": f"slack:{LEAD}",
    }
    values.update(extra)
    return settings.model_copy(update=values)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@dataclass
class World:
    fake: FakeSlack
    service: Service
    adapter: SlackAdapter
    http: httpx.AsyncClient

    async def post(
        self, body: str, *, age: float = 0, secret: str = SIGNING_SECRET, **headers: str
    ) -> httpx.Response:
        kind = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
        sent = signed_headers(body, secret=secret, age=age, content_type=kind)
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        return await self.http.post("/slack/events", content=body, headers=sent)

    async def settle(self) -> None:
        """Wait for the work Bolt runs after ack() (it continues in background tasks)."""
        for _ in range(100):
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if not pending:
                return
            await asyncio.wait(pending, timeout=5)

    async def send(self, to: str = CUSTOMER, interaction: str = "T-1", **extra: Any) -> None:
        fields: dict[str, Any] = {"channel": "slack", "to": to, "interaction_id": interaction}
        fields.update(extra)
        self.service.start_survey(SurveyRequest.model_validate(fields))
        report = await Sender(self.service).run_once()
        assert report.sent == 1, report

    def last_message(self) -> tuple[str, str, dict[str, Any]]:
        (channel, ts), args = list(self.fake.messages.items())[-1]
        return channel, ts, args

    async def tap(
        self,
        value: int,
        *,
        action_ts: str = "1678252216.469172",
        user: str = CUSTOMER,
        message: tuple[str, str, dict[str, Any]] | None = None,
        team: str = TEAM,
    ) -> httpx.Response:
        channel, ts, args = message or self.last_message()
        button = next(
            e
            for b in args["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == f"csat_rate_{value}"
        )
        body = block_actions(
            user=user,
            team=team,
            channel=channel,
            message={"ts": ts, "blocks": args["blocks"], "text": args["text"]},
            action={
                "action_id": button["action_id"],
                "value": button["value"],
                "action_ts": action_ts,
            },
        )
        return await self.post(body)


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def world(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> Iterator[Callable[..., None]]:
    def play(scenario: Scenario, **extra: Any) -> None:
        run(settings, db_engine, clock, slack, scenario, **extra)

    yield play


def run(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    fake: FakeSlack,
    scenario: Callable[[World], Awaitable[None]],
    **extra: Any,
) -> None:
    async def main() -> None:
        async with open_world(settings, engine, clock, fake, **extra) as world:
            await scenario(world)

    asyncio.run(main())


@asynccontextmanager
async def open_world(
    settings: Settings, engine: Engine, clock: Clock, fake: FakeSlack, **extra: Any
) -> AsyncIterator[World]:
    configured = slack_settings(settings, fake, **extra)
    store = SqlStore(engine)
    adapter = build_adapter(configured, store)
    service = Service(
        settings=configured,
        store=store,
        surveys=builtin_surveys(),
        channels={"slack": adapter.channel},
        clock=clock,
        rng=random.Random(7),
    )
    app = create_app(service, adapters=[adapter])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://csat.test") as http:
        world = World(fake, service, adapter, http)
        try:
            yield world
            await world.settle()
        finally:
            await adapter.stop()


def answers(engine: Engine) -> list[Answer]:
    with Session(engine) as session:
        return list(session.scalars(select(Answer).order_by(Answer.question_id)))


# -- the survey DM ----------------------------------------------------------------------------


def test_survey_is_a_dm_with_five_star_buttons_and_a_text_fallback(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send(agent="alice")
        opened = slack.to("conversations.open")
        assert [c.args["users"] for c in opened] == [CUSTOMER]
        assert opened[0].token == BOT_TOKEN
        post = slack.to("chat.postMessage")[0].args
        assert post["channel"] == "D111"
        assert "How would you rate" in post["text"] and "1 to 5" in post["text"]
        buttons = [e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [b["text"]["text"] for b in buttons] == ["⭐" * n for n in range(1, 6)]
        with Session(db_engine) as session:
            invitation = session.scalars(select(Invitation)).one()
        assert [b["value"] for b in buttons] == [f"{invitation.id}:csat:{n}" for n in range(1, 6)]
        assert all(
            BOT_TOKEN not in json.dumps(b) and SIGNING_SECRET not in json.dumps(b) for b in buttons
        )
        channel, ts, _ = w.last_message()
        assert invitation.provider_message_id == f"{channel}:{ts}"
        assert invitation.status == "sent"

    world(scenario)


def test_a_tap_is_acked_at_once_recorded_and_the_stars_replace_the_buttons(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        survey = w.last_message()
        started = time.perf_counter()
        response = await w.tap(4)
        acked = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert acked < 3.0
        await w.settle()
        assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 4)]
        update = slack.to("chat.update")[0].args
        assert (update["channel"], update["ts"]) == survey[:2]
        assert not [b for b in update["blocks"] if b["type"] == "actions"]
        assert "★★★★☆" in json.dumps(update["blocks"], ensure_ascii=False)
        prompt = slack.to("chat.postMessage")[-1].args
        assert "main reason" in prompt["text"]
        labels = [
            e["text"]["text"]
            for b in prompt["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        assert labels == ["Add a comment", "Skip"]
        print(f"ack latency {acked * 1000:.1f} ms")

    world(scenario)


def test_the_comment_goes_through_a_modal(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        await w.tap(3)
        await w.settle()
        channel, ts, prompt = w.last_message()
        button = prompt["blocks"][1]["elements"][0]
        body = block_actions(
            user=CUSTOMER,
            channel=channel,
            message={"ts": ts, "blocks": prompt["blocks"], "text": prompt["text"]},
            action={
                "action_id": button["action_id"],
                "value": button["value"],
                "action_ts": "1678252300.000001",
            },
        )
        assert (await w.post(body)).status_code == 200
        await w.settle()
        opened = slack.to("views.open")[0].args
        assert opened["trigger_id"] == "4916855695380.xxx.yyy"
        view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
        blank = view_submission(user=CUSTOMER, view=view, view_id="V1", text="   ")
        refused = await w.post(blank)
        assert refused.json()["response_action"] == "errors"
        assert count(db_engine, InboundMessage) == 1
        submitted = view_submission(
            user=CUSTOMER, view=view, view_id="V1", text="Slow <b>answer</b>"
        )
        assert (await w.post(submitted)).status_code == 200
        await w.settle()
        assert [(a.question_id, a.value, a.comment) for a in answers(db_engine)] == [
            ("comment", None, "Slow <b>answer</b>"),
            ("csat", 3, None),
        ]
        update = slack.to("chat.update")[-1].args
        assert (update["channel"], update["ts"]) == (channel, ts)
        assert "Slow &lt;b&gt;answer&lt;/b&gt;" in json.dumps(update["blocks"])
        assert "Thank you" in slack.to("chat.postMessage")[-1].args["text"]
        with Session(db_engine) as session:
            assert session.scalars(select(Invitation)).one().status == "completed"

    world(scenario)


def test_skip_closes_the_survey_without_a_comment(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        await w.tap(5)
        await w.settle()
        channel, ts, prompt = w.last_message()
        skip = prompt["blocks"][1]["elements"][1]
        body = block_actions(
            user=CUSTOMER,
            channel=channel,
            message={"ts": ts, "blocks": prompt["blocks"], "text": prompt["text"]},
            action={
                "action_id": skip["action_id"],
                "value": skip["value"],
                "action_ts": "1678252400.000001",
            },
        )
        assert (await w.post(body)).status_code == 200
        await w.settle()
        assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 5)]
        assert "Thank you" in slack.to("chat.update")[-1].args["text"]
        with Session(db_engine) as session:
            assert session.scalars(select(Invitation)).one().status == "completed"

    world(scenario)


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "age", "why"),
    [
        ("wrong-secret", 0, "forged"),
        (SIGNING_SECRET, 6 * 60, "stale"),
        (SIGNING_SECRET, -6 * 60, "future"),
    ],
)
def test_forged_or_stale_requests_get_401_and_store_nothing(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
    secret: str,
    age: float,
    why: str,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        channel, ts, args = w.last_message()
        button = args["blocks"][1]["elements"][0]
        body = block_actions(
            user=CUSTOMER,
            channel=channel,
            message={"ts": ts, "blocks": args["blocks"]},
            action={"action_id": button["action_id"], "value": button["value"], "action_ts": "1.2"},
        )
        calls_before = len(slack.calls)
        response = await w.post(body, secret=secret, age=age)
        assert response.status_code == 401, why
        unsigned = await w.http.post(
            "/slack/events",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert unsigned.status_code == 401
        await w.settle()
        assert count(db_engine, InboundMessage) == 0
        assert count(db_engine, Answer) == 0
        assert len(slack.calls) == calls_before

    world(scenario)


def test_a_signed_but_malformed_body_is_a_400_and_stores_nothing(
    world: Callable[..., None],
    db_engine: Engine,
) -> None:
    async def scenario(w: World) -> None:
        for body in ("payload=%7Bnot-json", "payload=" + json.dumps([1, 2])):
            response = await w.post(body)
            assert 400 <= response.status_code < 500, (body, response.status_code)
        await w.settle()
        assert count(db_engine, InboundMessage) == 0

    world(scenario)


def test_skeleton_payloads_with_every_field_are_tolerated(
    world: Callable[..., None],
    db_engine: Engine,
) -> None:
    async def scenario(w: World) -> None:
        for name in ("java_BlockActionPayload.json", "java_ViewSubmissionPayload.json"):
            body = urlencode({"payload": fixture(name)})
            response = await w.post(body)
            assert response.status_code < 500, (name, response.status_code)
        await w.settle()
        assert count(db_engine, InboundMessage) == 0

    world(scenario)


# -- taps that do not count ----------------------------------------------------------------------


def test_double_tap_and_a_replayed_tap_record_once_and_say_so(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        survey = w.last_message()
        await w.tap(4, message=survey)
        await w.tap(4, message=survey)  # the same delivery again
        await w.settle()
        assert count(db_engine, InboundMessage) == 1
        assert len(slack.to("chat.update")) == 1
        await w.tap(2, message=survey, action_ts="1678252299.000002")  # a second, quick tap
        await w.settle()
        assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 2)]
        assert "changed your rating to 2" in slack.to("chat.postMessage")[-1].args["text"]

    world(scenario)


def test_a_tap_after_expiry_says_the_survey_closed(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
    clock: Clock,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        clock.advance(days=8)
        assert (await w.tap(5)).status_code == 200
        await w.settle()
        assert count(db_engine, Answer) == 0
        update = slack.to("chat.update")[0].args
        assert "survey has closed" in update["text"]
        assert not [b for b in update["blocks"] if b["type"] == "actions"]

    world(scenario)


def test_a_typed_dm_and_slacks_retry_of_it_record_once(
    world: Callable[..., None],
    db_engine: Engine,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send()
        event = message_event(user=CUSTOMER, text="4 stars", channel="D111", ts="1700000100.000100")
        assert (await w.post(event)).status_code == 200
        retried = await w.post(event, x_slack_retry_num="1", x_slack_retry_reason="http_timeout")
        assert retried.status_code == 200
        await w.settle()
        assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 4)]
        assert count(db_engine, InboundMessage) == 1
        replies = [c for c in slack.to("chat.postMessage") if "main reason" in c.args["text"]]
        assert len(replies) == 1

    world(scenario)


# -- alerts -------------------------------------------------------------------------------------


def _alert_messages(slack: FakeSlack) -> list[tuple[str, dict[str, Any]]]:
    """The alert channel's messages as they stand now (edits applied), oldest first."""
    return [(ts, args) for (channel, ts), args in slack.messages.items() if channel == "C0ALERTS"]


async def _press(w: World, ts: str, args: dict[str, Any], action_id: str, user: str) -> None:
    button = next(
        e
        for b in args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    body = block_actions(
        user=user,
        channel="C0ALERTS",
        message={"ts": ts, "blocks": args["blocks"], "text": args["text"]},
        action={"action_id": action_id, "value": button["value"], "action_ts": "1700000300.1"},
    )
    assert (await w.post(body)).status_code == 200
    await w.settle()


def test_a_low_score_alert_shows_its_comment_and_is_claimed_and_resolved_in_slack(
    world: Callable[..., None],
    slack: FakeSlack,
    clock: Clock,
) -> None:
    async def scenario(w: World) -> None:
        await w.send(agent="alice", interaction="T-9")
        await w.tap(1)
        await w.settle()
        ((ts, args),) = _alert_messages(slack)
        text = json.dumps(args)
        assert "alice" in text and "T-9" in text and "1/5" in text
        assert [
            e["action_id"] for b in args["blocks"] if b["type"] == "actions" for e in b["elements"]
        ] == [
            "csat_alert_claim",
            "csat_alert_resolve",
        ]
        event = message_event(
            user=CUSTOMER, text="Nobody answered", channel="D111", ts="1700000200.000200"
        )
        await w.post(event)
        await w.settle()
        ((ts, args),) = _alert_messages(slack)  # edited in place, not posted again
        assert "Nobody answered" in json.dumps(args)

        # A customer (not a lead) presses the button: told so, only them, nothing changes.
        await _press(w, ts, args, "csat_alert_claim", CUSTOMER)
        (refusal,) = [c.args for c in slack.to("chat.postEphemeral")]
        assert refusal["user"] == CUSTOMER and "Only leads" in refusal["text"]
        assert _alert_messages(slack) == [(ts, args)]

        clock.advance(minutes=12)
        await _press(w, ts, args, "csat_alert_claim", LEAD)
        ((ts, args),) = _alert_messages(slack)
        assert f"Claimed by @{LEAD} 12 min after the rating" in json.dumps(args)
        assert [
            e["action_id"] for b in args["blocks"] if b["type"] == "actions" for e in b["elements"]
        ] == ["csat_alert_resolve"]
        clock.advance(minutes=48)
        await _press(w, ts, args, "csat_alert_resolve", LEAD)
        ((ts, args),) = _alert_messages(slack)
        assert f"Resolved by @{LEAD} 1 h after the rating" in json.dumps(args)
        assert not [b for b in args["blocks"] if b["type"] == "actions"]
        (alert,) = w.service.store.alerts(None, 5)
        assert (alert.claimed_by, alert.resolved_by) == (f"@{LEAD}", f"@{LEAD}")

    world(scenario, slack_alert_channel="C0ALERTS")


def test_forged_alert_buttons_change_nothing(
    world: Callable[..., None], slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(w: World) -> None:
        await w.send(agent="alice", interaction="T-9")
        await w.tap(1)
        await w.settle()
        ((ts, args),) = _alert_messages(slack)
        before = w.service.store.alerts(None, 5)
        for value in ("abc", "-1", "9" * 30, "１２", "", "1 OR 1=1", "999999"):
            for action_id in ("csat_alert_claim", "csat_alert_resolve"):
                body = block_actions(
                    user=LEAD,
                    channel="C0ALERTS",
                    message={"ts": ts, "blocks": args["blocks"], "text": args["text"]},
                    action={"action_id": action_id, "value": value, "action_ts": "1.2"},
                )
                assert (await w.post(body)).status_code == 200
        await w.settle()
        assert w.service.store.alerts(None, 5) == before
        assert _alert_messages(slack) == [(ts, args)]
        notices = [c.args["text"] for c in slack.to("chat.postEphemeral")]
        assert set(notices) <= {"That alert is no longer here."}
        assert "Traceback" not in caplog.text

    world(scenario, slack_alert_channel="C0ALERTS")


# -- leads -------------------------------------------------------------------------------------


def test_a_lead_gets_an_ephemeral_report_by_agent(
    world: Callable[..., None],
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send(agent="alice")
        await w.tap(5)
        await w.settle()
        body = slash_command(user=LEAD, text="week by agent", response_url=slack.hook_url())
        response = await w.post(body)
        assert response.status_code == 200
        await w.settle()
        reply = slack.hooks[-1]
        assert reply["response_type"] == "ephemeral"
        blocks = json.dumps(reply["blocks"])
        assert "CSAT week" in blocks and "alice" in blocks and "100.0%" in blocks
        assert "95% interval" in blocks and "Change" in blocks and "1 of 1 sent (100%)" in blocks
        assert "(n=1) low sample" in blocks

    world(scenario)


def test_csat_trend_uploads_a_chart_to_the_leads_dm(
    world: Callable[..., None],
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send(agent="alice")
        await w.tap(4)
        await w.settle()
        asked = slash_command(user=LEAD, text="trend 7d", response_url=slack.hook_url())
        assert (await w.post(asked)).status_code == 200
        await w.settle()
        steps = [c.method for c in slack.calls if c.method.startswith("files.")]
        assert steps == ["files.getUploadURLExternal", "files.completeUploadExternal"]
        (upload,) = slack.uploads.values()
        assert upload.content.startswith(b"\x89PNG") and len(upload.content) == upload.length
        assert upload.shared_to == "D" + LEAD[1:]  # the lead's DM with the app
        assert upload.comment.startswith("Score 7d (Europe/Amsterdam): CSAT 100.0%")
        shots = Path(__file__).resolve().parent.parent / "docs" / "images"
        shots.mkdir(parents=True, exist_ok=True)
        (shots / "slack-trend-chart.png").write_bytes(upload.content)  # the README's picture
        assert not slack.problems
        refused = slash_command(user=CUSTOMER, text="trend 7d", response_url=slack.hook_url())
        await w.post(refused)
        await w.settle()
        assert "only available to team leads" in slack.hooks[-1]["text"]
        assert len(slack.uploads) == 1

    world(scenario)


def test_a_lead_reads_the_latest_comments_and_others_are_refused(
    world: Callable[..., None],
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        await w.send(agent="alice")
        await w.tap(2)
        await w.settle()
        comment = "Took a week to answer"
        event = message_event(user=CUSTOMER, text=comment, channel="D111", ts="1700000200.000100")
        assert (await w.post(event)).status_code == 200
        await w.settle()
        asked = slash_command(user=LEAD, text="comments today low", response_url=slack.hook_url())
        assert (await w.post(asked)).status_code == 200
        await w.settle()
        reply = slack.hooks[-1]
        assert reply["response_type"] == "ephemeral"
        assert "2/5 alice T-1: Took a week to answer" in reply["text"]
        refused = slash_command(user=CUSTOMER, text="comments", response_url=slack.hook_url())
        await w.post(refused)
        await w.settle()
        assert "only available to team leads" in slack.hooks[-1]["text"]
        assert comment not in slack.hooks[-1]["text"]

    world(scenario)


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        (CUSTOMER, "today", "only available to team leads"),
        (LEAD, "fortnight by mood", "Usage: /csat"),
    ],
)
def test_non_leads_and_bad_queries_get_a_polite_ephemeral_answer(
    world: Callable[..., None],
    slack: FakeSlack,
    user: str,
    text: str,
    expected: str,
) -> None:
    async def scenario(w: World) -> None:
        response = await w.post(slash_command(user=user, text=text, response_url=slack.hook_url()))
        assert response.status_code == 200
        await w.settle()
        reply = slack.hooks[-1]
        assert reply["response_type"] == "ephemeral"
        assert expected in reply["text"]
        assert "blocks" not in reply or not reply["blocks"]

    world(scenario)


def test_the_digest_goes_to_the_digest_channel_with_its_chart(
    settings: Settings, slack: FakeSlack
) -> None:
    adapter = build_adapter(slack_settings(settings, slack, slack_digest_channel="C0DIGEST1"))
    sink = adapter.digest_sink
    assert sink is not None
    chart = b"\x89PNG\r\n\x1a\n" + bytes(200)
    asyncio.run(sink.post_digest("CSAT digest 2025-06-09: CSAT 80.0%", chart, "CSAT 14 days"))
    (posted,) = slack.to("chat.postMessage")
    assert posted.args["channel"] == "C0DIGEST1"
    assert posted.args["text"] == "CSAT digest 2025-06-09: CSAT 80.0%"
    (upload,) = slack.uploads.values()
    assert upload.content == chart and upload.shared_to == "C0DIGEST1"
    assert not slack.problems


def test_csat_dashboard_gives_a_lead_a_link_that_signs_in_once(
    world: Callable[..., None],
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        asked = slash_command(user=LEAD, text="dashboard", response_url=slack.hook_url())
        assert (await w.post(asked)).status_code == 200
        await w.settle()
        text = slack.hooks[-1]["text"]
        assert slack.hooks[-1]["response_type"] == "ephemeral"
        link = text.split()[-1]
        assert "/dashboard/login?token=" in link
        path = link[link.index("/dashboard/") :]
        entered = await w.http.get(path)
        assert entered.status_code == 303
        assert (await w.http.get("/dashboard")).status_code == 200
        w.http.cookies.clear()
        assert (await w.http.get(path)).status_code == 401
        refused = slash_command(user=CUSTOMER, text="dashboard", response_url=slack.hook_url())
        await w.post(refused)
        await w.settle()
        assert "only available to team leads" in slack.hooks[-1]["text"]

    world(scenario)
