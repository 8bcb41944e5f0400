"""The patient's time zone, for quiet hours: patients have no time-zone field, their phone number has one.

Pure: ``phonenumbers`` knows the zones a number's country or area code covers. One zone is the
patient's; none (unknown or unparsable number) or several (a US toll-free number, an area code across
two zones, Spain with the Canaries) leave the clinic's zone, which is also what a patient reached on a
local number gets.
"""

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

UNKNOWN = "Etc/Unknown"  # what phonenumbers answers for a number it cannot place


@lru_cache(maxsize=4096)
def zone_for_phone(phone: str | None, clinic_tz: str) -> str:
    """The IANA zone of ``phone`` (E.164) when it has exactly one, else ``clinic_tz``."""
    if not phone:
        return clinic_tz
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return clinic_tz
    zones = [zone for zone in number_zones.time_zones_for_number(number) if zone != UNKNOWN]
    if len(zones) != 1:
        return clinic_tz
    try:
        ZoneInfo(zones[0])
    except (ZoneInfoNotFoundError, ValueError):
        return clinic_tz
    return zones[0]
