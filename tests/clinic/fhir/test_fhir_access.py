"""Who may call the FHIR API: bearer tokens and their scopes, errors as OperationOutcome, every call logged."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from sqlmodel import select

from clinic.fhir import services
from clinic.fhir.models import ApiCall
from tests.factories import make_patient

FHIR_JSON = "application/fhir+json"


def outcome_of(response) -> OperationOutcome:
    assert response.mimetype == FHIR_JSON, response.get_data(as_text=True)
    return OperationOutcome.model_validate(response.get_json())


def test_metadata_needs_no_token_and_is_a_capability_statement(client) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.mimetype == FHIR_JSON
    statement = CapabilityStatement.model_validate(response.get_json())
    types = {resource.type for resource in statement.rest[0].resource}
    assert "Patient" in types
    assert statement.fhirVersion == "4.0.1"


def test_no_token_is_401_with_www_authenticate(client, session) -> None:
    patient = make_patient(session)
    response = client.get(f"/fhir/Patient/{patient.id}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    outcome = outcome_of(response)
    assert outcome.issue[0].code == "login"


def test_unknown_token_is_401(client, session) -> None:
    patient = make_patient(session)
    response = client.get(f"/fhir/Patient/{patient.id}", headers={"Authorization": "Bearer ovf_nothing"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    outcome_of(response)


def test_token_without_the_scope_is_403_naming_it(client, session, fhir_headers) -> None:
    patient = make_patient(session)
    response = client.get(f"/fhir/Patient/{patient.id}", headers=fhir_headers("system/Appointment.read"))
    assert response.status_code == 403
    outcome = outcome_of(response)
    assert outcome.issue[0].code == "forbidden"
    assert "system/Patient.read" in outcome.issue[0].diagnostics


@pytest.mark.parametrize("scope", ["system/Patient.read", "system/*.read", "system/Patient.rs", "system/*.*"])
def test_a_covering_scope_reads_the_patient(client, session, fhir_headers, scope: str) -> None:
    patient = make_patient(session)
    response = client.get(f"/fhir/Patient/{patient.id}", headers=fhir_headers(scope))
    assert response.status_code == 200, response.get_data(as_text=True)
    resource = FhirPatient.model_validate(response.get_json())
    assert resource.identifier[0].value == patient.mrn
    assert resource.identifier[0].system == "urn:onevisit:mrn"


def test_write_scope_does_not_read(client, session, fhir_headers) -> None:
    patient = make_patient(session)
    response = client.get(f"/fhir/Patient/{patient.id}", headers=fhir_headers("system/Patient.write"))
    assert response.status_code == 403


def test_revoked_token_and_deactivated_client_are_refused(client, session, api_token) -> None:
    patient = make_patient(session)
    token = api_token("system/Patient.read", name="ehr")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 200
    row = services.tokens(session=session)[0]
    services.revoke_token(session=session, token_id=row.id, actor_id=None)
    assert client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 401

    other = api_token("system/Patient.read", name="portal")
    portal = services.client_named(session=session, name="portal")
    services.deactivate_client(session=session, client_id=portal.id, actor_id=None)
    response = client.get(f"/fhir/Patient/{patient.id}", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 401


def test_expired_token_is_refused(client, session, api_token, clock) -> None:
    import datetime as dt

    patient = make_patient(session)
    token = api_token("system/Patient.read", days=1)
    clock.shift(dt.timedelta(days=1, seconds=1))
    response = client.get(f"/fhir/Patient/{patient.id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in outcome_of(response).issue[0].diagnostics


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/fhir/Patient/999999", 404),
    ("GET", "/fhir/Patient/abc", 404),
    ("GET", "/fhir/Observation/1", 404),
    ("GET", "/fhir", 404),
    ("DELETE", "/fhir/metadata", 405),
])
def test_errors_are_operation_outcomes_never_html(client, fhir_headers, method, path, status) -> None:
    response = client.open(path, method=method, headers=fhir_headers("system/*.*"))
    assert response.status_code == status
    outcome = outcome_of(response)
    assert outcome.issue[0].severity == "error"
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_only_the_hash_of_a_token_is_stored(session) -> None:
    client = services.create_client(session=session, name="ehr", scopes="system/*.read", actor_id=None)
    row, token = services.issue_token(session=session, client_id=client.id, actor_id=None)
    assert row.token_hash == services.hash_token(token) != token
    assert token not in str(row.model_dump())


def test_every_call_is_logged_with_its_client(client, session, fhir_headers) -> None:
    patient = make_patient(session)
    client.get(f"/fhir/Patient/{patient.id}")
    client.get(f"/fhir/Patient/{patient.id}", headers=fhir_headers("system/Appointment.read", name="ehr"))
    client.get(f"/fhir/Patient/{patient.id}", headers=fhir_headers("system/Patient.read", name="lab"))
    client.get("/fhir/Nothing")
    session.expire_all()
    rows = session.exec(select(ApiCall).order_by(ApiCall.id)).all()
    ehr = services.client_named(session=session, name="ehr")
    lab = services.client_named(session=session, name="lab")
    assert [(r.client_id, r.method, r.path, r.status) for r in rows] == [
        (None, "GET", f"/fhir/Patient/{patient.id}", 401),
        (ehr.id, "GET", f"/fhir/Patient/{patient.id}", 403),
        (lab.id, "GET", f"/fhir/Patient/{patient.id}", 200),
        (None, "GET", "/fhir/Nothing", 404),
    ]


def test_a_server_error_is_an_operation_outcome_without_the_trace(client, fhir_headers, monkeypatch) -> None:
    from clinic.fhir import finders

    def broken(**_kwargs):
        raise RuntimeError("database exploded at /secret/path")

    monkeypatch.setattr(finders, "find_visits", broken)
    response = client.get("/fhir/Appointment", headers=fhir_headers("system/Appointment.read"))
    outcome = outcome_of(response)
    assert response.status_code == 500
    assert outcome.issue[0].code == "exception"
    assert "secret" not in response.get_data(as_text=True)


def test_metadata_lists_what_is_supported_from_the_table(client) -> None:
    from clinic.fhir.capability import SUPPORTED, Operation, add_operation

    before = {name: (list(e.interactions), list(e.operations)) for name, e in SUPPORTED.items()}
    add_operation("Appointment", Operation("probe", "http://example.org/OperationDefinition/probe"))
    try:
        statement = CapabilityStatement.model_validate(client.get("/fhir/metadata").get_json())
    finally:
        SUPPORTED["Appointment"].operations[:] = before["Appointment"][1]
    resources = {r.type: r for r in statement.rest[0].resource}
    assert {i.code for i in resources["Patient"].interaction} >= {"read", "search-type", "create", "update"}
    assert {p.name for p in resources["Appointment"].searchParam} >= {"patient", "date", "status"}
    assert {p.name for p in resources["Slot"].searchParam} >= {"schedule", "start", "status"}
    assert "probe" in {op.name for op in resources["Appointment"].operation}
    token = statement.rest[0].security.extension[0].extension[0].valueUri
    assert token == "http://localhost/fhir/auth/token"


def test_csrf_does_not_apply_to_the_fhir_api(app_config, client, fhir_headers) -> None:
    assert app_config["WTF_CSRF_ENABLED"] is True
    response = client.post("/fhir/Patient", json={"resourceType": "Patient"},
                           headers={**fhir_headers("system/Patient.write"), "Content-Type": FHIR_JSON})
    assert response.status_code == 422  # judged on its content, not refused for a missing CSRF token


def test_the_call_log_keeps_no_personal_data_of_a_search(client, session, fhir_headers) -> None:
    headers = fhir_headers("system/*.read")
    client.get("/fhir/Patient?name=Anna&identifier=urn:onevisit:mrn|P000123&_count=5", headers=headers)
    client.get("/fhir/Appointment?patient=Patient/7&date=ge2026-12-01", headers=headers)
    session.expire_all()
    paths = [row.path for row in session.exec(select(ApiCall).order_by(ApiCall.id))]
    assert paths == ["/fhir/Patient?name=…&identifier=…&_count=5",
                     "/fhir/Appointment?patient=Patient/7&date=ge2026-12-01"]


@pytest.mark.parametrize(("query", "accept", "status"), [
    ("", "application/fhir+xml", 406),
    ("?_format=xml", FHIR_JSON, 406),
    ("?_format=json", FHIR_JSON, 200),
    ("", "application/json", 200),
    ("", "*/*", 200),
    ("", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200),
])
def test_only_json_is_answered(client, query, accept, status) -> None:
    response = client.get(f"/fhir/metadata{query}", headers={"Accept": accept})
    assert response.status_code == status
    assert response.mimetype == FHIR_JSON
    if status == 406:
        outcome_of(response)


def test_the_record_number_system_is_a_setting(app, client, session, fhir_headers) -> None:
    from clinic.app import reconfigure
    from clinic.settings import ConfigError, load_settings

    reconfigure(app, FHIR_MRN_SYSTEM="urn:oid:2.16.528.1.1007.3.3.1234")
    patient = make_patient(session)
    headers = fhir_headers("system/Patient.read")
    resource = FhirPatient.model_validate(client.get(f"/fhir/Patient/{patient.id}", headers=headers).get_json())
    assert resource.identifier[0].system == "urn:oid:2.16.528.1.1007.3.3.1234"
    found = client.get(f"/fhir/Patient?identifier=urn:oid:2.16.528.1.1007.3.3.1234|{patient.mrn}", headers=headers)
    assert found.get_json()["total"] == 1
    with pytest.raises(ConfigError, match="FHIR_MRN_SYSTEM='hospital numbers': expected a URI"):
        load_settings({"TESTING": True, "FHIR_MRN_SYSTEM": "hospital numbers"})
