"""Registering and finding patients."""

import pytest
from sqlmodel import Session

from clinic.audit import record as audit
from clinic.errors import Conflict, NotFound, ValidationError
from clinic.patients.services import create_patient, get_patient, search_patients, set_contact_preferences
from tests.factories import make_patient

NEW = {
    "mrn": "P900001",
    "given_name": "Els",
    "family_name": "van Dam",
    "birth_date": "1948-02-29",
    "phone": "0612345678",
    "language": "nl",
    "channel": "voice",
    "address_line": "Kerkstraat 1",
    "postcode": "3511 AA",
    "city": "Utrecht",
    "distance_km": 4,
}


def test_create_patient_normalises_and_audits(session: Session) -> None:
    patient = create_patient(session=session, data=NEW, actor_id=None)
    assert patient.phone == "+31612345678" and patient.id is not None
    assert [e.action for e in audit.history(session=session, entity="patient", entity_id=patient.id)] == [
        "patient.created"
    ]
    with pytest.raises(Conflict):
        create_patient(session=session, data=NEW, actor_id=None)


def test_bad_input_names_the_field(session: Session) -> None:
    with pytest.raises(ValidationError) as info:
        create_patient(session=session, data={**NEW, "phone": "555"}, actor_id=None)
    assert info.value.field == "phone"
    assert "not a valid phone number" in info.value.message


def test_search_by_name_words_and_record_number(session: Session) -> None:
    a = make_patient(session, given_name="Johanna", family_name="Visser")
    b = make_patient(session, given_name="Jan", family_name="Visser")
    make_patient(session, given_name="Piet", family_name="Bakker")
    assert {p.id for p in search_patients(session=session, text="visser")} == {a.id, b.id}
    assert [p.id for p in search_patients(session=session, text="jo VIS")] == [a.id]
    assert [p.id for p in search_patients(session=session, text=a.mrn)] == [a.id]
    assert search_patients(session=session, text="  ") == []


def test_contact_preferences(session: Session) -> None:
    patient = make_patient(session, consent=True)
    set_contact_preferences(session=session, patient_id=patient.id, actor_id=None, opted_out=True)
    assert get_patient(session=session, patient_id=patient.id).opted_out is True
    events = audit.history(session=session, entity="patient", entity_id=patient.id)
    assert events[-1].details == {"opted_out": True}
    with pytest.raises(NotFound):
        get_patient(session=session, patient_id=patient.id + 1000)


def test_record_numbers_are_stored_in_capitals_and_unique_in_any_case(session: Session) -> None:
    from clinic.patients.services import patient_by_mrn

    patient = create_patient(session=session, data={**NEW, "mrn": " p900002 "}, actor_id=None)
    assert patient.mrn == "P900002"
    assert patient_by_mrn(session=session, mrn="p900002").id == patient.id
    with pytest.raises(Conflict):
        create_patient(session=session, data={**NEW, "mrn": "P900002"}, actor_id=None)


def test_percent_and_underscore_in_a_search_are_plain_characters(session: Session) -> None:
    make_patient(session, given_name="Anna", family_name="Percent", postcode="1000 AA")
    make_patient(session, given_name="Bo", family_name="Under_score", postcode="1000 AB")
    assert search_patients(session=session, text="%") == []
    assert [p.family_name for p in search_patients(session=session, text="_")] == ["Under_score"]
    assert [p.family_name for p in search_patients(session=session, text="r_s")] == ["Under_score"]
