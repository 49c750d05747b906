"""Slack's Web API side of the channel: the client with our retry policy, sending a survey DM,
and low-score alerts. The webhook side (Bolt listeners, ``/csat``, OAuth) is :mod:`channels.slack`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.alerts import Alert, alert_text
from bot.channel import ChannelTraits, OutboundMessage, SendResult
from bot.errors import (
    ConfigError,
    InvalidInput,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from channels.slack_blocks import (
    alert_blocks,
    fallback_text,
    message_blocks,
)
from channels.slack_install import DatabaseInstallationStore
from storage.interface import AlertPost

if TYPE_CHECKING:
    pass


CHANNEL = "slack"
SLACK_TRAITS = ChannelTraits(
    supports_buttons=True, default_expiry=timedelta(days=7), keywords=False
)
BOT_SCOPES = ("chat:write", "im:write", "im:history", "commands", "files:write")
MAX_INLINE_WAIT = 5.0  # seconds of Retry-After worth waiting for in place; longer goes back to the
# core's scheduler, so one rate-limited send never stalls the whole sender loop
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
USAGE = (
    "Usage: /csat [today|yesterday|week|month|7d|30d|YYYY-MM-DD|YYYY-MM-DD..YYYY-MM-DD] "
    "[by channel|agent|team|touchpoint|survey|locale|day|week|month]\n"
    "       /csat comments [period] [low|all] [by agent|team|...]\n"
    "       /csat trend [period] [by day|week|month]"
)

_USER = re.compile(r"[UW][A-Z0-9]{2,31}")
_TEAM_USER = re.compile(r"([TE][A-Z0-9]{2,31}):([UW][A-Z0-9]{2,31})")
_ALERT_TARGET = re.compile(r"(?:([TE][A-Z0-9]{2,31}):)?([CGD][A-Z0-9]{2,31}|#?[a-z0-9._-]{1,80})")


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429 in place only when Slack asks for a short pause."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is not None and wait <= MAX_INLINE_WAIT


def retry_handlers() -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2), ShortRateLimitRetry()]


def send_error(exc: SlackApiError, method: str) -> SendError:
    """Slack's refusal as the core's transient/permanent split; the code is Slack's own."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if status == 429 or error == "ratelimited":
        wait = _retry_after(getattr(response, "headers", None))
        return TransientSendError(
            f"Slack rate-limited {method}", code="ratelimited", retry_after=wait
        )
    if status >= 500 or error in TRANSIENT_ERRORS:
        return TransientSendError(
            f"Slack {method} failed ({error or status})", code=error or f"http_{status}"
        )
    code = str(error or f"http_{status}")
    return PermanentSendError(f"Slack {method} refused: {code}", code=code)


class SlackClient(AsyncWebClient):
    """slack_sdk's client, except that ``oauth.v2.access`` sends the app's credentials as form
    fields (which Slack documents as equivalent) instead of through ``aiohttp.BasicAuth``, which
    aiohttp deprecates with a warning on every install."""

    async def oauth_v2_access(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str | None = None,
        redirect_uri: str | None = None,
        grant_type: str | None = None,
        refresh_token: str | None = None,
        **kwargs: Any,
    ) -> AsyncSlackResponse:
        fields = {
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
            "grant_type": grant_type,
            "refresh_token": refresh_token,
            **kwargs,
        }
        return await self.api_call(
            "oauth.v2.access", data={k: v for k, v in fields.items() if v is not None}
        )


