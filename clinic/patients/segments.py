"""Patient segments derived from stored facts, never typed in: age band, region, needs.

Region thresholds are the unit's (``REGION_LOCAL_KM`` / ``REGION_REGIONAL_KM``, on ``clinic.unit.context.Unit``):
local < local_km <= regional < regional_km <= long distance.
"""

import datetime as dt
import enum
from typing import Protocol

from clinic.unit.context import Unit

SENIOR_AGE = 70


class Region(enum.StrEnum):
    LOCAL = "local"
    REGIONAL = "regional"
    LONG_DISTANCE = "long_distance"


class SegmentedPatient(Protocol):
    birth_date: dt.date
    distance_km: float
    needs_wheelchair: bool
    needs_interpreter: bool
    needs_hearing: bool


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Completed years on ``day``; someone born on 29 February turns a year older on 1 March."""
    if day < birth_date:
        raise ValueError(f"{day.isoformat()} is before the date of birth {birth_date.isoformat()}")
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def region_for(distance_km: float, *, unit: Unit) -> Region:
    local_km, regional_km = unit.local_km, unit.regional_km
    if distance_km < 0:
        raise ValueError(f"distance {distance_km} km is negative")
    if not 0 < local_km <= regional_km:
        raise ValueError(f"region thresholds must satisfy 0 < local ({local_km}) <= regional ({regional_km})")
    if distance_km < local_km:
        return Region.LOCAL
    if distance_km < regional_km:
        return Region.REGIONAL
    return Region.LONG_DISTANCE


def segments_for(patient: SegmentedPatient, day: dt.date, *, unit: Unit) -> frozenset[str]:
    """Labels such as ``{"regional", "70+", "wheelchair"}`` for ``patient`` on ``day``."""
    labels = {region_for(patient.distance_km, unit=unit).value}
    if age_on(patient.birth_date, day) >= SENIOR_AGE:
        labels.add(f"{SENIOR_AGE}+")
    if patient.needs_wheelchair:
        labels.add("wheelchair")
    if patient.needs_interpreter:
        labels.add("interpreter")
    if patient.needs_hearing:
        labels.add("hearing")
    return frozenset(labels)
