"""Art. 17: erasure pseudonymises what must be kept, deletes the rest, in one transaction, audited."""

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from clinic.audit.models import AuditEvent
from clinic.billing.models import Invoice, InvoiceLine
from clinic.errors import Conflict, Forbidden, ValidationError
from clinic.patients.models import Patient
from clinic.privacy import erasure
from clinic.privacy.erasure import erase_patient
from clinic.visits.models import Visit, VisitStatus
from tests.clinic.privacy.conftest import EMAIL, NAME, PHONE
from tests.factories import make_unit, make_visit


def cells_holding(session, needles: list[str]) -> list[str]:
    """``table.column#id`` of every cell, in every table, whose text holds one of ``needles``."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        for row in session.execute(sa.select(table)).mappings():
            for column, value in row.items():
                text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
                if any(needle in text for needle in needles):
                    found.append(f"{table.name}.{column}#{row.get('id')}")
    return found


def erase(session, records, actor, **kw):
    values = {"confirm_mrn": records.patient.mrn, "today": dt.date.today(), **kw}
    return erase_patient(session=session, unit=make_unit(), patient_id=records.patient.id, actor_id=actor.id, **values)


def test_after_erasure_no_table_holds_the_name_phone_or_email(session, everything, coordinator):
    needles = [NAME[1], f"{NAME[0]} {NAME[1]}", PHONE, EMAIL]
    assert cells_holding(session, needles), "the fixture should hold the patient's data before"
    erase(session, everything, coordinator)
    session.expire_all()
    assert cells_holding(session, needles) == []


def test_invoices_are_kept_pseudonymised_and_still_add_up(session, everything, coordinator):
    result = erase(session, everything, coordinator)
    session.expire_all()
    patient = session.get(Patient, everything.patient.id)
    assert patient.mrn == result.pseudonym and patient.display_name.endswith(result.pseudonym)
    assert patient.phone == "" and patient.email is None and patient.address_line == ""
    invoice = session.get(Invoice, everything.invoice_ids[0])
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
    assert invoice.patient_id == patient.id and invoice.number == "2026-000041"
    assert invoice.subtotal_cents + invoice.vat_cents == invoice.total_cents == sum(line.total_cents for line in lines)
    assert len(session.exec(select(Visit).where(Visit.patient_id == patient.id)).all()) == 2
    issued = session.exec(select(AuditEvent).where(AuditEvent.action == "invoice.issued")).one()
    assert issued.details["number"] == "2026-000041" and issued.details["total_cents"] == 30000


def test_the_rest_is_deleted_and_the_other_patient_untouched(session, everything, coordinator):
    def contact(p):
        return (p.mrn, p.given_name, p.family_name, p.phone, p.email, p.address_line, p.birth_date)

    other_before = contact(everything.other)
    result = erase(session, everything, coordinator)
    for table in ("outbox_message", "inbound_message", "touch_point", "survey", "follow_up", "follow_up_event",
                  "waitlist_entry", "waitlist_offer", "transport_request", "volunteer_assignment"):
        assert result.deleted[table] >= 1, table
        assert session.execute(sa.select(sa.func.count()).select_from(SQLModel.metadata.tables[table])).scalar() == 0
    session.expire_all()
    assert contact(session.get(Patient, everything.other.id)) == other_before


def test_erasure_is_audited_without_personal_data(session, everything, coordinator):
    erase(session, everything, coordinator)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.erased")).one()
    assert event.actor_id == coordinator.id and event.entity_id == everything.patient.id
    text = json.dumps(event.details)
    assert "outbox_message" in text and NAME[1] not in text and PHONE not in text
    created = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.created")).one()
    assert created.entity_id == everything.patient.id and created.details["contact"]["phone"] == erasure.ERASED


def test_refused_while_a_visit_is_still_to_come(session, everything, coordinator, clock):
    today = clock.now().date()
    coming = make_visit(session, patient=everything.patient, day=today + dt.timedelta(days=9))
    with pytest.raises(Conflict) as refused:
        erase(session, everything, coordinator, today=today)
    assert refused.value.code == "upcoming_visit" and refused.value.params["day"] == coming.date
    session.rollback()
    assert session.get(Patient, everything.patient.id).family_name == NAME[1]
    coming.status = VisitStatus.CANCELLED
    session.add(coming)
    session.commit()
    erase(session, everything, coordinator, today=today)


def test_the_record_number_must_be_typed_again(session, everything, coordinator):
    for typed in ("", "P000000", everything.patient.mrn.lower() + "x"):
        with pytest.raises(ValidationError) as refused:
            erase(session, everything, coordinator, confirm_mrn=typed)
        assert refused.value.field == "confirm_mrn"
    assert session.get(Patient, everything.patient.id).phone == PHONE


def test_a_clerk_may_not_erase_and_nothing_twice(session, everything, clerk, coordinator):
    with pytest.raises(Forbidden):
        erase(session, everything, clerk)
    mrn = everything.patient.mrn
    erase(session, everything, coordinator, confirm_mrn=mrn)
    with pytest.raises(Conflict):
        erase(session, everything, coordinator, confirm_mrn=everything.patient.mrn)


def test_one_transaction_a_failure_half_way_changes_nothing(session, everything, coordinator, monkeypatch):
    def broken(**_kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "scrub_everywhere", broken)
    with pytest.raises(RuntimeError):
        erase(session, everything, coordinator)
    session.rollback()
    assert session.get(Patient, everything.patient.id).phone == PHONE
    assert session.execute(sa.select(sa.func.count()).select_from(SQLModel.metadata.tables["outbox_message"])).scalar() == 2
