"""The audit trail: who did what to which record, and when (UTC)."""

from sqlmodel import Session, col, select

from clinic.audit.models import AuditEvent


def record(
    *,
    session: Session,
    actor_id: int | None,
    action: str,
    entity: str,
    entity_id: int,
    details: dict | None = None,
    flush: bool = True,
) -> AuditEvent:
    """Add an event to the caller's transaction (not committed: it commits with the change it records).

    It is flushed at once, so a constraint it breaks shows where it was recorded; ``flush=False`` leaves
    that to the caller's next flush (a bulk change recording thousands of events)."""
    event = AuditEvent(actor_id=actor_id, action=action, entity=entity, entity_id=entity_id, details=details)
    session.add(event)
    if flush:
        session.flush()
    return event


def history(*, session: Session, entity: str, entity_id: int) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )
    return list(session.exec(statement))
