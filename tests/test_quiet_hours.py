"""Quiet hours: when an SMS may go out, in one zone, in several, across DST changes, and via the
zones of a phone number; plus phone normalisation and masking."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channel import QuietHours
from bot.errors import InvalidInput
from bot.phones import mask_phone, normalise_phone, phone_zones
from bot.quiet_hours import next_send_time, parse_clock

HOURS = QuietHours()
NEW_YORK = "America/New_York"
CHICAGO = "America/Chicago"
AMSTERDAM = "Europe/Amsterdam"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


# --- one zone -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        local(NEW_YORK, 2025, 6, 10, 9, 0),
        local(NEW_YORK, 2025, 6, 10, 12, 34, 56),
        local(NEW_YORK, 2025, 6, 10, 19, 59, 59),
        utc(2025, 6, 10, 16, 0),
    ],
)
def test_inside_the_window_sends_now(now: datetime) -> None:
    assert next_send_time(now, [NEW_YORK], HOURS) is now


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # before 09:00 local: the same day at 09:00
        (local(NEW_YORK, 2025, 6, 10, 0, 0), local(NEW_YORK, 2025, 6, 10, 9, 0)),
        (local(NEW_YORK, 2025, 6, 10, 6, 15), local(NEW_YORK, 2025, 6, 10, 9, 0)),
        (local(NEW_YORK, 2025, 6, 10, 8, 59, 30), local(NEW_YORK, 2025, 6, 10, 9, 0)),
        (utc(2025, 6, 10, 8, 30), local(NEW_YORK, 2025, 6, 10, 9, 0)),
        # at or after 20:00 local: the next day at 09:00
        (local(NEW_YORK, 2025, 6, 10, 20, 0), local(NEW_YORK, 2025, 6, 11, 9, 0)),
        (local(NEW_YORK, 2025, 6, 10, 23, 45), local(NEW_YORK, 2025, 6, 11, 9, 0)),
        (utc(2025, 6, 11, 1, 0), local(NEW_YORK, 2025, 6, 11, 9, 0)),
        # year end
        (local(AMSTERDAM, 2025, 12, 31, 21, 0), local(AMSTERDAM, 2026, 1, 1, 9, 0)),
    ],
)
def test_outside_the_window_defers_to_the_next_opening(now: datetime, expected: datetime) -> None:
    zone = str(expected.tzinfo)
    result = next_send_time(now, [zone], HOURS)
    assert result == expected
    assert result.utcoffset() is not None


def test_deferred_time_is_a_whole_minute_never_before_now() -> None:
    now = local(AMSTERDAM, 2025, 6, 10, 7, 12, 33, 123456)
    result = next_send_time(now, [AMSTERDAM], HOURS)
    assert result > now
    assert (result.second, result.microsecond) == (0, 0)
    assert result.astimezone(ZoneInfo(AMSTERDAM)).time() == time(9, 0)


def test_custom_and_overnight_windows() -> None:
    evenings = QuietHours(start=time(22, 0), end=time(6, 0))
    assert next_send_time(utc(2025, 6, 10, 23, 0), ["UTC"], evenings) == utc(2025, 6, 10, 23, 0)
    assert next_send_time(utc(2025, 6, 11, 5, 59), ["UTC"], evenings) == utc(2025, 6, 11, 5, 59)
    assert next_send_time(utc(2025, 6, 10, 6, 0), ["UTC"], evenings) == utc(2025, 6, 10, 22, 0)
    office = QuietHours(start=time(8, 30), end=time(17, 0))
    assert next_send_time(utc(2025, 6, 10, 17, 0), ["UTC"], office) == utc(2025, 6, 11, 8, 30)


# --- several zones --------------------------------------------------------------------------


def test_window_must_be_open_in_every_zone() -> None:
    # 09:30 in New York is 08:30 in Chicago: wait for 09:00 Chicago, which is 10:00 New York.
    now = local(NEW_YORK, 2025, 6, 10, 9, 30)
    result = next_send_time(now, [NEW_YORK, CHICAGO], HOURS)
    assert result == local(CHICAGO, 2025, 6, 10, 9, 0)
    assert result == local(NEW_YORK, 2025, 6, 10, 10, 0)
    assert next_send_time(now, [CHICAGO, NEW_YORK], HOURS) == result


def test_window_closes_when_the_first_zone_closes() -> None:
    # 19:30 in Chicago is 20:30 in New York: closed there, so wait until 09:00 Chicago.
    now = local(CHICAGO, 2025, 6, 10, 19, 30)
    assert next_send_time(now, [NEW_YORK, CHICAGO], HOURS) == local(CHICAGO, 2025, 6, 11, 9, 0)
    open_in_both = local(CHICAGO, 2025, 6, 10, 18, 59)
    assert next_send_time(open_in_both, [NEW_YORK, CHICAGO], HOURS) is open_in_both


def test_zones_a_day_apart_share_their_clock() -> None:
    # UTC+14 and UTC-11 differ by 25 hours, so their local clocks are only an hour apart.
    zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago"]
    result = next_send_time(utc(2025, 6, 10, 13, 30), zones, HOURS)
    assert result == local("Pacific/Pago_Pago", 2025, 6, 10, 9, 0)
    assert result.astimezone(ZoneInfo("Pacific/Kiritimati")).time() == time(10, 0)


@pytest.mark.parametrize(
    ("zones", "now", "first_zone_opening"),
    [
        # 11h30 apart: the 09:00-20:00 windows never overlap.
        (
            ["Asia/Kolkata", "America/Regina"],
            utc(2025, 6, 10, 2, 0),
            local("Asia/Kolkata", 2025, 6, 10, 9, 0),
        ),
        (
            ["America/Regina", "Asia/Kolkata"],
            utc(2025, 6, 10, 2, 0),
            local("America/Regina", 2025, 6, 10, 9, 0),
        ),
        # 12 hours apart.
        (["Etc/GMT-12", "UTC"], utc(2025, 6, 10, 10, 0), local("Etc/GMT-12", 2025, 6, 11, 9, 0)),
        (["UTC", "Etc/GMT-12"], utc(2025, 6, 10, 2, 0), utc(2025, 6, 10, 9, 0)),
    ],
)
def test_zones_without_overlap_fall_back_to_the_first(
    zones: list[str], now: datetime, first_zone_opening: datetime
) -> None:
    assert next_send_time(now, zones, HOURS) == first_zone_opening


def test_zones_without_overlap_send_now_when_the_first_is_open() -> None:
    now = utc(2025, 6, 10, 12, 0)  # 12:00 UTC is midnight at UTC+12
    assert next_send_time(now, ["UTC", "Etc/GMT-12"], HOURS) is now


def test_duplicate_zones_count_once() -> None:
    now = utc(2025, 6, 10, 7, 0)
    assert next_send_time(now, ["UTC", "UTC", "UTC"], HOURS) == utc(2025, 6, 10, 9, 0)


# --- DST ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # US spring forward, 2025-03-09 02:00 -> 03:00: 09:00 EDT is 13:00 UTC.
        (NEW_YORK, utc(2025, 3, 9, 6, 0), utc(2025, 3, 9, 13, 0)),
        # the evening before: 21:00 EST on the 8th waits until 09:00 EDT on the 9th.
        (NEW_YORK, utc(2025, 3, 9, 2, 0), utc(2025, 3, 9, 13, 0)),
        # US fall back, 2025-11-02: 09:00 EST is 14:00 UTC.
        (NEW_YORK, utc(2025, 11, 2, 5, 0), utc(2025, 11, 2, 14, 0)),
        (NEW_YORK, utc(2025, 11, 2, 1, 0), utc(2025, 11, 2, 14, 0)),
        # EU spring forward 2025-03-30: 09:00 CEST is 07:00 UTC.
        (AMSTERDAM, utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 7, 0)),
        # EU fall back 2025-10-26: 09:00 CET is 08:00 UTC.
        (AMSTERDAM, utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 8, 0)),
        # The hour after 20:00 local on a change day.
        (AMSTERDAM, utc(2025, 3, 30, 18, 0), utc(2025, 3, 31, 7, 0)),
        (AMSTERDAM, utc(2025, 10, 26, 19, 0), utc(2025, 10, 27, 8, 0)),
    ],
)
def test_dst_change_days(zone: str, now: datetime, expected: datetime) -> None:
    result = next_send_time(now, [zone], HOURS)
    assert result == expected
    assert result.astimezone(ZoneInfo(zone)).time() == time(9, 0)


def test_dst_change_in_one_of_several_zones() -> None:
    # 2025-03-09: New York has moved to EDT, Phoenix never does (MST all year).
    result = next_send_time(utc(2025, 3, 9, 6, 0), [NEW_YORK, "America/Phoenix"], HOURS)
    assert result == local("America/Phoenix", 2025, 3, 9, 9, 0)
    assert result.astimezone(ZoneInfo(NEW_YORK)).time() == time(12, 0)


# --- no quiet hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zones", "hours"),
    [([NEW_YORK], None), ([], HOURS), ((), HOURS), ([], None)],
)
def test_no_hours_or_no_zones_sends_now(zones: list[str], hours: QuietHours | None) -> None:
    now = local(NEW_YORK, 2025, 6, 10, 3, 0)
    assert next_send_time(now, zones, hours) is now


# --- properties -----------------------------------------------------------------------------

ZONES = [
    NEW_YORK,
    CHICAGO,
    AMSTERDAM,
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/St_Johns",
    "UTC",
]


def _open_everywhere(moment: datetime, zones: list[str]) -> bool:
    return all(HOURS.start <= moment.astimezone(ZoneInfo(z)).time() < HOURS.end for z in zones)


@settings(max_examples=150, deadline=None, database=None)
@given(
    now=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3),
)
def test_result_is_never_early_and_open_within_two_days(now: datetime, zones: list[str]) -> None:
    result = next_send_time(now, zones, HOURS)
    assert now <= result <= now + timedelta(hours=48)
    if _open_everywhere(now, zones):
        assert result == now
    elif _open_everywhere(result, zones):
        # the first minute it is open: a minute earlier it was still closed
        earlier = result - timedelta(minutes=1)
        assert earlier < now or not _open_everywhere(earlier, zones)
    else:
        assert _open_everywhere(result, zones[:1])


# --- phone numbers --------------------------------------------------------------------------


def test_phone_zones() -> None:
    assert phone_zones("+12125551234") == [NEW_YORK]
    assert phone_zones("+13125551234") == [CHICAGO]
    assert phone_zones("+31612345678") == [AMSTERDAM]
    assert phone_zones("+12085551234") == ["America/Boise", "America/Los_Angeles"]
    assert phone_zones("not a number") == []


def test_quiet_hours_through_a_phone_number() -> None:
    # 07:00 in New York on a June morning: deferred to 09:00 New York.
    now = utc(2025, 6, 10, 11, 0)
    zones = phone_zones(normalise_phone("(212) 555-1234", "US"))
    assert next_send_time(now, zones, HOURS) == local(NEW_YORK, 2025, 6, 10, 9, 0)
    # An Idaho number may be in Boise or Los Angeles: 09:00 Los Angeles is 10:00 Boise.
    idaho = phone_zones("+12085551234")
    assert next_send_time(now, idaho, HOURS) == local("America/Los_Angeles", 2025, 6, 10, 9, 0)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+31 6 12345678", "NL", "+31612345678"),
        ("+31612345678", "US", "+31612345678"),
        ("06 12345678", "NL", "+31612345678"),
        ("06-12345678", "nl", "+31612345678"),
        ("(212) 555-1234", "US", "+12125551234"),
        ("212.555.1234", "US", "+12125551234"),
        ("+1 212 555 1234", "NL", "+12125551234"),
    ],
)
def test_normalise_phone(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [("12", "NL"), ("12", "US"), ("+999 1", "NL"), ("hello", "NL"), ("", "NL"), ("06 1", "NL")],
)
def test_normalise_phone_refuses_with_the_field_name(raw: str, region: str) -> None:
    with pytest.raises(InvalidInput, match="'to'") as caught:
        normalise_phone(raw, region)
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+31612345678", "+31*******78"),
        ("+12125551234", "+12*******34"),
        ("+123", "***"),
        ("", "***"),
    ],
)
def test_mask_phone_hides_digits(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


def test_mask_phone_hides_the_subscriber_number() -> None:
    masked = mask_phone("+31612345678")
    assert "123456" not in masked
    assert masked.startswith("+31") and masked.endswith("78")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9, 0)),
        ("20:30", time(20, 30)),
        ("0:00", time(0, 0)),
        ("24:00", time(23, 59, 59)),
    ],
)
def test_parse_clock(text: str, expected: time) -> None:
    assert parse_clock(text) == expected
