"""Retry policy for transient send failures: exponential back-off with a cap, Retry-After wins."""

from __future__ import annotations

import math
from datetime import timedelta

BASE = timedelta(seconds=30)
CAP = timedelta(hours=1)


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """Delay before try number ``attempt + 1`` (``attempt`` counts failures so far, from 1)."""
    longest = CAP * 6
    if retry_after is not None and retry_after >= 0:
        if not math.isfinite(retry_after) or retry_after >= longest.total_seconds():
            return longest
        return timedelta(seconds=retry_after)
    exponent = min(max(attempt - 1, 0), 16)  # 30 s * 2**16 is far past the cap; no overflow
    delay: timedelta = BASE * (2**exponent)
    return min(delay, CAP)
