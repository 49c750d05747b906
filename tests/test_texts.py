from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.surveys import SUPPORTED_LOCALES
from bot.texts import (
    GSM7_CHARS,
    MESSAGE_KEYS,
    SKIP_WORDS,
    is_gsm7,
    is_skip,
    message,
    translations,
)

EXPECTED_KEYS = {
    "reply_hint",
    "reprompt",
    "reprompt_out_of_range",
    "reprompt_range_given",
    "reprompt_decimal",
    "reprompt_multiple_numbers",
    "reprompt_wrong_denominator",
    "reprompt_no_number",
    "reprompt_empty",
    "thanks",
    "thanks_rating",
    "correction",
    "already_answered",
    "comment_optional_hint",
    "closed",
    "no_open_survey",
    "opted_out",
    "opted_in",
    "help",
    "reminder_prefix",
    "unparsed_final",
    "not_a_lead",
    "stop_hint",
}
SMS_LOCALES = tuple(locale for locale in SUPPORTED_LOCALES if locale != "zh")
VALUES = {"brand": "Acme", "min": 1, "max": 5, "value": 4, "contact": "help@acme.example"}


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{([^{}]*)\}", template))


def test_message_keys() -> None:
    assert MESSAGE_KEYS == EXPECTED_KEYS


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_every_key_is_translated_with_the_same_placeholders(key: str) -> None:
    templates = translations(key)
    assert set(templates) == set(SUPPORTED_LOCALES)
    for locale, template in templates.items():
        assert template.strip(), locale
        assert _placeholders(template) == _placeholders(templates["en"]), locale


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
@pytest.mark.parametrize("locale", SMS_LOCALES)
def test_sms_locales_are_gsm7(key: str, locale: str) -> None:
    text = message(key, locale, **VALUES)
    assert is_gsm7(text), sorted(set(text) - GSM7_CHARS)
    assert "{" not in text


def test_message_english_samples() -> None:
    assert message("reply_hint", "en", min=0, max=10) == "Reply with a number from 0 to 10."
    assert message("thanks_rating", "en", value=4, max=5) == "Thanks! You rated us 4 out of 5."
    assert message("help", "en", brand="Acme", contact="0800 123") == (
        "Acme customer surveys. Reply with a number to answer, STOP to unsubscribe. "
        "Contact: 0800 123"
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl", "Bedankt voor je feedback!"),
        ("nl-BE", "Bedankt voor je feedback!"),
        ("no", "Takk for tilbakemeldingen!"),
        ("de_CH", "Vielen Dank für Ihr Feedback!"),
        ("zh-Hans-CN", "感谢您的反馈！"),
        ("fr", "Thank you for your feedback!"),
        (None, "Thank you for your feedback!"),
        ("", "Thank you for your feedback!"),
        ("??", "Thank you for your feedback!"),
    ],
)
def test_message_locale_and_fallback(locale: str | None, expected: str) -> None:
    assert message("thanks", locale) == expected


def test_unknown_key_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        message("thank_you", "en")


def test_missing_value_stays_visible_instead_of_raising() -> None:
    assert message("reply_hint", "en", min=1) == "Reply with a number from 1 to {max}."


def test_gsm7_charset() -> None:
    assert len(GSM7_CHARS) == 127 + 10  # the basic table less ESC, and ten escaped characters
    assert set("^{}\\[~]|€\f") <= GSM7_CHARS
    assert set("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡¿ÄÖÑÜ§äöñüà\n\r") <= GSM7_CHARS
    for bad in "`’“”—–…áíóúêë😀\t":
        assert bad not in GSM7_CHARS, bad
    assert is_gsm7("Hoe gaat het? Ça va: 5/5 {ok} [x] €3")
    assert not is_gsm7("It’s great")


@given(st.text())
def test_is_gsm7_is_charset_membership(text: str) -> None:
    assert is_gsm7(text) == all(char in GSM7_CHARS for char in text)


gsm7_text = st.text(alphabet=sorted(GSM7_CHARS - {"{", "}"}), max_size=30)


@given(
    st.sampled_from(sorted(EXPECTED_KEYS)),
    st.sampled_from(SMS_LOCALES),
    gsm7_text,
    gsm7_text,
    st.integers(0, 100),
)
def test_sms_messages_stay_gsm7_for_any_gsm7_values(
    key: str, locale: str, brand: str, contact: str, number: int
) -> None:
    text = message(key, locale, brand=brand, contact=contact, min=0, max=number, value=number)
    assert is_gsm7(text)


@pytest.mark.parametrize(
    ("locale", "word"),
    [
        ("en", "SKIP"),
        ("nl", "OVERSLAAN"),
        ("nb", "HOPP OVER"),
        ("de", "WEITER"),
        ("es", "OMITIR"),
        ("zh", "跳过"),
    ],
)
def test_optional_hint_names_a_skip_word(locale: str, word: str) -> None:
    assert word in message("comment_optional_hint", locale)
    assert is_skip(word)


def test_skip_words_are_casefolded() -> None:
    assert all(word == word.casefold() for word in SKIP_WORDS)


@pytest.mark.parametrize(
    "reply", ["skip", "Skip.", " SKIP ", "NEE!", "nei", "Nein", "no", "hopp   over", "跳过。", "-"]
)
def test_is_skip_accepts(reply: str) -> None:
    assert is_skip(reply)


@pytest.mark.parametrize(
    "reply", ["", "It was slow", "no one answered my call", "skipped my order", "5"]
)
def test_is_skip_rejects(reply: str) -> None:
    assert not is_skip(reply)
