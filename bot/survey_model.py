"""What a survey is: scales, conditions, questions and the survey, each validated when built.

The file format they are written in is described in :mod:`bot.survey_files`.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from bot.locales import brand_for, normalise_locale
from storage.values import QUESTION_KINDS, SCORED_KINDS

DEFAULT_SCALES: dict[str, tuple[int, int, int]] = {
    "csat": (1, 5, 4),
    "csat10": (1, 10, 8),
    "nps": (0, 10, 9),
    "ces": (1, 7, 5),
}

# Ranges whose "positive" threshold is an industry convention, so a file need not spell it out.
KNOWN_THRESHOLDS: dict[tuple[str, int, int], int] = {
    **{(kind, lo, hi): pos for kind, (lo, hi, pos) in DEFAULT_SCALES.items()},
    ("ces", 1, 5): 4,
    ("ces", 0, 5): 4,
}
_NPS_DETRACTORS_BELOW = 7
SCALE_CEILING = 100


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
        if scale_bounds_problem(self.minimum, self.maximum) is not None:
            raise ValueError(
                f"scale {self.minimum}-{self.maximum}: need 0 <= min < max <= {SCALE_CEILING}"
            )
        if positive_at_problem(self.minimum, self.maximum, self.positive_at) is not None:
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
    """The scale a question of ``kind`` gets when its definition names none (``None`` for text
    and choice questions, which have none)."""
    if kind in UNSCALED_KINDS:
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
QUESTION_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UNSCALED_KINDS = ("text", "choice")
MIN_OPTIONS, MAX_OPTIONS = 2, 9  # one digit answers any option by SMS ("Reply 1-9")
OTHER_OPTION = "other"  # the option a free-text reply to a choice question goes to
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


def _localised(texts: Mapping[str, str], locale: str, fallback: str, brand: str) -> str:
    """The text in the respondent's language, else the fallback language, else any.

    ``{brand}`` is substituted literally rather than with :meth:`str.format`, so braces
    elsewhere in an operator-written text can never raise. A blank ``brand`` (no
    ``CSAT_BRAND``) becomes the default phrase in the language of the text chosen, which is
    the fallback's when the respondent's language has no text (see :func:`brand_for`).
    """
    chosen = None
    for candidate in (normalise_locale(locale), normalise_locale(fallback) or fallback):
        if candidate is not None and candidate in texts:
            chosen = candidate
            break
    if chosen is None:
        chosen = next(iter(texts))
    return texts[chosen].replace("{brand}", brand_for(brand, chosen))


@dataclass(frozen=True)
class Option:
    """One answer of a choice question: an id that is stored (so rewording a text never changes
    what old answers mean) and its text per locale."""

    id: str
    texts: Mapping[str, str]

    def __post_init__(self) -> None:
        if question_id_problem(self.id) is not None:
            raise ValueError(f'option id "{self.id}" must be letters, digits and _')
        if not self.texts:
            raise ValueError(f'option "{self.id}" has no text')
        object.__setattr__(self, "texts", _Texts(self.texts))

    def text(self, locale: str, fallback: str, brand: str = "") -> str:
        return _localised(self.texts, locale, fallback, brand)


@dataclass(frozen=True)
class Question:
    """One question of a survey, with its text in every locale we have it in.

    A ``choice`` question has ``options`` (2 to 9, answered by their position or their words)
    and no scale; every other kind has no options.
    """

    id: str
    kind: str
    texts: Mapping[str, str]
    scale: Scale | None
    ask_if: Condition | None = None
    required: bool = True
    options: tuple[Option, ...] = ()

    def __post_init__(self) -> None:
        if question_id_problem(self.id) is not None:
            raise ValueError(f'question id "{self.id}" must be letters, digits and _')
        if kind_problem(self.kind) is not None:
            raise ValueError(f'unknown question kind "{self.kind}"')
        if (self.kind in UNSCALED_KINDS) != (self.scale is None):
            raise ValueError(f'question "{self.id}": only text and choice questions have no scale')
        object.__setattr__(self, "options", tuple(self.options))
        if self.kind == "choice":
            problem = option_count_problem(len(self.options))
            for index, option in enumerate(self.options):
                problem = problem or duplicate_option_problem(option.id, self.options[:index])
            if problem is not None:
                raise ValueError(f'question "{self.id}": {problem}')
        elif self.options:
            raise ValueError(f'question "{self.id}": only choice questions have options')
        if not self.texts:
            raise ValueError(f'question "{self.id}" has no text')
        object.__setattr__(self, "texts", _Texts(self.texts))

    def text(self, locale: str, fallback: str, brand: str) -> str:
        """The question in the respondent's language, else the survey's fallback language."""
        return _localised(self.texts, locale, fallback, brand)

    def option_at(self, position: int) -> Option | None:
        """The option numbered ``position`` (1-based, as buttons and SMS lists number them)."""
        if 1 <= position <= len(self.options):
            return self.options[position - 1]
        return None

    def option(self, option_id: str) -> Option | None:
        return next((option for option in self.options if option.id == option_id), None)

    def _canonical(self) -> dict[str, object]:
        scale = self.scale
        canonical: dict[str, object] = {
            "id": self.id,
            "kind": self.kind,
            "required": self.required,
            "ask_if": None if self.ask_if is None else str(self.ask_if),
            "scale": None
            if scale is None
            else [scale.minimum, scale.maximum, scale.positive_at, scale.negative_below],
            "texts": dict(sorted(self.texts.items())),
        }
        if self.options:  # absent otherwise, so the versions of existing surveys stay as they were
            canonical["options"] = [
                {"id": option.id, "texts": dict(sorted(option.texts.items()))}
                for option in self.options
            ]
        return canonical


@dataclass(frozen=True)
class Survey:
    """A named survey plus the operational settings that decide whom it reaches and for how long.

    Construction validates the invariants the conversation engine relies on (one or two
    questions, a scored first question, conditions that point backwards) and raises
    :class:`ValueError`. The rules are the ``*_problem`` functions below, which the file loader
    applies key by key so that its ConfigError can name the line.
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
    if question_count_problem(len(questions)) is not None:
        return f"needs one or two questions, not {len(questions)}"
    if first_question_problem(questions[0].kind) is not None:
        return "the first question must be scored (csat, csat10, nps or ces)"
    for index, question in enumerate(questions):
        earlier = questions[:index]
        if duplicate_id_problem(question.id, earlier) is not None:
            return f'duplicate question id "{question.id}"'
        if fallback_text_problem(question.texts, survey.fallback_locale) is not None:
            return f'question "{question.id}" has no "{survey.fallback_locale}" text'
        for option in question.options:
            if fallback_text_problem(option.texts, survey.fallback_locale) is not None:
                return (
                    f'question "{question.id}", option "{option.id}" has no '
                    f'"{survey.fallback_locale}" text'
                )
        condition = question.ask_if
        if condition is not None:
            if ask_if_target_problem(condition, earlier) is not None:
                return f'question "{question.id}": ask_if must refer to an earlier scored question'
            if ask_if_value_problem(condition, earlier) is not None:
                return f'question "{question.id}": ask_if value is outside the scale'
    problem = sample_rate_problem(survey.sample_rate)
    if problem is not None:
        return f"sample_rate {problem}"
    for name in ("expires_after", "reminder_after"):
        value = getattr(survey, name)
        problem = None if value is None else duration_problem(value, allow_zero=False)
        if problem is not None:
            return f"{name} {problem}"
    problem = duration_problem(survey.throttle, allow_zero=True)
    if problem is not None:
        return f"throttle {problem}"
    if survey.expires_after is not None and survey.reminder_after is not None:
        problem = reminder_problem(survey.reminder_after, survey.expires_after)
        if problem is not None:
            return f"reminder_after {problem}"
    return None


