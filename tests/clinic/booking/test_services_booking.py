"""The Book flow's services without HTTP: proposals honour segments and availability, booking is one
transaction, and the re-check at commit refuses a slot that was taken meanwhile."""

import datetime as dt

import pytest
from sqlmodel import Session, func, select

from clinic import planning
from clinic.audit.models import AuditEvent
from clinic.booking import services as booking
from clinic.errors import Conflict, ValidationError
from clinic.patients.models import Patient
from clinic.unit.models import Pathway, PathwayStep, PathwayStepDependency, ResourceKind
from clinic.visits.models import Visit, VisitStep
from scheduling.instance import PlacedStep, Step
from tests.factories import (
    make_pathway,
    make_pathway_of,
    make_patient,
    make_resource,
    make_step_type,
    make_unit,
)

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
TODAY = dt.date(2026, 11, 30)  # a Monday
TUESDAY = dt.date(2026, 12, 1)
THIS_WEEK = booking.Availability(earliest=TODAY, latest=dt.date(2026, 12, 4))


def unit(session: Session) -> dict:
    """A desk, a doctor and a checkout (all wheelchair-friendly but the second doctor), open 08:00-17:00."""
    desk = make_resource(session, code="desk", kind=ResourceKind.REGISTRATION, attributes=["wheelchair"])
    doc = make_resource(session, code="doc", kind=ResourceKind.CONSULT, attributes=["wheelchair"])
    doc2 = make_resource(session, code="doc2", kind=ResourceKind.CONSULT)
    out = make_resource(session, code="out", kind=ResourceKind.CHECKOUT, attributes=["wheelchair"])
    return {
        "desk": desk,
        "doc": doc,
        "doc2": doc2,
        "out": out,
        "pathway": make_pathway(session, name="Check"),
    }


def chair_unit(session: Session, *, chair_hours=((1, dt.time(9), dt.time(10)),)) -> Pathway:
    """Registration (10 min) then straight to one hour in the only chair, open Tuesdays 09:00-10:00: one slot a week."""
    make_resource(session, code="desk", kind=ResourceKind.REGISTRATION)
    make_resource(session, code="chair", kind=ResourceKind.CHAIR, capacity=1, hours=chair_hours)
    reg = make_step_type(session, kind=ResourceKind.REGISTRATION, minutes=10, name="Registration")
    treat = make_step_type(session, kind=ResourceKind.CHAIR, minutes=60, name="Infusion")
    pathway = Pathway(code="chair-day", name="Chair day")
    first = PathwayStep(code="reg", sequence=1, step_type=reg)
    second = PathwayStep(code="treat", sequence=2, step_type=treat)
    pathway.steps = [first, second]
    session.add(pathway)
    session.flush()
    second.dependencies = [PathwayStepDependency(depends_on=first, min_gap=0, max_gap=0)]
    session.commit()
    return pathway


def propose(session: Session, patient: Patient, pathway: Pathway, **kw) -> booking.Proposals:
    availability = kw.pop("availability", booking.Availability(earliest=TODAY, weekdays=frozenset(range(5))))
    return booking.propose_visits(
        session=session,
        patient_id=patient.id,
        pathway_id=pathway.id,
        unit=UNIT,
        availability=availability,
        today=TODAY,
        **kw,
    )


def book(session: Session, patient: Patient, pathway: Pathway, choice: str, **kw) -> Visit:
    return booking.book_proposal(
        session=session,
        patient_id=patient.id,
        pathway_id=pathway.id,
        choice=choice,
        unit=UNIT,
        actor_id=None,
        today=TODAY,
        **kw,
    )


def count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_proposals_are_ranked_and_start_tomorrow(session: Session) -> None:
    u = unit(session)
    result = propose(session, make_patient(session), u["pathway"])
    assert len(result.options) == 5 and result.reason is None
    assert result.first_day == TUESDAY
    keys = [(p.wait_minutes, p.day, p.arrival) for p in result.options]
    assert keys == sorted(keys)
    best = result.options[0]
    assert best.day == TUESDAY and best.arrival == 8 * 60 and best.wait_minutes == 0
    assert [s.code for s in best.steps] == ["reg", "cons", "out"]
    assert best.steps[0].resource == "desk" and best.steps[0].name == "Reg"
    assert best.arrives_at == dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.UTC)
    assert best.leave == best.steps[-1].end and best.leaves_at == best.steps[-1].ends_at
    assert sum(1 for p in result.options if p.day == TUESDAY) <= 2


