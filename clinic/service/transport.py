"""Transport and help at home: the patient's answer to the offer, and the desk's list of what to arrange.

Older patients are offered transport by SMS ("Reply YES if you would like this, or NO if not") or in a
call (press 1 or 2) when a visit is booked. The answer is kept per visit (``TransportRequest``); those who
want it are on the transport list until someone marks it arranged, and the check-in form then shows it
as booked.

Which question a bare YES or NO answers: the last one the patient was sent. A reminder also asks for a
YES, so a YES counts for transport only while the transport offer is the newest message the patient was
sent that asks for one (of any of their open visits), and it was sent in the last ``ANSWER_WINDOW``. An
open waitlist offer comes first: its YES books the freed place (``clinic.messaging.inbound``).
"""

import datetime as dt
import math
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic import events
from clinic.audit import record as audit
from clinic.errors import Conflict, get_or_raise
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.patients.models import Patient
from clinic.service.models import TouchChannel, TransportRequest
from clinic.visits.models import Visit, VisitStatus

OFFER_ACTION = "transport_offer"
ASKING_ACTIONS = (OFFER_ACTION, "reminder")
"""Outreach messages whose answer is a bare YES (or NO): the newest one is what a reply answers."""
ANSWER_WINDOW = dt.timedelta(days=14)
OUT = (OutboxStatus.SENT, OutboxStatus.DELIVERED)
OPEN_VISITS = (VisitStatus.REQUESTED, VisitStatus.BOOKED, VisitStatus.CONFIRMED)
"""Visits whose transport offer an SMS or call can still answer."""
ON_LIST = (*OPEN_VISITS, VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS)
"""Visits whose transport still matters: until the patient has gone home."""
TO_ARRANGE, ARRANGED, DECLINED = "to_arrange", "arranged", "declined"
STATES = (TO_ARRANGE, ARRANGED, DECLINED)
"""Where an answer stands, in the order the transport list shows them."""


def state_of(request: TransportRequest) -> str:
    if not request.wanted:
        return DECLINED
    return TO_ARRANGE if request.arranged_at is None else ARRANGED


@dataclass(frozen=True)
class TransportRow:
    """One line of the transport list."""

    request_id: int
    visit_id: int
    patient_id: int
    patient_name: str
    phone: str
    day: dt.date
    state: str
    channel: str
    answered_at: dt.datetime
    arranged_at: dt.datetime | None
    note: str


def offer_awaiting_answer(*, session: Session, patient_ids: list[int], now: dt.datetime) -> Visit | None:
    """The open visit whose transport offer a YES or NO from these patients answers, or ``None``."""
    if not patient_ids:
        return None
    latest = session.exec(
        select(OutboxMessage)
        .join(Visit, col(Visit.id) == OutboxMessage.visit_id)
        .where(
            col(OutboxMessage.patient_id).in_(patient_ids),
            col(OutboxMessage.action).in_(ASKING_ACTIONS),
            col(OutboxMessage.status).in_(OUT),
            col(OutboxMessage.sent_at).is_not(None),
            col(OutboxMessage.sent_at) >= now - ANSWER_WINDOW,
            col(Visit.status).in_(OPEN_VISITS),
        )
        .order_by(col(OutboxMessage.sent_at).desc(), col(OutboxMessage.id).desc())
    ).first()
    if latest is None or latest.action != OFFER_ACTION:
        return None
    return session.get(Visit, latest.visit_id)


def record_answer(
    *,
    session: Session,
    visit_id: int,
    wanted: bool,
    channel: TouchChannel,
    now: dt.datetime,
    actor_id: int | None = None,
) -> TransportRequest:
    """Keep the patient's answer for the visit (committed, audited); a later answer replaces an earlier one,
    and a "no" after an arranged transport keeps when it was arranged so the desk can cancel it. Records
    ``TransportAnswered``: whichever channel answered, the offers still queued are withdrawn."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status not in ON_LIST:
        raise Conflict(
            f"visit {visit_id} is {visit.status.value}: transport is no longer asked for",
            code="visit_closed",
            field="visit_id",
        )
    request = session.exec(select(TransportRequest).where(TransportRequest.visit_id == visit_id)).first()
    if request is None:
        request = TransportRequest(
            visit_id=visit_id, patient_id=visit.patient_id, wanted=wanted, channel=channel, answered_at=now
        )
    else:
        request.wanted, request.channel, request.answered_at = wanted, channel, now
    session.add(request)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor_id,
        action="transport_wanted" if wanted else "transport_declined",
        entity="visit",
        entity_id=visit_id,
        details={"channel": channel.value},
    )
    events.record(session, events.TransportAnswered(visit_id=visit_id, actor_id=actor_id))
    session.commit()
    return request


def mark_arranged(
    *, session: Session, request_id: int, actor_id: int | None, now: dt.datetime, note: str = ""
) -> TransportRequest:
    """The transport a patient asked for is booked (committed, audited)."""
    request = get_or_raise(
        session, TransportRequest, request_id, what="transport request", field="request_id"
    )
    if not request.wanted:
        raise Conflict("the patient said they do not want transport", code="not_wanted", field="request_id")
    if request.arranged_at is not None:
        raise Conflict("this transport is already arranged", code="already_arranged", field="request_id")
    request.arranged_at, request.arranged_by = now, actor_id
    if note:
        request.note = note[:500]
    session.add(request)
    audit.record(
        session=session,
        actor_id=actor_id,
        action="transport_arranged",
        entity="visit",
        entity_id=request.visit_id,
        details={"request_id": request.id},
    )
    events.record(session, events.TransportAnswered(visit_id=request.visit_id, actor_id=actor_id))
    session.commit()
    return request


def for_visit(*, session: Session, visit_id: int) -> TransportRequest | None:
    return session.exec(select(TransportRequest).where(TransportRequest.visit_id == visit_id)).first()


def offered(*, session: Session, visit_id: int) -> bool:
    """Whether the visit's outreach offers transport (sent or still to send)."""
    return (
        session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.visit_id == visit_id,
                OutboxMessage.action == OFFER_ACTION,
                col(OutboxMessage.status).not_in([OutboxStatus.WITHDRAWN, OutboxStatus.SKIPPED]),
            )
        ).first()
        is not None
    )


