"""Holding a proposed itinerary for a few minutes (IHE ITI-116 ``$hold``), then booking it (ITI-117).

A hold is a ``BookingHold`` row: the encoded itinerary, its patient and pathway, and when it expires.
While it is live (held, ``expires_at`` ahead) its steps are fixed busy time for everybody else
(``clinic.planning.held_placements``, read by proposals, bookings, moves, the refill and the optimiser);
a hold past ``expires_at`` is ignored by those readers at once, whether or not ``release_expired`` (the
worker's job, every minute) has marked it ``expired`` yet.

Only an itinerary that fits the day as booked can be held (no re-arranging of other visits: a hold never
moves anybody); ``book_held`` books it through ``book_proposal``, the Book screen's own service, so
outreach, volunteers and the figures follow from its ``VisitBooked`` event.
"""

import dataclasses
import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic import planning
from clinic.audit import record as audit
from clinic.booking.choices import decode_choice
from clinic.booking.models import BookingHold, HoldStatus
from clinic.booking.services import SlotTaken, book_proposal, check_choice, problems
from clinic.errors import Conflict, NotFound, ValidationError
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.unit.models import Pathway
from clinic.visits.models import Visit

#: The longest hold a caller may ask for (minutes).
MAX_HOLD_MINUTES = 60


