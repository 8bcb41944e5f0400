"""Tests that run on the real clock at any hour: quiet hours (09:00-20:00 in the patient's zone) would
otherwise hold a test run at night, and "late", "now" and re-planning the rest of today need hours on
either side of now."""

import datetime as dt


def daytime_zone(now: dt.datetime | None = None) -> str:
    """A fixed-offset zone where it is 14:xx now; use it as the clinic's zone."""
    now = now or dt.datetime.now(dt.UTC)
    offset = 14 - now.astimezone(dt.UTC).hour  # from -9 to +14 hours, all of which exist as Etc zones
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")  # POSIX signs: Etc/GMT-3 is UTC+3


def phone_without_own_zone(n: int) -> str:
    """A US number in Idaho, which spans two zones: quiet hours fall back to the clinic's zone."""
    return f"+1208555{1000 + n:04d}"
