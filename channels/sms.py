"""Twilio SMS: customers answer surveys by text message.

Two webhooks, both signed by Twilio with the account's auth token over ``CSAT_PUBLIC_URL`` + path
(the URL Twilio called, not the one a reverse proxy hands the app):

- ``POST /sms/inbound``: a customer's text. The core parses it, records it and says what to answer;
  the answer goes back as TwiML in the same HTTP response, so no second API call is needed.
- ``POST /sms/status``: delivery receipts for the surveys we sent, applied forward-only by the core.

Outbound sends live in :mod:`channels.sms_twilio`, the text rules in :mod:`channels.sms_text`.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlparse

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile
from twilio.request_validator import (  # type: ignore[import-untyped]
    RequestValidator,
    add_port,
    get_signature_algorithm,
    remove_port,
)

from bot.channel import OutboundMessage, QuietHours
from bot.direct import DirectRoute
from bot.errors import ConfigError
from bot.hub import Hub
from bot.phones import mask_phone
from bot.quiet_hours import parse_clock
from bot.settings import Settings
from channels.sms_text import render
from channels.sms_twilio import OPTED_OUT, TWILIO_BASE, SmsChannel

log = logging.getLogger("csat.sms")

FORM = "application/x-www-form-urlencoded"
OPT_OUT_TYPES = ("STOP", "START", "HELP")
KNOWN_ERRORS = {
    "21610": "recipient has opted out (replied STOP)",
    "21211": "invalid 'To' number",
    "21614": "'To' is not a mobile number",
    "30003": "unreachable destination handset",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "blocked as spam by the carrier",
    "30008": "unknown delivery error",
}


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml_text(replies: Sequence[OutboundMessage], *, brand: str) -> str:
    """The reply texts as TwiML; an empty ``<Response />`` tells Twilio to send nothing.

    Written directly rather than through the SDK's ElementTree builder, which cost a tenth of a
    busy webhook's CPU for a document this simple; the bytes are the same (tests compare them).
    """
    if not replies:
        return XML_DECLARATION + "<Response />"
    parts = [XML_DECLARATION, "<Response>"]
    for reply in replies:
        text = render(reply, brand=brand)
        if text:
            parts.append(f"<Message>{_escape(text)}</Message>")
        else:
            parts.append("<Message />")
    parts.append("</Response>")
    return "".join(parts)


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def twiml(replies: Sequence[OutboundMessage], *, brand: str) -> Response:
    return Response(twiml_text(replies, brand=brand), media_type="application/xml")


class _Params(dict[str, list[str]]):
    """The posted fields for the SDK's validator, which asks each one for ``getall``: a starlette
    FormData answers that with an AttributeError first, caught per field per signature."""

    def __init__(self, pairs: Sequence[tuple[str, str | UploadFile]]) -> None:
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, []).append(str(value))

    def getall(self, key: str) -> list[str]:
        return self[key]


class SmsAdapter:
    """The SMS channel's parts for the app: outbound channel, the two signed webhooks."""

    alert_sink = None

    def __init__(self, *, channel: SmsChannel, auth_token: str, public_url: str, brand: str):
        self._channel = channel
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")
        self._brand = brand
        self._signed_urls: dict[tuple[str, bytes], tuple[str, ...]] = {}

    @property
    def channel(self) -> SmsChannel:
        return self._channel

    async def start(self, hub: Hub) -> None:
        await self._channel.open()

    async def stop(self) -> None:
        await self._channel.close()

    def signed_urls(self, request: Request) -> tuple[str, ...]:
        """The URL Twilio signed: the public base, whatever host and scheme reached the app; as
        written and with the default port the other way round (Twilio signs either form)."""
        path, query = request.scope["path"], request.scope.get("query_string", b"")
        urls = self._signed_urls.get((path, query))
        if urls is None:
            text = query.decode("utf-8", "replace")  # as Starlette reads it
            url = f"{self._public_url}{path}" + (f"?{text}" if text else "")
            parsed = urlparse(url)
            urls = tuple(dict.fromkeys((url, remove_port(parsed), add_port(parsed))))
            if len(self._signed_urls) < 64:  # the webhook paths, not whatever callers send
                self._signed_urls[(path, query)] = urls
        return urls

    def signature_matches(
        self, request: Request, params: _Params, signature: str, algorithm: str
    ) -> bool:
        """What the SDK's ``RequestValidator.validate`` decides for a form post, with the URL
        forms worked out once per path and the HMAC computed once when the first form matches
        (``validate`` parses the URL and computes two HMACs on every request). Raises
        ValueError for an algorithm the SDK does not know."""
        given = signature.encode()
        return any(
            hmac.compare_digest(
                self._validator.compute_signature(url, params, algorithm).encode(), given
            )
            for url in self.signed_urls(request)
        )

    async def signed_form(self, request: Request) -> FormData:
        """The form Twilio posted, once its signature is proven; raises :class:`_Refused`."""
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            raise _Refused(403, "missing X-Twilio-Signature header")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != FORM:
            raise _Refused(400, f"expected a {FORM} body, got {kind or 'none'}")
        try:
            raw = (await request.body()).decode()
            pairs: list[tuple[str, str | UploadFile]] = []
            pairs.extend(parse_qsl(raw, keep_blank_values=True))
            form = FormData(pairs)
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "the form body is not valid UTF-8 url-encoding") from None
        algorithm = get_signature_algorithm(
            request.headers.get("x-twilio-webhooks-signature-settings")
        )
        try:
            matches = self.signature_matches(request, _Params(pairs), signature, algorithm)
        except ValueError:
            raise _Refused(403, f"unsupported signature algorithm {algorithm!r}") from None
        if not matches:
            raise _Refused(403, "X-Twilio-Signature does not match this request")
        return form

    def routes(self, hub: Hub) -> APIRouter:
        router = APIRouter()

        # Plain Starlette endpoints dispatched before the router (bot.direct): the busiest
        # webhook needs none of FastAPI's parameter handling or routing.
        async def inbound(request: Request) -> Response:
            try:
                form = await self.signed_form(request)
                sid = form.get("MessageSid") or form.get("SmsMessageSid")
                sender = form.get("From")
                if not isinstance(sid, str) or not sid or not isinstance(sender, str) or not sender:
                    raise _Refused(400, "'MessageSid' and 'From' are required")
            except _Refused as refused:
                return _refusal(request, refused)
            address = self._address(sender)
            opt_out_type = str(form.get("OptOutType") or "").strip().upper()
            if opt_out_type in OPT_OUT_TYPES:
                # Twilio has applied the keyword and sent its own confirmation already.
                await hub.text(self._channel.name, address, opt_out_type, sid)
                return twiml((), brand=self._brand)
            body = form.get("Body")
            text = body if isinstance(body, str) else ""
            result = await hub.text(self._channel.name, address, text, sid)
            if log.isEnabledFor(logging.DEBUG):  # the access log has the request already
                log.debug(
                    "sms from %s: %s%s",
                    mask_phone(address),
                    result.reason,
                    " (provider retry)" if result.duplicate else "",
                )
            return twiml(result.replies, brand=self._brand)

        async def status(request: Request) -> Response:
            try:
                form = await self.signed_form(request)
                sid = form.get("MessageSid") or form.get("SmsSid")
                state = form.get("MessageStatus") or form.get("SmsStatus")
                if not isinstance(sid, str) or not sid or not isinstance(state, str) or not state:
                    raise _Refused(400, "'MessageSid' and 'MessageStatus' are required")
            except _Refused as refused:
                return _refusal(request, refused)
            code = str(form.get("ErrorCode") or "").strip() or None
            error = None
            if code is not None:
                detail = str(form.get("ErrorMessage") or "").strip()
                error = f"{code}: {detail or KNOWN_ERRORS.get(code, 'see Twilio error ' + code)}"
            record = functools.partial(
                hub.service.record_delivery,
                self._channel.name,
                sid,
                state,
                error,
                opted_out=code == OPTED_OUT,
            )
            await hub.write(record)
            return Response(status_code=204)

        for path, endpoint in (("/sms/inbound", inbound), ("/sms/status", status)):
            router.routes.append(
                DirectRoute(path, endpoint, methods=["POST"], include_in_schema=False)
            )
        return router

    def _address(self, raw: str) -> str:
        try:
            return self._channel.normalise_address(raw)
        except Exception:
            return raw.strip()


