"""Segments are derived: age on the visit date, region from distance with configurable thresholds, needs."""

import datetime as dt
from types import SimpleNamespace

import pytest

from clinic.patients.segments import Region, age_on, region_for, segments_for
from tests.factories import make_unit

UNIT = make_unit()


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (dt.date(1956, 6, 15), dt.date(2026, 6, 14), 69),
        (dt.date(1956, 6, 15), dt.date(2026, 6, 15), 70),
        (dt.date(1956, 6, 15), dt.date(2026, 6, 16), 70),
        (dt.date(1956, 2, 29), dt.date(2026, 2, 28), 69),
        (dt.date(1956, 2, 29), dt.date(2026, 3, 1), 70),
        (dt.date(1956, 12, 31), dt.date(2027, 1, 1), 70),
    ],
)
def test_age_on_a_day_around_birthdays(born: dt.date, day: dt.date, age: int) -> None:
    assert age_on(born, day) == age


def test_age_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError, match="before the date of birth"):
        age_on(dt.date(2000, 1, 2), dt.date(2000, 1, 1))


@pytest.mark.parametrize(
    ("km", "region"),
    [
        (0, Region.LOCAL),
        (24.9, Region.LOCAL),
        (25, Region.REGIONAL),
        (49.9, Region.REGIONAL),
        (50, Region.LONG_DISTANCE),
    ],
)
def test_default_region_thresholds(km: float, region: Region) -> None:
    assert region_for(km, unit=UNIT) is region


def test_region_thresholds_are_configurable() -> None:
    assert region_for(30, unit=make_unit(local_km=40, regional_km=80)) is Region.LOCAL
    assert region_for(60, unit=make_unit(local_km=40, regional_km=80)) is Region.REGIONAL
    assert region_for(60, unit=make_unit(local_km=10, regional_km=20)) is Region.LONG_DISTANCE


@pytest.mark.parametrize(("km", "kw"), [(-1, {}), (10, {"local_km": 60, "regional_km": 50})])
def test_bad_region_input_is_refused(km: float, kw: dict) -> None:
    with pytest.raises(ValueError):
        region_for(km, unit=make_unit(**kw))


def _patient(**kw) -> SimpleNamespace:
    values = {
        "birth_date": dt.date(1950, 1, 1),
        "distance_km": 30,
        "needs_wheelchair": True,
        "needs_interpreter": False,
        "needs_hearing": False,
    }
    return SimpleNamespace(**{**values, **kw})


def test_segments_for_a_patient() -> None:
    assert segments_for(_patient(), dt.date(2026, 12, 1), unit=UNIT) == {"regional", "70+", "wheelchair"}
    younger = _patient(
        birth_date=dt.date(1990, 1, 1), needs_wheelchair=False, needs_interpreter=True, distance_km=3
    )
    assert segments_for(younger, dt.date(2026, 12, 1), unit=UNIT) == {"local", "interpreter"}
    assert "long_distance" in segments_for(_patient(), dt.date(2026, 12, 1), unit=make_unit(local_km=10, regional_km=20))
