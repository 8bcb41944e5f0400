"""Art. 17: erasing a patient, in one transaction.

What the law makes the unit keep is pseudonymised, not deleted: the patient row stays (invoices point at
it) under a pseudonym with every contact detail blanked; visits, their steps and check-ins, series and
invoices keep their dates, amounts and numbers; recovery gestures keep their cost. Everything else about the
patient is deleted: messages (outbox and inbound), touch-points, survey answers, follow-ups, waitlist entries
and their offers, transport requests, volunteer assignments, record numbers merged into theirs. Finally every
text and JSON column of every table (the audit trail included) is searched for the patient's name, phone and
e-mail and they are replaced, so free text such as a volunteer's evening SMS keeps no trace; ids stay.
"""

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

import clinic.tables  # noqa: F401  (every table in the metadata)
from clinic.audit import record as audit
from clinic.errors import Conflict, ValidationError, get_or_raise
from clinic.patients.models import Patient
from clinic.privacy.access import require_privacy_role
from clinic.unit.context import Unit
from clinic.visits.models import Visit, VisitStatus

ERASED = "[erased]"
PSEUDONYM_PREFIX = "ERASED-"
PLACEHOLDER_BIRTH_DATE = dt.date(1900, 1, 1)
"""The column cannot be empty; this date stands for "not kept" and is never shown as an age."""

UPCOMING_STATUSES = frozenset(
    {VisitStatus.REQUESTED, VisitStatus.BOOKED, VisitStatus.CONFIRMED, VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS}
)

DELETED: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("follow_up_event", (("follow_up_id", "follow_up"),)),
    ("follow_up", (("patient_id", "patient"), ("visit_id", "visit"))),
    ("survey", (("patient_id", "patient"), ("visit_id", "visit"))),
    ("touch_point", (("patient_id", "patient"), ("visit_id", "visit"))),
    ("outbox_message", (("patient_id", "patient"), ("visit_id", "visit"))),
    ("inbound_message", (("patient_id", "patient"), ("visit_id", "visit"))),
    ("waitlist_offer", (("entry_id", "waitlist_entry"), ("booked_visit_id", "visit"))),
    ("waitlist_entry", (("patient_id", "patient"),)),
    ("transport_request", (("patient_id", "patient"), ("visit_id", "visit"))),
    ("volunteer_assignment", (("visit_id", "visit"),)),
    ("patient_merge", (("patient_id", "patient"),)),
)
"""Tables whose rows about the patient are deleted, children before parents."""


@dataclass(frozen=True)
class Erasure:
    patient_id: int
    pseudonym: str
    deleted: dict[str, int]
    scrubbed: int


def is_erased(patient: Patient) -> bool:
    return patient.mrn.startswith(PSEUDONYM_PREFIX)


def upcoming_visit(*, session: Session, patient_id: int, today: dt.date) -> Visit | None:
    """The patient's first visit today or later that is still going to happen."""
    statement = (
        select(Visit)
        .where(
            Visit.patient_id == patient_id,
            col(Visit.date) >= today,
            col(Visit.status).in_([s.value for s in UPCOMING_STATUSES]),
        )
        .order_by(col(Visit.date), col(Visit.id))
    )
    return session.exec(statement).first()


