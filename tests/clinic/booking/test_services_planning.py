"""The adapter between rows and the engine: availability, segment rules, storing and checking plans."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from clinic import planning
from clinic.booking.services import book_visit
from clinic.errors import Conflict, ValidationError
from clinic.unit.models import ResourceClosure, ResourceKind
from clinic.visits.models import VisitStatus, VisitStep
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)  # a Tuesday


def _t(h: int, m: int = 0) -> dt.time:
    return dt.time(h, m)


def _at(h: int, m: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, _t(h, m), ZoneInfo(TZ))


def _unit(session: Session) -> dict:
    """One desk, one doctor with a lunch break, one checkout: enough to force queueing."""
    desk = make_resource(session, code="desk", kind=ResourceKind.REGISTRATION, attributes=["wheelchair"])
    doctor_hours = tuple((wd, o, c) for wd in range(5) for o, c in ((_t(8), _t(12)), (_t(12, 30), _t(17))))
    doctor = make_resource(session, code="doc", kind=ResourceKind.CONSULT, hours=doctor_hours)
    out = make_resource(session, code="out", kind=ResourceKind.CHECKOUT, attributes=["wheelchair"])
    return {"desk": desk, "doctor": doctor, "out": out, "pathway": make_pathway(session, name="Check")}


def test_availability_is_hours_minus_closures(session: Session) -> None:
    unit = _unit(session)
    session.add(
        ResourceClosure(resource_id=unit["doctor"].id, date=DAY, starts=_t(9), ends=_t(10), reason="Meeting")
    )
    session.add(ResourceClosure(resource_id=None, date=DAY + dt.timedelta(days=1), reason="Holiday"))
    session.commit()
    resources = {r.id: r for r in planning.engine_resources(session=session, day=DAY)}
    assert resources["doc"].available == ((480, 540), (600, 720), (750, 1020))
    assert resources["desk"].available == ((480, 1020),)
    assert resources["desk"].attributes == {"wheelchair"}
    closed = {r.id: r for r in planning.engine_resources(session=session, day=DAY + dt.timedelta(days=1))}
    assert all(r.available == () for r in closed.values())
    weekend = {r.id: r for r in planning.engine_resources(session=session, day=dt.date(2026, 12, 5))}
    assert weekend["doc"].available == ()


def test_wall_clock_minutes_survive_dst_changes() -> None:
    autumn = dt.date(2026, 10, 25)
    instant = planning.instant_at(autumn, 9 * 60, TZ)
    assert instant == dt.datetime(2026, 10, 25, 8, 0, tzinfo=dt.UTC)
    assert planning.minutes_at(instant, autumn, TZ) == 540
    assert planning.minutes_at(planning.instant_at(autumn, 1440, TZ), autumn, TZ) == 1440
    with pytest.raises(ValidationError) as info:
        planning.minutes_at(dt.datetime(2026, 10, 26, 9, tzinfo=dt.UTC), autumn, TZ)
    assert info.value.code == "step_on_other_day"


def test_segment_rules_shape_the_request(session: Session) -> None:
    pathway = _unit(session)["pathway"]
    far_old = make_patient(session, distance_km=120, birth_date=dt.date(1940, 1, 1), needs_wheelchair=True)
    wish = planning.VisitWish(key="w", patient=far_old, pathway=pathway, arrival=(450, 630))
    request = planning.engine_request(wish=wish, day=DAY, unit=UNIT)
    assert request.arrival == (600, 630)
    assert request.max_visit_minutes == 40 + 90
    assert request.requires == {"wheelchair"}
    assert [s.id for s in request.steps] == ["reg", "cons", "out"]
    assert request.steps[1].after == ("reg",) and request.steps[1].max_gap == 60
    young = make_patient(session, distance_km=5, birth_date=dt.date(1990, 1, 1))
    plain = planning.engine_request(wish=planning.VisitWish(key="y", patient=young, pathway=pathway), day=DAY, unit=UNIT)
    assert plain.arrival is None and plain.max_visit_minutes is None and plain.requires == frozenset()
    custom = make_unit(local_km=200, regional_km=300)
    assert planning.engine_request(wish=wish, day=DAY, unit=custom).arrival == (450, 630)


def test_plan_day_stores_a_feasible_plan(session: Session) -> None:
    unit = _unit(session)
    wishes = [
        planning.VisitWish(
            key=f"w{n}", patient=make_patient(session), pathway=unit["pathway"], arrival=(480, 600)
        )
        for n in range(6)
    ]
    result = planning.plan_day(session=session, day=DAY, unit=UNIT, wishes=wishes)
    session.commit()
    assert len(result.visits) == 6 and result.unscheduled == []
    starts = sorted(v.steps[0].planned_start for v in result.visits.values())
    assert starts[0] == dt.datetime.combine(DAY, _t(8), ZoneInfo(TZ))
    assert len(set(starts)) == 6, "one desk: registrations must not overlap"
    assert planning.check_day(session=session, day=DAY, unit=UNIT) == []
    booked = planning.engine_booked(session=session, day=DAY, tz=TZ)
    assert len(booked) == 6

    a, b = (result.visits[k] for k in ("w0", "w1"))
    step_b = session.get(VisitStep, b.steps[0].id)
    step_b.planned_start, step_b.planned_end = a.steps[0].planned_start, a.steps[0].planned_end
    session.add(step_b)
    session.commit()
    kinds = {v.kind for v in planning.check_day(session=session, day=DAY, unit=UNIT)}
    assert "capacity" in kinds, kinds


def test_book_visit_places_around_existing_visits(session: Session) -> None:
    unit = _unit(session)
    first = book_visit(
        session=session,
        patient_id=make_patient(session).id,
        pathway_id=unit["pathway"].id,
        day=DAY,
        unit=UNIT,
        actor_id=None,
    )
    second = book_visit(
        session=session,
        patient_id=make_patient(session).id,
        pathway_id=unit["pathway"].id,
        day=DAY,
        unit=UNIT,
        actor_id=None,
    )
    assert first.status is VisitStatus.BOOKED and first.booked_at is not None
    assert second.steps[0].planned_start >= first.steps[0].planned_end
    assert planning.check_day(session=session, day=DAY, unit=UNIT) == []


def test_book_visit_on_a_closed_day_is_a_conflict(session: Session) -> None:
    unit = _unit(session)
    with pytest.raises(Conflict) as info:
        book_visit(
            session=session,
            patient_id=make_patient(session).id,
            pathway_id=unit["pathway"].id,
            day=dt.date(2026, 12, 5),
            unit=UNIT,
            actor_id=None,
        )
    assert info.value.code == "no_room" and info.value.message


def test_a_visit_is_one_day(session: Session) -> None:
    from clinic.visits.models import Visit

    visit = Visit(patient_id=1, pathway_id=1, date=DAY)
    start = dt.datetime.combine(DAY, _t(23, 50), ZoneInfo(TZ))
    visit.steps.append(
        VisitStep(
            pathway_step_id=1,
            resource_id=1,
            planned_start=start,
            planned_end=start + dt.timedelta(minutes=20),
        )
    )
    with pytest.raises(ValidationError) as info:
        planning.check_one_day(visit, TZ)
    assert info.value.code == "step_on_other_day"


def test_move_step_puts_a_step_elsewhere_or_refuses_with_the_field(session: Session) -> None:
    step = make_visit(session, day=DAY, start=_at(9)).steps[0]
    spare = make_resource(session, code="desk-2", kind=ResourceKind.REGISTRATION)
    closed = make_resource(session, code="desk-3", kind=ResourceKind.REGISTRATION, active=False)
    was = (step.planned_start, step.planned_end, step.resource_id)

    refusals = [
        (dict(resource_id=closed.id, start=_at(10), end=_at(10, 10)), "unknown resource"),
        (dict(resource_id=99_999, start=_at(10), end=_at(10, 10)), "unknown resource"),
        (dict(resource_id=spare.id, start=_at(10, 10), end=_at(10)), "must end after it starts"),
        (dict(resource_id=spare.id, start=_at(23, 55), end=_at(23, 55) + dt.timedelta(minutes=10)), "a visit is one day"),
    ]
    for move, words in refusals:
        with pytest.raises(ValidationError) as refused:
            planning.move_step(session=session, step=step, day=DAY, tz=TZ, **move)
        assert words in str(refused.value)
        assert (step.planned_start, step.planned_end, step.resource_id) == was

    change = planning.move_step(session=session, step=step, resource_id=spare.id, start=_at(10), end=_at(10, 10), day=DAY, tz=TZ)
    assert (step.planned_start, step.planned_end, step.resource_id) == (_at(10), _at(10, 10), spare.id)
    assert change == {
        "step": step.pathway_step.code, "from": was[0].isoformat(), "to": _at(10).astimezone(dt.UTC).isoformat(),
        "resource_from": was[2], "resource_to": spare.id,
    }


def test_services_do_not_import_flask() -> None:
    import subprocess
    import sys

    code = (
        "import sys, clinic.planning, clinic.booking.services, clinic.demo.seed, "
        "clinic.visits.services, clinic.users.services, clinic.patients.services, clinic.refill.waitlist, "
        "clinic.billing.invoices, clinic.tables, clinic.db; "
        "assert 'flask' not in sys.modules, 'flask imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
