"""The administrator's API clients screen: register, issue (shown once), revoke, deactivate; admins only."""

import re

from sqlmodel import select

from clinic.audit.models import AuditEvent
from clinic.fhir import services
from clinic.users.models import User
from tests.factories import make_patient

PAGE = "/admin/api-clients"


def services_user(session, username: str) -> int:
    return session.exec(select(User.id).where(User.username == username)).one()


def test_only_an_administrator_opens_it(desk_client) -> None:
    assert desk_client.get(PAGE).status_code == 403


def test_register_issue_use_revoke_deactivate(admin_client, session, post_form) -> None:
    response = post_form(admin_client, PAGE, {"name": "epic-ehr", "scopes": "system/*.read", "jwks": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert "epic-ehr" in page and "system/*.read" in page
    ehr = services.client_named(session=session, name="epic-ehr")

    issued = post_form(admin_client, f"{PAGE}/{ehr.id}/tokens", {f"c{ehr.id}-days": "7", f"c{ehr.id}-scopes": ""},
                       form_page=PAGE)
    assert issued.status_code == 201
    token = re.search(r"<code>(ovf_[^<]+)</code>", issued.get_data(as_text=True)).group(1)
    patient = make_patient(session)
    headers = {"Authorization": f"Bearer {token}"}
    assert admin_client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 200
    listing = admin_client.get(PAGE).get_data(as_text=True)
    assert token not in listing and token[:10] in listing
    assert f"GET /fhir/Patient/{patient.id}" in listing  # the call log

    row = services.tokens(session=session, client_id=ehr.id)[0]
    revoked = post_form(admin_client, f"{PAGE}/{ehr.id}/tokens/{row.id}/revoke", {}, form_page=PAGE)
    assert revoked.status_code == 302
    assert admin_client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 401

    assert post_form(admin_client, f"{PAGE}/{ehr.id}/deactivate", {}, form_page=PAGE).status_code == 302
    assert "Deactivated" in admin_client.get(PAGE).get_data(as_text=True)

    events = session.exec(select(AuditEvent).where(AuditEvent.entity == "api_client").order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["api_client.created", "api_client.token_issued",
                                         "api_client.token_revoked", "api_client.deactivated"]
    admin = services_user(session, "admin")
    assert {e.actor_id for e in events} == {admin}


def test_mistakes_are_shown_on_the_form_in_the_readers_language(admin_client, session, post_form) -> None:
    response = post_form(admin_client, PAGE, {"name": "x", "scopes": "patient/*.read", "jwks": "{"})
    assert response.status_code == 400
    assert "Not a set of public keys" in response.get_data(as_text=True)
    response = post_form(admin_client, PAGE, {"name": "x", "scopes": "patient/*.read", "jwks": "[" * 5_000})
    assert response.status_code == 400
    assert "Not a set of public keys" in response.get_data(as_text=True)
    response = post_form(admin_client, PAGE, {"name": "ehr", "scopes": "patient/*.read", "jwks": ""})
    assert response.status_code == 400
    assert "Not a scope this API knows" in response.get_data(as_text=True)
    services.create_client(session=session, name="ehr", scopes="system/Patient.read", actor_id=None)
    ehr = services.client_named(session=session, name="ehr")
    response = post_form(admin_client, f"{PAGE}/{ehr.id}/tokens",
                         {f"c{ehr.id}-days": "7", f"c{ehr.id}-scopes": "system/Patient.write"}, form_page=PAGE)
    assert response.status_code == 400
    assert "not allowed all these scopes" in response.get_data(as_text=True)
    response = post_form(admin_client, f"{PAGE}/{ehr.id}/tokens", {f"c{ehr.id}-days": "9999"}, form_page=PAGE)
    assert response.status_code == 400


def test_the_screen_speaks_dutch_and_french(admin_client) -> None:
    dutch = admin_client.get(PAGE, headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Nieuwe API-client" in dutch and "Client registreren" in dutch
    french = admin_client.get(PAGE, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Nouveau client de l’API" in french
