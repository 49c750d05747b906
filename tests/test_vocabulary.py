"""One vocabulary: every code the core writes is a member of its enum in storage.values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.parsing import Reprompt, parse_rating
from bot.texts import _MESSAGES
from storage.values import Reason


def test_every_reprompt_hint_has_its_reason_and_back() -> None:
    hints = {key.removeprefix("reprompt_") for key in _MESSAGES if key.startswith("reprompt_")}
    reasons = {r.value.removeprefix("reprompt:") for r in Reason if r.startswith("reprompt:")}
    assert hints == reasons


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=30), st.sampled_from([(1, 5), (0, 10), (1, 7)]))
def test_whatever_the_parser_refuses_is_a_known_reason(text: str, scale: tuple[int, int]) -> None:
    parsed = parse_rating(text, *scale)
    if isinstance(parsed, Reprompt):
        assert Reason.reprompt(parsed.reason) in Reason
