"""Patient records kept in step with the hospital's master (HL7 ADT feed, FHIR Patient API).

``upsert_patient`` creates or updates a patient by record number with what the hospital's systems carry;
``merge_patients`` folds a duplicate record into the surviving one.

Fields the hospital's systems do not carry keep their current value on update; on create they get:

- ``distance_km`` 0: the distance is unknown (nothing derives it from the postcode). 0 puts the patient in
  the "local" segment, which adds no rule (long distance would add home-before-dark); the desk completes
  it on the patient's first booking, where the form asks for it.
- ``channel`` SMS, ``needs_*`` false: what the desk's form defaults to as well.
- ``consent`` false, ``opted_out`` false: being registered at the hospital is not consent to be contacted.
- ``language`` when the sender gives none: Dutch.

A merge deletes the merged patient row after moving everything that points at it (every foreign key to
``patient.id`` in the metadata, so tables added later move too) and keeps its record number in
``patient_merge``: a duplicate left behind could be booked or messaged as a second person, and the kept
number makes a repeated merge a no-op and stops the number being registered again as someone new.
"""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlmodel import Session, SQLModel, select

import clinic.tables  # noqa: F401  (every table in the metadata: the merge moves every reference)
from clinic.audit import record as audit
from clinic.columns import Channel, Language, utcnow
from clinic.errors import Conflict, NotFound, ValidationError
from clinic.patients.models import (
    Patient,
    PatientChecks,
    PatientCreate,
    PatientMerge,
)

CARRIED = (
    "given_name",
    "family_name",
    "birth_date",
    "phone",
    "email",
    "language",
    "address_line",
    "postcode",
    "city",
)
"""The fields a record carries (besides the record number): an update replaces exactly these."""

DEFAULTS_ON_CREATE: dict[str, Any] = {
    "distance_km": 0.0,
    "channel": Channel.SMS,
    "needs_wheelchair": False,
    "needs_interpreter": False,
    "needs_hearing": False,
    "consent": False,
    "opted_out": False,
}


class PatientRecord(PatientChecks, BaseModel):
    """A patient as the hospital's systems describe them; validated like the desk's ``PatientCreate``
    (phone to E.164, e-mail, plausible birth date, no blank names or address). ``language`` None keeps
    the patient's current language (Dutch for a new patient)."""

    model_config = ConfigDict(frozen=True)

    mrn: str = Field(min_length=1, max_length=20)
    given_name: str = Field(min_length=1, max_length=80)
    family_name: str = Field(min_length=1, max_length=80)
    birth_date: dt.date
    phone: str = Field(max_length=40)
    email: str | None = None
    language: Language | None = None
    address_line: str = Field(min_length=1, max_length=160)
    postcode: str = Field(min_length=1, max_length=12)
    city: str = Field(min_length=1, max_length=80)

    @field_validator("given_name", "family_name", "address_line", "postcode", "city", "mrn", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("must not be blank")
        return value


def parse_record(data: dict[str, Any]) -> PatientRecord:
    """``data`` as a record, or the project's ``ValidationError`` naming the first wrong field."""
    try:
        return PatientRecord.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc) from None


def _merged_into(session: Session, mrn: str) -> PatientMerge | None:
    return session.exec(select(PatientMerge).where(PatientMerge.merged_mrn == mrn)).first()


def _by_mrn(session: Session, mrn: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.mrn == mrn)).first()


def _valid(values: dict[str, Any]) -> PatientCreate:
    try:
        return PatientCreate.model_validate(values)
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc) from None


