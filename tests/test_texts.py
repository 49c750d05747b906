from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.surveys import DEFAULT_BRANDS, SUPPORTED_LOCALES
from bot.texts import (
    GSM7_CHARS,
    MESSAGE_KEYS,
    SKIP_WORDS,
    is_gsm7,
    is_skip,
    message,
    translations,
)
from tests.helpers import DEFAULT_BRAND_PHRASES

EXPECTED_KEYS = {
    "reply_hint",
    "reprompt",
    "reprompt_out_of_range",
    "reprompt_range_given",
    "reprompt_decimal",
    "reprompt_multiple_numbers",
    "reprompt_wrong_denominator",
    "reprompt_no_number",
    "reprompt_qualified",
    "reprompt_empty",
    "reprompt_no_choice",
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
    *(
        WEB_KEYS := {  # the web page's and the e-mail's: no SMS carries them
            "page_send",
            "page_skip",
            "page_change",
            "page_wait",
            "page_missing",
            "page_unsubscribed",
            "page_link_gone",
            "page_too_many",
            "page_invalid",
            "email_pick",
            "email_footer",
            "email_unsubscribe",
        }
    ),
}
UCS2_LOCALES = {
    # Locales whose catalogue may go out as UCS-2, and why; every other one must be GSM-7.
    "zh": "Chinese script has no GSM-7 form at all",
    "pt": "correct Portuguese needs ã, ç, ê, ó... in almost every sentence; only the texts that "
    "ride on every survey SMS (SURVEY_SMS_KEYS) are held to GSM-7",
}
SMS_LOCALES = tuple(locale for locale in SUPPORTED_LOCALES if locale not in UCS2_LOCALES)
# What a survey invitation or reminder carries besides the question itself (see
# channels.sms_text.render): these stay GSM-7 in every Latin-script locale, Portuguese included.
SURVEY_SMS_KEYS = ("reply_hint", "comment_optional_hint", "reminder_prefix", "stop_hint")
PORTUGUESE_LETTERS = frozenset("ãõçáíóúâêôàÃÕÇÁÍÓÚÂÊÔÀ")
VALUES = {"brand": "Acme", "min": 1, "max": 5, "value": 4, "contact": "help@acme.example"}


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{([^{}]*)\}", template))


def test_message_keys() -> None:
    assert MESSAGE_KEYS == EXPECTED_KEYS


def test_french_and_portuguese_are_shipped() -> None:
    assert {"fr", "pt"} <= set(SUPPORTED_LOCALES)
    for key in EXPECTED_KEYS:
        assert {"fr", "pt"} <= set(translations(key)), key


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_every_key_is_translated_with_the_same_placeholders(key: str) -> None:
    templates = translations(key)
    assert set(templates) == set(SUPPORTED_LOCALES)
    for locale, template in templates.items():
        assert template.strip(), locale
        assert _placeholders(template) == _placeholders(templates["en"]), locale


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS - WEB_KEYS))  # the web page's go by no SMS
@pytest.mark.parametrize("locale", SMS_LOCALES)
def test_sms_locales_are_gsm7(key: str, locale: str) -> None:
    text = message(key, locale, **VALUES)
    assert is_gsm7(text), sorted(set(text) - GSM7_CHARS)
    assert "{" not in text


def test_only_the_documented_locales_may_be_ucs2() -> None:
    assert set(UCS2_LOCALES) == {"zh", "pt"}
    assert "fr" in SMS_LOCALES


@pytest.mark.parametrize("key", SURVEY_SMS_KEYS)
@pytest.mark.parametrize("locale", [loc for loc in SUPPORTED_LOCALES if loc != "zh"])
def test_what_every_survey_sms_carries_is_gsm7(key: str, locale: str) -> None:
    text = message(key, locale, **VALUES)
    assert is_gsm7(text), sorted(set(text) - GSM7_CHARS)


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_portuguese_leaves_gsm7_only_for_its_own_letters(key: str) -> None:
    # Accepting UCS-2 for Portuguese spelling is no licence for curly quotes, dashes or emoji.
    text = message(key, "pt", **VALUES)
    assert set(text) - GSM7_CHARS <= PORTUGUESE_LETTERS, sorted(set(text) - GSM7_CHARS)


