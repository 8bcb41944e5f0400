"""The privacy screens over HTTP: the access log, exports, erasure; refused for clerks; no 500 on bad input."""

import datetime as dt
import io
import json
import re

from pypdf import PdfReader
from sqlmodel import select

from clinic.privacy.models import AccessKind, AccessLog
from tests.clinic.privacy.conftest import EMAIL, NAME, PHONE
from tests.factories import make_patient, make_visit


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_a_clerk_opening_the_patient_page_is_logged_and_the_coordinator_sees_it(
    app, client, session, signed_in
):
    from clinic.users.models import Role

    patient = make_patient(session)
    clerk = signed_in(client, Role.FRONT_DESK, username="dana", display_name="Dana Desk")
    page = text(client.get(f"/patients/{patient.id}"))
    assert client.get(f"/patients/{patient.id}").status_code == 200
    rows = session.exec(select(AccessLog).where(AccessLog.patient_id == patient.id)).all()
    assert [(r.user_id, r.kind) for r in rows] == [(clerk.id, AccessKind.PAGE)] * 2
    assert "Who opened this record" not in page and "Export the data" not in page
    assert client.get("/access-log").status_code == 403
    assert client.get(f"/access-log?patient={patient.mrn}").status_code == 403

    client.post("/sign-out", data={})
    with app.test_client() as coordinator:
        signed_in(coordinator, Role.COORDINATOR, username="cora", display_name="Cora Coordinator")
        page = text(coordinator.get(f"/patients/{patient.id}"))
        assert "Who opened this record" in page and "Dana Desk" in page and "Opened the patient page" in page
        log = text(coordinator.get(f"/access-log?patient={patient.mrn}&user={clerk.id}"))
        assert "2 entries" in log and ">Dana Desk</td>" in log and ">Cora Coordinator</td>" not in log
        assert "3 entries" in text(coordinator.get(f"/access-log?patient={patient.mrn}"))


def test_access_log_filters_never_give_a_500(coordinator_client, session):
    for query in ("patient=NOPE", "user=abc", "user=999999", "page=x", "page=-4", "patient=" + "9" * 400,
                  "patient=%00"):  # fmt: skip
        response = coordinator_client.get(f"/access-log?{query}")
        assert response.status_code in (200, 400), query
    assert "No patient has record number NOPE." in text(coordinator_client.get("/access-log?patient=NOPE"))


def test_exports_for_the_coordinator_and_not_for_clerks(everything, coordinator_client, session, app):
    app.config["INVOICE_PDF_COMPRESS"] = False
    response = coordinator_client.get(f"/patients/{everything.patient.id}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    assert data["tables"]["patient"][0]["phone"] == PHONE and data["tables"]["invoice"][0]["seq"] == 41

    pdf = coordinator_client.get(f"/patients/{everything.patient.id}/export.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    body = pdf.get_data()
    assert body.startswith(b"%PDF")
    printed = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages))
    for french in ("Vos données chez OneVisit", "Zofia Wiśniewska-Quist", "Factures", "Numéro: 2026-000041", "Montant: 300,00",
                   "Avez-vous obtenu ce dont vous aviez besoin?: Non", "Commentaire: Trop d'attente",
                   "A ouvert la page du patient", "Statut: Terminée"):  # fmt: skip
        assert french in printed, french
    assert coordinator_client.get("/patients/999999/export.pdf").status_code == 404
    kinds = {row.kind for row in session.exec(select(AccessLog).where(AccessLog.patient_id == everything.patient.id))}
    assert {AccessKind.EXPORT_JSON, AccessKind.EXPORT_PDF} <= kinds


def test_clerks_cannot_export_or_erase(everything, desk_client):
    patient_id = everything.patient.id
    for path in (f"/patients/{patient_id}/export.json", f"/patients/{patient_id}/export.pdf",
                 f"/patients/{patient_id}/erase"):  # fmt: skip
        assert desk_client.get(path).status_code == 403, path


def test_erasure_over_http(clock, everything, coordinator_client, session, post_form):
    patient = everything.patient
    path = f"/patients/{patient.id}/erase"
    page = text(coordinator_client.get(path))
    assert "This cannot be undone." in page and f"The record number is {patient.mrn}." in page

    wrong = post_form(coordinator_client, path, {"confirm_mrn": "P999"})
    assert wrong.status_code == 400 and "That is not this patient&#39;s record number" in text(wrong)
    assert post_form(coordinator_client, path, {"confirm_mrn": ""}).status_code == 400

    coming = make_visit(session, patient=patient, day=clock.now().date() + dt.timedelta(days=3))
    refused = post_form(coordinator_client, path, {"confirm_mrn": patient.mrn})
    assert refused.status_code == 409 and "cancel it first" in text(refused)
    assert f'href="/visits/{coming.id}"' in text(refused)

    coming.status = "cancelled"
    session.add(coming)
    session.commit()
    done = post_form(coordinator_client, path, {"confirm_mrn": patient.mrn}, follow_redirects=True)
    page = text(done)
    assert done.status_code == 200 and "The patient&#39;s data has been erased" in page
    assert NAME[1] not in page and PHONE not in page and EMAIL not in page
    assert "2026-000041" in page
    again = coordinator_client.get(path, follow_redirects=True)
    assert "already been erased" in text(again)


def test_bad_ids_and_long_input_never_give_a_500(coordinator_client, session):
    patient = make_patient(session)
    for path in ("/patients/2147483648/erase", "/patients/99999999999/export.json", "/patients/0/export.pdf",
                 "/patients/x/erase"):  # fmt: skip
        assert coordinator_client.get(path).status_code == 404, path
    from tests.conftest import csrf_token_from

    token = csrf_token_from(coordinator_client.get(f"/patients/{patient.id}/erase").get_data(as_text=True))
    for typed in ("x" * 5000, "\x00", " "):
        response = coordinator_client.post(f"/patients/{patient.id}/erase", data={"confirm_mrn": typed, "csrf_token": token})
        assert response.status_code == 400, typed
    assert coordinator_client.post(f"/patients/{patient.id}/erase", data={"confirm_mrn": patient.mrn}).status_code == 400
