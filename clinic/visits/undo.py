"""Undo a clerk's own last check-in or step action, within ``UNDO_MINUTES``.

The audit trail is the memory: a clerk's last action is their newest audit row among the check-in and
step actions (and their undos). It can be undone only by the same clerk, only while it is their last
one, within ``UNDO_MINUTES`` of when it was recorded, and only while the visit still stands as that
action left it (no later step, no checkout). An undo restores the earlier state and is audited itself
(``visit.undone``), so an action is undone at most once.
"""

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.audit.models import AuditEvent
from clinic.billing.models import Invoice
from clinic.errors import Conflict, NotFound, get_or_raise
from clinic.service.models import TouchPoint
from clinic.visits.models import StepStatus, Visit, VisitCheckin, VisitStatus, VisitStep

UNDO_MINUTES = 10
CHECK_IN = "visit.checked_in"
STEP_ACTIONS = ("step.start", "step.finish", "step.skip")
UNDOABLE = (CHECK_IN, *STEP_ACTIONS)
UNDONE = "visit.undone"


@dataclass(frozen=True)
class LastAction:
    """A clerk's last check-in or step action, still undoable until ``expires_at``."""

    audit_id: int
    action: str
    visit_id: int
    at: dt.datetime
    expires_at: dt.datetime
    step_code: str | None = None


def _when(row: AuditEvent) -> dt.datetime:
    raw = (row.details or {}).get("at")
    if raw:
        try:
            return dt.datetime.fromisoformat(raw)
        except ValueError:
            pass
    return row.at


def _latest(session: Session, actor_id: int) -> AuditEvent | None:
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.actor_id == actor_id, col(AuditEvent.action).in_([*UNDOABLE, UNDONE]))
        .order_by(col(AuditEvent.id).desc())
    ).first()


def _as_last(row: AuditEvent) -> LastAction:
    at = _when(row)
    return LastAction(
        audit_id=row.id,
        action=row.action,
        visit_id=row.entity_id,
        at=at,
        expires_at=at + dt.timedelta(minutes=UNDO_MINUTES),
        step_code=(row.details or {}).get("step"),
    )


def last_action(*, session: Session, actor_id: int | None, now: dt.datetime) -> LastAction | None:
    """The actor's last check-in or step action if they may still undo it at ``now``, else ``None``."""
    if actor_id is None:
        return None
    row = _latest(session, actor_id)
    if row is None or row.action == UNDONE:
        return None
    last = _as_last(row)
    return last if now <= last.expires_at else None


def _moved_on(what: str) -> Conflict:
    return Conflict(f"the visit has changed since: {what}", code="undo_moved_on", field="audit_id")


def _undo_check_in(session: Session, visit: Visit, row: AuditEvent) -> None:
    checkin = session.exec(select(VisitCheckin).where(VisitCheckin.visit_id == visit.id)).first()
    if visit.status != VisitStatus.CHECKED_IN or checkin is None:
        raise _moved_on(f"it is {visit.status.value}")
    if any(s.status != StepStatus.PLANNED for s in visit.steps):
        raise _moved_on("a step was recorded")
    touch = session.exec(select(TouchPoint).where(TouchPoint.ref == f"checkin:{checkin.id}")).first()
    if touch is not None:
        session.delete(touch)
    session.delete(checkin)
    visit.status = VisitStatus((row.details or {}).get("from") or VisitStatus.BOOKED.value)
    session.add(visit)


def _undo_step(session: Session, visit: Visit, row: AuditEvent) -> None:
    details = row.details or {}
    step_id = details.get("step_id")
    step = session.get(VisitStep, step_id) if isinstance(step_id, int) else None
    if step is None or step.visit_id != visit.id:
        raise Conflict("this step action is too old to undo", code="undo_not_possible", field="audit_id")
    action = row.action.removeprefix("step.")
    result = {"start": StepStatus.IN_PROGRESS, "finish": StepStatus.DONE, "skip": StepStatus.SKIPPED}[action]
    if session.exec(select(Invoice.id).where(Invoice.visit_id == visit.id)).first() is not None:
        raise _moved_on("it was checked out")
    if step.status != result or visit.status.value != details.get("visit_to"):
        raise _moved_on(f"the step is {step.status.value}, the visit {visit.status.value}")
    step.status = StepStatus(details.get("step_from") or StepStatus.PLANNED.value)
    if action == "start":
        step.actual_start = None
    elif action == "finish":
        step.actual_end = None
    visit.status = VisitStatus(details["visit_from"])
    session.add_all([step, visit])


def undo(*, session: Session, audit_id: int, actor_id: int | None, now: dt.datetime) -> LastAction:
    """Undo the actor's own last check-in or step action (committed, audited as ``visit.undone``).

    ``Conflict`` with code ``undo_not_yours`` (someone else's), ``undo_not_last`` (not their last, or
    undone already), ``undo_expired`` (older than ``UNDO_MINUTES``) or ``undo_moved_on`` (the visit
    changed since)."""
    try:
        row = get_or_raise(session, AuditEvent, audit_id, what="action", field="audit_id")
        if row.action not in UNDOABLE:
            raise NotFound(f"action {audit_id} cannot be undone", field="audit_id")
        if actor_id is None or row.actor_id != actor_id:
            raise Conflict("only the clerk who did it can undo it", code="undo_not_yours", field="audit_id")
        latest = _latest(session, actor_id)
        if latest is None or latest.id != row.id:
            raise Conflict("only your last action can be undone", code="undo_not_last", field="audit_id")
        last = _as_last(row)
        if now > last.expires_at:
            raise Conflict(
                f"an action can be undone for {UNDO_MINUTES} minutes", code="undo_expired", field="audit_id",
                minutes=UNDO_MINUTES,
            )
        visit = get_or_raise(session, Visit, row.entity_id, what="visit")
        if row.action == CHECK_IN:
            _undo_check_in(session, visit, row)
        else:
            _undo_step(session, visit, row)
        audit.record(
            session=session,
            actor_id=actor_id,
            action=UNDONE,
            entity="visit",
            entity_id=visit.id,
            details={"undoes": row.id, "action": row.action, "step": last.step_code, "at": now.isoformat()},
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return last