def transport_list(*, session: Session, today: dt.date, days: int = 14) -> list[TransportRow]:
    """Answers for visits from ``today`` on ``days`` days whose patient has not gone home yet, in the order
    of ``STATES`` (to arrange first), soonest visit first."""
    rows = session.exec(
        select(TransportRequest, Visit, Patient)
        .join(Visit, col(Visit.id) == TransportRequest.visit_id)
        .join(Patient, col(Patient.id) == TransportRequest.patient_id)
        .where(
            col(Visit.date) >= today,
            col(Visit.date) < today + dt.timedelta(days=days),
            col(Visit.status).in_(ON_LIST),
        )
    ).all()
    out = [
        TransportRow(
            request_id=r.id,
            visit_id=v.id,
            patient_id=p.id,
            patient_name=p.display_name,
            phone=p.phone,
            day=v.date,
            state=state_of(r),
            channel=r.channel.value,
            answered_at=r.answered_at,
            arranged_at=r.arranged_at,
            note=r.note,
        )
        for r, v, p in rows
    ]
    return sorted(out, key=lambda row: (STATES.index(row.state), row.day, row.patient_name, row.request_id))


TRAVEL_KMH = 40
"""Average door-to-door speed of patient transport (a taxi or the hospital's bus, with stops): the travel
time, and so the pick-up time, is the patient's distance at this speed."""
TRAVEL_ROUND_MINUTES = 5


def travel_minutes(distance_km: float) -> int:
    """Minutes on the road for ``distance_km``, rounded up to ``TRAVEL_ROUND_MINUTES`` (at least that)."""
    raw = math.ceil(max(0.0, distance_km) / TRAVEL_KMH * 60)
    return max(TRAVEL_ROUND_MINUTES, math.ceil(raw / TRAVEL_ROUND_MINUTES) * TRAVEL_ROUND_MINUTES)


@dataclass(frozen=True)
class PickUpRow:
    """One patient to fetch on the day's transport list."""

    request_id: int
    visit_id: int
    patient_id: int
    patient_name: str
    phone: str
    address: str
    distance_km: float
    arrival: dt.datetime | None
    pickup: dt.datetime | None
    travel_minutes: int
    leaves: dt.datetime | None
    wheelchair: bool
    state: str
    note: str


def transport_day(*, session: Session, day: dt.date) -> list[PickUpRow]:
    """Patients who want transport to their visit on ``day`` (to arrange or arranged), by pick-up time:
    arrival (the first planned step) minus the travel time for their distance."""
    rows = session.exec(
        select(TransportRequest, Visit, Patient)
        .join(Visit, col(Visit.id) == TransportRequest.visit_id)
        .join(Patient, col(Patient.id) == TransportRequest.patient_id)
        .where(Visit.date == day, col(Visit.status).in_(ON_LIST), col(TransportRequest.wanted))
    ).all()
    out = []
    for request, visit, patient in rows:
        starts = [s.planned_start for s in visit.steps]
        ends = [s.planned_end for s in visit.steps]
        arrival = min(starts) if starts else None
        minutes = travel_minutes(patient.distance_km)
        out.append(
            PickUpRow(
                request_id=request.id,
                visit_id=visit.id,
                patient_id=patient.id,
                patient_name=patient.display_name,
                phone=patient.phone,
                address=f"{patient.address_line}, {patient.postcode} {patient.city}",
                distance_km=patient.distance_km,
                arrival=arrival,
                pickup=arrival - dt.timedelta(minutes=minutes) if arrival else None,
                travel_minutes=minutes,
                leaves=max(ends) if ends else None,
                wheelchair=patient.needs_wheelchair,
                state=state_of(request),
                note=request.note,
            )
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(out, key=lambda r: (r.pickup or far, r.patient_name, r.request_id))
