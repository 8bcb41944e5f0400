"""The front desk's day board and the visit life cycle."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from clinic.audit import record as audit
from clinic.errors import Conflict, NotFound
from clinic.visits.models import StepStatus, VisitStatus
from clinic.visits.services import JOURNEY_STATUSES, can_become, change_status, day_board, local_day_bounds
from tests.factories import make_pathway, make_patient, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def test_day_board_rows_counts_and_segments(session: Session) -> None:
    pathway = make_pathway(session, name="Diabetes day")
    late = make_visit(
        session, patient=make_patient(session, given_name="Late"), pathway=pathway, day=DAY, start=_at(11)
    )
    early_patient = make_patient(
        session, given_name="Early", birth_date=dt.date(1940, 1, 1), distance_km=80, needs_wheelchair=True
    )
    early = make_visit(
        session,
        patient=early_patient,
        pathway=pathway,
        day=DAY,
        start=_at(8, 30),
        status=VisitStatus.CHECKED_IN,
    )
    early.steps[0].status = StepStatus.DONE
    early.steps[1].status = StepStatus.IN_PROGRESS
    session.add(early)
    session.commit()
    make_visit(session, pathway=pathway, day=DAY + dt.timedelta(days=1), start=_at(9) + dt.timedelta(days=1))

    board = day_board(session=session, day=DAY, unit=UNIT)
    assert [r.visit_id for r in board.rows] == [early.id, late.id]
    assert board.total == 2
    assert board.counts[VisitStatus.CHECKED_IN] == 1 and board.counts[VisitStatus.BOOKED] == 1
    first = board.rows[0]
    assert first.patient_name.startswith("Early") and first.pathway_name == "Diabetes day"
    assert first.first_start == _at(8, 30) and first.first_start.tzinfo is not None
    assert first.last_end == _at(9, 10)
    assert (first.current_step, first.next_step) == ("Cons", "Out")
    assert first.segments == {"long_distance", "70+", "wheelchair"}
    assert board.rows[1].current_step is None and board.rows[1].next_step == "Reg"


def test_region_thresholds_reach_the_board(session: Session) -> None:
    make_visit(session, patient=make_patient(session, distance_km=30), day=DAY, start=_at(9))
    assert "regional" in day_board(session=session, day=DAY, unit=UNIT).rows[0].segments
    assert "local" in day_board(session=session, day=DAY, unit=make_unit(local_km=40, regional_km=80)).rows[0].segments


def test_empty_day(session: Session) -> None:
    board = day_board(session=session, day=DAY, unit=UNIT)
    assert board.rows == [] and board.total == 0


def test_local_day_bounds_follow_dst() -> None:
    start, end = local_day_bounds(dt.date(2026, 10, 25), TZ)
    assert end - start == dt.timedelta(hours=25)


def test_status_changes_are_checked_and_audited(session: Session) -> None:
    visit = make_visit(session, day=DAY, start=_at(9))
    change_status(session=session, visit_id=visit.id, status=VisitStatus.CONFIRMED, actor_id=None)
    with pytest.raises(Conflict) as info:
        change_status(session=session, visit_id=visit.id, status=VisitStatus.BOOKED, actor_id=None)
    assert info.value.code == "bad_transition"
    with pytest.raises(Conflict) as journey_only:
        change_status(session=session, visit_id=visit.id, status=VisitStatus.CHECKED_IN, actor_id=None)
    assert journey_only.value.code == "use_journey"
    change_status(session=session, visit_id=visit.id, status="cancelled", actor_id=None, reason="Patient ill")
    assert visit.status is VisitStatus.CANCELLED and visit.cancelled_reason == "Patient ill"
    assert visit.cancelled_at is not None
    actions = [e.action for e in audit.history(session=session, entity="visit", entity_id=visit.id)]
    assert actions == ["visit.confirmed", "visit.cancelled"]
    with pytest.raises(NotFound):
        change_status(session=session, visit_id=visit.id + 999, status="booked", actor_id=None)


def test_can_become_answers_as_change_status_does(session: Session) -> None:
    """Outside the day's journey (check-in, steps, checkout: ``use_journey``), once the arrival window passed."""
    for current in VisitStatus:
        for target in set(VisitStatus) - JOURNEY_STATUSES:
            visit = make_visit(session, day=DAY, start=_at(9))
            visit.status = current
            session.add(visit)
            session.flush()
            try:
                change_status(
                    session=session, visit_id=visit.id, status=target, actor_id=None, reason="test", now=_at(12),
                    unit=UNIT,
                )
            except Conflict:
                changed = False
            else:
                changed = True
            assert can_become(current, target) is changed, (current, target)
    assert not can_become(VisitStatus.COMPLETED, VisitStatus.CANCELLED)
    assert can_become(VisitStatus.CHECKED_IN, VisitStatus.CANCELLED)
    assert not can_become(VisitStatus.CHECKED_IN, VisitStatus.NO_SHOW)
