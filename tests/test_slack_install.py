"""Multi-workspace OAuth installs, plug-in mode in a team's own Bolt app, and Socket Mode."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.slack_api are parameters here)

from __future__ import annotations

import asyncio
import random
import re
import threading
from pathlib import Path

import httpx
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, delete, select
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.hub import Hub
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.slack import add_csat_listeners, build_adapter
from channels.slack_install import DatabaseStateStore, slack_metadata
from storage.models import Answer, Invitation
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.fakes.slack_api import (
    BOT_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    INSTALLED_TEAM,
    INSTALLED_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    signed_headers,
    slack,  # noqa: F401
    slack_server,  # noqa: F401
    slash_command,
)
from tests.test_slack import World, answers, run, slack_settings

OAUTH = {
    "slack_bot_token": None,
    "slack_client_id": CLIENT_ID,
    "slack_client_secret": SecretStr(CLIENT_SECRET),
    "csat_public_url": "https://csat.example",
}


def clear_installs(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in slack_metadata().sorted_tables:
            connection.execute(delete(table))


def test_oauth_install_keeps_the_workspace_and_surveys_go_out_with_its_token(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    clear_installs(db_engine)

    async def scenario(w: World) -> None:
        page = await w.http.get("/slack/install")
        assert page.status_code == 200
        assert "https://slack.com/oauth/v2/authorize" not in page.text  # our API host, not slack
        match = re.search(r"state=([0-9a-f-]{36})", page.text)
        assert match is not None, page.text
        state = match.group(1)
        cookie = page.headers["set-cookie"].split(";")[0]
        forged = await w.http.get(
            "/slack/oauth_redirect",
            params={"code": "good-code", "state": "not-a-state"},
            headers={"cookie": cookie},
        )
        assert forged.status_code >= 400
        done = await w.http.get(
            "/slack/oauth_redirect",
            params={"code": "good-code", "state": state},
            headers={"cookie": cookie},
        )
        assert done.status_code == 200, done.text
        access = slack.to("oauth.v2.access")
        assert len(access) == 1 and access[0].args["client_id"] == CLIENT_ID
        replay = await w.http.get(
            "/slack/oauth_redirect",
            params={"code": "good-code", "state": state},
            headers={"cookie": cookie},
        )
        assert replay.status_code >= 400  # a state is good once
        bots = slack_metadata().tables["slack_bots"]
        with db_engine.connect() as connection:
            rows = connection.execute(select(bots.c.team_id, bots.c.bot_token)).all()
        assert [tuple(r) for r in rows] == [(INSTALLED_TEAM, INSTALLED_TOKEN)]

        address = f"{INSTALLED_TEAM.lower()}:u333"
        w.service.start_survey(SurveyRequest(channel="slack", to=address, interaction_id="T-1"))
        w.service.start_survey(SurveyRequest(channel="slack", to="T999:U333", interaction_id="T-2"))
        report = await Sender(w.service).run_once()
        assert report.sent == 1 and report.failed == 1
        opened = slack.to("conversations.open")
        assert [(c.token, c.args["users"]) for c in opened] == [(INSTALLED_TOKEN, "U333")]
        with Session(db_engine) as session:
            failed = session.scalars(
                select(Invitation).where(Invitation.interaction_id == "T-2")
            ).one()
        assert failed.last_error is not None and failed.last_error.startswith("not_installed")

        await w.tap(4, user="U333", team=INSTALLED_TEAM, message=w.last_message())
        await w.settle()
        assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 4)]
        update = slack.to("chat.update")[0]
        assert update.token == INSTALLED_TOKEN

    try:
        run(settings, db_engine, clock, slack, scenario, **OAUTH)
    finally:
        clear_installs(db_engine)


def test_leads_in_a_multi_workspace_install_are_team_and_user(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    clear_installs(db_engine)
    slack.tokens[INSTALLED_TOKEN] = INSTALLED_TEAM

    async def scenario(w: World) -> None:
        from slack_sdk.oauth.installation_store.models.installation import Installation

        installations = w.adapter.channel.installations
        assert installations is not None
        await installations.async_save(
            Installation(
                app_id="A111",
                team_id=INSTALLED_TEAM,
                bot_token=INSTALLED_TOKEN,
                bot_id="B2",
                bot_user_id="UBOT2",
                user_id="U900",
            )
        )
        body = slash_command(
            user="ULEAD1", team=INSTALLED_TEAM, text="today", response_url=slack.hook_url()
        )
        assert (await w.post(body)).status_code == 200
        await w.settle()
        assert "CSAT today" in str(slack.hooks[-1]["blocks"])

    try:
        run(
            settings,
            db_engine,
            clock,
            slack,
            scenario,
            csat_leads=f"slack:{INSTALLED_TEAM}:ULEAD1",
            **OAUTH,
        )
    finally:
        clear_installs(db_engine)


def test_plug_in_mode_adds_surveys_to_a_teams_own_bolt_app(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    configured = slack_settings(settings, slack)

    async def main() -> None:
        adapter = build_adapter(configured)
        service = Service(
            settings=configured,
            store=SqlStore(db_engine),
            surveys=builtin_surveys(),
            channels={"slack": adapter.channel},
            clock=clock,
            rng=random.Random(7),
        )
        their_app = AsyncApp(
            signing_secret=SIGNING_SECRET,
            client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url),
        )

        @their_app.command("/hello")
        async def hello(ack: AsyncAck) -> None:
            await ack("hi from the team's own bot")

        add_csat_listeners(their_app, Hub(service))
        handler = AsyncSlackRequestHandler(their_app)

        async def endpoint(request: Request) -> Response:
            return await handler.handle(request)

        their_asgi = Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])
        transport = httpx.ASGITransport(app=their_asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as http:
            w = World(slack, service, adapter, http)
            await w.send()
            assert (await w.tap(2)).status_code == 200
            await w.settle()
            assert [(a.question_id, a.value) for a in answers(db_engine)] == [("csat", 2)]
            assert len(slack.to("chat.update")) == 1
            body = slash_command(
                user="U5", text="", response_url=slack.hook_url(), command="/hello"
            )
            own = await http.post("/slack/events", content=body, headers=signed_headers(body))
            assert own.text == "hi from the team's own bot"
        await adapter.stop()

    asyncio.run(main())
    with Session(db_engine) as session:
        assert session.scalars(select(Answer)).one().channel == "slack"


def test_socket_mode_is_chosen_when_an_app_token_is_set(
    settings: Settings,
    db_engine: Engine,
    clock: Clock,
    slack: FakeSlack,
) -> None:
    http_mode = build_adapter(slack_settings(settings, slack))
    assert http_mode.mode == "http"
    socket_mode = build_adapter(
        slack_settings(settings, slack, slack_app_token=SecretStr("xapp-1-test"))
    )
    assert socket_mode.mode == "socket"

    async def main() -> None:
        service = Service(
            settings=socket_mode.settings,
            store=SqlStore(db_engine),
            surveys=builtin_surveys(),
            channels={"slack": socket_mode.channel},
            clock=clock,
        )
        hub = Hub(service)
        handler = socket_mode.socket_handler(hub)
        assert isinstance(handler, AsyncSocketModeHandler)
        assert handler.app is socket_mode.bolt_app(hub)
        assert handler.app_token == "xapp-1-test"
        assert str(handler.client.web_client.base_url) == slack.base_url
        await handler.close_async()  # type: ignore[no-untyped-call]
        await http_mode.start(hub)  # HTTP mode: nothing to connect
        await http_mode.stop()

    asyncio.run(main())
    assert slack.calls == []


def test_oauth_state_waits_for_the_write_turn_and_shares_the_stores_pool(tmp_path: Path) -> None:
    """An install writes through the service's store: while a reply holds SQLite's write turn,
    the OAuth state waits for it instead of racing it for the one writer."""
    from storage.db import prepare

    store = SqlStore(prepare(f"sqlite:///{tmp_path / 'csat.db'}"))
    states = DatabaseStateStore(store)
    assert store.turn is not None
    held, release = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        with store.write_turn():
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    held.wait(5)

    async def main() -> None:
        issuing = asyncio.ensure_future(states.async_issue())
        await asyncio.sleep(0.3)
        assert not issuing.done(), "the state was written while another writer held the turn"
        release.set()
        state = await asyncio.wait_for(issuing, 5)
        assert await states.async_consume(state)
        assert not await states.async_consume(state)

    try:
        asyncio.run(main())
    finally:
        release.set()
        holder.join()
        store.dispose()
