"""The whole loop after an unhappy customer, through the real app and the providers' fakes.

A customer rates 2/5 by SMS (fake Twilio) and gives a reason; the alert reaches the leads' Slack
channel (fake Slack) and Telegram chat (fake Telegram); a lead claims it in Slack and another
resolves it in Telegram, each edit showing in both; the report has the reason and the
follow-up times; and a webhook receiver verifies every event's signature and sees each id once.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from bot.app.web import create_app
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.slack import build_adapter as build_slack
from channels.sms import build_adapter as build_sms
from channels.telegram import build_adapter as build_telegram
from storage.sql_store import SqlStore
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN, Clock
from tests.fakes.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    block_actions,
    signed_headers,
    slack_server,  # noqa: F401
)
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.test_sms import INBOUND_FIELDS, SERVICE_SID
from tests.test_telegram import SECRET_HEADER, fake, fake_server, template  # noqa: F401
from tests.test_webhooks import SECRET as WEBHOOK_SECRET
from tests.test_webhooks import Receiver, receiver  # noqa: F401

PUBLIC = "https://csat.example.com"
AUTH = {"authorization": "Bearer test-token-0123456789"}
CUSTOMER = "+31687654321"
SLACK_LEAD, TELEGRAM_LEAD = "ULEAD1", 4242
SLACK_ALERTS, TELEGRAM_ALERTS = "C0ALERTS", "-100777"
TELEGRAM_SECRET = "s3cret-Webhook_token"


class Desk:
    """The app with SMS, Slack and Telegram at once, spoken to over HTTP as each provider does."""

    def __init__(self, service: Service, adapters: list[Any], http: httpx.AsyncClient) -> None:
        self.service = service
        self.adapters = adapters
        self.http = http
        self.signer = RequestValidator(TWILIO_TOKEN)
        self._sid = 0

    async def text(self, body: str) -> list[str]:
        import xml.etree.ElementTree as ET

        self._sid += 1
        sid = f"SM{self._sid:032x}"
        form = dict(INBOUND_FIELDS)
        form.update(
            {
                "From": CUSTOMER,
                "To": "+12028831111",
                "Body": body,
                "MessageSid": sid,
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "AccountSid": TWILIO_ACCOUNT,
            }
        )
        signature = self.signer.compute_signature(PUBLIC + "/sms/inbound", form)
        answer = await self.http.post(
            "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 200, answer.text
        return [m.text or "" for m in ET.fromstring(answer.text).iter("Message")]


async def _settle(hub: Any, done: Callable[[], bool] = lambda: True) -> None:
    """Wait (at most 10 s) until ``done``: Bolt finishes its work after the ack, and alerts are
    posted and edited, on tasks of their own."""
    for _ in range(1000):
        await hub.drain()
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting for the chats")


def _slack_alert(slack: FakeSlack) -> tuple[str, dict[str, Any]]:
    ((key, args),) = [(k, a) for k, a in slack.messages.items() if k[0] == SLACK_ALERTS]
    return key[1], args


def _telegram_alert(fake_tg: FakeTelegram) -> dict[str, Any]:
    (message,) = [m for k, m in fake_tg.messages.items() if k[0] == int(TELEGRAM_ALERTS)]
    return copy.deepcopy(message)


def test_a_low_sms_rating_is_followed_up_from_slack_and_telegram(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    twilio: FakeTwilio,
    slack_server: FakeSlack,  # noqa: F811
    fake: FakeTelegram,  # noqa: F811
    fake_server: tuple[FakeTelegram, str],  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    slack = slack_server
    slack.reset()
    configured = settings.model_copy(
        update={
            "csat_public_url": PUBLIC,
            "csat_leads": f"slack:{SLACK_LEAD},telegram:{TELEGRAM_LEAD}",
            "csat_alert_below": 3,
            "twilio_account_sid": TWILIO_ACCOUNT,
            "twilio_auth_token": SecretStr(TWILIO_TOKEN),
            "twilio_messaging_service_sid": SERVICE_SID,
            "twilio_api_url": twilio.url,
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": slack.base_url,
            "slack_alert_channel": SLACK_ALERTS,
            "telegram_bot_token": SecretStr(TELEGRAM_TOKEN),
            "telegram_webhook_secret": SecretStr(TELEGRAM_SECRET),
            "telegram_api_url": fake_server[1],
            "telegram_alert_chat": TELEGRAM_ALERTS,
            "csat_webhook_urls": receiver.url,
            "csat_webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )
    store = SqlStore(db_engine)
    sms, slack_adapter, telegram = (
        build_sms(configured),
        build_slack(configured, store),
        build_telegram(configured),
    )
    service = Service(
        settings=configured,
        store=store,
        surveys=builtin_surveys(),
        channels={"sms": sms.channel, "slack": slack_adapter.channel, "telegram": telegram.channel},
        clock=clock,
        rng=random.Random(5),
    )
    app = create_app(service, adapters=[sms, slack_adapter, telegram])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://internal:8000") as http,
        ):
            desk = Desk(service, [sms, slack_adapter, telegram], http)
            sender = app.state.sender
            body = {
                "channel": "sms",
                "to": CUSTOMER,
                "interaction_id": "T-77",
                "agent": "alice",
                "team": "billing",
                "survey": SURVEY,
            }
            created = await http.post("/v1/surveys", json=body, headers=AUTH)
            assert created.status_code in (200, 201), created.text
            assert (await sender.run_once()).sent == 1
            (asked,) = twilio.messages
            assert "rate" in asked["Body"]

            (follow_up,) = await desk.text("2")
            await _settle(app.state.hub)
            await answer_follow_up(desk, follow_up)
            await _settle(app.state.hub)

            # The alert is in both chats, once each, with the reason and the comment.
            ts, posted = _slack_alert(slack)
            tg_alert = _telegram_alert(fake)
            for shown in (json.dumps(posted), tg_alert["text"]):
                assert "Low score 2/5 on sms for interaction T-77" in shown
                assert EXPECTED_IN_ALERT in shown

            # Claimed in Slack by a lead, 12 minutes after the rating.
            clock.advance(minutes=12)
            button = next(
                e
                for b in posted["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"] == "csat_alert_claim"
            )
            press = block_actions(
                user=SLACK_LEAD,
                channel=SLACK_ALERTS,
                message={"ts": ts, "blocks": posted["blocks"], "text": posted["text"]},
                action={
                    "action_id": "csat_alert_claim",
                    "value": button["value"],
                    "action_ts": "1700000300.1",
                },
            )
            headers = signed_headers(press, content_type="application/x-www-form-urlencoded")
            assert (
                await http.post("/slack/events", content=press, headers=headers)
            ).status_code == 200
            claimed_line = f"Claimed by @{SLACK_LEAD} 12 min after the rating"
            await _settle(
                app.state.hub, lambda: claimed_line in _telegram_alert(fake).get("text", "")
            )
            assert claimed_line in json.dumps(_slack_alert(slack)[1])
            tg_alert = _telegram_alert(fake)
            assert claimed_line in tg_alert["text"], "the claim shows in Telegram too"

            # Resolved in Telegram by the other lead, two hours later.
            clock.advance(hours=2)
            update = copy.deepcopy(template("telegram_callback_query_update.json"))
            update["update_id"] = 8801
            query = update["callback_query"]
            query["id"] = "resolve8801"
            query["from"].update(id=TELEGRAM_LEAD, username="bob", first_name="Bob")
            query["message"] = tg_alert
            query["data"] = next(
                b["callback_data"]
                for row in tg_alert["reply_markup"]["inline_keyboard"]
                for b in row
                if b["callback_data"].startswith("csat_alert:resolve:")
            )
            fake.expect_callback(query["id"])
            answered = await http.post(
                "/telegram/webhook", json=update, headers={SECRET_HEADER: TELEGRAM_SECRET}
            )
            assert answered.status_code == 200
            resolved_line = (
                f"Resolved by @bob 2 h 12 min after the rating (claimed by @{SLACK_LEAD})"
            )
            await _settle(
                app.state.hub, lambda: resolved_line in json.dumps(_slack_alert(slack)[1])
            )
            assert resolved_line in _telegram_alert(fake)["text"]
            assert resolved_line in json.dumps(_slack_alert(slack)[1])

            # The report: follow-up figures (and the reason, where the survey asks it).
            report = (await http.get("/v1/scores?period=today&by=agent", headers=AUTH)).json()
            figures = report["follow_up"]
            assert figures["alerts"] == 1 and figures["claimed"] == 1 and figures["resolved"] == 1
            assert figures["median_minutes_to_claim"] == 12.0
            assert figures["median_minutes_to_resolve"] == 132.0
            assert figures["groups"]["alice"]["follow_up_rate"] == 1.0
            await check_reasons(http)

            # Every event reaches the receiver once, signed.
            for _ in range(5):
                await sender.webhooks.deliver_due()
            types = sorted(post["type"] for post in receiver.posts)
            assert types == sorted(EXPECTED_EVENTS), types
            assert len(set(receiver.ids())) == len(receiver.ids()), "each id once"
            assert receiver.bad_signatures == 0
            assert not fake.violations
            assert slack.problems == []

    asyncio.run(scenario())


SURVEY = "reasons"
EXPECTED_IN_ALERT = "Speed"
EXPECTED_EVENTS = [
    "response.created",
    "response.updated",
    "alert.created",
    "alert.claimed",
    "alert.resolved",
]


async def answer_follow_up(desk: Desk, follow_up: str) -> None:
    """The low rating was answered with the numbered reason list; "4" picks speed."""
    lines = follow_up.splitlines()
    assert "1 Knowledge" in lines and "4 Speed" in lines and "6 Something else" in lines
    assert "from 1 to 6" in follow_up
    (thanks,) = await desk.text("4")
    assert thanks


async def check_reasons(http: httpx.AsyncClient) -> None:
    alerts = (await http.get("/v1/alerts", headers=AUTH)).json()["alerts"]
    assert [(a["reason"], a["status"]) for a in alerts] == [("speed", "resolved")]
    report = (await http.get("/v1/scores?period=today&by=reason", headers=AUTH)).json()
    assert report["low"] == 1
    speed = report["groups"]["speed"]
    assert (speed["label"], speed["count"], speed["share"]) == ("Speed", 1, 1.0)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
