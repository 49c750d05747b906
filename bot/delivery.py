"""Retry policy for transient send failures: exponential back-off with a cap, Retry-After wins."""

from __future__ import annotations

from datetime import timedelta

BASE = timedelta(seconds=30)
CAP = timedelta(hours=1)


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """Delay before try number ``attempt + 1`` (``attempt`` counts failures so far, from 1)."""
    if retry_after is not None and retry_after >= 0:
        return min(timedelta(seconds=retry_after), CAP * 6)
    return min(BASE * (2 ** max(attempt - 1, 0)), CAP)
