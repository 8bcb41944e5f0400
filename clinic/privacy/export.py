"""Art. 15: everything the unit holds about one patient, table by table.

``SECTIONS`` names every table that holds a patient's data and how its rows are reached: through a column
pointing at the patient, or at rows already exported (a visit's steps, an invoice's lines, a follow-up's
events, a waitlist entry's offers). ``tests/clinic/privacy/test_export.py`` walks the metadata and fails
when a table with a ``patient_id`` column, or one linked through a visit, is missing here.
"""

import datetime as dt
import decimal
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col

import clinic.tables  # noqa: F401  (every table in the metadata)
from clinic.audit import record as audit
from clinic.audit.models import AuditEvent
from clinic.errors import get_or_raise
from clinic.patients.models import Patient
from clinic.privacy.access import record_access, require_privacy_role
from clinic.privacy.models import AccessKind
from clinic.unit.context import Unit


@dataclass(frozen=True)
class Section:
    """Rows of ``table`` whose ``links`` (column, table already exported) match, OR'd."""

    table: str
    links: tuple[tuple[str, str], ...]


SECTIONS: tuple[Section, ...] = (
    Section("treatment_series", (("patient_id", "patient"),)),
    Section("visit", (("patient_id", "patient"),)),
    Section("booking_hold", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("visit_step", (("visit_id", "visit"),)),
    Section("visit_checkin", (("visit_id", "visit"),)),
    Section("volunteer_assignment", (("visit_id", "visit"),)),
    Section("transport_request", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("invoice", (("patient_id", "patient"),)),
    Section("invoice_line", (("invoice_id", "invoice"),)),
    Section("outbox_message", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("inbound_message", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("touch_point", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("survey", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("follow_up", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("follow_up_event", (("follow_up_id", "follow_up"),)),
    Section("recovery_gesture", (("patient_id", "patient"), ("visit_id", "visit"))),
    Section("waitlist_entry", (("patient_id", "patient"),)),
    Section("waitlist_offer", (("entry_id", "waitlist_entry"), ("booked_visit_id", "visit"))),
    Section("access_log", (("patient_id", "patient"),)),
    Section("patient_merge", (("patient_id", "patient"),)),
)
"""In order: a section's links name only ``patient`` or sections above it."""

def json_value(value: Any) -> Any:
    """A column value as JSON: dates and times in ISO 8601 (UTC for moments), enums by value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def _rows(session: Session, table: sa.Table, where: Iterable[Any]) -> list[dict[str, Any]]:
    conditions = list(where)
    if not conditions:
        return []
    statement = sa.select(table).where(sa.or_(*conditions)).order_by(table.c.id)
    return [{k: json_value(v) for k, v in row._mapping.items()} for row in session.execute(statement)]


def collect(*, session: Session, patient_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every section's rows for the patient, keyed by table name (``patient`` first)."""
    tables = SQLModel.metadata.tables
    found: dict[str, list[dict[str, Any]]] = {
        "patient": _rows(session, tables["patient"], [tables["patient"].c.id == patient_id])
    }
    ids: dict[str, list[int]] = {"patient": [patient_id]}
    for section in SECTIONS:
        table = tables[section.table]
        where = [table.c[column].in_(ids[parent]) for column, parent in section.links if ids.get(parent)]
        found[section.table] = _rows(session, table, where)
        ids[section.table] = [row["id"] for row in found[section.table]]
    events = [
        sa.and_(AuditEvent.entity == name, col(AuditEvent.entity_id).in_(row_ids))
        for name, row_ids in ids.items()
        if row_ids
    ]
    found["audit_event"] = _rows(session, tables["audit_event"], events)
    return found


def export_patient(
    *, session: Session, unit: Unit, patient_id: int, actor_id: int | None, kind: AccessKind = AccessKind.EXPORT_JSON
) -> dict[str, Any]:
    """The patient's data as a JSON-ready dict, for a coordinator or an administrator only (``Forbidden``
    for a clerk); the export is audited (``patient.exported``) and written to the access log."""
    require_privacy_role(session=session, actor_id=actor_id)
    patient = get_or_raise(session, Patient, patient_id, what="patient")
    data = collect(session=session, patient_id=patient.id)
    record_access(session=session, unit=unit, patient_id=patient.id, user_id=actor_id, kind=kind, commit=False)
    audit.record(
        session=session,
        actor_id=actor_id,
        action="patient.exported",
        entity="patient",
        entity_id=patient.id,
        details={"format": "pdf" if kind is AccessKind.EXPORT_PDF else "json"},
    )
    session.commit()
    return {
        "format": "onevisit-patient-export/1",
        "exported_at": json_value(dt.datetime.now(dt.UTC)),
        "patient_id": patient.id,
        "tables": data,
    }
