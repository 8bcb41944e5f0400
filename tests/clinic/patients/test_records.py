"""Patient records from the hospital's systems: upsert by record number, validation, merges."""

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.columns import Channel, Language
from clinic.errors import Conflict, NotFound, ValidationError
from clinic.patients.models import Patient, PatientMerge
from clinic.patients.records import (
    PatientRecord,
    merge_patients,
    parse_record,
    patient_references,
    upsert_patient,
)
from clinic.visits.models import Visit
from tests.clinic.privacy.conftest import patient_with_everything
from tests.factories import make_patient, make_visit

GOOD = {
    "mrn": "h0001",
    "given_name": " Mila ",
    "family_name": "de Vries",
    "birth_date": dt.date(1958, 4, 30),
    "phone": "06 1234 5678",
    "email": "mila@example.org",
    "language": "fr",
    "address_line": "Kerkstraat 1",
    "postcode": "3511 AB",
    "city": "Utrecht",
}


def record(**changes) -> PatientRecord:
    return parse_record({**GOOD, **changes})


def events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_new_record_number_creates_the_patient_with_the_documented_defaults(session):
    patient, created = upsert_patient(session=session, record=record(), actor_id=None, source="hl7:ADT^A04")
    assert created
    stored = session.get(Patient, patient.id)
    assert (stored.mrn, stored.given_name, stored.phone, stored.language) == ("H0001", "Mila", "+31612345678", "fr")
    assert (stored.distance_km, stored.channel, stored.consent, stored.opted_out) == (0.0, Channel.SMS, False, False)
    assert not (stored.needs_wheelchair or stored.needs_interpreter or stored.needs_hearing)
    [event] = events(session, "patient.created")
    assert event.entity_id == patient.id and event.details["source"] == "hl7:ADT^A04"


def test_an_update_changes_only_the_carried_fields_and_keeps_the_desks(session):
    existing = make_patient(session, mrn="H0001", distance_km=42.5, needs_wheelchair=True, consent=True,
                            channel="voice", language="en")
    patient, created = upsert_patient(
        session=session, record=record(city="Zeist", language=None), actor_id=None, source="fhir"
    )
    assert not created and patient.id == existing.id
    session.expire_all()
    stored = session.get(Patient, existing.id)
    assert (stored.city, stored.given_name, stored.language) == ("Zeist", "Mila", Language.EN)
    assert (stored.distance_km, stored.needs_wheelchair, stored.consent, stored.channel) == (
        42.5, True, True, Channel.VOICE)
    [event] = events(session, "patient.updated")
    assert event.details["source"] == "fhir" and "city" in event.details["fields"]
    assert "language" not in event.details["fields"]


def test_the_same_record_twice_changes_nothing_the_second_time(session):
    upsert_patient(session=session, record=record(), actor_id=None, source="fhir")
    before = session.exec(select(Patient)).one().updated_at
    patient, created = upsert_patient(session=session, record=record(), actor_id=None, source="fhir")
    assert not created and patient.updated_at == before
    assert events(session, "patient.updated") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"email": "not-mail"}, "email"),
        ({"birth_date": dt.date.today() + dt.timedelta(days=2)}, "birth_date"),
        ({"birth_date": dt.date(1880, 1, 1)}, "birth_date"),
        ({"birth_date": "2026-13-50"}, "birth_date"),
        ({"family_name": "  "}, "family_name"),
        ({"mrn": "X" * 21}, "mrn"),
        ({"postcode": "1" * 13}, "postcode"),
    ],
)
def test_bad_data_is_refused_naming_the_field(session, changes, field):
    with pytest.raises(ValidationError) as raised:
        record(**changes)
    assert raised.value.field == field
    assert session.exec(select(Patient)).all() == []


