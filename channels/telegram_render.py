"""Core messages as Telegram messages, and Telegram's errors as the core's send errors.

Kept apart from the adapter so the translation rules (keyboard shapes, callback data, error
classes) are plain functions that the adapter, the alert sink and a team's own bot all share.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from datetime import timedelta

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.alerts import Alert, action_label
from bot.channel import OutboundMessage, plain_text
from bot.errors import PermanentSendError, SendError, TransientSendError
from bot.results import Tap
from bot.texts import message
from storage.values import FollowUpAction

log = logging.getLogger("csat.telegram")

CALLBACK_PREFIX = "csat"
CALLBACK_PATTERN = re.compile(rf"^{CALLBACK_PREFIX}:\d+:[A-Za-z_][A-Za-z0-9_]*:-?\d+$")
MAX_CALLBACK_BYTES = 64
MAX_TEXT = 4096
MAX_ROW = 7
STAR = "⭐"

Markup = InlineKeyboardMarkup | ForceReply


ALERT_PREFIX = "csat_alert"
ALERT_PATTERN = re.compile(rf"^{ALERT_PREFIX}:(claim|resolve):(\d{{1,18}})$")


def alert_keyboard(alert: Alert) -> InlineKeyboardMarkup | None:
    """The follow-up buttons still useful on an alert; none once it is resolved."""
    actions = alert.actions()
    if not actions or alert.id is None:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    action_label(action), callback_data=f"{ALERT_PREFIX}:{action}:{alert.id}"
                )
                for action in actions
            ]
        ]
    )


def parse_alert_callback(data: str | None) -> tuple[FollowUpAction, int] | None:
    """The action and alert id of an alert button; ``None`` for anything we did not make."""
    match = ALERT_PATTERN.match(data or "")
    if match is None:
        return None
    return FollowUpAction(match.group(1)), int(match.group(2))


def callback_data(invitation_id: int, question_id: str, value: int) -> str:
    """What a button carries: which invitation, question and value. Nothing secret is in it, and
    it need not be: the core only accepts it for the chat the invitation was sent to."""
    return f"{CALLBACK_PREFIX}:{invitation_id}:{question_id}:{value}"


def parse_callback(data: str | None) -> Tap | None:
    """The inverse of :func:`callback_data`; ``None`` for anything we did not make."""
    if data is None or not CALLBACK_PATTERN.match(data):
        return None
    _, invitation, rest = data.split(":", 2)
    question_id, value = rest.rsplit(":", 1)
    return Tap(int(invitation), question_id, int(value))


def _rows(count: int) -> list[int]:
    """Row lengths: one row up to seven buttons (CES 1-7), else two balanced rows (NPS 6+5)."""
    if count <= MAX_ROW:
        return [count]
    rows = math.ceil(count / MAX_ROW)
    base, extra = divmod(count, rows)
    return [base + 1 if i < extra else base for i in range(rows)]


def _label(outbound: OutboundMessage, index: int) -> str:
    button = outbound.buttons[index]
    if outbound.question_kind == "csat" and len(outbound.buttons) <= 5:
        return f"{button.label}{STAR}"
    return button.label


def keyboard(outbound: OutboundMessage) -> InlineKeyboardMarkup | None:
    """Stars for a 1-5 CSAT question, numbers for wider scales, a row per option of a choice
    question (its position as the value); ``None`` when the message has no
    buttons or a button would not fit Telegram's 64-byte callback data (then the text says how to
    answer by typing, which works just as well)."""
    if not outbound.buttons or outbound.invitation_id is None or outbound.question_id is None:
        return None
    buttons: list[InlineKeyboardButton] = []
    for index, button in enumerate(outbound.buttons):
        data = callback_data(outbound.invitation_id, outbound.question_id, button.value)
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            log.warning("question id %r too long for Telegram buttons", outbound.question_id)
            return None
        buttons.append(InlineKeyboardButton(_label(outbound, index), callback_data=data))
    if outbound.question_kind == "choice":  # options are words: one a row, in full
        return InlineKeyboardMarkup([[button] for button in buttons])
    layout: list[list[InlineKeyboardButton]] = []
    start = 0
    for length in _rows(len(buttons)):
        layout.append(buttons[start : start + length])
        start += length
    return InlineKeyboardMarkup(layout)


def render(outbound: OutboundMessage) -> tuple[str, Markup | None]:
    """Text and markup: a keyboard for a scored question, a ForceReply for the comment question
    (so the customer's phone opens the reply box), plain text otherwise."""
    markup: Markup | None = keyboard(outbound)
    text = outbound.text if markup is not None else plain_text(outbound)
    if markup is not None and outbound.skippable:  # no Skip button: a typed SKIP does it
        text = f"{text}\n{message('comment_optional_hint', outbound.locale)}"
    if markup is None and outbound.question_kind == "text":
        markup = ForceReply(selective=True)
    return text[:MAX_TEXT], markup


def retry_seconds(exc: RetryAfter) -> float:
    """``retry_after`` as seconds, whether this PTB gives an int or a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def send_error(exc: TelegramError) -> SendError:
    """Sort a Bot API failure into retry-later or never, as the core's sender expects.

    A blocked bot or a chat that never pressed Start is permanent for this message; a rejected
    token is treated as transient because fixing the setting should let the survey still go out.
    """
    reason = str(exc)
    if isinstance(exc, RetryAfter):
        seconds = retry_seconds(exc)
        return TransientSendError(
            f"Telegram flood control: retry after {seconds:g} s",
            code="retry_after",
            retry_after=seconds,
        )
    if isinstance(exc, Forbidden):
        return PermanentSendError(reason, code="forbidden")
    if isinstance(exc, ChatMigrated):
        return PermanentSendError(
            f"group became a supergroup; new chat id {exc.new_chat_id}", code="chat_migrated"
        )
    if isinstance(exc, BadRequest):
        return PermanentSendError(reason, code="bad_request")
    if isinstance(exc, InvalidToken):
        log.error("Telegram rejected TELEGRAM_BOT_TOKEN; surveys wait until it is fixed")
        return TransientSendError("Telegram rejected the bot token", code="invalid_token")
    if isinstance(exc, NetworkError):
        return TransientSendError(reason, code="network")
    return TransientSendError(reason, code="telegram")
