"""Twilio SMS: customers answer surveys by text message.

Two webhooks, both signed by Twilio with the account's auth token over ``CSAT_PUBLIC_URL`` + path
(the URL Twilio called, not the one a reverse proxy hands the app):

- ``POST /sms/inbound``: a customer's text. The core parses it, records it and says what to answer;
  the answer goes back as TwiML in the same HTTP response, so no second API call is needed.
- ``POST /sms/status``: delivery receipts for the surveys we sent, applied forward-only by the core.

Outbound sends live in :mod:`channels.sms_twilio`, the text rules in :mod:`channels.sms_text`.
"""

from __future__ import annotations

import binascii
import hmac
import logging
import re
import time
from base64 import b64decode
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlparse

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from twilio.request_validator import (  # type: ignore[import-untyped]
    RequestValidator,
    add_port,
    get_signature_algorithm,
    remove_port,
)

from bot.channel import OutboundMessage, QuietHours
from bot.direct import BodyTooLarge, DirectRoute, read_body
from bot.errors import ConfigError
from bot.hub import Hub
from bot.phones import mask_phone
from bot.quiet_hours import parse_clock
from bot.results import Incoming
from bot.settings import Settings
from channels.sms_text import render, ucs2_warnings
from channels.sms_twilio import OPTED_OUT, TWILIO_BASE, SmsChannel

log = logging.getLogger("csat.sms")

