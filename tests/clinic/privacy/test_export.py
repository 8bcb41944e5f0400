"""Art. 15: the export holds every table with the patient's data, for coordinators only, audited."""

import json

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from clinic.audit.models import AuditEvent
from clinic.errors import Forbidden
from clinic.privacy.export import SECTIONS, export_patient
from clinic.privacy.models import AccessKind, AccessLog
from tests.clinic.privacy.conftest import EMAIL, NAME
from tests.factories import make_unit


def patient_linked_tables() -> set[str]:
    """Tables with a ``patient_id`` column, or a foreign key to ``visit`` or to such a table, transitively."""
    tables = SQLModel.metadata.tables
    linked = {name for name, table in tables.items() if "patient_id" in table.c}
    linked.add("visit")
    while True:
        more = {
            name
            for name, table in tables.items()
            if name not in linked
            and any(fk.column.table.name in linked - {"patient"} for fk in table.foreign_keys)
        }
        if not more:
            return linked
        linked |= more


def test_every_table_holding_a_patients_data_is_exported():
    exported = {"patient"} | {section.table for section in SECTIONS}
    missing = patient_linked_tables() - exported
    assert not missing, f"tables with a patient's data missing from the export: {sorted(missing)}"


def test_the_export_holds_the_patients_rows_and_no_one_elses(session, everything, coordinator):
    data = export_patient(session=session, unit=make_unit(), patient_id=everything.patient.id, actor_id=coordinator.id)
    text = json.dumps(data)  # JSON as such
    tables = data["tables"]
    assert tables["patient"][0]["email"] == EMAIL and tables["patient"][0]["family_name"] == NAME[1]
    for section in SECTIONS:
        assert tables[section.table], f"{section.table} exported empty"
    assert {row["id"] for row in tables["visit"]} == set(everything.visit_ids)
    assert sum(line["total_cents"] for line in tables["invoice_line"]) == tables["invoice"][0]["total_cents"]
    assert len(tables["outbox_message"]) == 2 and tables["survey"][0]["comment"] == "Trop d'attente"
    assert {row["action"] for row in tables["audit_event"]} >= {"patient.created", "invoice.issued"}
    assert "Otherson" not in text


def test_a_clerk_is_refused_at_the_service(session, everything, clerk):
    with pytest.raises(Forbidden):
        export_patient(session=session, unit=make_unit(), patient_id=everything.patient.id, actor_id=clerk.id)
    assert not session.exec(select(AuditEvent).where(AuditEvent.action == "patient.exported")).all()


def test_the_export_is_audited_and_logged(session, everything, coordinator):
    export_patient(session=session, unit=make_unit(), patient_id=everything.patient.id, actor_id=coordinator.id,
                   kind=AccessKind.EXPORT_PDF)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.exported")).one()
    assert (event.actor_id, event.entity_id, event.details) == (coordinator.id, everything.patient.id, {"format": "pdf"})
    logged = session.exec(select(AccessLog).where(AccessLog.user_id == coordinator.id)).one()
    assert logged.kind is AccessKind.EXPORT_PDF and logged.patient_id == everything.patient.id
    assert session.execute(sa.select(sa.func.count()).select_from(AccessLog)).scalar_one() == 2
