"""When a message may go out: the first moment at or after ``now`` inside the window in every zone.

A number can map to several zones (a US area code spanning two); sending must wait until the window
is open in all of them. Pure, so the scheduling rule is tested without a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.channel import QuietHours

_STEP = timedelta(minutes=1)
_HORIZON = timedelta(hours=48)


def _open_in(zone: ZoneInfo, moment: datetime, hours: QuietHours) -> bool:
    local = moment.astimezone(zone).time()
    if hours.start <= hours.end:
        return hours.start <= local < hours.end
    return local >= hours.start or local < hours.end


def next_send_time(now: datetime, zones: Sequence[str], hours: QuietHours | None) -> datetime:
    """``now`` when the window is open everywhere; else the next minute it is.

    Zones whose windows never overlap (e.g. Asia/Kolkata with America/Regina) fall back to the
    first zone alone, so a survey is deferred, never dropped.
    """
    if hours is None or not zones:
        return now
    infos = [ZoneInfo(z) for z in dict.fromkeys(zones)]
    for candidates in (infos, infos[:1]):
        moment = now.astimezone(UTC)
        if all(_open_in(z, moment, hours) for z in candidates):
            return now
        moment = moment.replace(second=0, microsecond=0) + _STEP
        limit = now + _HORIZON
        while moment <= limit:
            if all(_open_in(z, moment, hours) for z in candidates):
                return moment
            moment += _STEP
    return now


def parse_clock(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    return time(23, 59, 59) if hour == 24 else time(hour, minute)