def test_proposals_honour_the_stated_availability(session: Session) -> None:
    u = unit(session)
    patient = make_patient(session)
    wednesdays = booking.Availability(
        earliest=dt.date(2026, 12, 7), weekdays=frozenset({2}), part_of_day="afternoon"
    )
    result = propose(session, patient, u["pathway"], availability=wednesdays)
    assert result.options
    assert all(p.day.weekday() == 2 and p.day >= dt.date(2026, 12, 7) for p in result.options)
    assert all(p.arrival >= 12 * 60 for p in result.options)
    mornings = booking.Availability(earliest=TODAY, part_of_day="morning")
    result = propose(session, patient, u["pathway"], availability=mornings)
    assert result.options and all(p.leave <= booking.MORNING_LEAVE_BY for p in result.options)
    assert all(p.day.weekday() < 5 for p in result.options), "the unit is closed at weekends"


def test_proposals_honour_the_patient_segment(session: Session) -> None:
    u = unit(session)
    far = make_patient(session, distance_km=150)
    result = propose(session, far, u["pathway"])
    assert result.options
    for p in result.options:
        assert p.arrival >= 10 * 60, "long distance: not before 10:00"
        assert p.leave <= booking.home_before_dark(far, p.day, TZ), "long distance: home before dark"
    assert booking.home_before_dark(far, TUESDAY, TZ) <= 16 * 60 + 30 - 150
    wheelchair = make_patient(session, needs_wheelchair=True)
    result = propose(session, wheelchair, u["pathway"], k=8, per_day=4)
    assert result.options and all(s.resource != "doc2" for p in result.options for s in p.steps)
    old = make_patient(session, birth_date=dt.date(1940, 3, 1))
    request = planning.engine_request(
        wish=planning.VisitWish(key="o", patient=old, pathway=u["pathway"]), day=TUESDAY, unit=UNIT
    )
    assert request.max_visit_minutes == 40 + 90
    result = propose(session, old, u["pathway"])
    assert all(p.leave - p.arrival <= 130 for p in result.options)


def test_sunset_is_about_right() -> None:
    assert 16 * 60 + 20 <= booking.sunset_minutes(dt.date(2026, 12, 21), TZ) <= 16 * 60 + 40
    assert 21 * 60 + 55 <= booking.sunset_minutes(dt.date(2026, 6, 21), TZ) <= 22 * 60 + 15


def test_booking_writes_the_visit_its_steps_and_the_audit_in_one_go(session: Session) -> None:
    u = unit(session)
    patient = make_patient(session)
    choice = propose(session, patient, u["pathway"]).options[0]
    visit = book(session, patient, u["pathway"], choice.choice)
    assert visit.date == TUESDAY and visit.status.value == "booked"
    stored = session.exec(select(VisitStep).where(VisitStep.visit_id == visit.id)).all()
    assert sorted(s.planned_start for s in stored) == [s.starts_at for s in choice.steps]
    event = session.exec(select(AuditEvent).where(AuditEvent.entity_id == visit.id)).one()
    assert event.action == "visit.booked" and event.entity == "visit"
    assert planning.check_day(session=session, day=TUESDAY, unit=UNIT) == []
    # the next proposals go around it, and never to the same patient on the same day
    again = propose(session, patient, u["pathway"])
    assert all(p.day != TUESDAY for p in again.options)


def test_a_taken_slot_is_refused_at_commit_and_nothing_is_written(session: Session) -> None:
    pathway = chair_unit(session)
    first, second = make_patient(session), make_patient(session)
    only = propose(session, first, pathway, availability=THIS_WEEK)
    assert [p.day for p in only.options] == [TUESDAY]
    choice = only.options[0].choice
    assert propose(session, second, pathway, availability=THIS_WEEK).options[0].choice == choice
    book(session, first, pathway, choice)
    before = (count(session, Visit), count(session, VisitStep), count(session, AuditEvent))
    with pytest.raises(booking.SlotTaken) as info:
        book(session, second, pathway, choice)
    assert info.value.code == "slot_taken" and isinstance(info.value, Conflict)
    assert (count(session, Visit), count(session, VisitStep), count(session, AuditEvent)) == before
    fresh = propose(session, second, pathway, availability=THIS_WEEK)
    assert fresh.options == [] and fresh.reason and fresh.reason_code
    assert [p.day for p in propose(session, second, pathway).options][0] == TUESDAY + dt.timedelta(days=7)


def test_a_tampered_or_garbled_choice_is_refused(session: Session) -> None:
    u = unit(session)
    patient = make_patient(session)
    choice = propose(session, patient, u["pathway"]).options[0].choice
    for bad in (
        "",
        "nonsense",
        "2026-13-01|reg@desk@1-2",
        choice.replace("|reg@desk@480-490", "|reg@desk@480-485"),
    ):
        with pytest.raises(ValidationError) as info:
            book(session, patient, u["pathway"], bad)
        assert info.value.field == "choice"
    far = make_patient(session, distance_km=150)
    with pytest.raises(ValidationError):  # 08:00 is too early for a long-distance patient
        book(session, far, u["pathway"], choice)
    with pytest.raises(ValidationError) as info:
        book(session, patient, u["pathway"], choice.replace("2026-12-01", "2026-11-30"))
    assert info.value.code == "day_passed"
    assert count(session, Visit) == 0


