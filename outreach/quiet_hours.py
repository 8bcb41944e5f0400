"""Quiet hours: no calls or SMS before 09:00 or after 20:00 in the patient's time zone.

Pure: a message due inside the quiet hours is postponed to the next 09:00 (same morning, or the next
morning when it falls in the evening). E-mail is never held back. The dispatcher passes the patient's
zone (``outreach.time_zones.zone_for_phone``: their phone number's, else the clinic's).
"""

import datetime as dt
from zoneinfo import ZoneInfo

QUIET_START = dt.time(20, 0)  # from here on: quiet
QUIET_END = dt.time(9, 0)  # until here: quiet
QUIET_CHANNELS = frozenset({"sms", "voice"})


def is_quiet(when: dt.datetime, tz: str, *, start: dt.time = QUIET_START, end: dt.time = QUIET_END) -> bool:
    local = when.astimezone(ZoneInfo(tz)).time()
    return local < end or local >= start


def next_allowed(
    when: dt.datetime,
    channel: str,
    tz: str,
    *,
    start: dt.time = QUIET_START,
    end: dt.time = QUIET_END,
) -> dt.datetime:
    """``when`` itself outside the quiet hours (or for e-mail), else the next local ``end`` (09:00) in UTC."""
    if when.tzinfo is None:
        raise ValueError("give an aware datetime")
    if channel not in QUIET_CHANNELS or not is_quiet(when, tz, start=start, end=end):
        return when
    zone = ZoneInfo(tz)
    local = when.astimezone(zone)
    day = local.date() if local.time() < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, zone).astimezone(dt.UTC)
