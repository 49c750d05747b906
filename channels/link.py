"""A survey as a link: ``channel: "link"`` returns the page's URL in the trigger's answer.

Any system can show it: a webchat widget after the chat ends, a helpdesk macro, a QR code on a
receipt. The person answers on the web survey page (``/s/{token}``, served by the app), so there
is nothing to deliver: the sender hands the survey out at once (``send`` only records it) and the
page accepts answers from then on. ``to`` is your own id for the person (a visitor or customer
id); it is what throttling, opt-out and erasure go by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.channel import ChannelTraits, OutboundMessage, SendResult
from bot.errors import InvalidInput
from channels.adapters import WithoutWebhooks

if TYPE_CHECKING:
    pass

LINK_TRAITS = ChannelTraits(
    supports_buttons=True, default_expiry=timedelta(days=7), answered_on_page=True
)


@dataclass
class LinkChannel:
    name: str = "link"
    traits: ChannelTraits = LINK_TRAITS

    def normalise_address(self, raw: str) -> str:
        address = raw.strip()
        if not address or len(address) > 200:
            raise InvalidInput(f"'to': {raw!r} is not an id for the person (1-200 characters)")
        return address

    def timezones(self, address: str) -> Sequence[str]:
        return []

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        return SendResult(provider_message_id=None)  # the page is the survey: nothing to send


@dataclass
class LinkAdapter(WithoutWebhooks):
    """No webhook of its own: the app serves the survey page for every channel."""

    channel: LinkChannel = field(default_factory=LinkChannel)
