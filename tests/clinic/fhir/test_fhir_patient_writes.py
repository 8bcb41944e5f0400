"""FHIR Patient create and update go through the HL7 feed's patient service (``upsert_patient``)."""

import copy

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from sqlmodel import select

from clinic.audit.models import AuditEvent
from clinic.patients.models import Patient
from tests.factories import make_patient

FHIR_JSON = "application/fhir+json"
WRITE = "system/Patient.write"
NEW = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:onevisit:mrn", "value": "p000777"}],
    "name": [{"use": "official", "family": "Peeters", "given": ["Lotte"]}],
    "telecom": [{"system": "phone", "value": "06 12345678"}, {"system": "email", "value": "lotte@example.org"}],
    "birthDate": "1971-08-30",
    "address": [{"line": ["Kerkstraat 5"], "postalCode": "3511 AB", "city": "Utrecht"}],
    "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-BE"}]}}],
}


def post(client, body, headers, content_type=FHIR_JSON):
    return client.post("/fhir/Patient", json=body, headers={**headers, "Content-Type": content_type})


def outcome_of(response, status: int) -> OperationOutcome:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    return OperationOutcome.model_validate(response.get_json())


def test_create_registers_the_patient_through_the_feed_service(client, session, fhir_headers) -> None:
    response = post(client, NEW, fhir_headers(WRITE, name="ehr"))
    assert response.status_code == 201, response.get_data(as_text=True)
    created = FhirPatient.model_validate(response.get_json())
    assert response.headers["Location"] == f"http://localhost/fhir/Patient/{created.id}"
    patient = session.get(Patient, int(created.id))
    assert (patient.mrn, patient.given_name, patient.family_name) == ("P000777", "Lotte", "Peeters")
    assert (patient.phone, patient.email, patient.language.value) == ("+31612345678", "lotte@example.org", "fr")
    assert (patient.address_line, patient.postcode, patient.city) == ("Kerkstraat 5", "3511 AB", "Utrecht")
    assert patient.consent is False  # the feed's defaults: registration is no consent to be contacted
    event = session.exec(select(AuditEvent).where(AuditEvent.entity == "patient")).one()
    assert (event.action, event.entity_id, event.details["source"]) == ("patient.created", patient.id, "fhir:ehr")


def test_create_refuses_a_registered_record_number(client, session, fhir_headers) -> None:
    existing = make_patient(session, mrn="P000777")
    outcome = outcome_of(post(client, NEW, fhir_headers(WRITE)), 409)
    assert outcome.issue[0].expression == ["Patient.identifier"]
    assert f"Patient/{existing.id}" in outcome.issue[0].diagnostics


def _with(**changes):
    body = copy.deepcopy(NEW)
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return body


@pytest.mark.parametrize(("body", "expression"), [
    (_with(identifier=[{"system": "urn:other", "value": "X1"}]), "Patient.identifier"),
    (_with(telecom=[{"system": "phone", "value": "12"}]), "Patient.telecom"),
    (_with(telecom=[{"system": "email", "value": "a@b.org"}]), "Patient.telecom"),
    (_with(birthDate="1971-13-30"), "Patient.birthDate"),
    (_with(birthDate="2999-01-01"), "Patient.birthDate"),
    (_with(name__0__family="   "), "Patient.name[0].family"),
    (_with(name__0__family=7), "Patient.name[0].family"),
    (_with(address__0__city=None), "Patient.address[0].city"),
    (_with(communication__0__language__coding__0__code="de"), "Patient.communication[0].language"),
    (_with(colour="red"), "Patient.colour"),
    (_with(resourceType="Person"), "Patient.resourceType"),
])
def test_an_invalid_patient_is_422_naming_the_element(client, session, fhir_headers, body, expression) -> None:
    outcome = outcome_of(post(client, body, fhir_headers(WRITE)), 422)
    assert outcome.issue[0].expression == [expression]
    assert session.exec(select(Patient)).all() == []


def test_wrong_content_type_is_415_and_broken_json_400(client, fhir_headers) -> None:
    headers = fhir_headers(WRITE)
    response = client.post("/fhir/Patient", data="family=Peeters", headers=headers,
                           content_type="application/x-www-form-urlencoded")
    outcome_of(response, 415)
    response = client.post("/fhir/Patient", data="{not json", headers=headers, content_type=FHIR_JSON)
    outcome_of(response, 400)
    response = client.post("/fhir/Patient", data='{"a":' + "[" * 5_000, headers=headers, content_type=FHIR_JSON)
    outcome_of(response, 400)
    deep = '{"resourceType": "Patient", "name": ' + "[" * 900 + "]" * 900 + "}"
    assert client.post("/fhir/Patient", data=deep, headers=headers, content_type=FHIR_JSON).status_code in (400, 422)


def test_reading_is_not_writing(client, fhir_headers) -> None:
    outcome = outcome_of(post(client, NEW, fhir_headers("system/Patient.read")), 403)
    assert "system/Patient.write" in outcome.issue[0].diagnostics


def test_update_replaces_what_the_hospital_carries(client, session, fhir_headers) -> None:
    patient = make_patient(session, mrn="P000777", distance_km=42.0)
    body = {**_with(telecom=[{"system": "phone", "value": "+32 470 12 34 56"}]), "id": str(patient.id)}
    response = client.put(f"/fhir/Patient/{patient.id}", json=body, headers=fhir_headers(WRITE))
    assert response.status_code == 200, response.get_data(as_text=True)
    FhirPatient.model_validate(response.get_json())
    session.refresh(patient)
    assert (patient.phone, patient.family_name, patient.distance_km) == ("+32470123456", "Peeters", 42.0)
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "patient", AuditEvent.entity_id == patient.id))]
    assert actions == ["patient.updated"]


def test_update_checks_id_and_record_number(client, session, fhir_headers) -> None:
    patient = make_patient(session, mrn="P000001")
    headers = fhir_headers(WRITE)
    response = client.put(f"/fhir/Patient/{patient.id}", json={**NEW, "id": "999"}, headers=headers)
    assert outcome_of(response, 400).issue[0].expression == ["Patient.id"]
    response = client.put(f"/fhir/Patient/{patient.id}", json={**NEW, "id": str(patient.id)}, headers=headers)
    assert outcome_of(response, 422).issue[0].expression == ["Patient.identifier"]
    response = client.put("/fhir/Patient/424242", json={**NEW, "id": "424242"}, headers=headers)
    outcome_of(response, 404)
