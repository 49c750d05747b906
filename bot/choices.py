"""Reading a typed reply to a choice question: an option's number, or the option in words.

A customer answering "which of these?" by SMS writes "2", "2.", "two", "speed", "Snelheid" or
"the speed of it all". The number is read first and only when it is the whole reply (a number
inside a sentence is more likely a count or a time than the option meant); then the words:

* a reply *names* an option when the option's id (``speed``, ``_`` as a space) or one of its
  texts, in any locale, stands in it as whole words ("speed of resolution", "slow, Speed");
* a reply of at least four letters is *part of* an option when it stands as whole words in one
  of the option's texts ("responsiveness" is part of "Communication and responsiveness");
* case and accents do not matter ("rapidite" is "Rapidité"); Chinese is matched as characters.

When several options are named, the ``other`` option gives way, and then the option named first
counts ("speed of resolution" is speed); the reply itself is then kept as the comment, so
nothing the customer wrote is lost. A reply that names no option goes to ``other`` with the reply
as its comment when the question has that option, and is asked again otherwise. Nothing here
raises: the text comes straight from the channels.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from bot.parsing import Rating, parse_rating
from bot.survey_model import OTHER_OPTION, Option, Question

_FOLD_EXTRA: Final = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d"})
_WORD: Final = re.compile(r"[^\W_]+")
_CJK: Final = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_BARE_NUMBER: Final = re.compile(r"[\W_]*(\d{1,6})[\W_]*")
_MIN_PART_LETTERS = 4  # "and", "of", "de" are part of many options and name none
MAX_CHOICE_REPLY = 500  # longer text names no option by number; it is read as words still


@dataclass(frozen=True)
class Picked:
    """The option chosen (``position`` counts from 1) and the reply as a comment when it says
    more than the option itself."""

    position: int
    comment: str | None = None


@dataclass(frozen=True)
class NotAnOption:
    """Why the reply chose nothing: ``empty``, ``out_of_range`` (a number off the list) or
    ``no_choice`` (no option named, and no ``other`` to take the text)."""

    reason: str


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_FOLD_EXTRA)


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(_fold(text)))


def _compact(text: str) -> str:
    return "".join(_words(text))


def _find(needle: tuple[str, ...], haystack: tuple[str, ...]) -> int | None:
    """Where ``needle`` first stands as whole words in ``haystack``."""
    if not needle or len(needle) > len(haystack):
        return None
    for start in range(len(haystack) - len(needle) + 1):
        if haystack[start : start + len(needle)] == needle:
            return start
    return None


@dataclass(frozen=True)
class _Match:
    position: int  # of the option, 1-based
    named_at: int | None  # where in the reply the option is named; None when the reply is part
    exact: bool  # the reply is the option's id or text, nothing more


def _match(option: Option, position: int, reply: str) -> _Match | None:
    phrases = [tuple(_WORD.findall(option.id.replace("_", " ").casefold()))]
    phrases += [_words(text) for text in option.texts.values()]
    if _CJK.search(reply):
        compact = _compact(reply)
        texts = [_compact(text) for text in option.texts.values()]
        named = [compact.find(text) for text in texts if text and text in compact]
        if named:
            return _Match(position, min(named), compact in texts)
        if len(compact) >= 2 and any(compact in text for text in texts):
            return _Match(position, None, True)
        return None
    words = _words(reply)
    named = [at for phrase in phrases if (at := _find(phrase, words)) is not None]
    if named:
        return _Match(position, min(named), words in phrases)
    if sum(len(word) for word in words) >= _MIN_PART_LETTERS and any(
        _find(words, phrase) is not None for phrase in phrases[1:]
    ):
        return _Match(position, None, True)
    return None


def _number(text: str, count: int, locale: str | None) -> Picked | NotAnOption | None:
    """The option's number when it is the whole reply ("2", "2.", "#2", "２", "two", "二")."""
    plain = unicodedata.normalize("NFKC", text)
    bare = _BARE_NUMBER.fullmatch(plain)
    if bare is not None:
        number = int(bare.group(1))
        return Picked(number) if 1 <= number <= count else NotAnOption("out_of_range")
    if len(plain.split()) == 1 and not any(char.isdigit() for char in plain):
        parsed = parse_rating(plain, 1, count, locale=locale)
        if isinstance(parsed, Rating):
            return Picked(parsed.value)
    return None


def read_choice(text: str, question: Question, locale: str | None = None) -> Picked | NotAnOption:
    """The option a typed reply to ``question`` (a choice question) picks, or why none."""
    reply = text.strip()
    if not reply:
        return NotAnOption("empty")
    options = question.options
    if len(reply) <= MAX_CHOICE_REPLY:
        number = _number(reply, len(options), locale)
        if number is not None:
            return number
    matches = [
        found
        for position, option in enumerate(options, start=1)
        if (found := _match(option, position, reply)) is not None
    ]
    if len(matches) > 1:
        others = {
            position for position, option in enumerate(options, 1) if option.id == OTHER_OPTION
        }
        matches = [found for found in matches if found.position not in others] or matches
    if len(matches) > 1:
        named = sorted(
            (found for found in matches if found.named_at is not None),
            key=lambda found: found.named_at or 0,
        )
        if named and (len(named) == 1 or named[0].named_at != named[1].named_at):
            return Picked(named[0].position, reply)
        matches = []
    if len(matches) == 1:
        found = matches[0]
        return Picked(found.position, None if found.exact else reply)
    other = question.option(OTHER_OPTION)
    if other is not None:
        return Picked(options.index(other) + 1, reply)
    return NotAnOption("no_choice")
