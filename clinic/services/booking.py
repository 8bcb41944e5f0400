"""Booking one visit from the front desk: the engine places it around the day's existing visits."""

import datetime as dt

from sqlmodel import Session

from clinic.errors import Conflict, NotFound
from clinic.models import Patient, Visit, VisitStatus
from clinic.services import audit, planning


def book_visit(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    day: dt.date,
    tz: str,
    actor_id: int | None,
    arrival: planning.Window | None = None,
    priority: int = 1,
    rules: planning.SegmentRules = planning.DEFAULT_RULES,
) -> Visit:
    """Place and store the visit (committed, audited); ``Conflict`` with the engine's reason if it does not fit."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"patient {patient_id} does not exist", field="patient_id")
    pathway = planning.load_pathway(session=session, pathway_id=pathway_id)
    if pathway is None or not pathway.active:
        raise NotFound(f"pathway {pathway_id} does not exist", field="pathway_id")
    wish = planning.VisitWish(key="new", patient=patient, pathway=pathway, priority=priority, arrival=arrival)
    result = planning.plan_day(
        session=session, day=day, tz=tz, wishes=[wish], rules=rules, status=VisitStatus.BOOKED
    )
    if "new" not in result.visits:
        session.rollback()
        reason = result.unscheduled[0].reason if result.unscheduled else "no room on that day"
        raise Conflict(reason, code="no_room", field="day", day=day.isoformat())
    visit = result.visits["new"]
    audit.record(
        session=session,
        actor_id=actor_id,
        action="visit.booked",
        entity="visit",
        entity_id=visit.id,
        details={"day": day.isoformat(), "pathway": pathway.code},
    )
    session.commit()
    return visit