def upsert_patient(
    *, session: Session, record: PatientRecord, actor_id: int | None, source: str, commit: bool = True
) -> tuple[Patient, bool]:
    """The patient with ``record.mrn`` created (True) or updated (False) from ``record``, audited as
    ``patient.created`` / ``patient.updated`` with ``source`` (e.g. ``hl7:ADT^A04``, ``fhir``) and the names
    of the changed fields. An update that changes nothing records nothing. ``ValidationError`` (naming the
    field) on bad data and for a record number merged into another patient. Commits, unless ``commit`` is
    False: then the change joins the caller's transaction (flushed, not committed)."""
    mrn = record.mrn.strip().upper()
    carried = record.model_dump(include=set(CARRIED))
    patient = _by_mrn(session, mrn)
    if patient is None:
        merge = _merged_into(session, mrn)  # a merged number has no patient row any more
        if merge is not None:
            survivor = session.get(Patient, merge.patient_id)
            raise ValidationError(
                f"record number {mrn} was merged into {survivor.mrn if survivor else merge.patient_id}",
                code="mrn_merged",
                field="mrn",
            )
        if carried["language"] is None:
            carried["language"] = Language.NL
        valid = _valid({**DEFAULTS_ON_CREATE, **carried, "mrn": mrn})
        patient = Patient(**valid.model_dump())
        session.add(patient)
        session.flush()
        action, created, changed = "patient.created", True, sorted(CARRIED)
    else:
        if carried["language"] is None:
            carried["language"] = patient.language
        current = {name: getattr(patient, name) for name in PatientCreate.model_fields}
        valid = _valid({**current, **carried, "mrn": mrn})
        changed = [name for name in CARRIED if getattr(valid, name) != getattr(patient, name)]
        if not changed:
            return patient, False
        for name in changed:
            setattr(patient, name, getattr(valid, name))
        patient.updated_at = utcnow()
        session.add(patient)
        session.flush()
        action, created = "patient.updated", False
    audit.record(
        session=session,
        actor_id=actor_id,
        action=action,
        entity="patient",
        entity_id=patient.id,
        details={"source": source, "fields": changed},
        flush=False,
    )
    if commit:
        session.commit()
    return patient, created


def patient_references() -> list[sa.Column]:
    """Every column with a foreign key to ``patient.id``."""
    target = SQLModel.metadata.tables["patient"].c.id
    return [
        fk.parent
        for table in SQLModel.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column is target
    ]


def merge_patients(
    *,
    session: Session,
    survivor_mrn: str,
    merged_mrn: str,
    actor_id: int | None,
    source: str,
    commit: bool = True,
) -> Patient:
    """Move everything of patient ``merged_mrn`` (visits, series, waitlist entries, messages, surveys,
    follow-ups, invoices, ...) to ``survivor_mrn``, delete the merged row and keep its number in
    ``patient_merge``; audited as ``patient.merged`` on the survivor with the moved row counts.

    Merging a pair already merged is a no-op. ``NotFound`` when either number is unknown (and the merged one
    was never merged), ``Conflict`` when the merged number was merged into someone else, ``ValidationError``
    when both are the same. Commits unless ``commit`` is False (see ``upsert_patient``)."""
    survivor_mrn, merged_mrn = survivor_mrn.strip().upper(), merged_mrn.strip().upper()
    if survivor_mrn == merged_mrn:
        raise ValidationError(f"cannot merge record number {merged_mrn} into itself", field="merged_mrn")
    survivor = _by_mrn(session, survivor_mrn)
    if survivor is None:
        raise NotFound(f"record number {survivor_mrn} does not exist", field="survivor_mrn")
    merged = _by_mrn(session, merged_mrn)
    if merged is None:
        earlier = _merged_into(session, merged_mrn)
        if earlier is None:
            raise NotFound(f"record number {merged_mrn} does not exist", field="merged_mrn")
        if earlier.patient_id != survivor.id:
            into = session.get(Patient, earlier.patient_id)
            raise Conflict(
                f"record number {merged_mrn} was already merged into {into.mrn if into else earlier.patient_id}",
                code="mrn_merged",
                field="merged_mrn",
            )
        return survivor
    moved: dict[str, int] = {}
    for column in patient_references():
        result = session.execute(
            sa.update(column.table).where(column == merged.id).values({column.name: survivor.id})
        )
        if result.rowcount:
            moved[f"{column.table.name}.{column.name}"] = result.rowcount
    merged_id = merged.id
    patients = SQLModel.metadata.tables["patient"]
    session.execute(sa.delete(patients).where(patients.c.id == merged_id))
    session.expunge(merged)
    session.expire_all()
    session.add(PatientMerge(merged_mrn=merged_mrn, merged_patient_id=merged_id, patient_id=survivor.id, source=source))
    audit.record(
        session=session,
        actor_id=actor_id,
        action="patient.merged",
        entity="patient",
        entity_id=survivor.id,
        details={"source": source, "merged_mrn": merged_mrn, "merged_id": merged_id, "moved": moved},
    )
    if commit:
        session.commit()
    return survivor
