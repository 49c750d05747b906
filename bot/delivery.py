"""How long to wait after a transient send failure (429, 5xx, network).

A failure for now is a fact about the provider, not about one survey: while a channel is failing,
the sender pauses the whole channel instead of letting every due survey find out on its own, and
probes it again after :func:`pause`. The provider's ``Retry-After`` wins; without one the pause
doubles from a second up to :data:`CAP`, so a failing channel is probed at least every 15 s and
the backlog starts to drain within that long of the provider's recovery. Surveys are given up by
time (``CSAT_SEND_RETRY_FOR``), never by a count of tries that a storm of 429s burns in a minute.
"""

from __future__ import annotations

import math
from datetime import timedelta

BASE = timedelta(seconds=1)
CAP = timedelta(seconds=15)
LONGEST = timedelta(hours=6)  # a Retry-After beyond this is read as "much later", not as years


def pause(failures: int, retry_after: float | None = None) -> timedelta:
    """Pause before the next try on a channel after ``failures`` transient failures in a row."""
    if retry_after is not None and retry_after >= 0:
        if not math.isfinite(retry_after) or retry_after >= LONGEST.total_seconds():
            return LONGEST
        return timedelta(seconds=retry_after)
    exponent = min(max(failures - 1, 0), 16)  # 2**16 s is far past the cap; no overflow
    delay: timedelta = BASE * (2**exponent)
    return min(delay, CAP)