# -- rules -----------------------------------------------------------------------------------------
# Each returns what is wrong, worded for the key it concerns, or None. The constructors above raise
# their own short message when one fails; bot.survey_files reports the wording here with the line.


def scale_bounds_problem(minimum: int, maximum: int) -> tuple[str, str] | None:
    """The bound at fault (``"min"`` or ``"max"``) and why; see :class:`Scale` for the limits."""
    if minimum < 0:
        return "min", f"must be 0 or more, not {minimum}"
    if maximum > SCALE_CEILING:
        return "max", f"must be at most {SCALE_CEILING}, not {maximum}"
    if minimum >= maximum:
        return "max", f"must be greater than min ({minimum}), not {maximum}"
    return None


def positive_at_problem(minimum: int, maximum: int, positive_at: int) -> str | None:
    """At the minimum every answer would count as positive; above the maximum, none would."""
    if not minimum < positive_at <= maximum:
        return f"must lie on the scale above min ({minimum + 1} to {maximum}), not {positive_at}"
    return None


def question_id_problem(question_id: str) -> str | None:
    """An id is written bare in an ``ask_if`` condition, so it must read as a name."""
    if not QUESTION_ID.fullmatch(question_id):
        return f'invalid id "{question_id}" (letters, digits and _, not starting with a digit)'
    return None


