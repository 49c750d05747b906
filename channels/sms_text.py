"""What an SMS body looks like: GSM-7 where possible, no emoji, the brand and a way out.

Carriers bill per segment, and a single character outside the GSM 03.38 alphabet turns the whole
message into UCS-2 (70 characters a segment instead of 160). So outbound text is cleaned of the
usual culprits (curly quotes, dashes, emoji) before it leaves, and segments are counted the way
the network counts them, so tests can hold every built-in text to a budget.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator

from bot.channel import OutboundMessage, plain_text
from bot.surveys import Survey
from bot.texts import GSM7_EXTENSION, is_gsm7, message, translations

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
PROACTIVE_KINDS = ("survey", "reminder")


_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2022": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\t": " ",
    }
)
# Emoji glue: variation selector 16, zero-width joiner, combining keycap.
_INVISIBLE = frozenset("\ufe0f\ufe0e\u200d\u20e3")


def sms_safe(text: str) -> str:
    """The text with typographic lookalikes made plain and emoji dropped.

    Text that is GSM-7 afterwards goes out at 160 characters a segment; text in a script GSM-7
    cannot carry (Chinese) stays UCS-2 but still loses its emoji.
    """
    cleaned = text.translate(_LOOKALIKES)
    if is_gsm7(cleaned):
        return cleaned
    kept = (
        ch
        for ch in cleaned
        if ch not in _INVISIBLE
        and unicodedata.category(ch) not in ("So", "Cs", "Co")
        and not 0x1F000 <= ord(ch) <= 0x1FAFF
    )
    return "".join(kept)


def septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def _units(text: str, gsm: bool) -> list[int]:
    """What each character costs: septets in GSM-7 (an escaped one two), UTF-16 code units in
    UCS-2 (a character outside the Basic Multilingual Plane, such as an emoji, two)."""
    if gsm:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def segments(text: str) -> int:
    """How many SMS segments the network bills for ``text`` (GSM-7 or UCS-2).

    One segment holds 160 septets or 70 UCS-2 units; in a longer message each part holds 153 or
    67 (the rest is the concatenation header), and a character is never split between parts: an
    escaped GSM-7 character or a surrogate pair that would straddle the boundary starts the next
    part, which is how handsets and Twilio cut messages.
    """
    gsm = is_gsm7(text)
    costs = _units(text, gsm)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def guess_locale(outbound: OutboundMessage) -> str | None:
    """The locale a question was rendered in, read back from its localised hint.

    A stopgap: :class:`OutboundMessage` does not carry its locale, and the stop hint must be in
    the same language as the question it follows.
    """
    hint = outbound.hint
    if not hint:
        return None
    low = outbound.buttons[0].value if outbound.buttons else None
    high = outbound.buttons[-1].value if outbound.buttons else None
    for locale in translations("stop_hint"):
        # A choice question's hint may go on with the optional-question line.
        if low is not None and hint.startswith(message("reply_hint", locale, min=low, max=high)):
            return locale
        if hint == message("comment_optional_hint", locale):
            return locale
    return None


def render(outbound: OutboundMessage, *, brand: str) -> str:
    """The SMS body: the question and how to answer; for a message we start, also who we are
    and how to stop."""
    text = plain_text(outbound)
    if outbound.kind in PROACTIVE_KINDS:
        locale = guess_locale(outbound)
        if brand and brand.casefold() not in text.casefold():
            text = f"{brand}: {text}"
        text = f"{text}\n{message('stop_hint', locale)}"
    return sms_safe(text)


def _latin_outside_gsm7(text: str) -> list[str]:
    """Latin letters (such as "á", "ó") that would make ``text`` UCS-2; nothing when the text is
    in a script GSM-7 cannot carry at all (Chinese, Cyrillic), which is UCS-2 by nature."""
    odd = sorted({ch for ch in sms_safe(text) if not is_gsm7(ch)})
    if odd and all(unicodedata.name(ch, "").startswith("LATIN") for ch in odd):
        return odd
    return []


def ucs2_warnings(surveys: Iterable[Survey], brand: str) -> Iterator[str]:
    """One line per text that a Latin letter outside GSM-7 would send as UCS-2, at less than half
    the characters a segment: the brand once, then each survey text by survey, question and
    locale."""
    tail = "goes out as UCS-2 (70 characters a segment instead of 160)"
    if odd := _latin_outside_gsm7(brand):
        yield f"CSAT_BRAND {brand!r}: {', '.join(map(repr, odd))} not in GSM-7, every survey {tail}"
    for survey in surveys:
        for question in survey.questions:
            texts = [(f'question "{question.id}"', question.texts)]
            texts += [
                (f'question "{question.id}", option "{option.id}"', option.texts)
                for option in question.options
            ]
            for what, templates in texts:
                for locale, template in templates.items():
                    if odd := _latin_outside_gsm7(template.replace("{brand}", "")):
                        yield (
                            f'survey "{survey.name}", {what}, locale {locale}: '
                            f"{', '.join(map(repr, odd))} not in GSM-7, so this text {tail}"
                        )
