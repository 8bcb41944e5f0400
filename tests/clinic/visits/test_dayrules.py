"""The rules of the visit's day, enforced by the services: check-in, steps and checkout only on the visit's
day, steps only after check-in, no-shows only after the arrival window, invoices only for completed visits,
a coordinator's reasoned override, and a clerk's undo of their own last action."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.billing.checkout import check_out, preview
from clinic.billing.invoices import add_invoice
from clinic.billing.models import Invoice
from clinic.errors import Conflict
from clinic.refill.services import cancel_visit, may_cancel
from clinic.users.models import Role
from clinic.visits import journey, undo
from clinic.visits.models import StepStatus, VisitCheckin, VisitStatus
from tests.factories import make_pathway, make_unit, make_user, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
MONDAY = dt.date(2026, 12, 7)
WEDNESDAY = MONDAY + dt.timedelta(days=2)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo(TZ))


NOW = _at(MONDAY, 10)


def _visit(session: Session, day: dt.date, **kw):
    return make_visit(session, pathway=make_pathway(session), day=day, start=_at(day, 9), **kw)


def _step(session, visit, action="start", *, actor_id=None, at=NOW, index=0, **kw):
    return journey.step_action(
        session=session, visit_id=visit.id, visit_step_id=visit.steps[index].id, action=action,
        actor_id=actor_id, unit=UNIT, at=at, **kw,
    )


def test_a_visit_two_days_ahead_cannot_be_started_checked_in_checked_out_or_invoiced(session: Session) -> None:
    ahead = _visit(session, WEDNESDAY)
    with pytest.raises(Conflict) as start:
        _step(session, ahead)
    assert start.value.code == "not_visit_day" and start.value.params["day"] == "2026-12-09"
    with pytest.raises(Conflict) as check_in:
        journey.check_in(session=session, visit_id=ahead.id, actor_id=None, unit=UNIT, now=NOW)
    assert check_in.value.code == "not_visit_day"
    # even a visit someone forced into "in progress" is not checked out before its day
    forced = _visit(session, WEDNESDAY, status=VisitStatus.IN_PROGRESS)
    assert preview(session=session, visit_id=forced.id, unit=UNIT, now=NOW).problem.code == "not_visit_day"
    with pytest.raises(Conflict) as checkout:
        check_out(session=session, visit_id=forced.id, actor_id=None, unit=UNIT, now=NOW)
    assert checkout.value.code == "not_visit_day"
    assert session.exec(select(Invoice)).all() == []
    session.refresh(ahead)
    assert ahead.status is VisitStatus.BOOKED and may_cancel(ahead.status)
    assert all(s.status is StepStatus.PLANNED for s in ahead.steps)


def test_todays_steps_only_after_check_in(session: Session) -> None:
    today = _visit(session, MONDAY)
    with pytest.raises(Conflict) as early:
        _step(session, today)
    assert early.value.code == "not_checked_in"
    journey.check_in(session=session, visit_id=today.id, actor_id=None, unit=UNIT, now=_at(MONDAY, 8, 55))
    step = _step(session, today)
    assert step.status is StepStatus.IN_PROGRESS
    with pytest.raises(Conflict) as tomorrow:  # the day is over: nothing more is recorded on it
        _step(session, today, "finish", at=_at(MONDAY + dt.timedelta(days=1), 9))
    assert tomorrow.value.code == "not_visit_day"


def test_an_invoice_only_for_a_completed_visit(session: Session) -> None:
    visit = _visit(session, MONDAY, status=VisitStatus.IN_PROGRESS)
    with pytest.raises(Conflict) as info:
        add_invoice(session=session, visit=visit, actor_id=None, unit=UNIT, now=NOW)
    assert info.value.code == "not_completed"


def test_no_show_only_after_the_arrival_window(session: Session) -> None:
    ahead = _visit(session, MONDAY + dt.timedelta(days=4))
    with pytest.raises(Conflict) as info:
        cancel_visit(session=session, visit_id=ahead.id, reason="not here", now=NOW, no_show=True, unit=UNIT)
    assert info.value.code == "arrival_not_passed"
    today = _visit(session, MONDAY)  # first step 09:00: a no-show from 09:30
    with pytest.raises(Conflict):
        cancel_visit(session=session, visit_id=today.id, reason="not here", now=_at(MONDAY, 9, 29), no_show=True,
                     unit=UNIT)  # fmt: skip
    visit = cancel_visit(session=session, visit_id=today.id, reason="not here", now=_at(MONDAY, 9, 30),
                         no_show=True, unit=UNIT)  # fmt: skip
    assert visit.status is VisitStatus.NO_SHOW


def test_a_coordinator_overrides_with_a_reason_a_clerk_cannot(session: Session) -> None:
    clerk = make_user(session, username="clerk", role=Role.FRONT_DESK)
    boss = make_user(session, username="boss", role=Role.COORDINATOR)
    ahead = _visit(session, WEDNESDAY)
    with pytest.raises(Conflict) as refused:
        journey.check_in(session=session, visit_id=ahead.id, actor_id=clerk.id, unit=UNIT, now=NOW,
                         override_reason="patient came early")  # fmt: skip
    assert refused.value.code == "override_not_allowed"
    assert session.exec(select(VisitCheckin)).all() == []
    journey.check_in(session=session, visit_id=ahead.id, actor_id=boss.id, unit=UNIT, now=NOW,
                     override_reason="patient came two days early, treatment moved")  # fmt: skip
    _step(session, ahead, actor_id=boss.id, override_reason="treatment moved to today")
    overrides = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.rule_overridden")).all()
    assert [(o.actor_id, o.details["rule"]) for o in overrides] == [(boss.id, "not_visit_day")] * 2
    assert overrides[0].details["reason"] == "patient came two days early, treatment moved"
    far = _visit(session, MONDAY + dt.timedelta(days=4))
    cancel_visit(session=session, visit_id=far.id, reason="known not to come", now=NOW, no_show=True, unit=UNIT,
                 actor_id=boss.id, override_reason="known not to come")  # fmt: skip
    assert far.status is VisitStatus.NO_SHOW


def test_a_clerk_undoes_their_own_last_action_within_ten_minutes(session: Session) -> None:
    clerk = make_user(session, username="clerk", role=Role.FRONT_DESK)
    other = make_user(session, username="other", role=Role.FRONT_DESK)
    visit = _visit(session, MONDAY)
    journey.check_in(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)
    _step(session, visit, actor_id=clerk.id, at=NOW + dt.timedelta(minutes=1))
    last = undo.last_action(session=session, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=2))
    assert last is not None and last.action == "step.start" and last.visit_id == visit.id
    assert undo.last_action(session=session, actor_id=other.id, now=NOW) is None
    with pytest.raises(Conflict) as not_yours:
        undo.undo(session=session, audit_id=last.audit_id, actor_id=other.id, now=NOW + dt.timedelta(minutes=2))
    assert not_yours.value.code == "undo_not_yours"
    undo.undo(session=session, audit_id=last.audit_id, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=2))
    session.refresh(visit)
    assert visit.status is VisitStatus.CHECKED_IN
    assert visit.steps[0].status is StepStatus.PLANNED and visit.steps[0].actual_start is None
    with pytest.raises(Conflict) as twice:
        undo.undo(session=session, audit_id=last.audit_id, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=3))
    assert twice.value.code == "undo_not_last"
    assert undo.last_action(session=session, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=3)) is None
    undone = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.undone")).one()
    assert undone.actor_id == clerk.id and undone.details["undoes"] == last.audit_id

    _step(session, visit, actor_id=clerk.id, at=NOW + dt.timedelta(minutes=4))
    late = undo.last_action(session=session, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=4))
    assert undo.last_action(session=session, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=15)) is None
    with pytest.raises(Conflict) as expired:
        undo.undo(session=session, audit_id=late.audit_id, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=15))
    assert expired.value.code == "undo_expired"


def test_undo_of_a_check_in_puts_the_visit_back_as_it_was(session: Session) -> None:
    clerk = make_user(session, username="clerk", role=Role.FRONT_DESK)
    visit = _visit(session, MONDAY, status=VisitStatus.CONFIRMED)
    journey.check_in(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)
    last = undo.last_action(session=session, actor_id=clerk.id, now=NOW)
    undo.undo(session=session, audit_id=last.audit_id, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=9))
    session.refresh(visit)
    assert visit.status is VisitStatus.CONFIRMED
    assert session.exec(select(VisitCheckin)).all() == []
    journey.check_in(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)  # again, cleanly


def test_undo_refuses_when_the_visit_moved_on(session: Session) -> None:
    clerk = make_user(session, username="clerk", role=Role.FRONT_DESK)
    other = make_user(session, username="other", role=Role.FRONT_DESK)
    visit = _visit(session, MONDAY)
    journey.check_in(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)
    _step(session, visit, actor_id=other.id, at=NOW + dt.timedelta(minutes=1))  # another clerk went on
    last = undo.last_action(session=session, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=2))
    with pytest.raises(Conflict) as moved:
        undo.undo(session=session, audit_id=last.audit_id, actor_id=clerk.id, now=NOW + dt.timedelta(minutes=2))
    assert moved.value.code == "undo_moved_on"
    session.refresh(visit)
    assert visit.status is VisitStatus.IN_PROGRESS
