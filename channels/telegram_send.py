"""The outbound half of the Telegram channel: surveys and replies out, alerts to the leads' chat.

A module of its own because both the adapter (which builds the channel and the sink) and the
update handlers (which send the core's replies with :func:`deliver`) need it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import timedelta

from telegram import Bot, Message
from telegram.error import RetryAfter, TelegramError

from bot.alerts import Alert, alert_text
from bot.channel import ChannelTraits, OutboundMessage, SendResult
from bot.errors import InvalidInput, TransientSendError
from channels.telegram_render import (
    MAX_TEXT,
    alert_keyboard,
    render,
    retry_seconds,
    send_error,
)
from storage.interface import AlertPost

log = logging.getLogger("csat.telegram")

CHANNEL = "telegram"
TELEGRAM_TRAITS = ChannelTraits(
    supports_buttons=True, default_expiry=timedelta(days=7), keywords=False
)
CHAT_ID = re.compile(r"-?[1-9]\d{0,19}")


async def deliver(bot: Bot, chat_id: int | str, outbound: OutboundMessage) -> Message:
    """One core message as one Telegram message (keyboard or ForceReply as fits)."""
    text, markup = render(outbound)
    return await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)


class TelegramChannel:
    """The outbound half. An address is a chat id: a user's id for a private chat, negative for
    a group. After a 429 it refuses further sends until Telegram's ``retry_after`` has passed, so
    the rest of a sender batch is rescheduled instead of hitting the flood limit again.

    It also works in a ``csat worker`` process, where the adapter is never started: the bot is
    initialised on the first send (a no-op once done).
    """

    name = CHANNEL
    traits = TELEGRAM_TRAITS

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._paused_until = 0.0

    def normalise_address(self, raw: str) -> str:
        text = raw.strip()
        if not CHAT_ID.fullmatch(text):
            raise InvalidInput(
                f"'to': {raw!r} is not a Telegram chat id (an integer such as 123456789, "
                "negative for a group)"
            )
        return text

    def timezones(self, address: str) -> Sequence[str]:
        return ()

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        waiting = self._paused_until - time.monotonic()
        if waiting > 0:
            raise TransientSendError(
                f"Telegram flood control: retry after {waiting:.0f} s",
                code="retry_after",
                retry_after=waiting,
            )
        try:
            await self.bot.initialize()
            sent = await deliver(self.bot, int(address), outbound)
        except RetryAfter as exc:
            self._paused_until = time.monotonic() + retry_seconds(exc)
            raise send_error(exc) from exc
        except TelegramError as exc:
            raise send_error(exc) from exc
        return SendResult(provider_message_id=f"{sent.chat.id}:{sent.message_id}")


class TelegramDigestSink:
    """Scheduled digests into ``TELEGRAM_DIGEST_CHAT``: the chart with its title, then the text."""

    def __init__(self, bot: Bot, chat_id: str) -> None:
        self.bot = bot
        self.chat_id = chat_id

    async def post_digest(self, text: str, chart: bytes, title: str) -> None:
        await self.bot.send_photo(chat_id=self.chat_id, photo=chart, caption=title[:1024])
        await self.bot.send_message(chat_id=self.chat_id, text=text[:MAX_TEXT])


class TelegramAlertSink:
    """Low-score alerts into the leads' chat (``TELEGRAM_ALERT_CHAT``), with the follow-up
    buttons; a claim edits the message in place."""

    name = "telegram"

    def __init__(self, bot: Bot, chat_id: str) -> None:
        self.bot = bot
        self.chat_id = chat_id

    async def post_alert(self, alert: Alert) -> AlertPost | None:
        try:
            sent = await self.bot.send_message(
                chat_id=self.chat_id,
                text=alert_text(alert)[:MAX_TEXT],
                reply_markup=alert_keyboard(alert),
            )
        except TelegramError as exc:
            log.warning("could not post alert to TELEGRAM_ALERT_CHAT: %s", exc)
            return None
        return AlertPost(self.name, str(sent.chat_id), str(sent.message_id))

    async def edit_alert(self, alert: Alert, post: AlertPost) -> None:
        try:
            await self.bot.edit_message_text(
                chat_id=post.target,
                message_id=int(post.message_id),
                text=alert_text(alert)[:MAX_TEXT],
                reply_markup=alert_keyboard(alert),
            )
        except TelegramError as exc:
            log.warning("could not edit alert message %s: %s", post.message_id, exc)
