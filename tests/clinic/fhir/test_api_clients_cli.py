"""``flask api-clients ...``: clients and tokens on the command line, every change audited."""

import re

from sqlmodel import select

from clinic.audit.models import AuditEvent
from tests.factories import make_patient


def _run(app, *args: str):
    return app.test_cli_runner().invoke(args=["api-clients", *args])


def test_add_token_use_revoke(app, client, session) -> None:
    patient = make_patient(session)
    added = _run(app, "add", "epic-ehr", "--scopes", "system/Patient.read system/Appointment.read")
    assert added.exit_code == 0, added.output
    issued = _run(app, "token", "epic-ehr", "--days", "30", "--scopes", "system/Patient.read")
    assert issued.exit_code == 0, issued.output
    token = re.search(r"^(ovf_\S+)$", issued.output, re.M).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 200
    assert client.get("/fhir/Appointment", headers=headers).status_code == 403

    listing = _run(app, "list").output
    assert "epic-ehr  [active]  system/Patient.read system/Appointment.read" in listing
    token_id = re.search(r"token (\d+)\s+" + re.escape(token[:10]), listing).group(1)
    assert token not in listing

    revoked = _run(app, "revoke", "epic-ehr", "--token", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 401
    assert "revoked" in _run(app, "list").output

    assert _run(app, "revoke", "epic-ehr").exit_code == 0
    assert "[deactivated]" in _run(app, "list").output
    refused = _run(app, "token", "epic-ehr")
    assert refused.exit_code == 1 and "deactivated" in refused.output

    session.expire_all()
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "api_client")
                                              .order_by(AuditEvent.id))]
    assert actions == ["api_client.created", "api_client.token_issued", "api_client.token_revoked",
                       "api_client.deactivated"]


def test_mistakes_are_clear_errors(app, session, tmp_path) -> None:
    bad_scope = _run(app, "add", "ehr", "--scopes", "patient/*.read")
    assert bad_scope.exit_code == 1 and "scope: 'patient/*.read' is not a scope" in bad_scope.output
    assert _run(app, "add", "ehr", "--scopes", "system/*.read").exit_code == 0
    taken = _run(app, "add", "ehr", "--scopes", "system/*.read")
    assert taken.exit_code == 1 and "already exists" in taken.output
    more = _run(app, "token", "ehr", "--scopes", "system/Patient.write")
    assert more.exit_code == 1 and "not allowed system/Patient.write" in more.output
    unknown = _run(app, "token", "nobody")
    assert unknown.exit_code == 1 and "no API client is named 'nobody'" in unknown.output
    keys = tmp_path / "keys.json"
    keys.write_text('{"keys": [{"kty": "RSA"}]}')
    broken = _run(app, "keys", "ehr", str(keys))
    assert broken.exit_code == 1 and "jwks:" in broken.output
    keys.write_text("[" * 5_000)
    deep = _run(app, "keys", "ehr", str(keys))
    assert deep.exit_code == 1 and "cannot read a JSON key set" in deep.output
    for result in (bad_scope, taken, more, unknown, broken, deep):
        assert "Traceback" not in result.output
