"""The translation rules on their own: keyboard shapes, callback data, error classes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram import ForceReply, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.channel import Button, OutboundMessage
from bot.errors import PermanentSendError, TransientSendError
from bot.results import Tap
from channels.telegram_render import callback_data, keyboard, parse_callback, render, send_error


def question(kind: str, low: int, high: int, question_id: str = "q1") -> OutboundMessage:
    return OutboundMessage(
        text="How was it?",
        buttons=tuple(Button(str(v), v) for v in range(low, high + 1)),
        hint=f"Reply with a number from {low} to {high}.",
        invitation_id=123456789,
        question_id=question_id,
        question_kind=kind,
    )


def shape(outbound: OutboundMessage) -> list[list[str]]:
    markup = keyboard(outbound)
    assert markup is not None
    return [[button.text for button in row] for row in markup.inline_keyboard]


@pytest.mark.parametrize(
    ("kind", "low", "high", "rows"),
    [
        ("csat", 1, 5, [["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]]),
        ("csat10", 1, 10, [["1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]),
        ("nps", 0, 10, [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]),
        ("ces", 1, 7, [["1", "2", "3", "4", "5", "6", "7"]]),
        ("ces", 0, 5, [["0", "1", "2", "3", "4", "5"]]),
    ],
)
def test_each_scale_gets_a_keyboard_that_fits(
    kind: str, low: int, high: int, rows: list[list[str]]
) -> None:
    outbound = question(kind, low, high)
    assert shape(outbound) == rows
    text, markup = render(outbound)
    assert text == "How was it?" and isinstance(markup, InlineKeyboardMarkup)


def test_callback_data_round_trips_and_stays_under_64_bytes() -> None:
    data = callback_data(2**53, "a" * 30, 10)
    assert len(data.encode()) <= 64
    assert parse_callback(data) == Tap(2**53, "a" * 30, 10)
    markup = keyboard(question("nps", 0, 10, "recommend"))
    assert markup is not None
    for row in markup.inline_keyboard:
        for button in row:
            assert isinstance(button.callback_data, str)
            assert len(button.callback_data.encode()) <= 64


@pytest.mark.parametrize(
    "data", [None, "", "*", "csat:1:q", "csat:x:q:1", "other:1:q:1", "csat:1:q:1:2", "csat:1:1q:1"]
)
def test_foreign_callback_data_is_not_ours(data: str | None) -> None:
    assert parse_callback(data) is None


def test_a_question_id_too_long_for_buttons_falls_back_to_typing() -> None:
    text, markup = render(question("csat", 1, 5, "q" * 60))
    assert markup is None
    assert text == "How was it?\nReply with a number from 1 to 5."


def test_the_comment_question_opens_the_reply_box() -> None:
    comment = OutboundMessage(
        text="What is the main reason for your score?",
        hint="(Optional: reply SKIP to skip this question.)",
        invitation_id=1,
        question_id="comment",
        question_kind="text",
    )
    text, markup = render(comment)
    assert text.endswith("(Optional: reply SKIP to skip this question.)")
    assert isinstance(markup, ForceReply) and markup.selective


def test_plain_replies_have_no_markup() -> None:
    assert render(OutboundMessage(text="Thank you for your feedback!")) == (
        "Thank you for your feedback!",
        None,
    )


def test_telegram_errors_become_retry_later_or_never(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    flood = send_error(RetryAfter(timedelta(seconds=7)))
    assert isinstance(flood, TransientSendError) and flood.retry_after == 7.0
    blocked = send_error(Forbidden("Forbidden: bot was blocked by the user"))
    assert isinstance(blocked, PermanentSendError) and blocked.code == "forbidden"
    assert "blocked by the user" in str(blocked) and not blocked.opted_out
    missing = send_error(BadRequest("Chat not found"))
    assert isinstance(missing, PermanentSendError) and missing.code == "bad_request"
    moved = send_error(ChatMigrated(-1001234))
    assert isinstance(moved, PermanentSendError) and "-1001234" in str(moved)
    for transient in (TimedOut(), NetworkError("Bad Gateway"), InvalidToken("rejected")):
        assert isinstance(send_error(transient), TransientSendError)
