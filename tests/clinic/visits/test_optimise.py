"""Optimising a coming day: preview, apply, stale previews and who may do it, without HTTP."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, Forbidden, ValidationError
from clinic.users.models import Role
from clinic.visits import optimise
from clinic.visits.models import VisitStep
from tests.factories import make_pathway, make_unit, make_user, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)  # a Tuesday
NOW = dt.datetime(2026, 11, 30, 20, 0, tzinfo=ZoneInfo(TZ))


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def _set(step: VisitStep, start: dt.datetime) -> None:
    step.planned_end = start + (step.planned_end - step.planned_start)
    step.planned_start = start


def _waiting_day(session: Session):
    """Two check-ups booked one at a time: the second was told 08:20 but waits 40 minutes for its consult,
    booked behind a consult that has since been moved; the first is told 08:00 and has no wait."""
    pathway = make_pathway(session, name="Check-up")
    first = make_visit(session, pathway=pathway, day=DAY, start=_at(8))
    resources = {s.pathway_step.step_type.resource_kind: s.resource for s in first.steps}
    second = make_visit(session, pathway=pathway, day=DAY, start=_at(8, 20), resources=resources)
    reg, cons, out = second.steps
    _set(cons, _at(9, 10))
    _set(out, _at(9, 30))
    session.add_all([cons, out])
    session.commit()
    return first, second


def _preview(session: Session, **kw):
    kw.setdefault("now", NOW)
    return optimise.preview_optimisation(session=session, day=DAY, unit=UNIT, time_limit=1.0, **kw)


def test_preview_moves_internal_times_never_the_announced_arrival(session: Session) -> None:
    first, second = _waiting_day(session)
    preview = _preview(session)
    assert preview.wait_before == 40 and preview.wait_after == 0
    [moved] = preview.moved_visits
    assert moved.visit_id == second.id and moved.announced == _at(8, 20)
    assert (moved.wait_before, moved.wait_after) == (40, 0)
    by_step = {m.visit_step_id: m for m in moved.moves}
    assert second.steps[0].id not in by_step  # registration: the announced arrival, unchanged
    assert by_step[second.steps[1].id].new_start == _at(8, 30)
    for plan in preview.visits:
        assert all(m.new_start >= plan.announced for m in plan.moves)
        assert plan.announced in (_at(8), _at(8, 20))
    session.expire_all()  # nothing written
    assert session.get(VisitStep, second.steps[1].id).planned_start == _at(9, 10)


def test_apply_stores_exactly_the_preview_and_refuses_a_stale_one(session: Session) -> None:
    coordinator = make_user(session, username="coord", role=Role.COORDINATOR)
    _first, second = _waiting_day(session)
    preview = _preview(session, actor_id=coordinator.id)
    moves = optimise.decode_moves(preview.encoded_moves())
    count = optimise.apply_optimisation(
        session=session, day=DAY, unit=UNIT, moves=moves, version=preview.version, actor_id=coordinator.id, now=NOW
    )
    assert count == len(preview.moves) > 0
    session.expire_all()
    for move in preview.moves:
        stored = session.get(VisitStep, move.visit_step_id)
        assert (stored.planned_start, stored.planned_end, stored.resource_id) == (
            move.new_start, move.new_end, move.new_resource_id
        )
    actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("visit.optimised") == 1 and actions.count("day.optimised") == 1

    with pytest.raises(Conflict) as stale:
        optimise.apply_optimisation(
            session=session, day=DAY, unit=UNIT, moves=moves, version=preview.version, actor_id=coordinator.id, now=NOW
        )
    assert stale.value.code == "day_changed"


def test_a_move_that_changes_the_announced_arrival_is_refused(session: Session) -> None:
    _first, second = _waiting_day(session)
    preview = _preview(session)
    reg = second.steps[0]
    late = optimise.PlannedMove(reg.id, _at(9), _at(9, 10), reg.resource_id)
    with pytest.raises(Conflict) as refused:
        optimise.apply_optimisation(
            session=session, day=DAY, unit=UNIT, moves=[late], version=preview.version, actor_id=None, now=NOW
        )
    assert refused.value.code == "announced_changed"
    session.expire_all()
    assert session.get(VisitStep, reg.id).planned_start == _at(8, 20)
    assert session.exec(select(AuditEvent)).all() == []


def test_clerks_are_refused_and_past_days_are_bad_input(session: Session) -> None:
    clerk = make_user(session, username="clerk", role=Role.FRONT_DESK)
    _waiting_day(session)
    with pytest.raises(Forbidden):
        _preview(session, actor_id=clerk.id)
    preview = _preview(session)
    with pytest.raises(Forbidden):
        optimise.apply_optimisation(
            session=session, day=DAY, unit=UNIT, moves=optimise.decode_moves(preview.encoded_moves()),
            version=preview.version, actor_id=clerk.id, now=NOW,
        )
    with pytest.raises(ValidationError) as past:
        _preview(session, now=_at(9) + dt.timedelta(days=1))
    assert past.value.code == "past_day"


def test_started_visits_stay_fixed(session: Session) -> None:
    _first, second = _waiting_day(session)
    preview = _preview(session, now=_at(8, 25))  # the second patient's registration has begun by now
    assert preview.fixed == 2 and not preview.moves


def test_the_flask_optimise_command_previews_then_applies(app, session, clock) -> None:
    clock.move_to(NOW)
    _first, second = _waiting_day(session)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["optimise", DAY.isoformat(), "--dry-run", "--seconds", "1"])
    assert dry.exit_code == 0, dry.output
    assert "waiting 40 -> 0 min" in dry.output and "2 steps of 1 visits would move" in dry.output
    session.expire_all()
    assert session.get(VisitStep, second.steps[1].id).planned_start == _at(9, 10)
    done = runner.invoke(args=["optimise", DAY.isoformat(), "--seconds", "1"])
    assert done.exit_code == 0, done.output
    assert "2 steps moved" in done.output
    session.expire_all()
    assert session.get(VisitStep, second.steps[1].id).planned_start == _at(8, 30)
    bad = runner.invoke(args=["optimise", "2026-02-31"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "2026-02-31" in bad.output


def test_waiting_counts_from_the_arrival_the_patient_was_told():
    from clinic.visits.optimise import visit_wait
    from scheduling.instance import PlacedStep, Request, Step
    from scheduling.instance import Visit as EngineVisit

    request = Request("r", "p", (Step("reg", "registration", 10), Step("lab", "lab", 15, after=("reg",))))
    late_start = EngineVisit("r", (PlacedStep("reg", "desk", 495, 505), PlacedStep("lab", "lab", 505, 520)))
    assert visit_wait(request, late_start) == 0
    assert visit_wait(request, late_start, announced=480) == 15  # told 08:00, first step at 08:15
    assert visit_wait(request, late_start, announced=500) == 0  # a first step before the told time is no wait
