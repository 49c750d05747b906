"""The project's one exception tree.

Everything csat-bot raises on purpose derives from :class:`CsatError`, so callers (the HTTP layer,
the CLI) can turn any of them into one clear message without catching unrelated bugs.

- :class:`ConfigError`      a setting or survey file is wrong; the message names the key.
- :class:`InvalidInput`     a caller sent something we refuse (HTTP 422, CLI exit 2).
- :class:`NotFound`         the thing named does not exist (HTTP 404).
- :class:`NotAllowed`       the caller may not do this (a non-lead asking for scores).
- :class:`SendError`        a channel could not deliver a message:
  - :class:`TransientSendError`  worth retrying (network, 5xx, 429), optional ``retry_after``;
  - :class:`PermanentSendError`  never retried; ``opted_out`` marks the address as suppressed.
"""

from __future__ import annotations


class CsatError(Exception):
    """Base of every error csat-bot raises deliberately."""


class ConfigError(CsatError):
    """A setting or a survey definition is invalid; the message names the key (and line)."""


class InvalidInput(CsatError):
    """Input from a caller is refused; nothing has been written."""


class NotFound(CsatError):
    """The named object does not exist."""


class NotAllowed(CsatError):
    """The caller is not allowed to do this."""


class SendError(CsatError):
    """A channel failed to deliver a message."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """Delivery may succeed later; ``retry_after`` (seconds) is the provider's hint, if any."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Delivery will never succeed for this message; ``opted_out`` suppresses the address."""

    def __init__(self, message: str, *, code: str | None = None, opted_out: bool = False) -> None:
        super().__init__(message, code=code)
        self.opted_out = opted_out
