"""Log set-up for ``csat serve`` and ``csat worker``: every line has its addresses masked.

A respondent's address must not end up in a log file: not in the app's own lines, not in a
traceback's message, not in uvicorn's access log, whose request line carries the path of
``DELETE /v1/respondents/sms/+31612345678`` (whether or not the token was right). So the
handlers' formatters mask the finished line, whatever logger or library wrote it:

- the address in a ``/v1/respondents/<channel>/<address>`` path, whatever its form;
- phone numbers written with a ``+`` or as ``%2B`` (E.164, spaces and dashes allowed), and runs
  of 9 to 15 digits standing alone (national numbers, Telegram user ids);
- e-mail addresses (also with ``%40``) and Slack user ids (``U…``/``W…`` with a digit).

Enough is kept to tell lines apart when debugging: ``+316***78``, ``a***@example.com``,
``U0***F9``.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

from uvicorn.logging import AccessFormatter, DefaultFormatter

APP_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_PATH = re.compile(r"(/v1/respondents/[^/\s\"?#]+/)([^\s\"?#/]+)")
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(\+|%2[Bb])(\d(?:[ ().-]{0,2}\d){6,16})(?!\d)")
_DIGITS = re.compile(r"\d{9,15}")
_SLACK = re.compile(r"\b[UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,11}\b")
_PHONE_LIKE = re.compile(r"(\+|%2[Bb])?[\d ().-]+")
_NOT_DIGITS = re.compile(r"\D")


def _phone(prefix: str, number: str) -> str:
    digits = _NOT_DIGITS.sub("", number)
    if len(digits) < 7:
        return prefix + "***"
    return f"{prefix}{digits[:3]}***{digits[-2:]}"


def _email(text: str) -> str:
    separator = "@" if "@" in text else "%40"
    local, _, domain = text.partition(separator)
    return f"{local[:1]}***{separator}{domain}"


def _hint(text: str) -> str:
    """Something to tell addresses apart by, without the address."""
    if len(text) <= 4:
        return "***"
    phone = _PHONE_LIKE.fullmatch(text)
    if phone is not None:
        prefix = phone.group(1) or ""
        return _phone(prefix, text[len(prefix) :])
    if "@" in text or "%40" in text:
        return _email(text)
    return f"{text[:2]}***{text[-2:]}"


def _digits(match: re.Match[str]) -> str:
    """A run of digits standing alone: not part of a word or of a decimal number."""
    text, start, end = match.string, match.start(), match.end()
    if start and text[start - 1] in _GLUED:
        return match.group()
    if end < len(text) and (
        text[end] in _WORD or (text[end] == "." and text[end + 1 : end + 2].isdigit())
    ):
        return match.group()
    return _hint(match.group())


_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_GLUED = _WORD | {"."}


def mask(text: str) -> str:
    """``text`` with the addresses in it masked (see the module's docstring). Each kind is
    looked for only when a character it needs is there: an access-log line costs a few
    microseconds."""
    if "/v1/respondents/" in text:
        text = _PATH.sub(lambda m: m.group(1) + _hint(m.group(2)), text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(lambda m: _email(m.group()), text)
    if "+" in text or "%2" in text:
        text = _PHONE.sub(lambda m: _phone(m.group(1), m.group(2)), text)
    text = _DIGITS.sub(_digits, text)
    if "U" in text or "W" in text:
        text = _SLACK.sub(lambda m: _hint(m.group()), text)
    return text


class MaskingFormatter(logging.Formatter):
    """A formatter whose lines (traceback included) have their addresses masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class MaskingDefaultFormatter(DefaultFormatter):
    """uvicorn's formatter for its own lines, masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class MaskingAccessFormatter(AccessFormatter):
    """uvicorn's access-log formatter, masked: the request line holds the path and query."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def log_config(level: int = logging.INFO) -> dict[str, Any]:
    """The logging configuration of ``csat serve`` and ``csat worker``: the app's lines (and
    every library's that reaches the root logger) on stderr as ``time level logger message``,
    uvicorn's as uvicorn writes them (its access log on stdout), all through masking formatters.
    ``csat serve`` hands it to uvicorn as ``log_config``, so each ``--workers`` process applies
    it too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "app": {"()": f"{__name__}.MaskingFormatter", "fmt": APP_FORMAT},
            "default": {
                "()": f"{__name__}.MaskingDefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": f"{__name__}.MaskingAccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "handlers": {
            "app": {
                "formatter": "app",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["app"], "level": logging.getLevelName(level)},
    }


def setup_logging(level: int = logging.INFO) -> None:
    """Apply :func:`log_config`, unless the root logger has handlers already.

    Like ``logging.basicConfig`` it leaves such a process alone: a program that embeds the app
    (or a test runner) keeps its own logging, and masking there is its own business
    (:class:`MaskingFormatter` is there to use).
    """
    if not logging.getLogger().handlers:
        logging.config.dictConfig(log_config(level))
