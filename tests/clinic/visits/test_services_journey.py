"""Check-in, step actions and re-planning the rest of the day, without HTTP."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit import record as audit
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotFound, ValidationError
from clinic.messaging.texts import voucher_code
from clinic.service.models import Volunteer
from clinic.visits import journey
from clinic.visits.models import StepStatus, VisitCheckin, VisitStatus, VisitStep
from clinic.visits.services import day_board, patient_overview
from tests.factories import make_pathway, make_patient, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)  # a Tuesday


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def _shared_day(session: Session, n: int = 2):
    """``n`` visits of the 3-step pathway on the same three resources, back to back from 09:00."""
    pathway = make_pathway(session, name="Check-up")
    first = make_visit(session, pathway=pathway, day=DAY, start=_at(9))
    resources = {s.pathway_step.step_type.resource_kind: s.resource for s in first.steps}
    visits = [first]
    for i in range(1, n):
        visits.append(make_visit(session, pathway=pathway, day=DAY, start=_at(9, 40 * i), resources=resources))
    return visits


def test_check_in_records_flags_voucher_and_audit(session: Session) -> None:
    far = make_patient(session, given_name="Far", distance_km=120, needs_interpreter=True)
    visit = make_visit(session, patient=far, day=DAY, start=_at(9))
    volunteer = Volunteer(name="Vic", phone="+31612345670")
    session.add(volunteer)
    session.commit()

    flags = journey.checkin_flags(session=session, visit_id=visit.id, now=_at(9, 25), unit=UNIT)
    assert flags.coffee_voucher and flags.interpreter and flags.late_minutes == 25

    checkin = journey.check_in(
        session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(9, 25),
        transport_booked=True, volunteer_id=volunteer.id, notes="  came by taxi ",
    )
    assert checkin.coffee_voucher == voucher_code(checkin.visit_id)  # the code the outreach SMS announced
    assert checkin.transport_booked and checkin.interpreter_needed and checkin.late_minutes == 25
    assert checkin.notes == "came by taxi"
    session.refresh(visit)
    assert visit.status is VisitStatus.CHECKED_IN
    [event] = audit.history(session=session, entity="visit", entity_id=visit.id)
    assert event.action == "visit.checked_in" and event.details["coffee_voucher"] == checkin.coffee_voucher

    with pytest.raises(Conflict) as twice:
        journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(9, 30))
    assert twice.value.code == "already_checked_in"
    row = day_board(session=session, day=DAY, unit=UNIT, now=_at(9, 30)).rows[0]
    assert row.phase == "arrived" and row.since == _at(9, 25)
    assert {"coffee", "transport", "volunteer"} <= row.flags


def test_local_patient_gets_no_voucher_and_wrong_input_writes_nothing(session: Session) -> None:
    visit = make_visit(session, patient=make_patient(session, distance_km=5), day=DAY, start=_at(9))
    with pytest.raises(ValidationError) as bad_volunteer:
        journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(8, 50), volunteer_id=999)
    assert bad_volunteer.value.field == "volunteer_id"
    with pytest.raises(ValidationError):
        journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(8, 50), notes="x" * 501)
    with pytest.raises(Conflict) as other_day:
        journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(8) + dt.timedelta(days=1))
    assert other_day.value.code == "not_visit_day"
    with pytest.raises(NotFound):
        journey.check_in(session=session, visit_id=visit.id + 99, actor_id=None, unit=UNIT, now=_at(9))
    assert session.exec(select(VisitCheckin)).all() == []
    assert session.exec(select(AuditEvent)).all() == []
    session.refresh(visit)
    assert visit.status is VisitStatus.BOOKED

    checkin = journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(8, 50))
    assert checkin.coffee_voucher is None and checkin.late_minutes == 0


def test_cancelled_visit_cannot_be_checked_in(session: Session) -> None:
    visit = make_visit(session, day=DAY, start=_at(9), status=VisitStatus.CANCELLED)
    with pytest.raises(Conflict):
        journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=_at(9))


def test_step_actions_check_the_step_belongs_to_the_visit(session: Session) -> None:
    a, b = _shared_day(session)
    journey.check_in(session=session, visit_id=a.id, actor_id=None, unit=UNIT, now=_at(8, 55))
    with pytest.raises(NotFound):
        journey.step_action(
            session=session, visit_id=a.id, visit_step_id=b.steps[0].id, action="start", actor_id=None, unit=UNIT
        )
    step = journey.step_action(
        session=session, visit_id=a.id, visit_step_id=a.steps[0].id, action="start", actor_id=None, unit=UNIT,
        at=_at(9, 2),
    )
    assert step.status is StepStatus.IN_PROGRESS and step.actual_start == _at(9, 2)
    with pytest.raises(Conflict):
        journey.step_action(
            session=session, visit_id=a.id, visit_step_id=a.steps[0].id, action="start", actor_id=None, unit=UNIT,
            at=_at(9, 3),
        )
    board = day_board(session=session, day=DAY, unit=UNIT, now=_at(9, 5))
    assert board.rows[0].phase == "in_step" and board.phases["in_step"] == 1
    assert board.lanes and len(board.hours) >= 2


def test_board_marks_late_patients_overruns_and_delays(session: Session) -> None:
    a, b = _shared_day(session)
    journey.check_in(session=session, visit_id=a.id, actor_id=None, unit=UNIT, now=_at(8, 55))
    journey.step_action(
        session=session, visit_id=a.id, visit_step_id=a.steps[0].id, action="start", actor_id=None, unit=UNIT, at=_at(9)
    )
    board = day_board(session=session, day=DAY, unit=UNIT, now=_at(9, 50))
    row_a, row_b = board.rows
    assert row_a.overrun and row_a.delayed  # registration took 10 minutes in the plan, 50 so far
    assert row_b.late and row_b.late_minutes == 10 and row_b.phase == "expected"
    assert board.needs_replan and board.late == 1
    # another day: no markers
    assert not day_board(session=session, day=DAY, unit=UNIT, now=_at(9, 50) + dt.timedelta(days=1)).needs_replan


def test_replan_moves_the_rest_of_the_day_and_applies_in_one_audited_transaction(session: Session) -> None:
    a, b = _shared_day(session)
    journey.check_in(session=session, visit_id=a.id, actor_id=None, unit=UNIT, now=_at(8, 55))
    journey.step_action(
        session=session, visit_id=a.id, visit_step_id=a.steps[0].id, action="start", actor_id=None, unit=UNIT, at=_at(9)
    )
    now = _at(9, 50)  # registration overran by 40 minutes: everything after it must move
    proposal = journey.propose_replan(session=session, day=DAY, unit=UNIT, now=now, time_limit=0.5)
    assert proposal.moves and not proposal.dropped
    moved = {m.visit_step_id: m for m in proposal.moves}
    assert a.steps[0].id not in moved  # under way: stays where it happened
    cons = moved[a.steps[1].id]
    assert cons.old_start == _at(9, 10) and cons.new_start >= now and cons.shift_minutes >= 40
    assert all(m.new_start >= now for m in proposal.moves)

    count = journey.apply_replan(
        session=session, day=DAY, tz=TZ, moves=journey.decode_moves(proposal.encoded_moves()),
        fingerprint=proposal.fingerprint, actor_id=None,
    )
    assert count == len(proposal.moves)
    stored = session.get(VisitStep, a.steps[1].id)
    session.refresh(stored)
    assert stored.planned_start == cons.new_start and stored.planned_end == cons.new_end
    events = [e for e in session.exec(select(AuditEvent)).all() if e.action == "visit.replanned"]
    assert {e.entity_id for e in events} == {m.visit_id for m in proposal.moves}

    # the same proposal again: the day changed, nothing is written twice
    with pytest.raises(Conflict) as stale:
        journey.apply_replan(
            session=session, day=DAY, tz=TZ, moves=journey.decode_moves(proposal.encoded_moves()),
            fingerprint=proposal.fingerprint, actor_id=None,
        )
    assert stale.value.code == "day_changed"


def test_late_arrival_moves_that_visit_and_bad_moves_roll_back(session: Session) -> None:
    a, b = _shared_day(session)
    proposal = journey.propose_replan(
        session=session, day=DAY, unit=UNIT, now=_at(9, 5), late_arrivals={a.id: _at(11)}, time_limit=0.5
    )
    mine = [m for m in proposal.moves if m.visit_id == a.id]
    assert mine and all(m.new_start >= _at(11) for m in mine)
    good = journey.decode_moves(proposal.encoded_moves())
    broken = [*good[:-1], journey.PlannedMove(good[-1].visit_step_id, good[-1].new_end, good[-1].new_start, good[-1].new_resource_id)]
    before = [(s.id, s.planned_start) for s in session.exec(select(VisitStep)).all()]
    with pytest.raises(ValidationError):
        journey.apply_replan(session=session, day=DAY, tz=TZ, moves=broken, fingerprint=proposal.fingerprint, actor_id=None)
    session.expire_all()
    assert [(s.id, s.planned_start) for s in session.exec(select(VisitStep)).all()] == before
    assert session.exec(select(AuditEvent)).all() == []


def test_replan_refuses_other_days_and_garbage(session: Session) -> None:
    _shared_day(session, n=1)
    with pytest.raises(ValidationError):
        journey.propose_replan(session=session, day=DAY, unit=UNIT, now=_at(9) + dt.timedelta(days=2))
    for text in ("", "{}", "[[1]]", '[["a", "b", "c", 1]]', '[[1, "2026-12-01T09:00", "2026-12-01T10:00", 1]]',
                 "[" * 5_000):
        with pytest.raises(ValidationError):
            journey.decode_moves(text)
    with pytest.raises(ValidationError):
        journey.apply_replan(session=session, day=DAY, tz=TZ, moves=[], fingerprint="x", actor_id=None)


def test_nothing_to_replan_on_an_empty_day(session: Session) -> None:
    proposal = journey.propose_replan(session=session, day=DAY, unit=UNIT, now=_at(10))
    assert proposal.moves == () and proposal.fingerprint


def test_patient_overview_splits_visits_and_derives_segments(session: Session) -> None:
    patient = make_patient(session, birth_date=dt.date(1950, 1, 1), distance_km=30)
    pathway = make_pathway(session)
    past = make_visit(session, patient=patient, pathway=pathway, day=DAY - dt.timedelta(days=30), start=_at(9) - dt.timedelta(days=30))
    coming = make_visit(session, patient=patient, pathway=pathway, day=DAY, start=_at(9))
    overview = patient_overview(session=session, patient_id=patient.id, today=DAY, unit=UNIT)
    assert [v.id for v in overview.coming] == [coming.id] and [v.id for v in overview.past] == [past.id]
    assert {"regional", "70+"} <= overview.segments and overview.invoices == []
    with pytest.raises(NotFound):
        patient_overview(session=session, patient_id=patient.id + 99, today=DAY, unit=UNIT)
