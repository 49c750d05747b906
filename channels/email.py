"""E-mail surveys over SMTP: the question, and one link per star to the web survey page.

A star in the mail opens the page with that star chosen; the person presses the page's button to
send it (see :mod:`bot.app.survey_page`), so the mail scanners that open every link of a mail
record nothing. The mail is multipart text + HTML in the survey's locale, carries
``List-Unsubscribe`` with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058) and an
opt-out link in its footer.

Delivery is ``aiosmtplib`` to ``CSAT_SMTP_URL``: ``smtp://user:password@host:587`` upgrades with
STARTTLS when the server offers it, ``smtps://...:465`` speaks TLS from the start. A 4xx reply (or
no connection) is transient: the sender retries with back-off. A 5xx reply fails the survey with
its code. Quiet hours do not apply: a mail waits in the inbox.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from bot.channel import ChannelTraits, OutboundMessage, SendResult, plain_text
from bot.errors import ConfigError, InvalidInput, PermanentSendError, TransientSendError
from bot.settings import Settings
from bot.texts import message
from channels.adapters import WithoutWebhooks

if TYPE_CHECKING:
    pass

EMAIL_TRAITS = ChannelTraits(
    supports_buttons=True, default_expiry=timedelta(days=7), links_to_page=True
)
SMTP_TIMEOUT = 30.0
SUBJECT_LENGTH = 120


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("CSAT_SMTP_URL: write smtp://user:password@host:587 or smtps://...")
        implicit = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )


@dataclass
class EmailChannel:
    server: SmtpServer
    sender: str  # the From header
    brand: str = ""
    name: str = "email"
    traits: ChannelTraits = EMAIL_TRAITS

    def normalise_address(self, raw: str) -> str:
        try:
            found = validate_email(raw.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            raise InvalidInput(f"'to': {raw!r} is not an e-mail address: {exc}") from None
        # Lower case as a whole: the local part is case-sensitive in theory and never in
        # practice, and opt-out, throttling and erasure must not tell Ann@ from ann@.
        return str(found.normalized).lower()

    def timezones(self, address: str) -> Sequence[str]:
        return []

    def compose(self, address: str, outbound: OutboundMessage) -> EmailMessage:
        """The mail for one message: a survey or reminder with its star links, or a plain
        reply (a thank-you) as text."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = _subject(outbound.text)
        mail["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        mail["Message-ID"] = make_msgid(domain=domain)
        if outbound.unsubscribe:
            mail["List-Unsubscribe"] = f"<{outbound.unsubscribe}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        locale = outbound.locale
        links = [
            (button.label, f"{outbound.page}?star={button.value}")
            for button in outbound.buttons
            if outbound.page
        ]
        footer = message("email_footer", locale, brand=self.brand)
        unsubscribe = message("email_unsubscribe", locale)
        lines = [outbound.text, ""]
        if links:
            lines += [f"  {label}: {url}" for label, url in links]
            lines += ["", message("email_pick", locale)]
        elif not outbound.page:
            lines = [plain_text(outbound), ""]
        if outbound.unsubscribe:
            lines += ["", "--", footer, f"{unsubscribe}: {outbound.unsubscribe}"]
        mail.set_content("\n".join(lines))
        mail.add_alternative(self._html(outbound, links, footer, unsubscribe), subtype="html")
        return mail

    @staticmethod
    def _html(
        outbound: OutboundMessage, links: list[tuple[str, str]], footer: str, unsubscribe: str
    ) -> str:
        e = html.escape
        stars = "".join(
            f'<a href="{e(url)}" style="display:inline-block;min-width:40px;padding:10px 0;'
            "margin:0 4px 8px 0;border:1px solid #1f6feb;border-radius:6px;text-align:center;"
            f'color:#1f6feb;text-decoration:none;font-weight:600">{e(label)}</a>'
            for label, url in links
        )
        tail = ""
        if outbound.unsubscribe:
            tail = (
                f'<p style="color:#656d76;font-size:12px">{e(footer)} '
                f'<a href="{e(outbound.unsubscribe)}" style="color:#656d76">'
                f"{e(unsubscribe)}</a></p>"
            )
        lang = (outbound.locale or "en").split("-")[0]
        return (
            f'<!doctype html><html lang="{e(lang)}"><body style="font-family:system-ui,sans-serif;'
            f'color:#1f2328"><p style="font-size:17px">{e(outbound.text)}</p>'
            f"<p>{stars}</p>{tail}</body></html>"
        )

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        mail = self.compose(address, outbound)
        server = self.server
        try:
            await aiosmtplib.send(
                mail,
                hostname=server.hostname,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.implicit_tls,
                start_tls=None if not server.implicit_tls else False,
                timeout=SMTP_TIMEOUT,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code = refusal.code if refusal is not None else 550
            raise _failure(code, refusal.message if refusal is not None else str(exc)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _failure(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(f"SMTP: {type(exc).__name__}: {exc}") from None
        return SendResult(provider_message_id=str(mail["Message-ID"]))


def _subject(text: str) -> str:
    """The question on one line: a survey file's text may break lines, a header may not."""
    line = " ".join(text.split())
    if len(line) <= SUBJECT_LENGTH:
        return line
    return line[: SUBJECT_LENGTH - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def _failure(code: int, text: str) -> TransientSendError | PermanentSendError:
    said = f"SMTP {code}: {' '.join(str(text).split())[:300]}"
    if 400 <= code < 500:
        return TransientSendError(said, code=str(code))
    return PermanentSendError(said, code=str(code))


@dataclass
class EmailAdapter(WithoutWebhooks):
    """No webhook: answers come through the web survey page, opt-outs through its footer link
    and the one-click ``List-Unsubscribe`` POST (both served by the app)."""

    channel: EmailChannel


def build_adapter(settings: Settings) -> EmailAdapter:
    url = settings.csat_smtp_url
    if url is None or not settings.csat_email_from:
        raise ConfigError("CSAT_SMTP_URL and CSAT_EMAIL_FROM are both required for e-mail")
    public = urlsplit(settings.csat_public_url or "")
    if public.scheme not in ("http", "https") or not public.hostname:
        raise ConfigError(
            "CSAT_PUBLIC_URL is required for the email channel, as https://csat.example.com: "
            "the mail's star links and its List-Unsubscribe header must be absolute URLs"
        )
    channel = EmailChannel(
        server=SmtpServer.parse(url.get_secret_value()),
        sender=settings.csat_email_from,
        brand=settings.csat_brand,
    )
    return EmailAdapter(channel=channel)