def _refusal(request: Request, refused: _Refused) -> JSONResponse:
    log.warning("sms webhook %s refused: %s", request.url.path, refused)
    return JSONResponse({"error": str(refused)}, status_code=refused.status)


def build_adapter(settings: Settings) -> SmsAdapter:
    """The SMS adapter from settings; raises :class:`ConfigError` naming what is missing."""
    if not settings.twilio_account_sid:
        raise ConfigError("TWILIO_ACCOUNT_SID is required for the sms channel")
    if settings.twilio_auth_token is None:
        raise ConfigError("TWILIO_AUTH_TOKEN is required for the sms channel")
    if not (settings.twilio_messaging_service_sid or settings.twilio_from_number):
        raise ConfigError(
            "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER is required for the sms channel"
        )
    if not settings.csat_public_url:
        raise ConfigError(
            "CSAT_PUBLIC_URL is required for the sms channel: Twilio signs its webhooks over "
            "that URL and sends delivery receipts to it"
        )
    public = settings.csat_public_url.rstrip("/")
    token = settings.twilio_auth_token.get_secret_value()
    channel = SmsChannel(
        account_sid=settings.twilio_account_sid,
        auth_token=token,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        from_number=settings.twilio_from_number,
        status_callback=f"{public}/sms/status",
        api_url=settings.twilio_api_url or TWILIO_BASE,
        brand=settings.csat_brand,
        default_region=settings.csat_default_region,
        quiet_hours=QuietHours(
            parse_clock(settings.csat_quiet_start), parse_clock(settings.csat_quiet_end)
        ),
    )
    return SmsAdapter(
        channel=channel, auth_token=token, public_url=public, brand=settings.csat_brand
    )
