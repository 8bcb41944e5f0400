"""Waitlist entries and who can be offered a slot on a given day."""

import datetime as dt

import pytest
from sqlmodel import Session

from clinic.errors import Conflict, ValidationError
from clinic.refill.models import WaitlistStatus
from clinic.refill.waitlist import add_to_waitlist, candidates_for, set_status
from tests.factories import make_pathway, make_patient, make_visit

TZ = "Europe/Amsterdam"
DAY = dt.date(2026, 12, 2)
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)  # 18.5 h before the unit opens on DAY


def _add(session: Session, pathway, **kw):
    values = {"earliest_date": DAY - dt.timedelta(days=1), "latest_date": DAY + dt.timedelta(days=5)}
    return add_to_waitlist(
        session=session, patient_id=kw.pop("patient", None) or make_patient(session).id, pathway_id=pathway.id,
        actor_id=None, **{**values, **kw},
    )  # fmt: skip


def test_candidates_respect_dates_notice_opt_out_and_existing_visits(session: Session) -> None:
    pathway = make_pathway(session)
    urgent = _add(session, pathway, priority=5, min_notice_hours=2)
    short = _add(session, pathway, priority=2, min_notice_hours=48, accepts_short_notice=True)
    _add(session, pathway, priority=4, min_notice_hours=48)
    _add(session, pathway, earliest_date=DAY + dt.timedelta(days=1))
    _add(session, pathway, patient=make_patient(session, opted_out=True).id)
    coming = _add(session, pathway, priority=5)
    make_visit(session, patient=coming.patient, day=DAY)

    found = candidates_for(session=session, day=DAY, tz=TZ, now=NOW)
    assert [e.id for e in found] == [urgent.id, short.id]
    assert candidates_for(session=session, day=DAY, tz=TZ, now=NOW + dt.timedelta(days=1)) == []


def test_rules_and_status_changes(session: Session) -> None:
    pathway = make_pathway(session)
    entry = _add(session, pathway)
    with pytest.raises(Conflict):
        _add(session, pathway, patient=entry.patient_id)
    with pytest.raises(ValidationError) as info:
        _add(session, pathway, latest_date=DAY - dt.timedelta(days=3))
    assert info.value.field == "latest_date"
    set_status(session=session, entry_id=entry.id, status="offered", actor_id=None)
    set_status(session=session, entry_id=entry.id, status=WaitlistStatus.BOOKED, actor_id=None)
    with pytest.raises(Conflict):
        set_status(session=session, entry_id=entry.id, status="waiting", actor_id=None)
