"""Slack delivery: addresses, provider errors onto the invitation, rate limits, other scales."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.slack_api are parameters here)

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.channel import Button, OutboundMessage
from bot.errors import InvalidInput
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.settings import Settings
from channels.slack import SlackChannel, build_adapter
from channels.slack_blocks import message_blocks
from storage.models import Invitation
from tests.conftest import Clock
from tests.fakes.slack_api import (
    FakeSlack,
    block_kit_problems,
    slack,  # noqa: F401
    slack_server,  # noqa: F401
)
from tests.test_slack import CUSTOMER, World, run


def invitation(engine: Engine) -> Invitation:
    with Session(engine) as session:
        return session.scalars(select(Invitation)).one()


def trigger(world: World, to: str = CUSTOMER, survey: str = "support") -> None:
    world.service.start_survey(
        SurveyRequest(channel="slack", to=to, interaction_id="T-1", survey=survey)
    )


def test_addresses_are_user_ids_or_team_and_user_with_clear_refusals() -> None:
    single = SlackChannel(api_url="http://127.0.0.1:9/api/", bot_token="xoxb-1")
    assert single.normalise_address(" u123abc ") == "U123ABC"
    assert single.normalise_address("W0ENTERPRISE") == "W0ENTERPRISE"
    for bad in ("", "C123ABC", "T1:U123ABC", "U1 23", "alice@example.com"):
        with pytest.raises(InvalidInput, match="'to'"):
            single.normalise_address(bad)
    from sqlalchemy import create_engine

    from channels.slack_install import DatabaseInstallationStore
    from storage.sql_store import SqlStore

    engine = create_engine("sqlite://")
    installations = DatabaseInstallationStore("1.2", SqlStore(engine))
    multi = SlackChannel(api_url="http://127.0.0.1:9/api/", installations=installations)
    assert multi.normalise_address("t123abc:u123abc") == "T123ABC:U123ABC"
    with pytest.raises(InvalidInput, match="TEAM:USER"):
        multi.normalise_address("U123ABC")
    engine.dispose()
    assert single.traits.supports_buttons and single.traits.default_expiry == timedelta(days=7)
    assert single.traits.quiet_hours is None and not single.traits.keywords


def test_a_bad_address_is_refused_before_anything_is_stored(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        with pytest.raises(InvalidInput, match="'to'"):
            trigger(w, to="#general")
        with Session(db_engine) as session:
            assert session.scalars(select(Invitation)).first() is None
        assert slack.calls == []

    run(settings, db_engine, clock, slack, scenario)


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("conversations.open", "user_not_found"),
        ("conversations.open", "account_inactive"),
        ("chat.postMessage", "not_in_channel"),
        ("chat.postMessage", "invalid_auth"),
    ],
)
def test_permanent_errors_are_recorded_on_the_invitation(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
    method: str,
    error: str,
) -> None:
    async def scenario(w: World) -> None:
        slack.fail(method, error)
        trigger(w)
        report = await Sender(w.service).run_once()
        assert report.failed == 1
        row = invitation(db_engine)
        assert row.status == "failed" and row.reason == "delivery failed"
        assert row.last_error is not None and row.last_error.startswith(f"{error}:")

    run(settings, db_engine, clock, slack, scenario)


def test_a_short_rate_limit_is_waited_out_by_the_sdk_retry_handler(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        slack.rate_limit("conversations.open", retry_after=0)
        trigger(w)
        report = await Sender(w.service).run_once()
        assert report.sent == 1
        assert len(slack.to("conversations.open")) == 2
        assert invitation(db_engine).status == "sent"

    run(settings, db_engine, clock, slack, scenario)


def test_a_long_rate_limit_goes_back_to_the_scheduler_with_retry_after(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        slack.rate_limit("chat.postMessage", retry_after=30)
        trigger(w)
        report = await Sender(w.service).run_once()
        assert report.retried == 1
        assert len(slack.to("chat.postMessage")) == 1
        row = invitation(db_engine)
        assert row.status == "scheduled" and row.attempts == 1
        assert row.last_error is not None and row.last_error.startswith("ratelimited")
        assert row.send_at.replace(tzinfo=None) >= (clock.now + timedelta(seconds=30)).replace(
            tzinfo=None
        )
        report = await Sender(w.service).run_once()
        assert report.sent == 0  # not before Retry-After has passed

    run(settings, db_engine, clock, slack, scenario)


def test_server_errors_are_transient(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    async def scenario(w: World) -> None:
        slack.server_error("conversations.open", status=503)
        trigger(w)
        report = await Sender(w.service).run_once()
        assert report.retried == 1
        row = invitation(db_engine)
        assert row.status == "scheduled" and row.last_error and "http_503" in row.last_error

    run(settings, db_engine, clock, slack, scenario)


@pytest.mark.parametrize(
    ("survey", "labels"),
    [
        ("nps", [str(n) for n in range(11)]),
        ("ces", [str(n) for n in range(1, 8)]),
    ],
)
def test_nps_and_ces_render_as_numbered_buttons_slack_accepts(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
    survey: str,
    labels: list[str],
) -> None:
    async def scenario(w: World) -> None:
        trigger(w, survey=survey)
        assert (await Sender(w.service).run_once()).sent == 1
        blocks = slack.to("chat.postMessage")[0].args["blocks"]
        buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        assert [b["text"]["text"] for b in buttons] == labels

    run(settings, db_engine, clock, slack, scenario)


def test_wide_scales_become_a_select_menu_within_block_kit_limits() -> None:
    for high in (20, 100):
        outbound = OutboundMessage(
            text="How likely?",
            buttons=tuple(Button(str(v), v) for v in range(high + 1)),
            invitation_id=7,
            question_id="q",
            question_kind="csat10",
        )
        blocks = message_blocks(outbound)
        assert block_kit_problems(blocks) == []
        select_menu = blocks[1]["elements"][0]
        assert select_menu["type"] == "static_select"
        values = [o["value"] for o in select_menu.get("options", [])] or [
            o["value"] for g in select_menu["option_groups"] for o in g["options"]
        ]
        assert values == [f"7:q:{v}" for v in range(high + 1)]


def test_half_configured_slack_names_the_missing_key(settings: Settings) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        build_adapter(settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-1")}))
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN or SLACK_CLIENT_ID"):
        build_adapter(settings.model_copy(update={"slack_signing_secret": SecretStr("s")}))
