"""Factories for the volunteer tests: volunteers with availability, long-distance and local patients with a
visit at a given local time."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from clinic.service.models import Volunteer, VolunteerAvailability
from clinic.unit.models import Pathway
from clinic.visits.models import Visit, VisitStatus
from tests.factories import make_pathway, make_patient, make_visit

TZ = "Europe/Amsterdam"
FAR_KM = 80.0
NEAR_KM = 5.0


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """``hour:minute`` on ``day`` in the clinic's time zone, as aware UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo(TZ)).astimezone(dt.UTC)


def weekday_after(start: dt.date, weekday: int = 0, *, min_days: int = 0) -> dt.date:
    """The first ``weekday`` (0 = Monday) at least ``min_days`` after ``start``."""
    day = start + dt.timedelta(days=min_days)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def make_volunteer(
    session: Session,
    name: str,
    *,
    languages: tuple[str, ...] = ("nl",),
    weekdays: tuple[int, ...] = tuple(range(7)),
    starts: dt.time = dt.time(8, 0),
    ends: dt.time = dt.time(17, 0),
    phone: str | None = None,
) -> Volunteer:
    volunteer = Volunteer(name=name, phone=phone or f"+3197010{abs(hash(name)) % 1_000_000:06d}", languages=list(languages))
    volunteer.availability = [VolunteerAvailability(weekday=w, starts=starts, ends=ends) for w in weekdays]
    session.add(volunteer)
    session.commit()
    return volunteer


def make_day_visit(
    session: Session,
    day: dt.date,
    hour: int,
    minute: int = 0,
    *,
    far: bool = True,
    pathway: Pathway | None = None,
    status: VisitStatus = VisitStatus.BOOKED,
    **patient: object,
) -> Visit:
    """A visit on ``day`` whose first step starts at ``hour:minute`` local (the test pathway lasts 40 minutes)."""
    patient.setdefault("distance_km", FAR_KM if far else NEAR_KM)
    person = make_patient(session, **patient)
    return make_visit(session, patient=person, pathway=pathway or make_pathway(session), day=day,
                      start=at(day, hour, minute), status=status)
