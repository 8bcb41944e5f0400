"""Which outreach actions fire for a day's visits or a patient's, and why (the rules' evaluation and the
messages it would plan), without planning anything."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic.columns import utcnow
from clinic.errors import get_or_raise
from clinic.messaging.facts import patient_facts, visit_facts
from clinic.messaging.outreach import VISIT_DETAILS
from clinic.messaging.rules_file import rules_in_force
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit
from outreach.planning import PlannedMessage, plan_messages
from outreach.rules import Evaluation, RuleSet, VisitFacts


@dataclass(frozen=True)
class PreviewRow:
    visit_id: int | None
    patient_id: int
    patient_name: str
    date: dt.date
    status: str
    segments: frozenset[str]
    evaluation: Evaluation
    messages: tuple[PlannedMessage, ...]


def _preview(visit_like: VisitFacts, patient: Patient, ruleset: RuleSet, *, now, unit: Unit):
    pfacts = patient_facts(patient, unit=unit)
    evaluation = ruleset.evaluate(pfacts, visit_like, now=now)
    messages = tuple(plan_messages(evaluation.fired, pfacts, visit_like, now=now, tz=unit.tz))
    return PreviewRow(
        visit_id=visit_like.visit_id,
        patient_id=patient.id,
        patient_name=patient.display_name,
        date=visit_like.date,
        status=visit_like.status,
        segments=segments.segments_for(patient, visit_like.date, unit=unit),
        evaluation=evaluation,
        messages=messages,
    )


def preview_for_date(
    *,
    session: Session,
    day: dt.date,
    now: dt.datetime | None = None,
    unit: Unit,
    rules: RuleSet | None = None,
) -> list[PreviewRow]:
    """For every visit on ``day``: which actions fire and why, and the messages they would plan."""
    now = now or utcnow()
    ruleset = rules or rules_in_force(session=session).rules
    visits = session.exec(
        select(Visit)
        .where(Visit.date == day)
        .options(*VISIT_DETAILS)
        .order_by(col(Visit.id))
    )
    rows = [
        _preview(visit_facts(v), v.patient, ruleset, now=now, unit=unit)
        for v in visits
    ]
    session.rollback()
    return sorted(rows, key=lambda r: (r.patient_name, r.visit_id or 0))


def preview_for_patient(
    *,
    session: Session,
    patient_id: int,
    day: dt.date | None = None,
    now: dt.datetime | None = None,
    unit: Unit,
    rules: RuleSet | None = None,
) -> list[PreviewRow]:
    """The patient's visits from today on (or on ``day``); with ``day`` and no visit that day, what
    would fire if they were booked then."""
    now = now or utcnow()
    patient = get_or_raise(session, Patient, patient_id, what="patient", field="patient")
    ruleset = rules or rules_in_force(session=session).rules
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    statement = (
        select(Visit)
        .where(Visit.patient_id == patient_id)
        .options(selectinload(Visit.pathway), selectinload(Visit.steps))  # type: ignore[arg-type]
        .order_by(col(Visit.date), col(Visit.id))
    )
    statement = statement.where(Visit.date == day) if day else statement.where(col(Visit.date) >= today)
    visits = list(session.exec(statement))
    kwargs = {"now": now, "unit": unit}
    rows = [_preview(visit_facts(v), patient, ruleset, **kwargs) for v in visits]
    if not rows and day is not None:
        hypothetical = VisitFacts(date=day, pathway="", status="booked", booked_at=now)
        rows.append(_preview(hypothetical, patient, ruleset, **kwargs))
    session.rollback()
    return rows