def test_message_english_samples() -> None:
    assert message("reply_hint", "en", min=0, max=10) == "Reply with a number from 0 to 10."
    assert message("thanks_rating", "en", value=4, max=5) == "Thanks! You rated us 4 out of 5."
    assert message("help", "en", brand="Acme", contact="0800 123") == (
        "Customer surveys from Acme. Reply with a number to answer, STOP to unsubscribe. "
        "Contact: 0800 123"
    )


BRANDED_KEYS = ("opted_out", "opted_in", "help")


def test_default_brand_phrases_cover_every_locale() -> None:
    assert dict(DEFAULT_BRANDS) == DEFAULT_BRAND_PHRASES
    for locale, phrase in DEFAULT_BRANDS.items():
        assert locale == "zh" or is_gsm7(phrase), locale


@pytest.mark.parametrize("key", BRANDED_KEYS)
@pytest.mark.parametrize("locale", sorted(set(SUPPORTED_LOCALES) - {"en"}))
@pytest.mark.parametrize("brand", ["", "   "])
def test_default_brand_is_in_the_messages_language(key: str, locale: str, brand: str) -> None:
    text = message(key, locale, brand=brand, contact="help@acme.example")
    assert "our team" not in text
    assert DEFAULT_BRAND_PHRASES[locale] in text, text


@pytest.mark.parametrize("key", BRANDED_KEYS)
@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_set_brand_is_used_as_written_in_every_locale(key: str, locale: str) -> None:
    text = message(key, locale, brand="Acme", contact="help@acme.example")
    assert "Acme" in text
    assert DEFAULT_BRAND_PHRASES[locale] not in text


def test_an_unshipped_locale_gets_the_english_text_and_phrase() -> None:
    assert message("opted_in", "sv-SE", brand="") == (
        "You'll get surveys from our team again. Reply STOP to unsubscribe."
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "de",
            "Sie sind abgemeldet, und unser Team schickt Ihnen keine Umfragen mehr. Antworten "
            "Sie START, um sich wieder anzumelden.",
        ),
        (
            "fr",
            "Votre désinscription est prise en compte : notre équipe ne vous enverra plus de "
            "questionnaires. Répondez START pour vous réinscrire.",
        ),
        (
            "pt-BR",
            "Pronto: nossa equipe não vai mais enviar pesquisas para você. Responda START para "
            "voltar a recebê-las.",
        ),
        (
            "nb",
            "Du er meldt av undersøkelser fra teamet vårt og får ikke flere. Svar START for å "
            "melde deg på igjen.",
        ),
    ],
)
def test_default_brand_opt_out_samples(locale: str, expected: str) -> None:
    assert message("opted_out", locale, brand="") == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl", "Bedankt voor je feedback!"),
        ("nl-BE", "Bedankt voor je feedback!"),
        ("no", "Takk for tilbakemeldingen!"),
        ("de_CH", "Vielen Dank für Ihr Feedback!"),
        ("zh-Hans-CN", "感谢您的反馈！"),
        ("fr", "Merci pour votre avis !"),
        ("fr-CA", "Merci pour votre avis !"),
        ("pt-BR", "Obrigado pela sua opinião!"),
        ("pt_PT", "Obrigado pela sua opinião!"),
        ("sv", "Thank you for your feedback!"),
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
    st.sampled_from(sorted(EXPECTED_KEYS - WEB_KEYS)),
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
        ("fr", "PASSER"),
        ("pt", "PULAR"),
    ],
)
def test_optional_hint_names_a_skip_word(locale: str, word: str) -> None:
    assert word in message("comment_optional_hint", locale)
    assert is_skip(word)


def test_skip_words_are_casefolded() -> None:
    assert all(word == word.casefold() for word in SKIP_WORDS)


@pytest.mark.parametrize(
    "reply",
    [
        "skip",
        "Skip.",
        " SKIP ",
        "NEE!",
        "nei",
        "Nein",
        "no",
        "hopp   over",
        "跳过。",
        "-",
        "Passer",
        "non.",
        "Pular",
        "Não!",
        "nada",
    ],
)
def test_is_skip_accepts(reply: str) -> None:
    assert is_skip(reply)


@pytest.mark.parametrize(
    "reply", ["", "It was slow", "no one answered my call", "skipped my order", "5"]
)
def test_is_skip_rejects(reply: str) -> None:
    assert not is_skip(reply)