def _replace(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            value = value.replace(needle, ERASED)
        return value
    if isinstance(value, list):
        return [_replace(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, needles) for k, v in value.items()}
    return value


def scrub_everywhere(*, session: Session, needles: list[str]) -> int:
    """Replace each needle in every text and JSON column of every table; the number of rows changed."""
    needles = sorted({n for n in needles if n and len(n) >= 3}, key=len, reverse=True)
    changed = 0
    for table in SQLModel.metadata.sorted_tables:
        if "id" not in table.c:
            continue
        for column in table.columns:
            kind = column.type.impl_instance if isinstance(column.type, sa.TypeDecorator) else column.type
            is_json = isinstance(kind, sa.JSON)
            if not (is_json or isinstance(kind, sa.String)) or isinstance(kind, sa.Enum):
                continue
            text = sa.cast(column, sa.Text) if is_json else column
            forms = {n for n in needles} | ({json.dumps(n)[1:-1] for n in needles} if is_json else set())
            hits = sa.or_(*(text.contains(n, autoescape=True) for n in sorted(forms)))
            for row_id, value in session.execute(sa.select(table.c.id, column).where(hits)).all():
                new = _replace(value, needles)
                if new != value:
                    session.execute(table.update().where(table.c.id == row_id).values({column.name: new}))
                    changed += 1
    return changed


def erase_patient(
    *, session: Session, unit: Unit, patient_id: int, actor_id: int | None, confirm_mrn: str, today: dt.date
) -> Erasure:
    """Erase the patient (see the module docstring) for a coordinator or an administrator.

    Refused with ``ValidationError`` when ``confirm_mrn`` is not the record number typed again, and with
    ``Conflict`` (``upcoming_visit``) while the patient has a visit today or later still to come: cancel
    it first. Audited as ``patient.erased`` with counts only, no personal data."""
    del unit
    require_privacy_role(session=session, actor_id=actor_id)
    patient = get_or_raise(session, Patient, patient_id, what="patient")
    if is_erased(patient):
        raise Conflict(f"patient {patient_id} is already erased", code="already_erased")
    if confirm_mrn.strip() != patient.mrn:
        raise ValidationError("type the patient's record number to confirm", code="confirm_mrn", field="confirm_mrn")
    coming = upcoming_visit(session=session, patient_id=patient.id, today=today)
    if coming is not None:
        raise Conflict(
            f"the patient has a visit on {coming.date.isoformat()}: cancel it first",
            code="upcoming_visit",
            day=coming.date,
            visit_id=coming.id,
        )
    needles = [
        patient.display_name,
        f"{patient.family_name} {patient.given_name}",
        f"{patient.family_name}, {patient.given_name}",
        patient.family_name,
        patient.phone,
        patient.email or "",
        patient.address_line,
    ]
    tables = SQLModel.metadata.tables
    visit_ids = list(session.exec(select(Visit.id).where(Visit.patient_id == patient.id)))
    ids: dict[str, list[int]] = {"patient": [patient.id], "visit": visit_ids}
    entries = tables["waitlist_entry"]
    ids["waitlist_entry"] = list(session.scalars(sa.select(entries.c.id).where(entries.c.patient_id == patient.id)))
    follow_ups = tables["follow_up"]
    ids["follow_up"] = list(
        session.scalars(
            sa.select(follow_ups.c.id).where(
                sa.or_(follow_ups.c.patient_id == patient.id, follow_ups.c.visit_id.in_(visit_ids))
            )
        )
    )
    deleted: dict[str, int] = {}
    for name, links in DELETED:
        table = tables[name]
        where = [table.c[column].in_(ids[parent]) for column, parent in links if ids.get(parent)]
        deleted[name] = session.execute(table.delete().where(sa.or_(*where))).rowcount if where else 0

    if visit_ids:
        session.execute(tables["visit"].update().where(tables["visit"].c.id.in_(visit_ids)).values(notes=""))
        checkins = tables["visit_checkin"]
        session.execute(checkins.update().where(checkins.c.visit_id.in_(visit_ids)).values(notes=""))
    gestures = tables["recovery_gesture"]
    session.execute(gestures.update().where(gestures.c.patient_id == patient.id).values(reason=ERASED))

    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(4).upper()
    patient.mrn = pseudonym
    patient.given_name = ERASED
    patient.family_name = pseudonym
    patient.birth_date = PLACEHOLDER_BIRTH_DATE
    patient.phone = ""
    patient.email = None
    patient.address_line = ""
    patient.postcode = ""
    patient.city = ""
    patient.distance_km = 0.0
    patient.needs_wheelchair = patient.needs_interpreter = patient.needs_hearing = False
    patient.consent = False
    patient.opted_out = True
    patient.updated_at = dt.datetime.now(dt.UTC)
    session.add(patient)
    session.flush()
    scrubbed = scrub_everywhere(session=session, needles=needles)
    audit.record(
        session=session,
        actor_id=actor_id,
        action="patient.erased",
        entity="patient",
        entity_id=patient.id,
        details={"deleted": {k: v for k, v in deleted.items() if v}, "scrubbed_rows": scrubbed},
    )
    session.commit()
    return Erasure(patient_id=patient.id, pseudonym=pseudonym, deleted=deleted, scrubbed=scrubbed)
