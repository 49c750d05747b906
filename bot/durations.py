"""The compact durations of survey files and settings (``1h30m``, ``7d``, ``0``)."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

_DURATION_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
_DURATION_UNITS |= {"m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_DURATION_PART = re.compile(r"(\d+)\s*([wdhms])")


@functools.lru_cache(maxsize=256)  # a batch of triggers repeats a few delays a thousand times
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


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in _DURATION_UNITS.items():
        amount, seconds = divmod(seconds, int(size.total_seconds()))
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
