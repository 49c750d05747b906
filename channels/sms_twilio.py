"""The outbound half of the SMS channel: Twilio's Messages API through the SDK's async client.

The SDK speaks to ``https://api.twilio.com``; :class:`TwilioHttp` is the seam where that base URL
is swapped for ``TWILIO_API_URL`` (a mock, a regional proxy) and where transport-level failures
(network, 429, 5xx) become :class:`TransientSendError` with the provider's Retry-After, before the
SDK turns the response into an exception that has lost its headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException  # type: ignore[import-untyped]
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from bot.channel import ChannelTraits, OutboundMessage, QuietHours, SendResult
from bot.errors import PermanentSendError, TransientSendError
from bot.phones import mask_phone, normalise_phone, phone_zones
from channels.sms_text import render

log = logging.getLogger("csat.sms")

TWILIO_BASE = "https://api.twilio.com"
OPTED_OUT = "21610"


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class TwilioHttp(AsyncTwilioHttpClient):  # type: ignore[misc]
    """aiohttp transport for the SDK: rebased URL, transient failures raised with their hints.

    Without ``pooled`` each request opens and closes its own session, so a process that never
    runs the app's lifespan (``csat worker``, a one-off send) leaves nothing unclosed.
    """

    def __init__(self, *, base_url: str, timeout: float, pooled: bool) -> None:
        super().__init__(pool_connections=pooled, timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def rebase(self, url: str) -> str:
        if url.startswith(TWILIO_BASE) and self.base_url != TWILIO_BASE:
            return self.base_url + url[len(TWILIO_BASE) :]
        return url

    async def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        session = self.session or aiohttp.ClientSession()
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout or 10.0)
        try:
            async with session.request(
                method.upper(),
                self.rebase(url),
                params=params,
                data=data,
                headers=sent_headers,
                timeout=limit,
                allow_redirects=allow_redirects,
            ) as answer:
                status, text, found = answer.status, await answer.text(), answer.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(
                f"Twilio unreachable: {type(exc).__name__}: {exc}", code="network"
            ) from exc
        finally:
            if self.session is None:
                await session.close()
        if status == 429 or status >= 500:
            raise TransientSendError(
                f"Twilio answered HTTP {status}",
                code=str(status),
                retry_after=retry_after(found.get("Retry-After")),
            )
        return Response(status, text, found)


class SmsChannel:
    """Sends survey texts through Twilio; addresses are E.164 numbers.

    Everything about *when* to send (quiet hours, retries, giving up) is the core's; this only
    says which zones a number may be in and how a send went.
    """

    name = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        messaging_service_sid: str | None,
        from_number: str | None,
        status_callback: str | None,
        api_url: str = TWILIO_BASE,
        brand: str,
        default_region: str = "US",
        quiet_hours: QuietHours | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not (messaging_service_sid or from_number):
            raise ValueError("a Messaging Service SID or a From number is required")
        self.traits = ChannelTraits(
            supports_buttons=False,
            default_expiry=timedelta(hours=24),
            quiet_hours=quiet_hours or QuietHours(),
            keywords=True,
        )
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._sender: dict[str, str] = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": from_number or ""}
        )
        self._status_callback = status_callback
        self._api_url = api_url
        self._brand = brand
        self._region = default_region
        self._timeout = timeout
        self._pooled: tuple[Any, asyncio.AbstractEventLoop] | None = None

    # -- Channel protocol -------------------------------------------------------------------

    def normalise_address(self, raw: str) -> str:
        return normalise_phone(raw, self._region)

    def timezones(self, address: str) -> Sequence[str]:
        return phone_zones(address)

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        body = render(outbound, brand=self._brand)
        extra: dict[str, Any] = dict(self._sender)
        if self._status_callback:
            extra["status_callback"] = self._status_callback
        client = self._client()
        try:
            created = await client.messages.create_async(to=address, body=body, **extra)
        except TwilioRestException as exc:
            raise self._refused(exc, address) from exc
        except TwilioException as exc:
            raise PermanentSendError(f"Twilio client error: {exc}", code="client") from exc
        return SendResult(provider_message_id=str(created.sid))

    # -- lifecycle (the app's lifespan) -----------------------------------------------------

    async def open(self) -> None:
        """A pooled client for this event loop: keep-alive connections to Twilio."""
        if self._pooled is None:
            self._pooled = (self._make(pooled=True), asyncio.get_running_loop())

    async def close(self) -> None:
        if self._pooled is not None:
            client, _ = self._pooled
            self._pooled = None
            await client.http_client.close()

    # -- internals --------------------------------------------------------------------------

    def _make(self, *, pooled: bool) -> Any:
        http = TwilioHttp(base_url=self._api_url, timeout=self._timeout, pooled=pooled)
        return Client(self._account_sid, self._auth_token, http_client=http)

    def _pooled_client(self) -> Any:
        if self._pooled is None:
            return None
        client, loop = self._pooled
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return client if loop is running else None

    def _client(self) -> Any:
        return self._pooled_client() or self._make(pooled=False)

    @staticmethod
    def _refused(exc: TwilioRestException, address: str) -> Exception:
        code = str(exc.code) if exc.code is not None else str(exc.status)
        detail = str(exc.msg or "").strip() or f"HTTP {exc.status}"
        if code == OPTED_OUT:
            log.info("sms: %s has opted out at Twilio (21610)", mask_phone(address))
            return PermanentSendError(
                f"recipient unsubscribed: {detail}", code=OPTED_OUT, opted_out=True
            )
        if exc.status == 429 or exc.status >= 500:
            return TransientSendError(detail, code=code)
        return PermanentSendError(detail, code=code)
