"""The Slack channel: survey DMs with star buttons, a comment modal, ``/csat`` for leads.

Bolt (async) receives events, interactivity and slash commands on ``POST /slack/events`` inside
our ASGI app, verifies Slack's signature and 5-minute timestamp window, and calls the listeners
added by :func:`add_csat_listeners`. Each listener acknowledges first (Slack allows 3 seconds)
and only then asks the hub, so a slow database never shows the user an error. The core decides
everything about a tap (counted, a correction, stale, closed); the listeners only turn its
replies into Block Kit. Socket Mode replaces the HTTP route when ``SLACK_APP_TOKEN`` is set.

The Web API side (client, sending, alerts) is :mod:`channels.slack_client`. Addresses are Slack
user ids (``U123ABC``) with one bot token, or ``T123ABC:U123ABC`` (workspace
and user) when the app is installed in many workspaces through OAuth.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.channel import OutboundMessage
from bot.comments import comments_text
from bot.errors import (
    ConfigError,
    InvalidInput,
    NotAllowed,
)
from bot.report_text import short_summary
from bot.results import Incoming, Outcome
from bot.settings import Settings
from channels.slack_blocks import (
    COMMENT_ACTION,
    COMMENT_BLOCK,
    COMMENT_INPUT,
    COMMENT_VIEW,
    FOLLOW_UP_ACTIONS,
    RATE_ACTION,
    SELECT_ACTION,
    SKIP_ACTION,
    CommentTarget,
    answer_text,
    answered_blocks,
    comment_locale,
    comment_view,
    decode_metadata,
    decode_tap,
    decode_target,
    escape,
    fallback_text,
    message_blocks,
    report_blocks,
    report_text,
    thanks_view,
)
from channels.slack_client import (
    BOT_SCOPES,
    CHANNEL,
    USAGE,
    SlackAlertSink,
    SlackChannel,
    SlackDigestSink,
)
from channels.slack_install import DatabaseInstallationStore, DatabaseStateStore
from storage.sql_store import SqlStore

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.hub import Hub
    from bot.service import InboundResult

log = logging.getLogger("csat.slack")


def add_csat_listeners(
    app: AsyncApp,
    hub: Hub,
    *,
    multi_workspace: bool = False,
    direct_messages: bool = False,
    command: str = "/csat",
) -> None:
    """Add the survey's listeners to an existing Bolt ``AsyncApp`` (plug-in mode).

    A team with its own Slack bot calls this once on its app, so surveys and ``/csat`` run in
    that bot instead of a second app. ``multi_workspace`` must match how surveys are addressed
    (``TEAM:USER`` instead of ``USER``). ``direct_messages`` also routes typed DMs (a rating,
    a comment, SKIP) to the survey; it is off by default because Bolt runs only the first
    matching ``message`` listener and the team's bot may answer DMs itself.
    """
    listeners = _Listeners(hub, multi_workspace)
    app.action(RATE_ACTION)(listeners.rate)
    app.action(SELECT_ACTION)(listeners.rate)
    app.action(COMMENT_ACTION)(listeners.open_comment)
    app.action(SKIP_ACTION)(listeners.skip_comment)
    app.view(COMMENT_VIEW)(listeners.submit_comment)
    for action_id in FOLLOW_UP_ACTIONS.values():
        app.action(action_id)(listeners.follow_up)
    app.command(command)(listeners.scores)
    if direct_messages:
        app.event("message", matchers=[_is_direct_message])(listeners.direct_message)


class _NoTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and, since we hand it our own
    client (our base URL, our retries), warns on every start that the token is unused."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_bolt_log = logging.getLogger("csat.slack.bolt")
_bolt_log.addFilter(_NoTokenNotice())


async def _quietly(method: str, call: Awaitable[Any]) -> bool:
    """Run a Web API call made after the ack; a failure is logged on one line and reported as
    False (the user's answer is already stored, and Slack retries nothing after an ack)."""
    try:
        await call
    except SlackApiError as exc:
        log.warning("slack: %s failed: %s", method, exc.response.get("error", "unknown error"))
        return False
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("slack: %s failed: %s: %s", method, type(exc).__name__, exc)
        return False
    return True


async def _is_direct_message(event: dict[str, Any]) -> bool:
    return event.get("channel_type") == "im" and not event.get("subtype")


def _message_location(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or message.get("ts")
    return channel, ts


def _section_text(blocks: Sequence[Mapping[str, Any]]) -> str:
    for block in blocks:
        text = block.get("text") or {}
        if block.get("type") == "section" and text.get("text"):
            return html.unescape(str(text["text"]))
    return ""


class _Listeners:
    """The Bolt listeners; they translate, call the hub, and render what the core replied."""

    def __init__(self, hub: Hub, multi_workspace: bool) -> None:
        self.hub = hub
        self.multi_workspace = multi_workspace

    def address(self, context: AsyncBoltContext, body: Mapping[str, Any]) -> str | None:
        user = context.user_id or (body.get("user") or {}).get("id") or body.get("user_id")
        if not user:
            return None
        if not self.multi_workspace:
            return str(user)
        team = (
            context.team_id
            or (body.get("user") or {}).get("team_id")
            or (body.get("team") or {}).get("id")
            or body.get("team_id")
        )
        return f"{team}:{user}" if team else None

    async def post(
        self,
        client: AsyncWebClient,
        channel_id: str,
        replies: Sequence[OutboundMessage],
        thread_ts: str | None = None,
    ) -> None:
        """Post the core's replies; a failure is logged, never raised (the answer is stored, and
        Slack has had its ack)."""
        for reply in replies:
            await _quietly(
                "chat.postMessage",
                client.chat_postMessage(
                    channel=channel_id,
                    text=fallback_text(reply),
                    blocks=message_blocks(reply),
                    thread_ts=thread_ts,
                ),
            )

    async def post_chart(
        self, client: AsyncWebClient, user: str, report: dict[str, Any], chart: bytes
    ) -> None:
        """The trend chart into the lead's DM with the app, through Slack's current upload flow
        (files.getUploadURLExternal, the bytes, files.completeUploadExternal), with the short
        summary as its comment."""
        opened = await client.conversations_open(users=user)
        channel_id = str((opened.get("channel") or {}).get("id") or "")
        period = report["period"]
        await client.files_upload_v2(
            channel=channel_id,
            content=chart,
            filename="csat-trend.png",
            title=f"CSAT {period['label']} by {report.get('by')}",
            initial_comment=short_summary(report, limit=4),
        )

    async def replace(
        self,
        client: AsyncWebClient,
        channel_id: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]],
    ) -> None:
        """Show ``text`` in place of the message's buttons; when Slack cannot update it (deleted,
        too old, a hiccup), say it in a new message instead, so the user is never left without
        the answer."""
        updated = await _quietly(
            "chat.update", client.chat_update(channel=channel_id, ts=ts, text=text, blocks=blocks)
        )
        if not updated:
            await _quietly(
                "chat.postMessage", client.chat_postMessage(channel=channel_id, text=text)
            )

    async def rate(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        raw = action.get("value") or (action.get("selected_option") or {}).get("value")
        tap = decode_tap(raw)
        address = self.address(context, body)
        channel_id, message_ts = _message_location(body)
        if tap is None or address is None or channel_id is None or message_ts is None:
            log.warning("ignoring a Slack rating action that is not ours: %r", raw)
            return
        result = await self.hub.receive(
            Incoming(
                CHANNEL,
                address,
                tap=tap,
                provider_message_id=f"{message_ts}:{action.get('action_ts')}",
            )
        )
        if result.duplicate:
            return
        blocks = (body.get("message") or {}).get("blocks") or []
        if result.outcome is Outcome.RECORDED:
            note = answer_text(tap.value, blocks)
            await self.replace(client, channel_id, message_ts, note, answered_blocks(blocks, note))
            await self.post(client, channel_id, result.replies)
        elif result.outcome is Outcome.CLOSED:
            note = " ".join(reply.text for reply in result.replies)
            await self.replace(client, channel_id, message_ts, note, answered_blocks(blocks, note))
        else:
            await self.post(client, channel_id, result.replies)

    async def follow_up(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """ "I'll follow up" or "Resolved" on an alert in the leads' channel. The core decides
        whether this person may; a refusal is shown only to them (an ephemeral message)."""
        await ack()
        chosen = next(
            (a for a, name in FOLLOW_UP_ACTIONS.items() if name == action.get("action_id")), None
        )
        raw = str(action.get("value") or "")
        address = self.address(context, body)
        user = body.get("user") or {}
        channel_id, _ = _message_location(body)
        if chosen is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            log.warning("ignoring a Slack alert action that is not ours: %r", raw)
            return
        if address is None:
            return
        who = "@" + str(user.get("username") or user.get("name") or user.get("id") or "someone")
        result = await self.hub.follow_up(CHANNEL, address, who, int(raw), chosen)
        if result.notice and channel_id and user.get("id"):
            await _quietly(
                "chat.postEphemeral",
                client.chat_postEphemeral(channel=channel_id, user=user["id"], text=result.notice),
            )

    async def open_comment(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        target = decode_target(action.get("value"))
        channel_id, message_ts = _message_location(body)
        trigger = body.get("trigger_id")
        if target is None or channel_id is None or message_ts is None or not trigger:
            log.warning("ignoring a Slack comment button that is not ours")
            return
        blocks = (body.get("message") or {}).get("blocks") or []
        question = _section_text(blocks)
        located = CommentTarget(
            target.invitation_id, target.question_id, channel_id, message_ts, comment_locale(blocks)
        )
        opened = await _quietly(
            "views.open",
            client.views_open(trigger_id=trigger, view=comment_view(located, question)),
        )
        if not opened and question:  # the comment can still be typed as a message
            await _quietly(
                "chat.postMessage", client.chat_postMessage(channel=channel_id, text=question)
            )

    async def skip_comment(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        address = self.address(context, body)
        channel_id, message_ts = _message_location(body)
        if address is None or channel_id is None or message_ts is None:
            return
        result = await self.hub.receive(
            Incoming(
                CHANNEL,
                address,
                "skip",
                provider_message_id=f"{message_ts}:{action.get('action_ts')}",
            )
        )
        if result.duplicate:
            return
        note = " ".join(reply.text for reply in result.replies)
        blocks = (body.get("message") or {}).get("blocks") or []
        await self.replace(client, channel_id, message_ts, note, answered_blocks(blocks, note))

    async def submit_comment(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        values = ((view.get("state") or {}).get("values") or {}).get(COMMENT_BLOCK) or {}
        text = str((values.get(COMMENT_INPUT) or {}).get("value") or "").strip()
        if not text:
            await ack(
                response_action="errors",
                errors={COMMENT_BLOCK: "Please write a comment, or press Cancel."},
            )
            return
        address = self.address(context, body)
        target = decode_metadata(view.get("private_metadata"))
        if address is None or target is None or not view.get("id"):
            await ack()
            log.warning("ignoring a Slack comment view that is not ours")
            return
        # Recorded before the ack (a few milliseconds of Slack's three seconds), so the ack can
        # carry the thank-you: it then reaches the user even when every later API call fails.
        try:
            result = await self.hub.receive(
                Incoming(CHANNEL, address, text, provider_message_id=f"view:{view['id']}")
            )
        except Exception:
            await ack()
            raise
        thanks = " ".join(reply.text for reply in result.replies)
        if thanks:
            await ack(response_action="update", view=thanks_view(thanks, target.locale))
        else:
            await ack()
        if result.duplicate or target.channel_id is None or target.message_ts is None:
            return
        await self._show_comment(client, target, view, text, result)

    async def _show_comment(
        self,
        client: AsyncWebClient,
        target: CommentTarget,
        view: Mapping[str, Any],
        text: str,
        result: InboundResult,
    ) -> None:
        assert target.channel_id is not None and target.message_ts is not None
        if result.outcome is Outcome.COMMENT:
            label = str(((view.get("blocks") or [{}])[0].get("label") or {}).get("text") or "")
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(label)}}]
            await _quietly(
                "chat.update",
                client.chat_update(
                    channel=target.channel_id,
                    ts=target.message_ts,
                    text=text[:3000],
                    blocks=answered_blocks(blocks, f"“{text}”"),
                ),
            )
        await self.post(client, target.channel_id, result.replies)

    async def direct_message(
        self, event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        address = self.address(context, {"user_id": event["user"], "team_id": event.get("team")})
        if address is None:
            return
        channel_id, ts = str(event["channel"]), str(event["ts"])
        text = str(event.get("text") or "")
        result = await self.hub.receive(
            Incoming(CHANNEL, address, text, provider_message_id=f"{channel_id}:{ts}")
        )
        if not result.duplicate:
            await self.post(client, channel_id, result.replies, thread_ts=event.get("thread_ts"))

    async def scores(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        address = self.address(context, command)
        query = str(command.get("text") or "").strip() or "today"
        try:
            if address is None:
                raise NotAllowed("Sorry, scores are only available to team leads.")
            if query.lower().split() == ["dashboard"]:
                link = await self.hub.dashboard_link(CHANNEL, address)
                note = "Your dashboard (the link works once, for ten minutes):"
                await respond(text=f"{note} {link}", response_type="ephemeral")
                return
            if query.lower().split()[:1] == ["trend"]:
                report, chart = await self.hub.trend_for(CHANNEL, address, query)
                await self.post_chart(client, str(command.get("user_id") or ""), report, chart)
                return
            if query.lower().split()[:1] == ["comments"]:
                page = await self.hub.comments_for(CHANNEL, address, query)
                await respond(text=comments_text(page), response_type="ephemeral")
                return
            report = await self.hub.scores_for(CHANNEL, address, query)
        except NotAllowed as exc:
            await respond(text=str(exc), response_type="ephemeral")
            return
        except InvalidInput as exc:
            await respond(text=f"{exc}\n{USAGE}", response_type="ephemeral")
            return
        await respond(
            text=report_text(report), blocks=report_blocks(report), response_type="ephemeral"
        )


def _authorization_url(api_url: str) -> str:
    """Slack's consent page on the same host as the Web API (GovSlack has its own)."""
    root = api_url.rstrip("/")
    root = root[: -len("/api")] if root.endswith("/api") else root
    return f"{root}/oauth/v2/authorize"


@dataclass
class SlackAdapter:
    """The Slack parts for the app: the channel, the alert sink, the Bolt routes, Socket Mode."""

    settings: Settings
    channel: SlackChannel
    alert_sink: SlackAlertSink | None = None
    digest_sink: SlackDigestSink | None = None
    store: SqlStore | None = None
    _apps: dict[int, AsyncApp] = field(default_factory=dict)
    _socket: AsyncSocketModeHandler | None = None

    @property
    def mode(self) -> str:
        return "socket" if self.settings.slack_app_token is not None else "http"

    def bolt_app(self, hub: Hub) -> AsyncApp:
        """Our own Bolt app, built once per hub."""
        if id(hub) in self._apps:
            return self._apps[id(hub)]
        secret = self.settings.slack_signing_secret
        if secret is None:
            raise ConfigError("SLACK_SIGNING_SECRET is required for the slack channel")
        oauth: AsyncOAuthSettings | None = None
        if self.channel.installations is not None and self.store is not None:
            client_secret = self.settings.slack_client_secret
            assert self.settings.slack_client_id is not None and client_secret is not None
            public = (self.settings.csat_public_url or "").rstrip("/")
            oauth = AsyncOAuthSettings(
                client_id=self.settings.slack_client_id,
                client_secret=client_secret.get_secret_value(),
                scopes=list(BOT_SCOPES),
                user_scopes=[],
                redirect_uri=f"{public}/slack/oauth_redirect" if public else None,
                installation_store=self.channel.installations,
                installation_store_bot_only=True,
                state_store=DatabaseStateStore(self.store),
                authorization_url=_authorization_url(self.channel.api_url),
            )
        app = AsyncApp(
            name="csat-bot",
            logger=_bolt_log,
            signing_secret=secret.get_secret_value(),
            request_verification_enabled=True,
            client=self.channel.client(self.channel.bot_token),
            oauth_settings=oauth,
            installation_store_bot_only=True if oauth is not None else None,
        )
        add_csat_listeners(
            app, hub, multi_workspace=self.channel.multi_workspace, direct_messages=True
        )
        self._apps[id(hub)] = app
        return app

    def routes(self, hub: Hub) -> APIRouter:
        handler = AsyncSlackRequestHandler(self.bolt_app(hub))
        secret = self.settings.slack_signing_secret
        assert secret is not None
        verifier = SignatureVerifier(secret.get_secret_value())
        router = APIRouter()

        async def events(request: Request) -> Response:
            # Bolt parses the body before it checks the signature; check first, so nothing
            # unauthenticated is ever parsed and a forged body is a 401 whatever it contains.
            body = await request.body()
            timestamp = request.headers.get("x-slack-request-timestamp", "")
            if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
                return JSONResponse({"error": "invalid Slack signature"}, status_code=401)
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                return JSONResponse({"error": "the body is not UTF-8"}, status_code=400)
            if not verifier.is_valid_request(body, dict(request.headers)):
                return JSONResponse({"error": "invalid Slack signature"}, status_code=401)
            try:
                return await handler.handle(request)
            except Exception as exc:  # a signed body Bolt cannot parse
                log.warning("malformed Slack request: %s", exc)
                return JSONResponse({"error": "malformed Slack request body"}, status_code=400)

        async def oauth(request: Request) -> Response:
            return await handler.handle(request)

        router.add_api_route("/slack/events", events, methods=["POST"], include_in_schema=False)
        if self.channel.multi_workspace:
            for path in ("/slack/install", "/slack/oauth_redirect"):
                router.add_api_route(path, oauth, methods=["GET"], include_in_schema=False)
        return router

    def socket_handler(self, hub: Hub) -> AsyncSocketModeHandler:
        """Socket Mode, for teams without a public URL; call inside the running loop."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        token = self.settings.slack_app_token
        if token is None:
            raise ConfigError("SLACK_APP_TOKEN is required for Socket Mode")
        return AsyncSocketModeHandler(self.bolt_app(hub), token.get_secret_value())

    async def start(self, hub: Hub) -> None:
        if self.mode == "socket":
            self._socket = self.socket_handler(hub)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack: connected in Socket Mode")

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
            await asyncio.sleep(0)


def build_adapter(settings: Settings, store: SqlStore | None = None) -> SlackAdapter:
    """The Slack adapter from settings: one bot token, or OAuth installs kept in the service's
    store (``store`` is required then)."""
    if settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is required for the slack channel")
    installations: DatabaseInstallationStore | None = None
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if settings.slack_client_id:
        if settings.slack_client_secret is None:
            raise ConfigError("SLACK_CLIENT_SECRET is required when SLACK_CLIENT_ID is set")
        if store is None:
            raise ConfigError("SLACK_CLIENT_ID keeps installs in the database: open it first")
        installations = DatabaseInstallationStore(settings.slack_client_id, store)
        token = None
    elif token is None:
        raise ConfigError("SLACK_BOT_TOKEN or SLACK_CLIENT_ID is required for the slack channel")
    channel = SlackChannel(
        api_url=settings.slack_api_url, bot_token=token, installations=installations
    )
    sink = (
        SlackAlertSink(channel, settings.slack_alert_channel)
        if settings.slack_alert_channel
        else None
    )
    digests = (
        SlackDigestSink(channel, settings.slack_digest_channel)
        if settings.slack_digest_channel
        else None
    )
    return SlackAdapter(
        settings=settings, channel=channel, alert_sink=sink, digest_sink=digests, store=store
    )
