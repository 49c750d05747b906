"""Survey definitions: the built-in surveys and the TOML file that adds or overrides them.

A survey is one scored question, optionally followed by a second question (usually a free-text
"why?") that may be conditional on the first answer. Keeping surveys this short is deliberate:
every extra message over SMS costs money and response rate.

Survey file format
==================

Every survey is a table under ``[surveys]``; its key is the survey's name (letters, digits,
``_`` and ``-``). A name that matches a built-in survey (``support``, ``nps``, ``ces``) replaces
it. ``examples/surveys.toml`` is a commented, working example.

.. code-block:: toml

    [surveys.onboarding]
    fallback_locale = "en"     # optional, default "en"; every question needs a text in it
    sample_rate = 0.5          # optional, default 1; share of eligible contacts surveyed, in (0, 1]
    expires_after = "3d"       # optional, default: the channel's (24h for SMS, 7d for chat)
    reminder_after = "1d"      # optional, no reminder by default; must be shorter than expiry
    throttle = "14d"           # optional, default "30d"; "0" surveys a contact every time

    [[surveys.onboarding.questions]]      # one or two questions, asked in this order
    id = "ease"                           # letters, digits and _; unique within the survey
    kind = "ces"                          # csat, csat10, nps, ces or text
    scale = { min = 1, max = 7, positive_at = 5 }   # optional, see below
    text = { en = "How easy was it to get started?", nl = "Hoe makkelijk was het?" }

    [[surveys.onboarding.questions]]
    id = "why"
    kind = "text"
    ask_if = "ease <= 4"       # optional: ask only when an earlier scored answer matches
    required = false           # optional, default true; an optional question accepts SKIP
    text = { en = "What made it hard?" }

Durations are whole numbers with a unit, largest unit first: ``30s``, ``10m``, ``24h``, ``7d``,
``2w``, ``1h30m``; ``0`` means zero.

``text`` is a table of language tag to text (``nl-NL`` counts as ``nl``, ``no`` as ``nb``) or a
plain string, which is taken as the fallback locale's text. ``{brand}`` is the only placeholder:
it becomes ``CSAT_BRAND`` as written, or, when that is not set, "our team" in the language of the
text it lands in (see :data:`DEFAULT_BRANDS`: "ons team", "unser Team", "notre équipe"...). Put it
where such a phrase reads right in your texts (German: after "durch" or as subject or object, not
after "von" or "mit", which need "unserem Team"), or set ``CSAT_BRAND``; in a language without a
default the English phrase is used.

Scales: ``csat`` defaults to 1-5 (satisfied at 4+), ``csat10`` to 1-10 (8+), ``ces`` to 1-7
(easy at 5+); CES's common 5-point variants are recognised too: 1-5 and 0-5 both count 4+ as
easy. Any other range must name ``positive_at`` itself. ``nps`` is always 0-10 (promoters 9-10,
detractors 0-6) because NPS is only comparable on that scale. ``text`` questions have no scale,
and the first question must be scored.

``ask_if`` is ``"<question id> <op> <integer>"`` with ``<``, ``<=``, ``>``, ``>=``, ``==`` or
``!=``; it must refer to an earlier scored question and the number must lie on its scale.

Every problem is a :class:`~bot.errors.ConfigError` that names the file, the line and the key path,
e.g. ``surveys.toml line 12: surveys.onboarding.questions[0].kind: unknown kind "stars" ...``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import operator
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from bot.errors import ConfigError

__all__ = [
    "DEFAULT_BRANDS",
    "DEFAULT_SCALES",
    "QUESTION_KINDS",
    "SCORED_KINDS",
    "SUPPORTED_LOCALES",
    "Condition",
    "Question",
    "Scale",
    "Survey",
    "brand_for",
    "builtin_surveys",
    "default_scale",
    "load_surveys",
    "normalise_locale",
    "parse_duration",
]

QUESTION_KINDS = ("csat", "csat10", "nps", "ces", "text")
SCORED_KINDS = ("csat", "csat10", "nps", "ces")
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

DEFAULT_SCALES: dict[str, tuple[int, int, int]] = {
    "csat": (1, 5, 4),
    "csat10": (1, 10, 8),
    "nps": (0, 10, 9),
    "ces": (1, 7, 5),
}

# Ranges whose "positive" threshold is an industry convention, so a file need not spell it out.
_KNOWN_THRESHOLDS: dict[tuple[str, int, int], int] = {
    **{(kind, lo, hi): pos for kind, (lo, hi, pos) in DEFAULT_SCALES.items()},
    ("ces", 1, 5): 4,
    ("ces", 0, 5): 4,
}
_NPS_DETRACTORS_BELOW = 7
_SCALE_CEILING = 100


# --------------------------------------------------------------------------------------------
# Locales and durations


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


_DURATION_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
_DURATION_UNITS |= {"m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_DURATION_PART = re.compile(r"(\d+)\s*([wdhms])")


def parse_duration(text: str) -> timedelta:
    """Parse the compact durations used in survey files and settings (``1h30m``, ``7d``, ``0``).

    Units must come largest first and at most once each, so ``30m1h`` or ``1h1h`` are rejected
    as probable typos rather than silently summed. Raises :class:`ValueError`; callers wrap it in
    the error type that fits their context (ConfigError for files, InvalidInput for the API).
    """
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError('empty duration (expected e.g. "30s", "10m", "24h", "7d" or "1h30m")')
    if cleaned.isdigit():
        if int(cleaned) == 0:
            return timedelta(0)
        raise ValueError(f'duration "{text}" needs a unit: s, m, h, d or w (e.g. "{cleaned}h")')
    total = timedelta(0)
    position = 0
    last_rank = -1
    order = list(_DURATION_UNITS)
    for match in _DURATION_PART.finditer(cleaned):
        gap = cleaned[position : match.start()]
        if gap.strip():
            break
        rank = order.index(match.group(2))
        if rank <= last_rank:
            raise ValueError(
                f'duration "{text}": units must appear once each, largest first (w, d, h, m, s)'
            )
        last_rank = rank
        try:
            total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        except OverflowError:
            raise ValueError(f'duration "{text}" is too long') from None
        position = match.end()
    if position == 0 or cleaned[position:].strip():
        raise ValueError(
            f'invalid duration "{text}" (expected e.g. "30s", "10m", "24h", "7d" or "1h30m")'
        )
    return total


def _format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in _DURATION_UNITS.items():
        amount, seconds = divmod(seconds, int(size.total_seconds()))
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class Scale:
    """A numeric answer range and where "good" starts.

    Bounds are limited to 0-100: a negative minimum would make "-" ambiguous between a sign and
    a range ("1-5"), and nobody answers a conversational survey on a scale wider than 100.
    Without ``negative_below`` the scale has no neutral band, so every in-range score that is
    not positive counts as negative (CSAT's satisfied / not satisfied split).
    """

    minimum: int
    maximum: int
    positive_at: int
    negative_below: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.minimum < self.maximum <= _SCALE_CEILING:
            raise ValueError(
                f"scale {self.minimum}-{self.maximum}: need 0 <= min < max <= {_SCALE_CEILING}"
            )
        if not self.minimum < self.positive_at <= self.maximum:
            raise ValueError(
                f"positive_at {self.positive_at} must be above min and at most max "
                f"({self.minimum + 1}-{self.maximum})"
            )
        if self.negative_below is not None and not (
            self.minimum < self.negative_below <= self.positive_at
        ):
            raise ValueError(
                f"negative_below {self.negative_below} must be above min and at most positive_at"
            )

    def contains(self, value: int) -> bool:
        return self.minimum <= value <= self.maximum

    def is_positive(self, value: int) -> bool:
        return self.contains(value) and value >= self.positive_at

    def is_negative(self, value: int) -> bool:
        if not self.contains(value):
            return False
        if self.negative_below is None:
            return value < self.positive_at
        return value < self.negative_below


def default_scale(kind: str) -> Scale | None:
    """The scale a question of ``kind`` gets when its definition names none (``None`` for text)."""
    if kind == "text":
        return None
    if kind not in DEFAULT_SCALES:
        raise ValueError(f'unknown question kind "{kind}"')
    lo, hi, pos = DEFAULT_SCALES[kind]
    return Scale(lo, hi, pos, _NPS_DETRACTORS_BELOW if kind == "nps" else None)


_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_QUESTION_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*([+-]?\d+)\s*")


@dataclass(frozen=True)
class Condition:
    """When to ask a follow-up, as a comparison on an earlier answer (``csat <= 3``)."""

    question_id: str
    operator: str
    value: int

    def __post_init__(self) -> None:
        if self.operator not in _OPERATORS:
            raise ValueError(
                f'unknown operator "{self.operator}" (expected one of {", ".join(_OPERATORS)})'
            )

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``"<question id> <op> <integer>"``; raises :class:`ValueError` with the reason."""
        match = _CONDITION.fullmatch(text)
        if match is None:
            raise ValueError(
                f'cannot parse condition "{text}" (expected "<question id> <op> <integer>" '
                f'with op one of {", ".join(_OPERATORS)}, e.g. "csat <= 3")'
            )
        return cls(match.group(1), match.group(2), int(match.group(3)))

    def holds(self, answer: int | None) -> bool:
        """An unanswered or skipped question satisfies no condition, so no follow-up is sent
        about an answer we never got."""
        if answer is None:
            return False
        return _OPERATORS[self.operator](answer, self.value)

    def __str__(self) -> str:
        return f"{self.question_id} {self.operator} {self.value}"


class _Texts(Mapping[str, str]):
    """A read-only, hashable locale → text mapping, so frozen questions really are immutable
    and can be used as dict keys or set members."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


@dataclass(frozen=True)
class Question:
    """One question of a survey, with its text in every locale we have it in."""

    id: str
    kind: str
    texts: Mapping[str, str]
    scale: Scale | None
    ask_if: Condition | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if not _QUESTION_ID.fullmatch(self.id):
            raise ValueError(f'question id "{self.id}" must be letters, digits and _')
        if self.kind not in QUESTION_KINDS:
            raise ValueError(f'unknown question kind "{self.kind}"')
        if (self.kind == "text") != (self.scale is None):
            raise ValueError(f'question "{self.id}": only text questions have no scale')
        if not self.texts:
            raise ValueError(f'question "{self.id}" has no text')
        object.__setattr__(self, "texts", _Texts(self.texts))

    def text(self, locale: str, fallback: str, brand: str) -> str:
        """The question in the respondent's language, else the survey's fallback language.

        ``{brand}`` is substituted literally rather than with :meth:`str.format`, so braces
        elsewhere in an operator-written text can never raise. A blank ``brand`` (no
        ``CSAT_BRAND``) becomes the default phrase in the language of the text chosen, which is
        the fallback's when the respondent's language has no text (see :func:`brand_for`).
        """
        chosen = None
        for candidate in (normalise_locale(locale), normalise_locale(fallback) or fallback):
            if candidate is not None and candidate in self.texts:
                chosen = candidate
                break
        if chosen is None:
            chosen = next(iter(self.texts))
        return self.texts[chosen].replace("{brand}", brand_for(brand, chosen))

    def _canonical(self) -> dict[str, object]:
        scale = self.scale
        return {
            "id": self.id,
            "kind": self.kind,
            "required": self.required,
            "ask_if": None if self.ask_if is None else str(self.ask_if),
            "scale": None
            if scale is None
            else [scale.minimum, scale.maximum, scale.positive_at, scale.negative_below],
            "texts": dict(sorted(self.texts.items())),
        }


@dataclass(frozen=True)
class Survey:
    """A named survey plus the operational settings that decide whom it reaches and for how long.

    Construction validates the invariants the conversation engine relies on (one or two
    questions, a scored first question, conditions that point backwards) and raises
    :class:`ValueError`; the file loader reports the same problems as ConfigError with a line.
    """

    name: str
    questions: tuple[Question, ...]
    fallback_locale: str = "en"
    sample_rate: float = 1.0
    expires_after: timedelta | None = None
    reminder_after: timedelta | None = None
    throttle: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", tuple(self.questions))
        problem = _survey_problem(self)
        if problem is not None:
            raise ValueError(f'survey "{self.name}": {problem}')

    @cached_property
    def version(self) -> str:
        """Identifies what respondents were asked and how it was scored, so stored answers can be
        grouped by definition. Operational settings (sampling, expiry, reminders, throttle) are
        left out on purpose: tuning them does not make answers incomparable. JSON with sorted
        keys is hashed rather than ``hash()``, which is randomised per process."""
        canonical = {
            "fallback_locale": self.fallback_locale,
            "questions": [question._canonical() for question in self.questions],
        }
        encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:12]

    def next_question(self, index: int, answers: Mapping[str, int | None]) -> int | None:
        """Which question to ask after question ``index`` (``-1`` before the first), skipping
        those whose ``ask_if`` does not hold for the answers so far; ``None`` when done."""
        if not -1 <= index < len(self.questions):
            raise ValueError(
                f"question index {index} out of range for survey {self.name!r} "
                f"({len(self.questions)} questions)"
            )
        for position in range(index + 1, len(self.questions)):
            condition = self.questions[position].ask_if
            if condition is None or condition.holds(answers.get(condition.question_id)):
                return position
        return None


def _survey_problem(survey: Survey) -> str | None:
    questions = survey.questions
    if not 1 <= len(questions) <= 2:
        return f"needs one or two questions, not {len(questions)}"
    if questions[0].scale is None:
        return "the first question must be scored (csat, csat10, nps or ces)"
    seen: dict[str, Question] = {}
    for question in questions:
        if question.id in seen:
            return f'duplicate question id "{question.id}"'
        if survey.fallback_locale not in question.texts:
            return f'question "{question.id}" has no "{survey.fallback_locale}" text'
        condition = question.ask_if
        if condition is not None:
            target = seen.get(condition.question_id)
            if target is None or target.scale is None:
                return f'question "{question.id}": ask_if must refer to an earlier scored question'
            if not target.scale.contains(condition.value):
                return f'question "{question.id}": ask_if value is outside the scale'
        seen[question.id] = question
    if not 0 < survey.sample_rate <= 1:
        return f"sample_rate must be greater than 0 and at most 1, not {survey.sample_rate}"
    for name in ("expires_after", "reminder_after"):
        value = getattr(survey, name)
        if value is not None and value <= timedelta(0):
            return f"{name} must be longer than 0"
    if survey.throttle < timedelta(0):
        return "throttle must not be negative"
    if (
        survey.expires_after is not None
        and survey.reminder_after is not None
        and survey.reminder_after >= survey.expires_after
    ):
        return "reminder_after must be shorter than expires_after"
    return None


# --------------------------------------------------------------------------------------------
# Built-in surveys

_COMMENT_TEXTS = {
    "en": "What is the main reason for your score?",
    "nl": "Wat is de belangrijkste reden voor je score?",
    "nb": "Hva er hovedgrunnen til vurderingen din?",
    "de": "Was ist der Hauptgrund für Ihre Bewertung?",
    "es": "¿Nos cuenta el motivo principal de su nota?",
    "zh": "您给出这个评分的主要原因是什么？",
    "fr": "Quelle est la raison principale de votre note ?",
    "pt": "Qual o principal motivo da sua nota?",
}


def _build_builtins() -> dict[str, Survey]:
    comment = Question("comment", "text", _COMMENT_TEXTS, None, required=False)
    support = Survey(
        "support",
        (
            Question(
                "csat",
                "csat",
                {
                    "en": "How would you rate the support you received from {brand}?",
                    "nl": "Hoe beoordeel je de hulp die je van {brand} hebt gekregen?",
                    "nb": "Hvordan vil du vurdere hjelpen du fikk fra {brand}?",
                    "de": "Wie bewerten Sie die Unterstützung durch {brand}?",
                    "es": "¿Qué le ha parecido la ayuda que ha recibido de {brand}?",
                    "zh": "您如何评价{brand}为您提供的支持服务？",
                    "fr": "Comment évaluez-vous l'aide apportée par {brand} ?",
                    "pt": "Como foi seu atendimento com {brand}?",
                },
                default_scale("csat"),
            ),
            comment,
        ),
    )
    nps = Survey(
        "nps",
        (
            Question(
                "nps",
                "nps",
                {
                    "en": "How likely are you to recommend {brand} to a friend or colleague?",
                    "nl": "Hoe waarschijnlijk is het dat je {brand} aanraadt aan een vriend of "
                    "collega?",
                    "nb": "Hvor sannsynlig er det at du vil anbefale {brand} til en venn eller "
                    "kollega?",
                    "de": "Wie wahrscheinlich ist es, dass Sie {brand} einem Freund oder "
                    "Kollegen empfehlen?",
                    "es": "¿Qué probabilidad hay de que recomiende los servicios de {brand} a "
                    "un amigo o colega?",
                    "zh": "您向朋友或同事推荐{brand}的可能性有多大？",
                    "fr": "Quelle est la probabilité que vous recommandiez {brand} à un ami ou "
                    "un collègue ?",
                    "pt": "Qual a probabilidade de recomendar {brand} a um amigo ou colega?",
                },
                default_scale("nps"),
            ),
            comment,
        ),
    )
    ces = Survey(
        "ces",
        (
            Question(
                "ces",
                "ces",
                {
                    "en": "How easy was it to get your issue resolved with {brand}? "
                    "(1 = very difficult, 7 = very easy)",
                    "nl": "Hoe makkelijk was het om je vraag bij {brand} opgelost te krijgen? "
                    "(1 = heel moeilijk, 7 = heel makkelijk)",
                    "nb": "Hvor enkelt var det å få løst saken din hos {brand}? "
                    "(1 = svært vanskelig, 7 = svært enkelt)",
                    "de": "Wie einfach hat {brand} es Ihnen gemacht, Ihr Anliegen zu lösen? "
                    "(1 = sehr schwierig, 7 = sehr einfach)",
                    "es": "¿Le ha resultado sencillo resolver su consulta con {brand}? "
                    "(1 = muy complicado, 7 = muy sencillo)",
                    "zh": "通过{brand}解决您的问题有多容易？（1 = 非常困难，7 = 非常容易）",
                    "fr": "Vous a-t-il été facile de régler votre demande avec {brand} ? "
                    "(1 = très difficile, 7 = très facile)",
                    "pt": "Foi simples resolver seu problema com {brand}? "
                    "(1 = muito complicado, 7 = muito simples)",
                },
                default_scale("ces"),
            ),
            Question(
                "comment",
                "text",
                {
                    "en": "What could we have made easier?",
                    "nl": "Wat hadden we makkelijker kunnen maken?",
                    "nb": "Hva kunne vi ha gjort enklere?",
                    "de": "Was hätten wir einfacher machen können?",
                    "es": "¿Qué le ha resultado complicado?",
                    "zh": "我们在哪些方面还可以做得更简便？",
                    "fr": "Qu'aurions-nous pu rendre plus simple ?",
                    "pt": "O que poderia ter sido mais simples?",
                },
                None,
                ask_if=Condition("ces", "<=", 4),
                required=False,
            ),
        ),
    )
    return {survey.name: survey for survey in (support, nps, ces)}


_BUILTINS = _build_builtins()


def builtin_surveys() -> dict[str, Survey]:
    """A fresh dict each call, so a caller adding or replacing surveys never leaks into another."""
    return dict(_BUILTINS)


# --------------------------------------------------------------------------------------------
# Loading survey files

_KeyPath = tuple[str | int, ...]


class _KeyLines:
    """Finds the line on which each key path of a TOML document is defined.

    :mod:`tomllib` returns plain dicts without positions, so this re-reads the source with a
    small scanner that understands just enough TOML to follow keys: table and array-of-table
    headers, dotted and quoted keys, inline tables, arrays and every string form (so a ``#`` or
    ``=`` inside a string is not mistaken for syntax). It only ever runs on text that tomllib
    has already accepted; if it still meets something it does not follow, it stops and the
    lines found so far are kept, so an error message loses precision but never the error.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line = 1
        self._aot_counts: dict[_KeyPath, int] = {}
        self.lines: dict[_KeyPath, int] = {}
        with contextlib.suppress(_ScanStop):
            self._document()

    def line_of(self, path: _KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor when the key itself is absent."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def _peek(self, size: int = 1) -> str:
        return self._text[self._pos : self._pos + size]

    def _advance(self, size: int = 1) -> None:
        self._line += self._text.count("\n", self._pos, self._pos + size)
        self._pos += size

    def _skip(self, *, newlines: bool) -> None:
        while self._pos < len(self._text):
            char = self._text[self._pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self._advance()
            elif char == "#":
                end = self._text.find("\n", self._pos)
                self._advance((len(self._text) if end < 0 else end) - self._pos)
            else:
                return

    def _expect(self, token: str) -> None:
        if self._peek(len(token)) != token:
            raise _ScanStop
        self._advance(len(token))

    def _record(self, path: _KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    def _document(self) -> None:
        table: _KeyPath = ()
        while True:
            self._skip(newlines=True)
            if self._pos >= len(self._text):
                return
            line = self._line
            if self._peek(2) == "[[":
                self._advance(2)
                table = self._resolve(self._key(), line, array=True)
                self._skip(newlines=False)
                self._expect("]]")
            elif self._peek() == "[":
                self._advance()
                table = self._resolve(self._key(), line, array=False)
                self._skip(newlines=False)
                self._expect("]")
            else:
                self._key_value(table)

    def _resolve(self, keys: list[str], line: int, *, array: bool) -> _KeyPath:
        path: _KeyPath = ()
        for position, key in enumerate(keys):
            path += (key,)
            self._record(path, line)
            if array and position == len(keys) - 1:
                index = self._aot_counts.get(path, 0)
                self._aot_counts[path] = index + 1
                path += (index,)
                self._record(path, line)
            elif path in self._aot_counts:
                path += (self._aot_counts[path] - 1,)
        return path

    def _key(self) -> list[str]:
        keys = []
        while True:
            self._skip(newlines=False)
            char = self._peek()
            if char == '"':
                keys.append(_unescape(self._string_body('"')))
            elif char == "'":
                keys.append(self._string_body("'"))
            else:
                match = _BARE_KEY.match(self._text, self._pos)
                if match is None:
                    raise _ScanStop
                keys.append(match.group())
                self._advance(match.end() - self._pos)
            self._skip(newlines=False)
            if self._peek() != ".":
                return keys
            self._advance()

    def _string_body(self, quote: str) -> str:
        self._advance()
        start = self._pos
        while self._pos < len(self._text):
            char = self._text[self._pos]
            if char == "\\" and quote == '"':
                self._advance(2)
            elif char == quote:
                body = self._text[start : self._pos]
                self._advance()
                return body
            elif char == "\n":
                break
            else:
                self._advance()
        raise _ScanStop

    def _key_value(self, table: _KeyPath) -> None:
        line = self._line
        keys = self._key()
        for end in range(1, len(keys) + 1):
            self._record(table + tuple(keys[:end]), line)
        self._skip(newlines=False)
        self._expect("=")
        self._skip(newlines=False)
        self._value(table + tuple(keys))

    def _value(self, path: _KeyPath) -> None:
        start = self._pos
        char = self._peek()
        if char == "{":
            self._advance()
            while True:
                self._skip(newlines=True)
                if self._peek() == "}":
                    self._advance()
                    break
                self._key_value(path)
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._advance()
        elif char == "[":
            self._advance()
            index = 0
            while True:
                self._skip(newlines=True)
                if self._peek() == "]":
                    self._advance()
                    break
                self._record((*path, index), self._line)
                self._value((*path, index))
                index += 1
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._advance()
        elif self._peek(3) in ('"""', "'''"):
            self._multiline_string(self._peek(3))
        elif char in "\"'":
            self._string_body(char)
        else:
            while self._pos < len(self._text) and self._text[self._pos] not in ",]}\r\n#":
                self._advance()
        if self._pos == start:
            raise _ScanStop

    def _multiline_string(self, delimiter: str) -> None:
        self._advance(3)
        while self._pos < len(self._text):
            if delimiter == '"""' and self._peek() == "\\":
                self._advance(2)
            elif self._peek(3) == delimiter:
                self._advance(3)
                for _ in range(2):
                    if self._peek() == delimiter[0]:
                        self._advance()
                return
            else:
                self._advance()
        raise _ScanStop


class _ScanStop(Exception):
    """The key scanner met text it does not follow; see :class:`_KeyLines`."""


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "uU":
            return chr(int(escape[1:], 16))
        return _ESCAPES.get(escape, escape)

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", replace, body)


def _format_path(path: _KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text += f".{key}" if text else key
    return text


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


_SURVEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SURVEY_KEYS = (
    "fallback_locale",
    "sample_rate",
    "expires_after",
    "reminder_after",
    "throttle",
    "questions",
)
_QUESTION_KEYS = ("id", "kind", "scale", "text", "ask_if", "required")
_SCALE_KEYS = ("min", "max", "positive_at")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Loader:
    """Turns a parsed survey file into surveys, reporting the first problem with its line."""

    def __init__(self, source: str, text: str) -> None:
        self._source = source
        self._lines = _KeyLines(text)

    def fail(self, path: _KeyPath, problem: str) -> NoReturn:
        line = self._lines.line_of(path)
        where = self._source if line is None else f"{self._source} line {line}"
        raise ConfigError(f"{where}: {_format_path(path)}: {problem}")

    def surveys(self, document: dict[str, Any]) -> dict[str, Survey]:
        for key in document:
            if key != "surveys":
                self.fail(
                    (key,), f'unknown top-level key "{key}" (surveys go under [surveys.NAME])'
                )
        tables = self.table(("surveys",), document.get("surveys", {}))
        result = {}
        for name, body in tables.items():
            path: _KeyPath = ("surveys", name)
            if not _SURVEY_NAME.fullmatch(name):
                self.fail(
                    path,
                    "a survey name is 1-64 letters, digits, _ or -, starting with a "
                    "letter or digit",
                )
            result[name] = self.survey(path, name, self.table(path, body))
        return result

    def table(self, path: _KeyPath, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a table, got {_type_name(value)}")
        return value

    def check_keys(
        self, path: _KeyPath, table: Mapping[str, object], allowed: tuple[str, ...]
    ) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                self.fail(
                    (*path, key),
                    f'unknown key "{key}" ({hint}expected one of {", ".join(allowed)})',
                )

    def string(self, path: _KeyPath, value: object) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {_type_name(value)}")
        return value

    def integer(self, path: _KeyPath, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {_type_name(value)}")
        return value

    def required(self, path: _KeyPath, table: Mapping[str, object], key: str) -> object:
        if key not in table:
            self.fail((*path, key), "required key is missing")
        return table[key]

    def survey(self, path: _KeyPath, name: str, body: dict[str, Any]) -> Survey:
        self.check_keys(path, body, _SURVEY_KEYS)
        fallback = self.locale((*path, "fallback_locale"), body.get("fallback_locale", "en"))
        sample_rate = self.sample_rate((*path, "sample_rate"), body.get("sample_rate", 1.0))
        durations: dict[str, timedelta | None] = {}
        for key in ("expires_after", "reminder_after", "throttle"):
            durations[key] = (
                None
                if key not in body
                else self.duration((*path, key), body[key], allow_zero=key == "throttle")
            )
        expires, reminder = durations["expires_after"], durations["reminder_after"]
        throttle = durations["throttle"]
        if expires is not None and reminder is not None and reminder >= expires:
            self.fail(
                (*path, "reminder_after"),
                f'must be shorter than expires_after ("{_format_duration(expires)}")',
            )
        questions_path = (*path, "questions")
        raw_questions = self.required(path, body, "questions")
        if not isinstance(raw_questions, list):
            self.fail(
                questions_path,
                f"expected an array of tables ([[{_format_path(questions_path)}]]), "
                f"got {_type_name(raw_questions)}",
            )
        if not raw_questions:
            self.fail(questions_path, "a survey has one or two questions, not 0")
        if len(raw_questions) > 2:
            self.fail(
                (*questions_path, 2),
                f"a survey has one or two questions, not {len(raw_questions)}",
            )
        questions: list[Question] = []
        for index, raw in enumerate(raw_questions):
            question_path = (*questions_path, index)
            questions.append(
                self.question(question_path, self.table(question_path, raw), fallback, questions)
            )
        try:
            return Survey(
                name,
                tuple(questions),
                fallback_locale=fallback,
                sample_rate=sample_rate,
                expires_after=expires,
                reminder_after=reminder,
                throttle=timedelta(days=30) if throttle is None else throttle,
            )
        except ValueError as exc:
            self.fail(path, str(exc))

    def locale(self, path: _KeyPath, value: object) -> str:
        tag = self.string(path, value)
        code = normalise_locale(tag)
        if code is None:
            self.fail(path, f'"{tag}" is not a language tag (e.g. "en", "nl-NL")')
        return code

    def sample_rate(self, path: _KeyPath, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {_type_name(value)}")
        if not 0 < value <= 1:
            self.fail(path, f"must be greater than 0 and at most 1, not {value}")
        return float(value)

    def duration(self, path: _KeyPath, value: object, *, allow_zero: bool) -> timedelta:
        if not isinstance(value, str):
            self.fail(path, f'expected a duration string such as "24h", got {_type_name(value)}')
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            self.fail(path, str(exc))
        if not allow_zero and parsed == timedelta(0):
            self.fail(path, "must be longer than 0")
        return parsed

    def question(
        self, path: _KeyPath, raw: dict[str, Any], fallback: str, earlier: list[Question]
    ) -> Question:
        self.check_keys(path, raw, _QUESTION_KEYS)
        question_id = self.string((*path, "id"), self.required(path, raw, "id"))
        if not _QUESTION_ID.fullmatch(question_id):
            self.fail(
                (*path, "id"),
                f'invalid id "{question_id}" (letters, digits and _, not starting with a digit)',
            )
        for position, other in enumerate(earlier):
            if other.id == question_id:
                self.fail(
                    (*path, "id"),
                    f'duplicate question id "{question_id}" (also questions[{position}])',
                )
        kind = self.string((*path, "kind"), self.required(path, raw, "kind"))
        if kind not in QUESTION_KINDS:
            self.fail(
                (*path, "kind"),
                f'unknown kind "{kind}" (expected one of {", ".join(QUESTION_KINDS)})',
            )
        if kind == "text" and not earlier:
            self.fail(
                (*path, "kind"),
                "the first question must be scored (one of " + ", ".join(SCORED_KINDS) + ")",
            )
        if kind == "text":
            if "scale" in raw:
                self.fail((*path, "scale"), "text questions have no scale")
            scale = None
        else:
            scale = self.scale((*path, "scale"), kind, raw.get("scale"))
        texts = self.texts((*path, "text"), self.required(path, raw, "text"), fallback)
        required = raw.get("required", True)
        if not isinstance(required, bool):
            self.fail((*path, "required"), f"expected true or false, got {_type_name(required)}")
        condition = None
        if "ask_if" in raw:
            condition = self.condition((*path, "ask_if"), raw["ask_if"], earlier)
        try:
            return Question(question_id, kind, texts, scale, condition, required)
        except ValueError as exc:
            self.fail(path, str(exc))

    def scale(self, path: _KeyPath, kind: str, raw: object) -> Scale:
        default = default_scale(kind)
        assert default is not None
        if raw is None:
            return default
        table = self.table(path, raw)
        self.check_keys(path, table, _SCALE_KEYS)
        low = self.integer((*path, "min"), table.get("min", default.minimum))
        high = self.integer((*path, "max"), table.get("max", default.maximum))
        if kind == "nps":
            positive = table.get("positive_at", default.positive_at)
            if (low, high, positive) != (default.minimum, default.maximum, default.positive_at):
                self.fail(
                    path,
                    "nps always uses the 0-10 scale with promoters at 9 and up; remove scale",
                )
            return default
        if low < 0:
            self.fail((*path, "min"), f"must be 0 or more, not {low}")
        if high > _SCALE_CEILING:
            self.fail((*path, "max"), f"must be at most {_SCALE_CEILING}, not {high}")
        if low >= high:
            self.fail((*path, "max"), f"must be greater than min ({low}), not {high}")
        if "positive_at" in table:
            positive = self.integer((*path, "positive_at"), table["positive_at"])
        elif (kind, low, high) in _KNOWN_THRESHOLDS:
            positive = _KNOWN_THRESHOLDS[kind, low, high]
        else:
            self.fail(
                (*path, "positive_at"),
                f"required for a {low}-{high} {kind} scale (there is no standard threshold)",
            )
        if not low < positive <= high:
            self.fail(
                (*path, "positive_at"),
                f"must lie on the scale above min ({low + 1} to {high}), not {positive}",
            )
        return Scale(low, high, positive)

    def texts(self, path: _KeyPath, raw: object, fallback: str) -> dict[str, str]:
        if isinstance(raw, str):
            raw = {fallback: raw}
        if not isinstance(raw, dict):
            self.fail(
                path,
                f'expected a string or a table such as {{ en = "..." }}, got {_type_name(raw)}',
            )
        texts: dict[str, str] = {}
        for tag, value in raw.items():
            key_path = (*path, tag)
            code = normalise_locale(tag)
            if code is None:
                self.fail(key_path, f'"{tag}" is not a language tag (e.g. "en", "nl-NL")')
            if code in texts:
                self.fail(key_path, f'a second text for locale "{code}"')
            text = self.string(key_path, value)
            if not text.strip():
                self.fail(key_path, "must not be empty")
            for placeholder in _PLACEHOLDER.findall(text):
                if placeholder != "brand":
                    self.fail(
                        key_path,
                        f'unknown placeholder "{{{placeholder}}}" (only {{brand}} is supported)',
                    )
            texts[code] = text
        if fallback not in texts:
            self.fail(path, f'missing a text for the fallback locale "{fallback}"')
        return texts

    def condition(self, path: _KeyPath, raw: object, earlier: list[Question]) -> Condition:
        try:
            condition = Condition.parse(self.string(path, raw))
        except ValueError as exc:
            self.fail(path, str(exc))
        target = next((q for q in earlier if q.id == condition.question_id), None)
        if target is None:
            known = ", ".join(f'"{q.id}"' for q in earlier) or "none"
            self.fail(
                path,
                f'refers to "{condition.question_id}", which is not an earlier question '
                f"(earlier: {known})",
            )
        if target.scale is None:
            self.fail(path, f'refers to "{target.id}", a text question; it must be a scored one')
        if not target.scale.contains(condition.value):
            self.fail(
                path,
                f"{condition.value} is outside the {target.scale.minimum}-"
                f'{target.scale.maximum} scale of "{target.id}"',
            )
        return condition


def load_surveys(path: Path) -> dict[str, Survey]:
    """The built-in surveys overlaid with those defined in ``path`` (which may replace them)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: survey file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read survey file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line}: the file is not valid UTF-8") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else max(1, len(text.splitlines()))
        raise ConfigError(f"{path} line {line}: invalid TOML: {exc}") from exc
    surveys = builtin_surveys()
    surveys.update(_Loader(str(path), text).surveys(document))
    return surveys