def test_nothing_fits_gives_the_engines_reason(session: Session) -> None:
    pathway = chair_unit(session, chair_hours=((1, dt.time(9), dt.time(9, 30)),))
    result = propose(session, make_patient(session), pathway)
    assert result.options == []
    assert result.reason_code in {"no-resource-kind", "closed", "no-resource"}
    assert result.reason.startswith("2026-12-01: ")


def test_availability_is_validated() -> None:
    with pytest.raises(ValidationError) as info:
        booking.Availability(earliest=TODAY, weekdays=frozenset()).validate()
    assert info.value.field == "weekdays"
    with pytest.raises(ValidationError) as info:
        booking.Availability(earliest=TODAY, latest=TODAY - dt.timedelta(days=1)).validate()
    assert info.value.field == "latest"
    with pytest.raises(ValidationError):
        booking.Availability(earliest=TODAY, part_of_day="night").validate()


def lab_pathway(session: Session) -> Pathway:
    """Registration, blood draw, then a consultation at least 45 min after the draw (results), then checkout."""
    steps = [("reg", ResourceKind.REGISTRATION, 10), ("lab", ResourceKind.LAB, 15)]
    steps += [("cons", ResourceKind.CONSULT, 20), ("out", ResourceKind.CHECKOUT, 10)]
    after = {"lab": [("reg", 0)], "cons": [("lab", 45)], "out": [("cons", 0)]}
    return make_pathway_of(session, code="lab-day", steps=steps, after=after)


def placed(*steps: tuple[str, int, int]) -> list[PlacedStep]:
    return [PlacedStep(id=code, resource=f"{code}-1", start=start, end=end) for code, start, end in steps]


def test_pauses_tell_what_the_pathway_asks_for_from_waiting(session: Session) -> None:
    rules = planning.engine_steps(lab_pathway(session))
    exact = booking.pauses(
        placed(("reg", 480, 490), ("lab", 490, 505), ("cons", 550, 570), ("out", 570, 580)), rules
    )
    assert exact == {"reg": (0, 0), "lab": (0, 0), "cons": (45, 45), "out": (0, 0)}
    late = booking.pauses(
        placed(("reg", 480, 490), ("lab", 500, 515), ("cons", 575, 595), ("out", 610, 620)), rules
    )
    assert late == {"reg": (0, 0), "lab": (10, 0), "cons": (60, 45), "out": (15, 0)}


def test_a_pause_after_several_steps_counts_from_the_latest_of_them() -> None:
    rules = [Step(id="ecg", kind="ecg", duration=10), Step(id="echo", kind="imaging", duration=10)]
    rules.append(Step(id="cons", kind="consult", duration=20, after=("ecg", "echo"), min_gap=30))
    got = booking.pauses(placed(("ecg", 480, 490), ("echo", 490, 500), ("cons", 540, 560)), rules)
    assert got["cons"] == (40, 30)  # ready at 500 + 30, so 10 of the 40 minutes are waiting


def test_proposals_carry_the_pauses(session: Session) -> None:
    pathway = lab_pathway(session)
    option = propose(session, make_patient(session), pathway).options[0]
    steps = {s.code: s for s in option.steps}
    assert option.wait_minutes == 0
    assert (steps["cons"].pause_before, steps["cons"].required_pause) == (45, 45)
    assert steps["cons"].start - steps["lab"].end == 45


def heart_pathway(session: Session) -> Pathway:
    """Registration, then an ECG and an echo in either order, then checkout."""
    steps = [("reg", ResourceKind.REGISTRATION, 10), ("ecg", ResourceKind.ECG, 15)]
    steps += [("echo", ResourceKind.IMAGING, 30), ("out", ResourceKind.CHECKOUT, 10)]
    after = {"ecg": [("reg", 0)], "echo": [("reg", 0)], "out": [("ecg", 0), ("echo", 0)]}
    return make_pathway_of(session, code="heart", steps=steps, after=after)


def test_steps_in_no_order_between_them_are_no_waiting_for_the_patient(session: Session) -> None:
    """The critical path counts only one of the ECG and the echo (the engine's wait is 15 min), but the
    patient goes from one to the other at once."""
    pathway = heart_pathway(session)
    option = propose(session, make_patient(session), pathway).options[0]
    assert option.leave - option.arrival == 65
    assert option.wait_minutes == 15 and option.idle_minutes == 0
    assert all(s.pause_before == 0 for s in option.steps)
