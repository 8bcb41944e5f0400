"""Recording a visit's progress step by step."""

import datetime as dt

import pytest
from sqlmodel import Session

from clinic.errors import Conflict, ValidationError
from clinic.visits.models import StepStatus, VisitStatus
from clinic.visits.services import day_board
from clinic.visits.steps import record_step, visit_steps
from tests.factories import make_unit, make_visit

START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
UNIT = make_unit(tz="UTC")


def test_a_visit_goes_step_by_step_to_completed(session: Session) -> None:
    visit = make_visit(session, day=START.date(), start=START, status=VisitStatus.CHECKED_IN)
    steps = visit_steps(session=session, visit_id=visit.id)
    assert [s.code for s in steps] == ["reg", "cons", "out"]
    assert steps[0].resource_code and steps[0].planned_start == START

    record_step(session=session, visit_step_id=steps[0].id, action="start", actor_id=None, unit=UNIT, at=START)
    assert visit.status is VisitStatus.IN_PROGRESS
    row = day_board(session=session, day=START.date(), unit=UNIT).rows[0]
    assert (row.current_step, row.next_step) == ("Reg", "Cons")
    with pytest.raises(ValidationError):
        record_step(
            session=session,
            visit_step_id=steps[0].id,
            action="finish",
            actor_id=None,
            unit=UNIT,
            at=START - dt.timedelta(minutes=1),
        )
    record_step(
        session=session,
        visit_step_id=steps[0].id,
        action="finish",
        actor_id=None,
        unit=UNIT,
        at=START + dt.timedelta(minutes=12),
    )
    with pytest.raises(Conflict):
        record_step(session=session, visit_step_id=steps[0].id, action="start", actor_id=None, unit=UNIT, at=START)
    record_step(session=session, visit_step_id=steps[1].id, action="skip", actor_id=None, unit=UNIT, at=START)
    record_step(
        session=session,
        visit_step_id=steps[2].id,
        action="start",
        actor_id=None,
        unit=UNIT,
        at=START + dt.timedelta(minutes=20),
    )
    record_step(
        session=session,
        visit_step_id=steps[2].id,
        action="finish",
        actor_id=None,
        unit=UNIT,
        at=START + dt.timedelta(minutes=30),
    )
    assert visit.status is VisitStatus.COMPLETED
    final = visit_steps(session=session, visit_id=visit.id)
    assert [s.status for s in final] == [StepStatus.DONE, StepStatus.SKIPPED, StepStatus.DONE]
    assert final[0].actual_end == START + dt.timedelta(minutes=12)


def test_cancelled_visits_and_unknown_actions_are_refused(session: Session) -> None:
    visit = make_visit(session, day=START.date(), start=START, status=VisitStatus.CANCELLED)
    with pytest.raises(Conflict):
        record_step(session=session, visit_step_id=visit.steps[0].id, action="start", actor_id=None, unit=UNIT, at=START)
    with pytest.raises(ValidationError):
        record_step(session=session, visit_step_id=visit.steps[0].id, action="teleport", actor_id=None, unit=UNIT)
