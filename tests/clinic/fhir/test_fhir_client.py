"""A real FHIR client (fhirpy) drives the app served on 127.0.0.1: SMART token, reads, searches with paging,
create and update, and refusals as OperationOutcome."""

import time
import uuid

import pytest
import requests
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome as FhirOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.slot import Slot
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, ForbiddenError, OperationOutcome, ResourceNotFound
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from clinic.fhir import services
from clinic.visits.models import VisitStatus
from tests.clinic.fhir.conftest import FRIDAY
from tests.factories import make_visit


def smart_token(base: str, key: RSAKey, client: str, scope: str) -> str:
    """What a hospital system does: read the SMART configuration, sign an assertion, ask for a token."""
    config = requests.get(f"{base}/.well-known/smart-configuration", timeout=10).json()
    token_url = config["token_endpoint"]
    claims = {"iss": client, "sub": client, "aud": token_url, "exp": int(time.time()) + 240,
              "jti": uuid.uuid4().hex}
    assertion = jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])
    response = requests.post(token_url, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion, "scope": scope,
    }, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def ehr(session, fhir_base: str) -> SyncFHIRClient:
    """fhirpy on the live server with a token from SMART backend services (every read, Patient write)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "ehr-2026"})
    services.create_client(session=session, name="ehr", actor_id=None,
                           scopes="system/*.read system/Patient.write",
                           jwks=KeySet([key]).as_dict(private=False))
    token = smart_token(fhir_base, key, "ehr", "system/*.read system/Patient.write")
    return SyncFHIRClient(fhir_base, authorization=f"Bearer {token}")


def test_capability_statement_over_http(fhir_base: str) -> None:
    response = requests.get(f"{fhir_base}/metadata", timeout=10)
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    statement = CapabilityStatement.model_validate(response.json())
    types = {r.type for r in statement.rest[0].resource}
    assert {"Patient", "Appointment", "Schedule", "Slot"} <= types


def test_fhirpy_reads_and_searches(ehr: SyncFHIRClient, session, fhir_day) -> None:
    for _ in range(4):
        make_visit(session, patient=fhir_day.patient, pathway=fhir_day.pathway, day=FRIDAY,
                   status=VisitStatus.REQUESTED)
    patient = ehr.reference("Patient", str(fhir_day.patient.id)).to_resource()
    FhirPatient.model_validate(patient.serialize())
    assert patient["identifier"][0]["value"] == "P000123"

    found = ehr.resources("Patient").search(identifier="urn:onevisit:mrn|P000123").fetch()
    assert [p.id for p in found] == [str(fhir_day.patient.id)]

    search = ehr.resources("Appointment").search(patient=f"Patient/{fhir_day.patient.id}").search(
        date__ge="2026-12-01", date__le="2026-12-31").limit(2)
    appointments = search.fetch_all()  # follows the Bundle's next links to the end
    assert len(appointments) == 5 == search.fetch_raw()["total"]
    for appointment in appointments:
        Appointment.model_validate(appointment.serialize())
    assert {a["status"] for a in appointments} == {"booked", "proposed"}

    slots = ehr.resources("Slot").search(schedule=f"Schedule/{fhir_day.pathway.id}", status="free").search(
        start__le="2026-12-06").fetch_all()
    assert [s["start"][:10] for s in slots] == ["2026-12-04"]
    Slot.model_validate(slots[0].serialize())


def test_fhirpy_creates_and_updates_a_patient(ehr: SyncFHIRClient, session) -> None:
    patient = ehr.resource("Patient", identifier=[{"system": "urn:onevisit:mrn", "value": "P009999"}],
                           name=[{"family": "Dubois", "given": ["Marie"]}], birthDate="1949-02-11",
                           telecom=[{"system": "phone", "value": "+32470000001"}],
                           address=[{"line": ["Rue Haute 1"], "postalCode": "1000", "city": "Bruxelles"}],
                           communication=[{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}}])
    patient.save()
    assert patient.id
    patient["telecom"] = [{"system": "phone", "value": "+32470000002"}]
    patient.save()
    again = ehr.reference("Patient", patient.id).to_resource()
    assert again["telecom"][0]["value"] == "+32470000002"
    assert again["communication"][0]["language"]["coding"][0]["code"] == "fr"


def test_fhirpy_sees_refusals_as_operation_outcomes(ehr: SyncFHIRClient, session, fhir_base, api_token) -> None:
    with pytest.raises(ResourceNotFound):
        ehr.reference("Appointment", "424242").to_resource()
    with pytest.raises(OperationOutcome) as bad:
        ehr.resources("Appointment").search(colour="red").fetch()
    assert FhirOutcome.model_validate(bad.value.resource).issue[0].expression == ["colour"]
    token = api_token("system/Slot.read")
    narrow = SyncFHIRClient(fhir_base, authorization=f"Bearer {token}")
    with pytest.raises(ForbiddenError) as refused:  # fhirpy hands over the body of a 403 as it came
        narrow.resources("Appointment").search(date="2026-12-03").fetch()
    outcome = FhirOutcome.model_validate_json(str(refused.value))
    assert outcome.issue[0].code == "forbidden"
    assert "system/Appointment.read" in outcome.issue[0].diagnostics
    anonymous = SyncFHIRClient(fhir_base)
    with pytest.raises(AuthorizationError) as unknown:
        anonymous.resources("Patient").fetch()
    assert FhirOutcome.model_validate_json(str(unknown.value)).issue[0].code == "login"
