"""An in-memory channel: outbound messages go to a list, failures can be scripted.

It is the channel the test-suite drives whole conversations through, and a template for a new
adapter: it implements the whole :class:`bot.channel.Channel` protocol (buttons, provider ids,
transient and permanent failures, quiet hours, zones) and nothing else.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.channel import ChannelTraits, OutboundMessage, QuietHours, SendResult
from bot.errors import InvalidInput, SendError


@dataclass(frozen=True)
class Sent:
    address: str
    message: OutboundMessage
    provider_message_id: str


@dataclass
class MemoryChannel:
    name: str = "memory"
    traits: ChannelTraits = field(
        default_factory=lambda: ChannelTraits(
            supports_buttons=True, default_expiry=timedelta(days=7), keywords=True
        )
    )
    zones: dict[str, list[str]] = field(default_factory=dict)
    outbox: list[Sent] = field(default_factory=list)
    failures: deque[SendError] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def normalise_address(self, raw: str) -> str:
        address = raw.strip()
        if not address or len(address) > 64 or any(c.isspace() for c in address):
            raise InvalidInput(f"'to': {raw!r} is not a {self.name} address")
        return address

    def timezones(self, address: str) -> Sequence[str]:
        return self.zones.get(address, [])

    def fail_next(self, *errors: SendError) -> None:
        self.failures.extend(errors)

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        if self.failures:
            raise self.failures.popleft()
        provider_id = f"{self.name}-{next(self._ids)}"
        self.outbox.append(Sent(address, outbound, provider_id))
        return SendResult(provider_message_id=provider_id)

    def pop(self) -> Sent:
        return self.outbox.pop(0)


def with_quiet_hours(channel: MemoryChannel, hours: QuietHours) -> MemoryChannel:
    channel.traits = ChannelTraits(
        supports_buttons=channel.traits.supports_buttons,
        default_expiry=channel.traits.default_expiry,
        quiet_hours=hours,
        keywords=channel.traits.keywords,
    )
    return channel
