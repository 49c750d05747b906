"""The web survey page: every invitation can be answered at ``/s/{token}``.

The token names one invitation and cannot be guessed or altered: the invitation id and an
HMAC-SHA256 of it under a key derived from the service's secret (128 bits of it kept). A link
channel survey *is* its page; an e-mail survey's stars are links to it with the star chosen.

What the page shows comes from here (:meth:`WebSurveys.view`); what it records goes through the
hub like any channel's tap or text, so expiry, corrections, the follow-up question and thanks
behave as everywhere else. Opening a page never records anything: only a person's press of the
page's button does (a form POST), so a mail scanner that opens every link records nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from bot.channel import OutboundMessage
from bot.context import ServiceContext
from bot.engine import Context, question_message
from storage.values import Status

TOKEN_BYTES = 16  # of the HMAC kept in a token: 128 bits
MAX_CHANGES = 5  # rating changes of one invitation the page records
HEX_DIGITS = "0123456789abcdef"


class PageState(StrEnum):
    ASK = "ask"  # a question is open
    THANKS = "thanks"  # answered
    CLOSED = "closed"  # expired, cancelled, erased, or redefined since it was sent
    WAIT = "wait"  # triggered, not yet handed out by the sender (a second or two)


@dataclass(frozen=True)
class PageView:
    invitation_id: int
    state: PageState
    locale: str
    channel: str
    address: str | None
    question: OutboundMessage | None = None  # when asking
    first_question: OutboundMessage | None = None  # for a correction from the thanks page
    send_at: datetime | None = None


class WebSurveys:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _key(self) -> bytes:
        return hmac.new(self.ctx.hash_key(), b"survey page", hashlib.sha256).digest()

    def _sign(self, invitation_id: int) -> str:
        mac = hmac.new(self._key(), str(invitation_id).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:TOKEN_BYTES]).decode().rstrip("=")

    def token(self, invitation_id: int) -> str:
        return f"{invitation_id:x}.{self._sign(invitation_id)}"

    def invitation_of(self, token: str) -> int | None:
        """The invitation a token names; None for anything forged, altered or malformed, and
        for the id written any other way than :meth:`token` writes it (a leading zero), so that
        an invitation has one URL."""
        if len(token) > 64 or not token.isascii() or token.count(".") != 1:
            return None
        number, signature = token.split(".")
        if not 0 < len(number) <= 12 or number[0] == "0" or number.strip(HEX_DIGITS):
            return None
        invitation_id = int(number, 16)
        if not hmac.compare_digest(signature.encode(), self._sign(invitation_id).encode()):
            return None
        return invitation_id

    def url(self, invitation_id: int, star: int | None = None) -> str:
        """The page's URL (absolute with ``CSAT_PUBLIC_URL``), optionally with a star chosen."""
        base = (self.ctx.settings.csat_public_url or "").rstrip("/")
        query = f"?star={star}" if star is not None else ""
        return f"{base}/s/{self.token(invitation_id)}{query}"

    def unsubscribe_url(self, invitation_id: int) -> str:
        """The opt-out page of the address an invitation went to (e-mail's footer link and its
        ``List-Unsubscribe`` header)."""
        base = (self.ctx.settings.csat_public_url or "").rstrip("/")
        return f"{base}/u/{self.token(invitation_id)}"

    def with_links(self, outbound: OutboundMessage) -> OutboundMessage:
        """The message with its survey page and opt-out links, for a channel whose buttons are
        links."""
        if outbound.invitation_id is None:
            return outbound
        return replace(
            outbound,
            page=self.url(outbound.invitation_id),
            unsubscribe=self.unsubscribe_url(outbound.invitation_id),
        )

    def may_change(self, view: PageView) -> bool:
        """Whether the page may record one more change of the rating: a few, not an endless
        stream (each is a reply stored and reported like any other)."""
        since = view.send_at or datetime.min.replace(tzinfo=UTC)
        return self.ctx.store.corrections(view.invitation_id, since) < MAX_CHANGES

    def view(self, invitation_id: int) -> PageView | None:
        """What the page of an invitation shows now; None when there is no such invitation."""
        target = self.ctx.store.page_target(invitation_id)
        if target is None:
            return None

        def page(
            state: PageState,
            question: OutboundMessage | None = None,
            first: OutboundMessage | None = None,
        ) -> PageView:
            return PageView(
                invitation_id=target.id,
                state=state,
                locale=target.locale,
                channel=target.channel,
                address=target.address,
                question=question,
                first_question=first,
                send_at=target.send_at,
            )

        survey = self.ctx.surveys.get(target.survey)
        now = self.ctx.clock()
        if target.address is None or survey is None or survey.version != target.survey_version:
            return page(PageState.CLOSED)
        context = Context(
            now=now,
            locale=target.locale,
            brand=self.ctx.settings.csat_brand,
            invitation_id=target.id,
        )
        first = question_message(survey, 0, context)
        if target.status == Status.SCHEDULED:
            return page(PageState.WAIT)
        if target.status == Status.COMPLETED:
            return page(PageState.THANKS, first=first)
        expired = target.expires_at is not None and target.expires_at <= now
        if target.status != Status.SENT or expired:
            return page(PageState.CLOSED)
        return page(PageState.ASK, question_message(survey, target.question_index, context), first)