FORM = "application/x-www-form-urlencoded"
# Bounds on a webhook's form, applied before it is parsed. Twilio's posts are small: an incoming
# SMS is at most 1600 characters (10 segments), which url-encoded is at most 14.4 kB even when
# every character takes three UTF-8 bytes, plus some 20 short fields (MMS adds two per medium, up
# to ten media); a status callback is a few hundred bytes. 64 kB leaves four times that, and
# reading and parsing 64 kB takes well under a millisecond, so a forged post costs the event loop
# next to nothing; a longer body is refused (413) as soon as the bytes read pass the bound.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200  # Twilio sends 10 to 40
# Longer texts are cut here (the core keeps at most 4000 characters of a reply anyway).
MAX_TEXT = 4000
# The bytes of each signature algorithm's digest: a header that is not base64 of that many bytes
# is refused before the body is read.
DIGEST_SIZES = {"HMAC_SHA1": 20, "HMAC_SHA256": 32}
INBOUND_FIELDS = ("MessageSid", "SmsMessageSid", "From", "Body", "OptOutType")
STATUS_FIELDS = ("MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "ErrorMessage")
_SID = re.compile(r"[A-Za-z0-9]{1,64}")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
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
    """A webhook refused; ``unread`` when the body was not (all) read, so the connection is
    closed after the answer rather than left to receive the rest."""

    def __init__(self, status: int, reason: str, *, unread: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.unread = unread


REFUSALS_LOGGED_EVERY = 10.0  # seconds

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
    """The posted fields, each with its values in order; ``getall`` is what the SDK's signature
    code asks for (a starlette FormData answers that with an AttributeError first, caught per
    field per signature)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, []).append(value)

    def getall(self, key: str) -> list[str]:
        return self[key]

    def one(self, key: str) -> str:
        """The field's value as posted, or '' (the webhooks check that the fields they read
        are not repeated)."""
        values = self.get(key)
        return values[0] if values else ""

    def text(self, key: str) -> str:
        """The field's value without NUL characters, which PostgreSQL's text refuses."""
        value = self.one(key)
        return value.replace("\x00", "") if "\x00" in value else value

    def repeated(self, keys: Sequence[str]) -> str | None:
        return next((key for key in keys if len(self.get(key, ())) > 1), None)


def well_formed_signature(signature: str, size: int) -> bool:
    """Whether ``signature`` is base64 of a ``size``-byte digest, as Twilio's always is."""
    if len(signature) != 4 * -(-size // 3):
        return False
    try:
        return len(b64decode(signature, validate=True)) == size
    except (binascii.Error, ValueError):
        return False


class SmsAdapter:
    """The SMS channel's parts for the app: outbound channel, the two signed webhooks."""

    alert_sink = None

    def __init__(self, *, channel: SmsChannel, auth_token: str, public_url: str, brand: str):
        self._channel = channel
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")
        self._brand = brand
        self._signed_urls: dict[tuple[str, bytes], tuple[str, ...]] = {}
        self._refusals: dict[tuple[str, int], tuple[float | None, int]] = {}

    @property
    def channel(self) -> SmsChannel:
        return self._channel

    async def start(self, hub: Hub) -> None:
        for warning in ucs2_warnings(hub.surveys.values(), self._brand):
            log.warning("sms: %s", warning)
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

    async def signed_form(self, request: Request, fields: Sequence[str]) -> _Params:
        """The form Twilio posted, once its signature is proven; raises :class:`_Refused`.

        Cheapest refusals first: a missing or malformed signature header, or a body that is
        not a form, is refused before a byte of the body is read; a body over
        :data:`MAX_FORM_BYTES` as soon as the bytes read pass it; a form of more than
        :data:`MAX_FORM_FIELDS` fields before it is parsed. Only a bounded form is parsed and
        signed (Twilio signs the URL and the sorted fields, so the fields must be read first).
        A signed form that repeats one of ``fields`` is refused too: which value would count?
        """
        headers = request.headers
        signature = headers.get("x-twilio-signature")
        if not signature:
            raise _Refused(403, "missing X-Twilio-Signature header", unread=True)
        algorithm = get_signature_algorithm(headers.get("x-twilio-webhooks-signature-settings"))
        size = DIGEST_SIZES.get(algorithm.upper())
        if size is None:
            raise _Refused(403, f"unsupported signature algorithm {algorithm[:32]!r}", unread=True)
        if not well_formed_signature(signature, size):
            raise _Refused(
                403,
                f"malformed X-Twilio-Signature header (not base64 of a {size}-byte {algorithm})",
                unread=True,
            )
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != FORM:
            raise _Refused(400, f"expected a {FORM} body, got {kind[:64] or 'none'}", unread=True)
        try:
            raw = await read_body(request, MAX_FORM_BYTES)
        except BodyTooLarge:
            raise _Refused(
                413, f"the form is longer than {MAX_FORM_BYTES} bytes", unread=True
            ) from None
        except ClientDisconnect:  # the answer goes nowhere; no traceback in the log for it
            raise _Refused(400, "the client went away before the end of the form") from None
        if raw.count(b"&") >= MAX_FORM_FIELDS:
            raise _Refused(413, f"the form has more than {MAX_FORM_FIELDS} fields")
        try:
            text = raw.decode()
            if "%" in text and _BAD_ESCAPE.search(text):
                raise ValueError("a % not followed by two hex digits")
            pairs = parse_qsl(
                text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
            )
        except ValueError:  # UnicodeDecodeError included
            raise _Refused(400, "the form body is not valid UTF-8 url-encoding") from None
        params = _Params(pairs)
        try:
            matches = self.signature_matches(request, params, signature, algorithm)
        except ValueError:
            raise _Refused(403, f"unsupported signature algorithm {algorithm!r}") from None
        if not matches:
            raise _Refused(403, "X-Twilio-Signature does not match this request")
        repeated = params.repeated(fields)
        if repeated is not None:
            raise _Refused(400, f"the field {repeated!r} is repeated")
        return params

    def routes(self, hub: Hub) -> APIRouter:
        router = APIRouter()

        # Plain Starlette endpoints dispatched before the router (bot.direct): the busiest
        # webhook needs none of FastAPI's parameter handling or routing.
        async def inbound(request: Request) -> Response:
            try:
                form = await self.signed_form(request, INBOUND_FIELDS)
                sid = form.one("MessageSid") or form.one("SmsMessageSid")
                sender = form.one("From")
                if not sid or not sender:
                    raise _Refused(400, "'MessageSid' and 'From' are required")
                if not _SID.fullmatch(sid):
                    raise _Refused(400, "'MessageSid' is not a message SID")
            except _Refused as refused:
                return self._refusal(request, refused)
            address = self._address(sender)
            if address is None:
                # Signed, so from Twilio, but no number to answer or to record an answer for.
                log.warning("sms from %r: not a phone number, not answered", mask_phone(sender))
                return twiml((), brand=self._brand)
            opt_out_type = form.text("OptOutType").strip().upper()
            if opt_out_type in OPT_OUT_TYPES:
                # Twilio has applied the keyword and sent its own confirmation already.
                await hub.receive(
                    Incoming(self._channel.name, address, opt_out_type, provider_message_id=sid)
                )
                return twiml((), brand=self._brand)
            text = form.text("Body")[:MAX_TEXT]
            result = await hub.receive(
                Incoming(self._channel.name, address, text, provider_message_id=sid)
            )
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
                form = await self.signed_form(request, STATUS_FIELDS)
                sid = form.one("MessageSid") or form.one("SmsSid")
                state = form.text("MessageStatus") or form.text("SmsStatus")
                if not sid or not state:
                    raise _Refused(400, "'MessageSid' and 'MessageStatus' are required")
                if not _SID.fullmatch(sid):
                    raise _Refused(400, "'MessageSid' is not a message SID")
            except _Refused as refused:
                return self._refusal(request, refused)
            code = form.text("ErrorCode").strip()[:16] or None
            error = None
            if code is not None:
                detail = form.text("ErrorMessage").strip()[:480]
                error = f"{code}: {detail or KNOWN_ERRORS.get(code, 'see Twilio error ' + code)}"
            await hub.record_delivery(
                self._channel.name, sid, state, error, opted_out=code == OPTED_OUT
            )
            return Response(status_code=204)

        for path, endpoint in (("/sms/inbound", inbound), ("/sms/status", status)):
            router.routes.append(
                DirectRoute(path, endpoint, methods=["POST"], include_in_schema=False)
            )
        return router

    def _address(self, raw: str) -> str | None:
        """The sender's E.164 number, or None for a sender that is not a phone number."""
        try:
            return self._channel.normalise_address(raw)
        except Exception:
            return None

    def _refusal(self, request: Request, refused: _Refused) -> JSONResponse:
        """The refusal as JSON, logged at most once per path and status every
        :data:`REFUSALS_LOGGED_EVERY` seconds (a flood of forged posts is in the access log
        already). When the body was not read, the connection is closed after the answer."""
        key = (request.scope["path"], refused.status)  # one of the webhooks' own paths
        now = time.monotonic()
        last, since = self._refusals.get(key, (None, 0))
        if last is not None and now - last < REFUSALS_LOGGED_EVERY:
            self._refusals[key] = (last, since + 1)
        else:
            self._refusals[key] = (now, 0)
            more = f" (and {since} more like it since the last)" if since else ""
            log.warning("sms webhook %s refused: %s%s", key[0], refused, more)
        headers = {"connection": "close"} if refused.unread else None
        return JSONResponse({"error": str(refused)}, status_code=refused.status, headers=headers)


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