@dataclass
class SlackChannel:
    """Outbound half: opens the DM and posts the survey; knows which token a workspace uses."""

    api_url: str
    bot_token: str | None = None
    installations: DatabaseInstallationStore | None = None
    name: str = CHANNEL
    traits: ChannelTraits = SLACK_TRAITS

    @property
    def multi_workspace(self) -> bool:
        return self.installations is not None

    def normalise_address(self, raw: str) -> str:
        address = raw.strip().upper()
        if self.multi_workspace:
            if _TEAM_USER.fullmatch(address) is None:
                raise InvalidInput(
                    f"'to': {raw!r} is not a Slack address; with several workspaces use "
                    "TEAM:USER, e.g. T123ABC:U123ABC"
                )
        elif _USER.fullmatch(address) is None:
            raise InvalidInput(f"'to': {raw!r} is not a Slack user id, e.g. U123ABC")
        return address

    def timezones(self, address: str) -> Sequence[str]:
        return ()

    def client(self, token: str | None) -> AsyncWebClient:
        return SlackClient(token=token, base_url=self.api_url, retry_handlers=retry_handlers())

    @staticmethod
    def split(address: str) -> tuple[str | None, str]:
        team, sep, user = address.partition(":")
        return (team, user) if sep else (None, address)

    async def token_for(self, team_id: str | None) -> str:
        if self.installations is None:
            if self.bot_token is None:
                raise PermanentSendError("no Slack bot token", code="not_configured")
            return self.bot_token
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise PermanentSendError(
                f"the app is not installed in Slack workspace {team_id}", code="not_installed"
            )
        return bot.bot_token

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        team_id, user_id = self.split(address)
        client = self.client(await self.token_for(team_id))
        method = "conversations.open"
        try:
            opened = await client.conversations_open(users=user_id)
            channel_id = str(opened["channel"]["id"])
            method = "chat.postMessage"
            posted = await client.chat_postMessage(
                channel=channel_id, text=fallback_text(outbound), blocks=message_blocks(outbound)
            )
        except SlackApiError as exc:
            raise send_error(exc, method) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"Slack unreachable: {exc}", code="connection") from exc
        return SendResult(provider_message_id=f"{channel_id}:{posted['ts']}")


@dataclass
@dataclass
class SlackDigestSink:
    """Scheduled digests to ``SLACK_DIGEST_CHANNEL`` (``C123`` or ``T123:C123``): the text,
    then the trend chart through the current upload flow."""

    channel: SlackChannel
    target: str

    async def post_digest(self, text: str, chart: bytes, title: str) -> None:
        match = _ALERT_TARGET.fullmatch(self.target.strip())
        if match is None:
            raise ConfigError(f"SLACK_DIGEST_CHANNEL: {self.target!r} is not a channel id")
        team_id, channel_id = match.group(1), match.group(2)
        client = self.channel.client(await self.channel.token_for(team_id))
        await client.chat_postMessage(channel=channel_id, text=text)
        await client.files_upload_v2(
            channel=channel_id, content=chart, filename="csat-digest.png", title=title
        )


@dataclass
class SlackAlertSink:
    """Low-score alerts to ``SLACK_ALERT_CHANNEL`` (``C123``, ``#name``, or ``T123:C123``), with
    the follow-up buttons; a claim edits the message in place."""

    channel: SlackChannel
    target: str
    name: str = "slack"

    def _where(self) -> tuple[str | None, str]:
        match = _ALERT_TARGET.fullmatch(self.target.strip())
        if match is None:
            raise ConfigError(f"SLACK_ALERT_CHANNEL: {self.target!r} is not a channel id")
        return match.group(1), match.group(2)

    async def post_alert(self, alert: Alert) -> AlertPost | None:
        team_id, channel_id = self._where()
        client = self.channel.client(await self.channel.token_for(team_id))
        posted = await client.chat_postMessage(
            channel=channel_id, text=alert_text(alert), blocks=alert_blocks(alert)
        )
        ts, where = posted.get("ts"), posted.get("channel") or channel_id
        if not ts:
            return None
        return AlertPost(self.name, f"{team_id or ''}:{where}", str(ts))

    async def edit_alert(self, alert: Alert, post: AlertPost) -> None:
        team_id, _, channel_id = post.target.partition(":")
        client = self.channel.client(await self.channel.token_for(team_id or None))
        await client.chat_update(
            channel=channel_id,
            ts=post.message_id,
            text=alert_text(alert),
            blocks=alert_blocks(alert),
        )
