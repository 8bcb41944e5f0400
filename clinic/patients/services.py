"""Patients: registration with validated contact details, look-up and the outreach flags."""

from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlmodel import Session, col, or_, select

from clinic.audit import record as audit
from clinic.columns import utcnow
from clinic.errors import Conflict, ValidationError, get_or_raise
from clinic.patients.models import Patient, PatientCreate


def create_patient(
    *, session: Session, data: PatientCreate | dict[str, Any], actor_id: int | None
) -> Patient:
    """Store a new patient (committed, audited); ``Conflict`` when the record number is taken."""
    try:
        valid = data if isinstance(data, PatientCreate) else PatientCreate.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc) from None
    if session.exec(select(Patient.id).where(Patient.mrn == valid.mrn)).first() is not None:
        raise Conflict(f"record number {valid.mrn} is already registered", code="mrn_taken", field="mrn")
    patient = Patient(**valid.model_dump())
    session.add(patient)
    session.flush()
    audit.record(
        session=session, actor_id=actor_id, action="patient.created", entity="patient", entity_id=patient.id
    )
    session.commit()
    return patient


def get_patient(*, session: Session, patient_id: int) -> Patient:
    return get_or_raise(session, Patient, patient_id, what="patient")


def patient_by_mrn(*, session: Session, mrn: str) -> Patient | None:
    """The patient with record number ``mrn`` in any case (they are stored in capitals), or None."""
    return session.exec(select(Patient).where(Patient.mrn == mrn.strip().upper())).first()


SEARCHED = (Patient.mrn, Patient.given_name, Patient.family_name, Patient.phone, Patient.postcode)


def search_patients(*, session: Session, text: str, limit: int = 20) -> list[Patient]:
    """Patients whose record number, name, phone or postcode contains every word of ``text`` (case-insensitive;
    ``%`` and ``_`` are plain characters)."""
    words = text.split()
    if not words:
        return []
    statement = select(Patient)
    for word in words:
        statement = statement.where(
            or_(*(col(column).icontains(word, autoescape=True) for column in SEARCHED))
        )
    statement = statement.order_by(col(Patient.family_name), col(Patient.given_name), col(Patient.id)).limit(
        limit
    )
    return list(session.exec(statement))


def set_contact_preferences(
    *,
    session: Session,
    patient_id: int,
    actor_id: int | None,
    consent: bool | None = None,
    opted_out: bool | None = None,
) -> Patient:
    """Record consent to be contacted and opt-out from outreach (audited)."""
    patient = get_patient(session=session, patient_id=patient_id)
    changes: dict[str, bool] = {}
    if consent is not None and consent != patient.consent:
        patient.consent = changes["consent"] = consent
    if opted_out is not None and opted_out != patient.opted_out:
        patient.opted_out = changes["opted_out"] = opted_out
    if changes:
        patient.updated_at = utcnow()
        session.add(patient)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="patient.contact_preferences",
            entity="patient",
            entity_id=patient.id,
            details=changes,
        )
        session.commit()
    return patient
