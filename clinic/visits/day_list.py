"""What the desk prints: the day list (every held visit of a day with its steps and rooms, transport and
volunteer) and the patient's appointment slip (arrival, how long the visit takes, where its steps are)."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic.errors import Conflict, get_or_raise
from clinic.patients.models import Patient
from clinic.service.models import TransportRequest, Volunteer, VolunteerAssignment
from clinic.unit.models import PathwayStep
from clinic.visits.models import Visit, VisitCheckin, VisitStatus, VisitStep

HELD = (
    VisitStatus.BOOKED,
    VisitStatus.CONFIRMED,
    VisitStatus.CHECKED_IN,
    VisitStatus.IN_PROGRESS,
    VisitStatus.COMPLETED,
)
"""Visits on the day list: those the patient comes (or came) for."""
SLIP_STATUSES = (VisitStatus.BOOKED, VisitStatus.CONFIRMED)
"""Visits a patient gets a slip for: booked and not started."""
MAX_DAYS = 14
"""The most days one printed day list covers (one page each)."""

TRANSPORT_TO_ARRANGE, TRANSPORT_ARRANGED, TRANSPORT_BOOKED = "to_arrange", "arranged", "booked"


@dataclass(frozen=True)
class ListedStep:
    name: str
    room: str
    starts: dt.datetime
    ends: dt.datetime


@dataclass(frozen=True)
class DayListRow:
    """A visit on the printed day list: ``arrival`` is the arrival its patient was told, ``steps`` the unit's
    internal times, which re-arranging may have moved since."""

    visit_id: int
    patient_id: int
    patient_name: str
    mrn: str
    pathway_name: str
    status: VisitStatus
    arrival: dt.datetime | None
    leaves: dt.datetime | None
    steps: tuple[ListedStep, ...]
    transport: str | None
    volunteer: str | None
    wheelchair: bool
    interpreter: bool


def _steps(visit: Visit, language: object = None) -> tuple[ListedStep, ...]:
    ordered = sorted(visit.steps, key=lambda s: (s.planned_start, s.id or 0))
    return tuple(
        ListedStep(
            name=s.pathway_step.step_type.name_in(language) if language else s.pathway_step.step_type.named,
            room=s.resource.name,
            starts=s.planned_start,
            ends=s.planned_end,
        )
        for s in ordered
    )


def _with_steps():
    return selectinload(Visit.steps).options(
        selectinload(VisitStep.resource),
        selectinload(VisitStep.pathway_step).selectinload(PathwayStep.step_type),
    )


def day_list(*, session: Session, day: dt.date) -> list[DayListRow]:
    """Every held visit of local ``day``, by arrival (visits without planned steps last)."""
    visits = session.exec(
        select(Visit)
        .where(Visit.date == day, col(Visit.status).in_(HELD))
        .options(_with_steps(), selectinload(Visit.patient), selectinload(Visit.pathway))
    ).all()
    ids = [v.id for v in visits]
    transport = {
        r.visit_id: r
        for r in session.exec(select(TransportRequest).where(col(TransportRequest.visit_id).in_(ids)))
    } if ids else {}
    volunteers = dict(
        session.exec(
            select(VolunteerAssignment.visit_id, Volunteer.name)
            .join(Volunteer, col(Volunteer.id) == VolunteerAssignment.volunteer_id)
            .where(col(VolunteerAssignment.visit_id).in_(ids))
        ).all()
    ) if ids else {}

    booked_at_checkin = set(
        session.exec(
            select(VisitCheckin.visit_id).where(col(VisitCheckin.visit_id).in_(ids), col(VisitCheckin.transport_booked))
        ).all()
    ) if ids else set()
    rows = []
    for visit in visits:
        steps = _steps(visit)
        request = transport.get(visit.id)
        if visit.id in booked_at_checkin:
            state = TRANSPORT_BOOKED
        elif request is not None and request.wanted:
            state = TRANSPORT_ARRANGED if request.arranged_at else TRANSPORT_TO_ARRANGE
        else:
            state = None
        patient: Patient = visit.patient
        rows.append(
            DayListRow(
                visit_id=visit.id,
                patient_id=patient.id,
                patient_name=patient.display_name,
                mrn=patient.mrn,
                pathway_name=visit.pathway.named,
                status=visit.status,
                arrival=visit.arrival_at,
                leaves=max(s.ends for s in steps) if steps else None,
                steps=steps,
                transport=state,
                volunteer=volunteers.get(visit.id),
                wheelchair=patient.needs_wheelchair,
                interpreter=patient.needs_interpreter,
            )
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(rows, key=lambda r: (r.arrival or far, r.patient_name, r.visit_id))


@dataclass(frozen=True)
class Slip:
    """An appointment slip, in the patient's language (``language``)."""

    visit_id: int
    patient_name: str
    language: str
    pathway_name: str
    day: dt.date
    arrival: dt.datetime
    leaves: dt.datetime
    minutes: int
    steps: tuple[ListedStep, ...]
    wheelchair: bool


def appointment_slip(*, session: Session, visit_id: int) -> Slip:
    """The slip of a booked visit that has not started; ``Conflict`` for any other visit (nothing to come to)."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status not in SLIP_STATUSES:
        raise Conflict(f"a {visit.status.value} visit has no appointment slip", code="no_slip", field="visit_id")
    patient: Patient = visit.patient
    steps = _steps(visit, patient.language)
    if not steps:
        raise Conflict("the visit has no planned steps yet", code="not_planned", field="visit_id")
    arrival, leaves = visit.arrival_at, max(s.ends for s in steps)
    return Slip(
        visit_id=visit.id,
        patient_name=patient.display_name,
        language=str(getattr(patient.language, "value", patient.language)),
        pathway_name=visit.pathway.name_in(patient.language),
        day=visit.date,
        arrival=arrival,
        leaves=leaves,
        minutes=int((leaves - arrival).total_seconds() // 60),
        steps=steps,
        wheelchair=patient.needs_wheelchair,
    )
