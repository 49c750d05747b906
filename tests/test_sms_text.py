"""SMS bodies: GSM-7, no emoji, brand and stop hint, and a two-segment budget for every built-in
survey text in every shipped locale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.channel import Button, OutboundMessage
from bot.engine import Context, question_message
from bot.surveys import builtin_surveys
from bot.texts import is_gsm7, message, translations
from channels.sms_text import guess_locale, render, segments, sms_safe
from channels.sms_twilio import retry_after

LOCALES = sorted(translations("stop_hint"))
BRANDS = ("our team", "Acme Customer Care")


def _proactive(survey: str, index: int, locale: str, brand: str, kind: str) -> OutboundMessage:
    prefix = message("reminder_prefix", locale) if kind == "reminder" else ""
    ctx = Context(now=datetime(2025, 6, 10, tzinfo=UTC), locale=locale, brand=brand)
    return question_message(builtin_surveys()[survey], index, ctx, prefix=prefix, kind=kind)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_builtin_survey_text_fits_two_segments(locale: str) -> None:
    assert {"en", "nl", "nb", "de", "es", "zh"} <= set(LOCALES)
    for brand in BRANDS:
        for name, survey in builtin_surveys().items():
            for index in range(len(survey.questions)):
                for kind in ("survey", "reminder"):
                    outbound = _proactive(name, index, locale, brand, kind)
                    body = render(outbound, brand=brand)
                    where = f"{name} q{index} {kind} {locale} {brand!r}: {body!r}"
                    assert segments(body) <= 2, where
                    assert is_gsm7(body) == (locale != "zh"), where
                    assert brand in body and "STOP" in body, where
                    assert message("stop_hint", locale) in body, where


def test_follow_up_replies_carry_no_stop_hint() -> None:
    outbound = _proactive("support", 1, "en", "Acme", "reply")
    assert "STOP" not in render(outbound, brand="Acme")


def test_locale_is_read_back_from_the_hint() -> None:
    for locale in LOCALES:
        assert guess_locale(_proactive("nps", 0, locale, "Acme", "survey")) == locale
        assert guess_locale(_proactive("support", 1, locale, "Acme", "survey")) == locale
    assert guess_locale(OutboundMessage(text="hi")) is None


def test_brand_is_added_when_a_custom_question_lacks_it() -> None:
    outbound = OutboundMessage(
        text="How did we do?",
        buttons=tuple(Button(str(v), v) for v in range(1, 6)),
        hint=message("reply_hint", "en", min=1, max=5),
        kind="survey",
    )
    assert render(outbound, brand="Acme").startswith("Acme: How did we do?")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x" * 160, 1),
        ("x" * 161, 2),
        ("x" * 306, 2),
        ("x" * 307, 3),
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("五" * 70, 1),
        ("五" * 71, 2),
        ("五" * 134, 2),
        ("五" * 135, 3),
        ("x" * 69 + "😀", 2),  # an emoji is two UTF-16 units and forces UCS-2
    ],
)
def test_segments_are_counted_like_the_network_does(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_sms_safe_removes_emoji_and_typographic_lookalikes() -> None:
    cleaned = sms_safe("We’re “glad” – thanks! 👍⭐ 4️⃣…")
    assert is_gsm7(cleaned)
    assert cleaned == 'We\'re "glad" - thanks!  4...'
    assert sms_safe("谢谢！👍") == "谢谢！"


def test_reply_is_rendered_gsm7_even_from_a_non_gsm_core_text() -> None:
    body = render(OutboundMessage(text="Thanks — see you 😊"), brand="Acme")
    assert body == "Thanks - see you " and segments(body) == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("30", 30.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("x" * 160, 1),
        ("x" * 161, 2),
        ("x" * 306, 2),
        ("x" * 307, 3),
        ("x" * 152 + "€" + "x" * 152, 3),  # the escape pair may not straddle septet 153
        ("x" * 151 + "€" + "x" * 153, 2),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("\f" * 80, 1),  # form feed is in the extension table: GSM-7, two septets
        ("\f" * 81, 2),
        ("你" * 70, 1),
        ("你" * 71, 2),
        ("你" * 66 + "😀" + "你" * 67, 3),  # the surrogate pair may not straddle unit 67
        ("你" * 65 + "😀" + "你" * 67, 2),
    ],
)
def test_segments_never_split_a_character(text: str, count: int) -> None:
    assert segments(text) == count


def test_latin_letters_outside_gsm7_are_named_at_start_up() -> None:
    from dataclasses import replace

    from channels.sms_text import ucs2_warnings

    surveys = builtin_surveys()
    assert list(ucs2_warnings(surveys.values(), "Acme")) == []  # Chinese is UCS-2 by nature
    support = surveys["support"]
    first = support.questions[0]
    accented = replace(first, texts={**first.texts, "es": "¿Cómo valora la atención?"})
    surveys["support"] = replace(support, questions=(accented, *support.questions[1:]))
    warnings = list(ucs2_warnings(surveys.values(), "Açme"))
    assert warnings[0].startswith("CSAT_BRAND 'Açme': 'ç' not in GSM-7")
    assert len(warnings) == 2
    assert 'survey "support", question "csat", locale es: \'ó\' not in GSM-7' in warnings[1]
