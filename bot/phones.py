"""Phone numbers: E.164 normalisation and the zones a number may be in (for quiet hours)."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import timezone as phone_timezone

from bot.errors import InvalidInput


@functools.lru_cache(maxsize=4096)
def normalise_phone(raw: str, default_region: str) -> str:
    """E.164 form of a number; remembered, since a customer's rating and comment arrive from the
    same number moments apart (parsing and validating costs tens of microseconds)."""
    try:
        number = phonenumbers.parse(raw, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"'to': {raw!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"'to': {raw!r} is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def phone_zones(e164: str) -> list[str]:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return []
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return list(zones)


def mask_phone(e164: str) -> str:
    """For logs: keep the country code and the last two digits."""
    if len(e164) <= 5:
        return "***"
    return f"{e164[:3]}{'*' * (len(e164) - 5)}{e164[-2:]}"