def hold_proposal(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    choice: str,
    unit: Unit,
    now: dt.datetime,
    minutes: int | None = None,
    actor_id: int | None = None,
    client: str = "",
) -> BookingHold:
    """Hold ``choice`` for ``minutes`` (default ``unit.hold_minutes``) after re-checking it under the day's
    lock as a booking would: it must fit the pathway, the patient, and the day as booked and held by
    others (``SlotTaken`` otherwise). Committed and audited; nothing written on any error."""
    minutes = unit.hold_minutes if minutes is None else minutes
    if not 0 <= minutes <= MAX_HOLD_MINUTES:
        raise ValidationError(
            f"a hold lasts from 0 to {MAX_HOLD_MINUTES} minutes", code="hold_minutes", field="minutes"
        )
    try:
        checked = check_choice(
            session=session,
            patient_id=patient_id,
            pathway_id=pathway_id,
            choice=choice,
            unit=unit,
            today=now.astimezone(unit.zone).date(),
        )
        booked = planning.engine_booked(session=session, day=checked.day, tz=unit.tz)
        clash = problems(dataclasses.replace(checked.alone, booked=booked), checked.placed)
        if clash:
            raise SlotTaken(
                "just taken: another booking or hold has this capacity", field="choice", details="; ".join(clash[:3])
            )
        if _live_for_patient(session, patient_id, checked.day, now):
            raise Conflict(
                "the patient already has a place held on that day", code="already_held", field="choice"
            )
        hold = BookingHold(
            patient_id=patient_id,
            pathway_id=pathway_id,
            day=checked.day,
            choice=choice,
            expires_at=now + dt.timedelta(minutes=minutes),
            client=(client or "")[:120],
            actor_id=actor_id,
            created_at=now,
        )
        session.add(hold)
        session.flush()
        audit.record(
            session=session,
            actor_id=actor_id,
            action="hold.created",
            entity="booking_hold",
            entity_id=hold.id,  # type: ignore[arg-type]
            details={"day": checked.day.isoformat(), "pathway": checked.pathway.code, "minutes": minutes,
                     "client": hold.client},
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return hold


def _live_for_patient(session: Session, patient_id: int, day: dt.date, now: dt.datetime) -> bool:
    return (
        session.exec(
            select(BookingHold.id).where(
                BookingHold.patient_id == patient_id,
                BookingHold.day == day,
                BookingHold.status == HoldStatus.HELD,
                col(BookingHold.expires_at) > now,
            )
        ).first()
        is not None
    )


def get_hold(*, session: Session, hold_id: int) -> BookingHold:
    hold = session.get(BookingHold, hold_id)
    if hold is None:
        raise NotFound(f"hold {hold_id} does not exist", field="hold")
    return hold


def book_held(
    *,
    session: Session,
    hold_id: int,
    unit: Unit,
    now: dt.datetime,
    actor_id: int | None = None,
) -> Visit:
    """Book the held itinerary through ``book_proposal`` (its own place is not taken by its own hold) and
    mark the hold booked, in one transaction. ``Conflict`` (``hold_booked``, ``hold_expired``,
    ``hold_released``) when the hold is not live: booking one hold twice gives one visit."""
    hold = get_hold(session=session, hold_id=hold_id)
    if hold.status != HoldStatus.HELD:
        raise Conflict(f"hold {hold_id} is {hold.status.value} already", code=f"hold_{hold.status.value}", field="hold")
    if hold.expires_at <= now:
        raise Conflict(f"hold {hold_id} has expired", code="hold_expired", field="hold")
    return book_proposal(
        session=session,
        patient_id=hold.patient_id,
        pathway_id=hold.pathway_id,
        choice=hold.choice,
        unit=unit,
        actor_id=actor_id,
        today=now.astimezone(unit.zone).date(),
        hold_id=hold.id,
    )


def release_hold(*, session: Session, hold_id: int, now: dt.datetime, actor_id: int | None = None) -> BookingHold:
    """Give a live hold's place back before it expires (committed); a hold no longer live is left as it is."""
    hold = get_hold(session=session, hold_id=hold_id)
    if hold.status == HoldStatus.HELD:
        hold.status = HoldStatus.RELEASED if hold.expires_at > now else HoldStatus.EXPIRED
        hold.ended_at = now
        session.add(hold)
        audit.record(
            session=session, actor_id=actor_id, action="hold.released", entity="booking_hold",
            entity_id=hold.id,  # type: ignore[arg-type]
            details={"status": hold.status.value},
        )
        session.commit()
    return hold


def release_expired(*, session: Session, now: dt.datetime) -> int:
    """Mark every held hold whose time ran out ``expired`` (committed); how many. Readers already ignore them:
    this only tidies the rows (and the board's count)."""
    result = session.execute(
        sa.update(BookingHold)
        .where(col(BookingHold.status) == HoldStatus.HELD, col(BookingHold.expires_at) <= now)
        .values(status=HoldStatus.EXPIRED, ended_at=now)
    )
    session.commit()
    return result.rowcount or 0


def live_holds(*, session: Session, day: dt.date, now: dt.datetime) -> list[BookingHold]:
    """The day's live holds, soonest expiry first (the board shows them)."""
    return list(
        session.exec(
            select(BookingHold)
            .where(
                BookingHold.day == day,
                BookingHold.status == HoldStatus.HELD,
                col(BookingHold.expires_at) > now,
            )
            .order_by(col(BookingHold.expires_at), col(BookingHold.id))
        )
    )


@dataclass(frozen=True)
class HeldPlace:
    """A live hold as the day board lists it."""

    hold_id: int
    patient_id: int
    patient_name: str
    pathway_name: object
    starts_at: dt.datetime
    ends_at: dt.datetime
    expires_at: dt.datetime
    client: str


def held_places(*, session: Session, day: dt.date, now: dt.datetime, tz: str) -> list[HeldPlace]:
    """The day's live holds with who and what they hold, soonest expiry first."""
    out = []
    for hold in live_holds(session=session, day=day, now=now):
        patient = session.get(Patient, hold.patient_id)
        pathway = session.get(Pathway, hold.pathway_id)
        _day, steps = decode_choice(hold.choice)
        out.append(
            HeldPlace(
                hold_id=hold.id,  # type: ignore[arg-type]
                patient_id=hold.patient_id,
                patient_name=patient.display_name if patient is not None else "",
                pathway_name=pathway.named if pathway is not None else "",
                starts_at=planning.instant_at(day, min(s.start for s in steps), tz),
                ends_at=planning.instant_at(day, max(s.end for s in steps), tz),
                expires_at=hold.expires_at,
                client=hold.client,
            )
        )
    return out
