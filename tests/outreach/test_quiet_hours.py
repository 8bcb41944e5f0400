import datetime as dt

import pytest

from outreach.quiet_hours import is_quiet, next_allowed

TZ = "Europe/Amsterdam"


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("when", "channel", "expected"),
    [
        (utc(2026, 12, 1, 6, 30), "sms", utc(2026, 12, 1, 8, 0)),  # 07:30 local -> 09:00 local
        (utc(2026, 12, 1, 19, 30), "voice", utc(2026, 12, 2, 8, 0)),  # 20:30 local -> next 09:00
        (utc(2026, 12, 1, 10, 0), "sms", utc(2026, 12, 1, 10, 0)),  # 11:00 local: allowed
        (utc(2026, 12, 1, 22, 0), "email", utc(2026, 12, 1, 22, 0)),  # e-mail is never held
        (utc(2026, 7, 1, 6, 59), "sms", utc(2026, 7, 1, 7, 0)),  # summer time: 09:00 CEST = 07:00 UTC
        (utc(2026, 12, 1, 8, 0), "sms", utc(2026, 12, 1, 8, 0)),  # exactly 09:00 is allowed
        (utc(2026, 12, 1, 19, 0), "sms", utc(2026, 12, 2, 8, 0)),  # exactly 20:00 is quiet
    ],
)
def test_next_allowed(when, channel, expected):
    assert next_allowed(when, channel, TZ) == expected


def test_is_quiet_in_the_patients_zone():
    assert is_quiet(utc(2026, 12, 1, 7, 0), TZ)  # 08:00 Amsterdam
    assert not is_quiet(utc(2026, 12, 1, 7, 0), "Europe/Moscow")  # 10:00 Moscow


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        next_allowed(dt.datetime(2026, 12, 1, 6), "sms", TZ)