def kind_problem(kind: str) -> str | None:
    if kind not in QUESTION_KINDS:
        return f'unknown kind "{kind}" (expected one of {", ".join(QUESTION_KINDS)})'
    return None


def question_count_problem(count: int) -> str | None:
    """Surveys stay this short on purpose: every extra SMS costs money and response rate."""
    if not 1 <= count <= 2:
        return f"a survey has one or two questions, not {count}"
    return None


def first_question_problem(kind: str) -> str | None:
    """The first answer is the score; a comment alone would be a survey without one."""
    if kind not in SCORED_KINDS:
        return "the first question must be scored (one of " + ", ".join(SCORED_KINDS) + ")"
    return None


def option_count_problem(count: int) -> str | None:
    """One digit must answer any option by SMS, and one option is no choice."""
    if not MIN_OPTIONS <= count <= MAX_OPTIONS:
        return f"a choice question has {MIN_OPTIONS} to {MAX_OPTIONS} options, not {count}"
    return None


def duplicate_option_problem(option_id: str, earlier: Sequence[Option]) -> str | None:
    """Answers are stored by option id, so two options may not share one."""
    for position, other in enumerate(earlier):
        if other.id == option_id:
            return f'duplicate option id "{option_id}" (also options[{position}])'
    return None


def duplicate_id_problem(question_id: str, earlier: Sequence[Question]) -> str | None:
    """Answers and ``ask_if`` conditions refer to questions by id."""
    for position, other in enumerate(earlier):
        if other.id == question_id:
            return f'duplicate question id "{question_id}" (also questions[{position}])'
    return None


def fallback_text_problem(texts: Mapping[str, str], fallback: str) -> str | None:
    """The fallback text is what a respondent in any other language gets."""
    if fallback not in texts:
        return f'missing a text for the fallback locale "{fallback}"'
    return None


def ask_if_target_problem(condition: Condition, earlier: Sequence[Question]) -> str | None:
    """A condition is decided on an answer already given, and only scores compare to numbers."""
    target = _find(earlier, condition.question_id)
    if target is None:
        known = ", ".join(f'"{question.id}"' for question in earlier) or "none"
        return (
            f'refers to "{condition.question_id}", which is not an earlier question '
            f"(earlier: {known})"
        )
    if target.scale is None:
        return f'refers to "{target.id}", a {target.kind} question; it must be a scored one'
    return None


def ask_if_value_problem(condition: Condition, earlier: Sequence[Question]) -> str | None:
    """A number off the scale would make the condition always or never hold."""
    target = _find(earlier, condition.question_id)
    if target is None or target.scale is None or target.scale.contains(condition.value):
        return None
    return (
        f"{condition.value} is outside the {target.scale.minimum}-"
        f'{target.scale.maximum} scale of "{target.id}"'
    )


def sample_rate_problem(rate: float) -> str | None:
    if not 0 < rate <= 1:
        return f"must be greater than 0 and at most 1, not {rate}"
    return None


def duration_problem(value: timedelta, *, allow_zero: bool) -> str | None:
    """Only the throttle may be 0 (survey every time); an expiry or reminder of 0 never waits."""
    if allow_zero:
        return "must not be negative" if value < timedelta(0) else None
    return "must be longer than 0" if value <= timedelta(0) else None


def reminder_problem(reminder: timedelta, expires: timedelta) -> str | None:
    """A reminder due when the invitation has already expired would never be sent."""
    return "must be shorter than expires_after" if reminder >= expires else None


def _find(questions: Sequence[Question], question_id: str) -> Question | None:
    return next((question for question in questions if question.id == question_id), None)
