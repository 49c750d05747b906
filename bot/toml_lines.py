"""Line numbers for the keys of a TOML document, so a configuration error can name its line.

A key path is the tuple of keys and array indexes that leads to a value, e.g.
``("surveys", "x", "questions", 0, "kind")``.
"""

from __future__ import annotations

import contextlib
import json
import re

KeyPath = tuple[str | int, ...]


class KeyLines:
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
        self._aot_counts: dict[KeyPath, int] = {}
        self.lines: dict[KeyPath, int] = {}
        with contextlib.suppress(_ScanStop):
            self._document()

    def line_of(self, path: KeyPath) -> int | None:
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

    def _record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    def _document(self) -> None:
        table: KeyPath = ()
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

    def _resolve(self, keys: list[str], line: int, *, array: bool) -> KeyPath:
        path: KeyPath = ()
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

    def _key_value(self, table: KeyPath) -> None:
        line = self._line
        keys = self._key()
        for end in range(1, len(keys) + 1):
            self._record(table + tuple(keys[:end]), line)
        self._skip(newlines=False)
        self._expect("=")
        self._skip(newlines=False)
        self._value(table + tuple(keys))

    def _value(self, path: KeyPath) -> None:
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
    """The key scanner met text it does not follow; see :class:`KeyLines`."""


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "uU":
            return chr(int(escape[1:], 16))
        return _ESCAPES.get(escape, escape)

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", replace, body)


def format_path(path: KeyPath) -> str:
    """The path as the file spells it (``surveys.x.questions[0].kind``), so it can be found."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text += f".{key}" if text else key
    return text
