"""Language tags as channels send them, reduced to the languages we keep texts in, and the
default brand phrase of each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

SUPPORTED_LOCALES = ("en", "nl", "nb", "de", "es", "zh", "fr", "pt")

DEFAULT_BRANDS: Mapping[str, str] = MappingProxyType(
    {
        "en": "our team",
        "nl": "ons team",
        "nb": "teamet vårt",
        "de": "unser Team",
        "es": "nuestro equipo",
        "zh": "我们团队",
        "fr": "notre équipe",
        "pt": "nossa equipe",
    }
)
"""What ``{brand}`` becomes when ``CSAT_BRAND`` is not set, by language.

One phrase per language, so every built-in text is worded for it: the phrase must read right
wherever a text puts ``{brand}``, including after "Contact:" in the HELP reply. That is why the
German texts use ``{brand}`` as subject or accusative object ("unser Team" is the same in both)
rather than after "von"/"mit" (dative "unserem Team"), why the Portuguese ones avoid "de"/"por"
before it (which would contract with an article: "da nossa equipe"), and why the French ones
prefer "par"/"avec" to "de" (which elides before a vowel: "d'Acme"). Every phrase outside
Chinese is in the GSM-7 alphabet.
"""


_LANGUAGE_ALIASES = {
    "no": "nb",
    "nn": "nb",
    "nob": "nb",
    "nno": "nb",
    "nor": "nb",
    "eng": "en",
    "nld": "nl",
    "dut": "nl",
    "deu": "de",
    "ger": "de",
    "spa": "es",
    "zho": "zh",
    "chi": "zh",
    "cmn": "zh",
}
_LANGUAGE_SUBTAG = re.compile(r"[a-z]{2,8}")


def normalise_locale(tag: str | None) -> str | None:
    """Reduce a locale from any channel (Slack ``en-US``, Telegram ``pt-br``, POSIX ``nb_NO.UTF-8``)
    to the bare language code our texts are keyed by.

    Region and script are dropped because we keep one text per language. Norwegian is folded
    into ``nb`` because Bokmål is what almost every Norwegian reader expects from a business.
    Returns ``None`` when there is no usable language subtag, so callers fall back explicitly.
    """
    if tag is None:
        return None
    primary = re.split(r"[-_.@]", tag.strip(), maxsplit=1)[0].lower()
    if not _LANGUAGE_SUBTAG.fullmatch(primary):
        return None
    return _LANGUAGE_ALIASES.get(primary, primary)


def brand_for(brand: str, locale: str | None) -> str:
    """What ``{brand}`` becomes in a text written in ``locale``: ``brand`` as given, or when it
    is blank (``CSAT_BRAND`` not set), that language's :data:`DEFAULT_BRANDS` phrase, English for
    a language without one.

    Pass the language of the text actually used, not the one asked for: a Swedish respondent who
    gets the English text must read "our team".
    """
    if brand.strip():
        return brand
    code = normalise_locale(locale)
    return DEFAULT_BRANDS.get(code or "en", DEFAULT_BRANDS["en"])
