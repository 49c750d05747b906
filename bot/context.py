"""What every use case shares: settings, surveys, channels, the clock, and pseudonyms.

One :class:`ServiceContext` is made by the composition root and handed to each use case
(triggering, conversations, reports, privacy, sending), so each can be built and tested alone.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.channel import Channel, OutboundMessage
from bot.errors import InvalidInput
from bot.settings import Lead, Settings
from bot.surveys import Survey, brand_for
from bot.texts import message

if TYPE_CHECKING:
    from storage.interface import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


class ServiceContext:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        surveys: Mapping[str, Survey],
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.surveys = dict(surveys)
        self.channels = dict(channels)
        self.clock = clock
        self.rng = rng or random.Random()
        self.leads = settings.leads()
        self.agents = settings.agents()
        self._hash_key: bytes | None = None

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels))
            raise InvalidInput(f"'channel': {name!r} is not enabled (enabled: {known})") from None

    def survey(self, name: str) -> Survey:
        try:
            return self.surveys[name]
        except KeyError:
            known = ", ".join(sorted(self.surveys))
            raise InvalidInput(f"'survey': unknown survey {name!r} (known: {known})") from None

    def is_lead(self, channel: str, address: str) -> bool:
        return Lead(channel, address) in self.leads

    def may_follow_up(self, channel: str, address: str) -> bool:
        """Leads and ``CSAT_AGENTS`` may claim and resolve alerts."""
        person = Lead(channel, address)
        return person in self.leads or person in self.agents

    def hash_key(self) -> bytes:
        """``CSAT_HASH_KEY``, or a random key made once and kept in the database."""
        if self._hash_key is None:
            if self.settings.csat_hash_key is not None:
                self._hash_key = self.settings.csat_hash_key.get_secret_value().encode()
            else:
                with self.store.writing() as tx:
                    self._hash_key = tx.setting("hash_key", secrets.token_hex(32)).encode()
        return self._hash_key

    def pseudonym(self, channel: str, address: str) -> str:
        """The address as stored for lookups: an HMAC, so the store never needs the address
        itself to find a respondent, and the suppression list outlives an erasure."""
        return hmac.new(
            self.hash_key(), f"{channel}:{address}".encode(), hashlib.sha256
        ).hexdigest()

    def text(self, key: str, locale: str | None) -> OutboundMessage:
        """A system message; without ``CSAT_CONTACT`` the HELP reply points at the brand, or
        without ``CSAT_BRAND`` either at "our team" in the message's language."""
        brand = brand_for(self.settings.csat_brand, locale)
        return OutboundMessage(
            text=message(key, locale, brand=brand, contact=self.settings.csat_contact or brand)
        )
