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
import json
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
    QUESTION_ID,
    SCALE_CEILING,
    Condition,
    Question,
    Scale,
    Survey,
    default_scale,
)
from storage.values import QUESTION_KINDS, SCORED_KINDS

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
                f'must be shorter than expires_after ("{format_duration(expires)}")',
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
        if not QUESTION_ID.fullmatch(question_id):
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
        if high > SCALE_CEILING:
            self.fail((*path, "max"), f"must be at most {SCALE_CEILING}, not {high}")
        if low >= high:
            self.fail((*path, "max"), f"must be greater than min ({low}), not {high}")
        if "positive_at" in table:
            positive = self.integer((*path, "positive_at"), table["positive_at"])
        elif (kind, low, high) in KNOWN_THRESHOLDS:
            positive = KNOWN_THRESHOLDS[kind, low, high]
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
