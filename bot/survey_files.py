"""
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
    kind = "choice"            # or "text" for a free comment
    ask_if = "ease <= 4"       # optional: ask only when an earlier scored answer matches
    required = false           # optional, default true; an optional question accepts SKIP
    text = { en = "What made it hard?" }
    options = [                # choice only: 2 to 9, answered by number, tap or word
      { id = "docs", text = { en = "The documentation", nl = "De documentatie" } },
      { id = "setup", text = "Installing it" },
      { id = "other", text = "Something else" },   # free text goes here, as the comment
    ]

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

``choice`` questions have no scale but ``options``: an array of 2 to 9 tables with an ``id``
(letters, digits and _, unique within the question; it is what is stored, so a text can be
reworded later without changing old answers) and a ``text`` (a table per locale or a plain string,
like a question's; each needs the fallback locale's text). A reply is an option's number, a tap,
or one of its words; any other text goes to the option with id ``other`` as its comment (without
such an option the reply is asked again).

``ask_if`` is ``"<question id> <op> <integer>"`` with ``<``, ``<=``, ``>``, ``>=``, ``==`` or
``!=``; it must refer to an earlier scored question and the number must lie on its scale.

Every problem is a :class:`~bot.errors.ConfigError` that names the file, the line and the key path,
e.g. ``surveys.toml line 12: surveys.onboarding.questions[0].kind: unknown kind "stars" ...``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from bot.builtin_surveys import builtin_surveys
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError
from bot.locales import normalise_locale
from bot.survey_model import (
    KNOWN_THRESHOLDS,
    UNSCALED_KINDS,
    Condition,
    Option,
    Question,
    Scale,
    Survey,
    ask_if_target_problem,
    ask_if_value_problem,
    default_scale,
    duplicate_id_problem,
    duplicate_option_problem,
    duration_problem,
    fallback_text_problem,
    first_question_problem,
    kind_problem,
    option_count_problem,
    positive_at_problem,
    question_count_problem,
    question_id_problem,
    reminder_problem,
    sample_rate_problem,
    scale_bounds_problem,
)
from bot.toml_lines import KeyLines, KeyPath, format_path


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
_QUESTION_KEYS = ("id", "kind", "scale", "text", "ask_if", "required", "options")
_OPTION_KEYS = ("id", "text")
_SCALE_KEYS = ("min", "max", "positive_at")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Loader:
    """Turns a parsed survey file into surveys, reporting the first problem with its line."""

    def __init__(self, source: str, text: str) -> None:
        self._source = source
        self._lines = KeyLines(text)

    def fail(self, path: KeyPath, problem: str) -> NoReturn:
        line = self._lines.line_of(path)
        where = self._source if line is None else f"{self._source} line {line}"
        raise ConfigError(f"{where}: {format_path(path)}: {problem}")

    def check(self, path: KeyPath, problem: str | None) -> None:
        """Reports what one of the model's rules found wrong at ``path``, if anything."""
        if problem is not None:
            self.fail(path, problem)

    def surveys(self, document: dict[str, Any]) -> dict[str, Survey]:
        for key in document:
            if key != "surveys":
                self.fail(
                    (key,), f'unknown top-level key "{key}" (surveys go under [surveys.NAME])'
                )
        tables = self.table(("surveys",), document.get("surveys", {}))
        result = {}
        for name, body in tables.items():
            path: KeyPath = ("surveys", name)
            if not _SURVEY_NAME.fullmatch(name):
                self.fail(
                    path,
                    "a survey name is 1-64 letters, digits, _ or -, starting with a "
                    "letter or digit",
                )
            result[name] = self.survey(path, name, self.table(path, body))
        return result

    def table(self, path: KeyPath, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a table, got {_type_name(value)}")
        return value

    def check_keys(
        self, path: KeyPath, table: Mapping[str, object], allowed: tuple[str, ...]
    ) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                self.fail(
                    (*path, key),
                    f'unknown key "{key}" ({hint}expected one of {", ".join(allowed)})',
                )

    def string(self, path: KeyPath, value: object) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {_type_name(value)}")
        return value

    def integer(self, path: KeyPath, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {_type_name(value)}")
        return value

    def required(self, path: KeyPath, table: Mapping[str, object], key: str) -> object:
        if key not in table:
            self.fail((*path, key), "required key is missing")
        return table[key]

    def survey(self, path: KeyPath, name: str, body: dict[str, Any]) -> Survey:
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
        if expires is not None and reminder is not None:
            problem = reminder_problem(reminder, expires)
            if problem is not None:
                self.fail((*path, "reminder_after"), f'{problem} ("{format_duration(expires)}")')
        questions_path = (*path, "questions")
        raw_questions = self.required(path, body, "questions")
        if not isinstance(raw_questions, list):
            self.fail(
                questions_path,
                f"expected an array of tables ([[{format_path(questions_path)}]]), "
                f"got {_type_name(raw_questions)}",
            )
        problem = question_count_problem(len(raw_questions))
        if problem is not None:
            self.fail((*questions_path, 2) if raw_questions else questions_path, problem)
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

    def locale(self, path: KeyPath, value: object) -> str:
        tag = self.string(path, value)
        code = normalise_locale(tag)
        if code is None:
            self.fail(path, f'"{tag}" is not a language tag (e.g. "en", "nl-NL")')
        return code

    def sample_rate(self, path: KeyPath, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {_type_name(value)}")
        self.check(path, sample_rate_problem(value))
        return float(value)

    def duration(self, path: KeyPath, value: object, *, allow_zero: bool) -> timedelta:
        if not isinstance(value, str):
            self.fail(path, f'expected a duration string such as "24h", got {_type_name(value)}')
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            self.fail(path, str(exc))
        self.check(path, duration_problem(parsed, allow_zero=allow_zero))
        return parsed

    def question(
        self, path: KeyPath, raw: dict[str, Any], fallback: str, earlier: list[Question]
    ) -> Question:
        self.check_keys(path, raw, _QUESTION_KEYS)
        question_id = self.string((*path, "id"), self.required(path, raw, "id"))
        self.check((*path, "id"), question_id_problem(question_id))
        self.check((*path, "id"), duplicate_id_problem(question_id, earlier))
        kind = self.string((*path, "kind"), self.required(path, raw, "kind"))
        self.check((*path, "kind"), kind_problem(kind))
        if not earlier:
            self.check((*path, "kind"), first_question_problem(kind))
        if kind in UNSCALED_KINDS:
            if "scale" in raw:
                self.fail((*path, "scale"), f"{kind} questions have no scale")
            scale = None
        else:
            scale = self.scale((*path, "scale"), kind, raw.get("scale"))
        texts = self.texts((*path, "text"), self.required(path, raw, "text"), fallback)
        options: tuple[Option, ...] = ()
        if kind == "choice":
            raw_options = self.required(path, raw, "options")
            options = self.options((*path, "options"), raw_options, fallback)
        elif "options" in raw:
            self.fail((*path, "options"), "only choice questions have options")
        required = raw.get("required", True)
        if not isinstance(required, bool):
            self.fail((*path, "required"), f"expected true or false, got {_type_name(required)}")
        condition = None
        if "ask_if" in raw:
            condition = self.condition((*path, "ask_if"), raw["ask_if"], earlier)
        try:
            return Question(question_id, kind, texts, scale, condition, required, options)
        except ValueError as exc:
            self.fail(path, str(exc))

    def options(self, path: KeyPath, raw: object, fallback: str) -> tuple[Option, ...]:
        if not isinstance(raw, list):
            self.fail(
                path,
                f'expected an array of tables such as [{{ id = "speed", text = "Speed" }}], '
                f"got {_type_name(raw)}",
            )
        problem = option_count_problem(len(raw))
        if problem is not None:
            self.fail((*path, len(raw) - 1) if raw else path, problem)
        options: list[Option] = []
        for index, item in enumerate(raw):
            item_path = (*path, index)
            table = self.table(item_path, item)
            self.check_keys(item_path, table, _OPTION_KEYS)
            option_id = self.string((*item_path, "id"), self.required(item_path, table, "id"))
            self.check((*item_path, "id"), question_id_problem(option_id))
            self.check((*item_path, "id"), duplicate_option_problem(option_id, options))
            texts = self.texts(
                (*item_path, "text"), self.required(item_path, table, "text"), fallback
            )
            options.append(Option(option_id, texts))
        return tuple(options)

    def scale(self, path: KeyPath, kind: str, raw: object) -> Scale:
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
        bounds = scale_bounds_problem(low, high)
        if bounds is not None:
            key, problem = bounds
            self.fail((*path, key), problem)
        if "positive_at" in table:
            positive = self.integer((*path, "positive_at"), table["positive_at"])
        elif (kind, low, high) in KNOWN_THRESHOLDS:
            positive = KNOWN_THRESHOLDS[kind, low, high]
        else:
            self.fail(
                (*path, "positive_at"),
                f"required for a {low}-{high} {kind} scale (there is no standard threshold)",
            )
        self.check((*path, "positive_at"), positive_at_problem(low, high, positive))
        return Scale(low, high, positive)

    def texts(self, path: KeyPath, raw: object, fallback: str) -> dict[str, str]:
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
        self.check(path, fallback_text_problem(texts, fallback))
        return texts

    def condition(self, path: KeyPath, raw: object, earlier: list[Question]) -> Condition:
        try:
            condition = Condition.parse(self.string(path, raw))
        except ValueError as exc:
            self.fail(path, str(exc))
        self.check(path, ask_if_target_problem(condition, earlier))
        self.check(path, ask_if_value_problem(condition, earlier))
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
