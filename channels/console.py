"""The terminal as a channel: for trying the bot as a customer (``csat chat``).

Outbound messages are printed with their buttons shown as a numbered scale, the way a text-only
channel renders them; replies typed at the prompt go through the same service path as SMS.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.channel import ChannelTraits, OutboundMessage, SendResult, plain_text
from bot.errors import InvalidInput
from channels.adapters import WithoutWebhooks

if TYPE_CHECKING:
    pass

CONSOLE_TRAITS = ChannelTraits(
    supports_buttons=False, default_expiry=timedelta(days=7), keywords=True
)


@dataclass
class ConsoleChannel:
    """Prints to a writer; an address is any short name (the person at the terminal)."""

    write: Callable[[str], None] = print
    name: str = "console"
    traits: ChannelTraits = CONSOLE_TRAITS
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def normalise_address(self, raw: str) -> str:
        address = raw.strip()
        if not address or len(address) > 64:
            raise InvalidInput(f"'to': {raw!r} is not a console name (1-64 characters)")
        return address

    def timezones(self, address: str) -> Sequence[str]:
        return []

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        self.write(render(outbound))
        return SendResult(provider_message_id=f"console-{next(self._ids)}")


@dataclass
class ConsoleAdapter(WithoutWebhooks):
    """The console needs no webhook: replies come from ``csat chat``'s prompt."""

    channel: ConsoleChannel = field(default_factory=ConsoleChannel)


def render(outbound: OutboundMessage) -> str:
    """Text plus the buttons as a numbered scale, the fallback for a channel without buttons."""
    text = plain_text(outbound)
    if outbound.buttons and outbound.question_kind != "choice":  # a choice lists its options
        text += "\n" + " ".join(f"[{button.label}]" for button in outbound.buttons)
    return text
