"""Star taps and typed replies from Telegram, each translated into one hub call and back.

The handlers keep no conversation state in PTB's ``user_data``/``chat_data``: the database has it
all, so any number of web workers can serve the webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.channel import OutboundMessage
from bot.hub import Hub
from bot.results import Incoming, Outcome
from channels.telegram_render import MAX_TEXT, parse_alert_callback, parse_callback
from channels.telegram_send import CHANNEL, deliver

log = logging.getLogger("csat.telegram")

Context = ContextTypes.DEFAULT_TYPE

# A message that answers no open survey (none sent, or the newest one is answered, expired or
# closed): in plug-in mode it belongs to the host bot.
_NOT_OURS = (Outcome.NOT_AN_ANSWER, Outcome.CLOSED)


async def _reply(bot: Bot, chat_id: int, replies: Sequence[OutboundMessage]) -> None:
    for outbound in replies:
        try:
            await deliver(bot, chat_id, outbound)
        except TelegramError as exc:
            log.warning("reply to chat %s not delivered: %s", chat_id, exc)
            return


def _tapped_label(query: CallbackQuery) -> str | None:
    message = query.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None


class AnswerHandlers:
    """The PTB callbacks for answers; ``reply_without_survey`` decides whether a message that
    answers nothing is ours to reply to or is left to the host bot's handlers."""

    def __init__(self, hub: Hub, *, reply_without_survey: bool) -> None:
        self.hub = hub
        self.reply_without_survey = reply_without_survey

    async def button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()
        except TelegramError as exc:
            log.info("callback query %s not answered: %s", query.id, exc)
        parsed = parse_callback(query.data if isinstance(query.data, str) else None)
        if parsed is None:
            return
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        result = await self.hub.receive(
            Incoming(CHANNEL, str(chat_id), tap=parsed, provider_message_id=f"cb:{query.id}")
        )
        if result.duplicate:
            raise ApplicationHandlerStop
        if isinstance(message, Message):
            await self._settle(query, message, result.outcome)
        await _reply(context.bot, chat_id, result.replies)
        raise ApplicationHandlerStop

    async def follow_up(self, update: Update, context: Context) -> None:
        """A tap on an alert's "I'll follow up" or "Resolved" in the leads' chat."""
        query = update.callback_query
        if query is None:
            return
        parsed = parse_alert_callback(query.data if isinstance(query.data, str) else None)
        notice = ""
        if parsed is not None:
            action, alert_id = parsed
            person = query.from_user
            who = f"@{person.username}" if person.username else person.full_name
            result = await self.hub.follow_up(CHANNEL, str(person.id), who, alert_id, action)
            notice = result.notice
        try:
            # A refusal or "already claimed" shows as a pop-up only to whoever tapped.
            await query.answer(notice[:200] or None, show_alert=bool(notice))
        except TelegramError as exc:
            log.info("callback query %s not answered: %s", query.id, exc)
        raise ApplicationHandlerStop

    @staticmethod
    async def _settle(query: CallbackQuery, message: Message, outcome: Outcome) -> None:
        """The survey message keeps the chosen rating and loses its buttons."""
        label = _tapped_label(query)
        try:
            if outcome is Outcome.RECORDED and message.text and label:
                await query.edit_message_text(f"{message.text}\n\n✅ {label}"[:MAX_TEXT])
            else:
                await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError as exc:
            log.info("survey message %s not edited: %s", message.message_id, exc)

    async def text(self, update: Update, context: Context) -> None:
        message, chat = update.message, update.effective_chat
        if message is None or chat is None or message.text is None:
            return
        if chat.type != chat.PRIVATE:
            replied = message.reply_to_message
            author = replied.from_user if replied is not None else None
            if author is None or author.id != context.bot.id:
                return
        result = await self.hub.receive(
            Incoming(
                CHANNEL, str(chat.id), message.text, provider_message_id=f"u:{update.update_id}"
            )
        )
        if result.duplicate:
            raise ApplicationHandlerStop
        if result.outcome in _NOT_OURS and not self.reply_without_survey:
            return  # not ours: the host application's handlers get the message untouched
        await _reply(context.bot, chat.id, result.replies)
        raise ApplicationHandlerStop
