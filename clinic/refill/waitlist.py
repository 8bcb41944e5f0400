"""The waitlist: patients who want a visit sooner, and who can be offered a freed slot on a day."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.columns import utcnow
from clinic.errors import Conflict, ValidationError, get_or_raise
from clinic.patients.models import Patient
from clinic.refill.models import WaitlistEntry, WaitlistStatus
from clinic.unit.models import Pathway
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit

DAY_OPENS = dt.time(7, 30)
"""Notice is counted up to the unit's opening on the day offered."""


def add_to_waitlist(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    earliest_date: dt.date,
    latest_date: dt.date,
    actor_id: int | None,
    priority: int = 3,
    min_notice_hours: int = 24,
    accepts_short_notice: bool = False,
    notes: str = "",
) -> WaitlistEntry:
    """Put a patient on the waitlist for a pathway between two dates (committed, audited)."""
    get_or_raise(session, Patient, patient_id, what="patient")
    get_or_raise(session, Pathway, pathway_id, what="pathway")
    if latest_date < earliest_date:
        raise ValidationError("the latest date is before the earliest date", field="latest_date")
    if not 1 <= priority <= 5:
        raise ValidationError("priority runs from 1 (low) to 5 (urgent)", field="priority")
    if min_notice_hours < 0:
        raise ValidationError("notice cannot be negative", field="min_notice_hours")
    duplicate = session.exec(
        select(WaitlistEntry.id).where(
            WaitlistEntry.patient_id == patient_id,
            WaitlistEntry.pathway_id == pathway_id,
            col(WaitlistEntry.status).in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
        )
    ).first()
    if duplicate is not None:
        raise Conflict(
            "the patient is already waiting for this pathway", code="already_waiting", field="pathway_id"
        )
    entry = WaitlistEntry(
        patient_id=patient_id,
        pathway_id=pathway_id,
        earliest_date=earliest_date,
        latest_date=latest_date,
        priority=priority,
        min_notice_hours=min_notice_hours,
        accepts_short_notice=accepts_short_notice,
        notes=notes.strip(),
    )
    session.add(entry)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor_id,
        action="waitlist.added",
        entity="waitlist_entry",
        entity_id=entry.id,
    )
    session.commit()
    return entry


def notice_hours(day: dt.date, now: dt.datetime, tz: str) -> float:
    """Hours from ``now`` until the unit opens on ``day``."""
    opens = dt.datetime.combine(day, DAY_OPENS, ZoneInfo(tz))
    return (opens - now).total_seconds() / 3600


def candidates_for(
    *, session: Session, day: dt.date, tz: str, now: dt.datetime | None = None
) -> list[WaitlistEntry]:
    """Waiting entries that could take a slot on ``day``: in their date range, with enough notice
    (or accepting short notice), not opted out and not already coming that day; most urgent first."""
    now = now or utcnow()
    hours = notice_hours(day, now, tz)
    coming = set(
        session.exec(
            select(Visit.patient_id).where(
                Visit.date == day, col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES))
            )
        )
    )
    entries = session.exec(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.status == WaitlistStatus.WAITING,
            WaitlistEntry.earliest_date <= day,
            WaitlistEntry.latest_date >= day,
        )
        .options(selectinload(WaitlistEntry.patient), selectinload(WaitlistEntry.pathway))  # type: ignore[arg-type]
        .order_by(col(WaitlistEntry.priority).desc(), col(WaitlistEntry.added_at), col(WaitlistEntry.id))
    ).all()
    return [
        e
        for e in entries
        if hours >= 0
        and (hours >= e.min_notice_hours or e.accepts_short_notice)
        and not e.patient.opted_out
        and e.patient_id not in coming
    ]


def set_status(
    *,
    session: Session,
    entry_id: int,
    status: WaitlistStatus | str,
    actor_id: int | None,
    reason: str | None = None,
) -> WaitlistEntry:
    """Mark an entry offered, booked or removed (audited); finished entries stay finished."""
    entry = get_or_raise(session, WaitlistEntry, entry_id, what="waitlist entry", field="entry_id")
    target = WaitlistStatus(status)
    if entry.status in (WaitlistStatus.BOOKED, WaitlistStatus.REMOVED):
        raise Conflict(f"the entry is already {entry.status.value}", code="bad_transition", field="status")
    previous = entry.status
    entry.status = target
    session.add(entry)
    details = {"from": previous.value} | ({"reason": reason} if reason else {})
    audit.record(
        session=session,
        actor_id=actor_id,
        action=f"waitlist.{target.value}",
        entity="waitlist_entry",
        entity_id=entry.id,
        details=details,
    )
    session.commit()
    return entry


OPEN_STATUSES = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


def list_waitlist(
    *, session: Session, statuses: tuple[WaitlistStatus, ...] = OPEN_STATUSES
) -> list[WaitlistEntry]:
    """Entries still on the list (waiting or with an offer out), most urgent and longest waiting first."""
    return list(
        session.exec(
            select(WaitlistEntry)
            .where(col(WaitlistEntry.status).in_(list(statuses)))
            .options(selectinload(WaitlistEntry.patient), selectinload(WaitlistEntry.pathway))  # type: ignore[arg-type]
            .order_by(col(WaitlistEntry.priority).desc(), col(WaitlistEntry.added_at), col(WaitlistEntry.id))
        )
    )


def set_priority(*, session: Session, entry_id: int, priority: int, actor_id: int | None) -> WaitlistEntry:
    """Re-prioritise an entry that is still on the list (1 low ... 5 urgent; audited)."""
    entry = get_or_raise(session, WaitlistEntry, entry_id, what="waitlist entry", field="entry_id")
    if not 1 <= priority <= 5:
        raise ValidationError("priority runs from 1 (low) to 5 (urgent)", field="priority")
    if entry.status not in OPEN_STATUSES:
        raise Conflict(f"the entry is already {entry.status.value}", code="bad_transition", field="priority")
    previous = entry.priority
    if previous != priority:
        entry.priority = priority
        session.add(entry)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="waitlist.prioritised",
            entity="waitlist_entry",
            entity_id=entry.id,
            details={"from": previous, "to": priority},
        )
    session.commit()
    return entry
