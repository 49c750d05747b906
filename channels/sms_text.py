"""What an SMS body looks like: GSM-7 where possible, no emoji, the brand and a way out.

Carriers bill per segment, and a single character outside the GSM 03.38 alphabet turns the whole
message into UCS-2 (70 characters a segment instead of 160). So outbound text is cleaned of the
usual culprits (curly quotes, dashes, emoji) before it leaves, and segments are counted the way
the network counts them, so tests can hold every built-in text to a budget.
"""

from __future__ import annotations

import unicodedata

from bot.channel import OutboundMessage, plain_text
from bot.texts import is_gsm7, message, translations

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
PROACTIVE_KINDS = ("survey", "reminder")

# Characters of the GSM 03.38 extension table: they stay in GSM-7 but each takes an escape
# septet too, so they cost two.
_EXTENSION = frozenset("^{}\\[~]|€")

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
    return sum(2 if ch in _EXTENSION else 1 for ch in text)


def segments(text: str) -> int:
    """How many SMS segments the network bills for ``text`` (GSM-7 or UCS-2)."""
    if is_gsm7(text):
        length, single, part = septets(text), GSM7_SINGLE, GSM7_PART
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part = UCS2_SINGLE, UCS2_PART
    if length <= single:
        return 1
    return -(-length // part)


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
        if low is not None and hint == message("reply_hint", locale, min=low, max=high):
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
