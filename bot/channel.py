"""What the core needs from a channel, and the neutral messages it hands one.

A channel adapter translates provider payloads into calls on :class:`bot.service.Service` and
:class:`OutboundMessage` into provider messages. It parametrises the core's mechanisms (quiet
hours, expiry, retries) but implements none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Protocol

from bot.texts import message


@dataclass(frozen=True)
class Button:
    label: str
    value: int


@dataclass(frozen=True)
class OutboundMessage:
    """One message to a respondent: text, and buttons where the channel can show them.

    ``hint`` is the "reply with a number" line: a channel with buttons leaves it out, a text-only
    channel appends it (see :func:`plain_text`).
    """

    text: str
    buttons: tuple[Button, ...] = ()
    hint: str | None = None
    invitation_id: int | None = None
    question_id: str | None = None
    question_kind: str | None = None
    kind: str = "reply"  # "survey", "reminder", "reply", "alert"
    locale: str | None = field(default=None, compare=False)  # for channel-side labels
    # For a channel whose buttons are links (e-mail): the survey page and the opt-out page.
    page: str | None = None
    unsubscribe: str | None = None
    skippable: bool = False  # an optional question: a channel may offer a Skip control


def numbered_options(outbound: OutboundMessage) -> list[str]:
    """A choice question's options as a text-only channel lists them: "1 Knowledge"."""
    if outbound.question_kind != "choice":
        return []
    return [f"{button.value} {button.label}" for button in outbound.buttons]


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None


@dataclass(frozen=True)
class QuietHours:
    """Local window in which a channel may send (SMS: 09:00-20:00 in the recipient's zones)."""

    start: time = time(9, 0)
    end: time = time(20, 0)


@dataclass(frozen=True)
class ChannelTraits:
    supports_buttons: bool
    default_expiry: timedelta
    quiet_hours: QuietHours | None = None
    keywords: bool = False  # STOP/START/HELP/SCORE as whole messages (SMS, console)
    answered_on_page: bool = False  # the web survey page is the survey (link): URL in the answer
    links_to_page: bool = False  # buttons are links to the survey page (e-mail)
    extra: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    name: str
    traits: ChannelTraits

    def normalise_address(self, raw: str) -> str:
        """Canonical address or :class:`bot.errors.InvalidInput` naming what is wrong."""
        ...

    def timezones(self, address: str) -> Sequence[str]:
        """IANA zones the address may be in (for quiet hours); empty when unknown."""
        ...

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        """Deliver, or raise TransientSendError / PermanentSendError."""
        ...


def plain_text(outbound: OutboundMessage, locale: str | None = None) -> str:
    """Text-only rendering: the buttons become the reply hint (a choice question's options a
    numbered list above it)."""
    options = numbered_options(outbound)
    if options:
        lines = [outbound.text, *options]
        if outbound.hint:
            lines.append(outbound.hint)
        return "\n".join(lines)
    if outbound.hint is not None:
        return f"{outbound.text}\n{outbound.hint}" if outbound.hint else outbound.text
    if outbound.buttons:
        low, high = outbound.buttons[0].value, outbound.buttons[-1].value
        return f"{outbound.text}\n{message('reply_hint', locale, min=low, max=high)}"
    return outbound.text