def test_merge_moves_every_reference_and_keeps_the_old_number(session, clock):
    data = patient_with_everything(session, today=clock.now().date())
    survivor = make_patient(session, mrn="S0001")
    merged_id, merged_mrn = data.patient.id, data.patient.mrn
    counts_before = {
        column: session.execute(sa.select(sa.func.count()).where(column == merged_id)).scalar_one()
        for column in patient_references()
    }
    assert sum(1 for n in counts_before.values() if n) >= 10

    result = merge_patients(session=session, survivor_mrn="s0001", merged_mrn=merged_mrn, actor_id=None,
                            source="hl7:ADT^A40")

    assert result.id == survivor.id
    assert session.get(Patient, merged_id) is None
    for column, before in counts_before.items():
        assert session.execute(sa.select(sa.func.count()).where(column == merged_id)).scalar_one() == 0
        if column.table.name != "patient_merge":
            assert session.execute(
                sa.select(sa.func.count()).where(column == survivor.id)).scalar_one() == before, column
    assert {visit.id for visit in session.exec(select(Visit).where(Visit.patient_id == survivor.id))} >= set(
        data.visit_ids)
    assert session.get(Patient, data.other.id) is not None
    kept = session.exec(select(PatientMerge).where(PatientMerge.merged_mrn == merged_mrn)).one()
    assert (kept.merged_mrn, kept.merged_patient_id, kept.patient_id) == (merged_mrn, merged_id, survivor.id)
    [event] = events(session, "patient.merged")
    assert event.entity_id == survivor.id and event.details["moved"]["visit.patient_id"] == 2


def test_merging_the_same_pair_again_is_a_no_op(session):
    survivor, merged = make_patient(session, mrn="S1"), make_patient(session, mrn="M1")
    make_visit(session, patient=merged)
    merge_patients(session=session, survivor_mrn="S1", merged_mrn="M1", actor_id=None, source="hl7:ADT^A40")
    merge_patients(session=session, survivor_mrn="S1", merged_mrn="M1", actor_id=None, source="hl7:ADT^A40")
    assert len(events(session, "patient.merged")) == 1
    assert len(session.exec(select(PatientMerge)).all()) == 1
    assert session.exec(select(Visit)).one().patient_id == survivor.id


def test_merge_refuses_unknown_numbers_self_merges_and_a_second_survivor(session):
    make_patient(session, mrn="S1"), make_patient(session, mrn="M1"), make_patient(session, mrn="S2")
    with pytest.raises(NotFound, match="M9") as raised:
        merge_patients(session=session, survivor_mrn="S1", merged_mrn="M9", actor_id=None, source="x")
    assert raised.value.field == "merged_mrn"
    with pytest.raises(NotFound, match="S9"):
        merge_patients(session=session, survivor_mrn="S9", merged_mrn="M1", actor_id=None, source="x")
    with pytest.raises(ValidationError):
        merge_patients(session=session, survivor_mrn="S1", merged_mrn="s1", actor_id=None, source="x")
    merge_patients(session=session, survivor_mrn="S1", merged_mrn="M1", actor_id=None, source="x")
    with pytest.raises(Conflict, match="already merged into S1"):
        merge_patients(session=session, survivor_mrn="S2", merged_mrn="M1", actor_id=None, source="x")


def test_a_merged_number_is_not_registered_again(session):
    make_patient(session, mrn="S1"), make_patient(session, mrn="H0001")
    merge_patients(session=session, survivor_mrn="S1", merged_mrn="H0001", actor_id=None, source="x")
    with pytest.raises(ValidationError, match="merged into S1") as raised:
        upsert_patient(session=session, record=record(), actor_id=None, source="fhir")
    assert raised.value.field == "mrn"
    assert session.exec(select(Patient).where(Patient.mrn == "H0001")).first() is None


def test_a_chain_of_merges_points_the_oldest_number_at_the_last_survivor(session):
    for mrn in ("A1", "B1", "C1"):
        make_patient(session, mrn=mrn)
    merge_patients(session=session, survivor_mrn="B1", merged_mrn="A1", actor_id=None, source="x")
    merge_patients(session=session, survivor_mrn="C1", merged_mrn="B1", actor_id=None, source="x")
    c1 = session.exec(select(Patient).where(Patient.mrn == "C1")).one()
    assert {m.merged_mrn: m.patient_id for m in session.exec(select(PatientMerge))} == {"A1": c1.id, "B1": c1.id}
    merge_patients(session=session, survivor_mrn="C1", merged_mrn="A1", actor_id=None, source="x")
