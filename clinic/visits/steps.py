"""A visit's progress through its steps on the day: start, finish or skip a step, with actual times.

The visit's status follows its steps: the first step started makes it ``in_progress``, the last one
finished or skipped makes it ``completed``.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from clinic import events
from clinic.audit import record as audit
from clinic.columns import utcnow
from clinic.errors import Conflict, NotFound, ValidationError, get_or_raise
from clinic.unit.context import Unit
from clinic.unit.models import PathwayStep
from clinic.visits import dayrules
from clinic.visits.models import StepStatus, Visit, VisitStatus, VisitStep

STARTABLE_VISITS = frozenset(
    {VisitStatus.BOOKED, VisitStatus.CONFIRMED, VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS}
)
"""Visits whose steps are still open; recording one also needs check-in (``dayrules.require_checked_in``)."""
ACTIONS = ("start", "finish", "skip")


@dataclass(frozen=True)
class StepView:
    id: int
    code: str
    name: str
    resource_code: str
    resource_name: str
    planned_start: dt.datetime
    planned_end: dt.datetime
    actual_start: dt.datetime | None
    actual_end: dt.datetime | None
    status: StepStatus


def visit_steps(*, session: Session, visit_id: int) -> list[StepView]:
    """The visit's steps in planned order, with names, resources and times (aware UTC)."""
    visit = session.exec(
        select(Visit)
        .where(Visit.id == visit_id)
        .options(
            selectinload(Visit.steps)
            .selectinload(VisitStep.pathway_step)
            .selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
            selectinload(Visit.steps).selectinload(VisitStep.resource),  # type: ignore[arg-type]
        )
    ).first()
    if visit is None:
        raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
    return [
        StepView(
            id=s.id,
            code=s.pathway_step.code,
            name=s.pathway_step.step_type.named,
            resource_code=s.resource.code,
            resource_name=s.resource.name,
            planned_start=s.planned_start,
            planned_end=s.planned_end,
            actual_start=s.actual_start,
            actual_end=s.actual_end,
            status=s.status,
        )
        for s in sorted(visit.steps, key=lambda s: (s.planned_start, s.id))
    ]


def record_step(
    *,
    session: Session,
    visit_step_id: int,
    action: str,
    actor_id: int | None,
    unit: Unit,
    at: dt.datetime | None = None,
    override_reason: str | None = None,
) -> VisitStep:
    """Start, finish or skip one step (committed, audited); ``Conflict`` when the step or visit cannot.

    Only on the visit's own day (``at``'s local date) and after check-in, unless a coordinator overrides
    with ``override_reason`` (``clinic.visits.dayrules``)."""
    if action not in ACTIONS:
        raise ValidationError(
            f"unknown step action {action!r}; use one of {', '.join(ACTIONS)}", field="action"
        )
    step = get_or_raise(session, VisitStep, visit_step_id, what="visit step")
    visit = step.visit
    if visit.status not in STARTABLE_VISITS:
        raise Conflict(f"the visit is {visit.status.value}", code="visit_closed", field="status")
    at = at or utcnow()
    dayrules.require_visit_day(
        session, visit=visit, now=at, tz=unit.tz, what="a step", actor_id=actor_id, override_reason=override_reason
    )
    dayrules.require_checked_in(session, visit=visit, actor_id=actor_id, override_reason=override_reason)
    visit_from = visit.status
    step_from = step.status
    if action == "start":
        if step.status != StepStatus.PLANNED:
            raise Conflict(f"the step is already {step.status.value}", code="bad_transition", field="status")
        step.status, step.actual_start = StepStatus.IN_PROGRESS, at
    elif action == "finish":
        if step.status != StepStatus.IN_PROGRESS:
            raise Conflict("only a step in progress can be finished", code="bad_transition", field="status")
        if at < step.actual_start:
            raise ValidationError("a step cannot finish before it started", field="at")
        step.status, step.actual_end = StepStatus.DONE, at
    else:
        if step.status != StepStatus.PLANNED:
            raise Conflict(f"the step is already {step.status.value}", code="bad_transition", field="status")
        step.status = StepStatus.SKIPPED
    if all(s.status in (StepStatus.DONE, StepStatus.SKIPPED) for s in visit.steps):
        visit.status = VisitStatus.COMPLETED
    elif action == "start":
        visit.status = VisitStatus.IN_PROGRESS
    session.add_all([step, visit])
    audit.record(
        session=session,
        actor_id=actor_id,
        action=f"step.{action}",
        entity="visit",
        entity_id=visit.id,
        details={
            "step": step.pathway_step.code,
            "step_id": step.id,
            "at": at.isoformat(),
            "step_from": step_from.value,
            "visit_from": visit_from.value,
            "visit_to": visit.status.value,
        },
    )
    if action == "finish":
        events.record(session, events.StepFinished(visit_id=visit.id, visit_step_id=step.id, actor_id=actor_id))
    if visit.status == VisitStatus.COMPLETED:
        events.record(session, events.VisitCompleted(visit_id=visit.id, actor_id=actor_id))
    session.commit()
    return step
