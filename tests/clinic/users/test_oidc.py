"""Sign-in through the hospital's identity provider: a real OpenID Connect provider on loopback
(``oidc_provider``, tests/peers/oidc), walked through like a browser; nothing of the protocol is mocked."""

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from clinic.audit.models import AuditEvent
from clinic.users.models import Role, User
from tests.factories import make_user
from tests.peers.oidc_provider import walk_provider


@pytest.fixture
def app_config(app_config: dict, oidc_provider) -> dict:
    return {**app_config, **oidc_provider.config()}


def hospital_sign_in(client, login: str, next_path: str | None = None):
    """Press "Sign in with the hospital", sign in at the provider as ``login``, come back."""
    start = client.get("/sign-in/hospital" + (f"?next={next_path}" if next_path else ""))
    assert start.status_code == 302, start.get_data(as_text=True)
    return client.get(walk_provider(start.headers["Location"], login))


def account(session, subject: str) -> User:
    session.expire_all()
    return session.exec(select(User).where(User.oidc_subject == subject)).one()


def test_the_sign_in_page_offers_the_hospital(client) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    assert "Sign in with the hospital" in page and 'name="password"' in page


def test_the_authorization_request_uses_pkce_state_and_nonce(client, oidc_provider) -> None:
    start = client.get("/sign-in/hospital")
    url = urlsplit(start.headers["Location"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == oidc_provider.issuer
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0] and query["state"][0] and query["nonce"][0]
    assert "groups" in query["scope"][0].split()


def test_a_desk_user_lands_on_the_board_with_the_desk_role(client, session, oidc_provider) -> None:
    response = hospital_sign_in(client, "desk.anna")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").headers["Location"].endswith("/board")
    board = client.get("/board")
    assert board.status_code == 200 and "Anna Desk" in board.get_data(as_text=True)
    user = account(session, "desk.anna")
    assert (user.role, user.username, user.oidc_issuer) == (Role.FRONT_DESK, "desk.anna", oidc_provider.issuer)
    created = session.exec(select(AuditEvent).where(AuditEvent.action == "user.created")).one()
    assert created.entity_id == user.id and created.details["via"] == "oidc"


def test_a_coordinator_gets_the_coordinator_role_and_the_next_page(client, session) -> None:
    response = hospital_sign_in(client, "coord.bert", next_path="/audit")
    assert response.headers["Location"] == "/audit"
    assert account(session, "coord.bert").role == Role.COORDINATOR


def test_a_person_without_a_mapped_group_is_refused(client, session) -> None:
    response = hospital_sign_in(client, "visitor.carl")
    assert response.status_code == 403
    assert "gives you no role in OneVisit" in response.get_data(as_text=True)
    assert session.exec(select(User).where(User.oidc_subject == "visitor.carl")).first() is None
    assert client.get("/board").status_code == 302


def test_the_refusal_is_translated(client) -> None:
    with client.session_transaction() as browser:
        browser["language"] = "nl"
    response = hospital_sign_in(client, "visitor.carl")
    assert response.status_code == 403
    assert "gives you no role" not in response.get_data(as_text=True)
    assert "geen rol" in response.get_data(as_text=True)


def test_a_tampered_state_is_refused(client, session) -> None:
    start = client.get("/sign-in/hospital")
    back = walk_provider(start.headers["Location"], "desk.anna")
    path, query = back.split("?", 1)
    params = parse_qs(query)
    params["state"] = [params["state"][0][:-2] + "xx"]
    tampered = "&".join(f"{key}={value[0]}" for key, value in params.items())
    response = client.get(f"{path}?{tampered}")
    assert response.status_code == 400
    assert "could not be verified" in response.get_data(as_text=True)
    assert session.exec(select(User).where(User.oidc_subject == "desk.anna")).first() is None
    assert client.get("/board").status_code == 302


def test_a_replayed_answer_is_refused(client) -> None:
    start = client.get("/sign-in/hospital")
    back = walk_provider(start.headers["Location"], "desk.anna")
    assert client.get(back).status_code == 302
    again = client.get(back)
    assert again.status_code == 400 and "could not be verified" in again.get_data(as_text=True)


def test_a_disabled_account_is_refused(client, session) -> None:
    hospital_sign_in(client, "desk.anna")
    user = account(session, "desk.anna")
    user.active = False
    session.add(user)
    session.commit()
    with client.session_transaction() as browser:
        browser.clear()
    response = hospital_sign_in(client, "desk.anna")
    assert response.status_code == 403
    assert "This account is disabled" in response.get_data(as_text=True)
    assert client.get("/board").status_code == 302


def test_a_role_changed_at_the_provider_applies_at_the_next_sign_in(client, session) -> None:
    hospital_sign_in(client, "desk.anna")
    user = account(session, "desk.anna")
    user.role = Role.COORDINATOR
    session.add(user)
    session.commit()
    with client.session_transaction() as browser:
        browser.clear()
    hospital_sign_in(client, "desk.anna")
    assert account(session, "desk.anna").role == Role.FRONT_DESK


def test_a_local_account_with_the_same_name_is_not_taken_over(client, session) -> None:
    local = make_user(session, username="desk.anna", role=Role.ADMIN)
    hospital_sign_in(client, "desk.anna")
    federated = account(session, "desk.anna")
    assert federated.id != local.id and federated.username == "desk.anna-2"
    assert federated.role == Role.FRONT_DESK


def test_sign_out_ends_the_session(client, session, post_form) -> None:
    hospital_sign_in(client, "desk.anna")
    with client.session_transaction() as browser:
        stolen = dict(browser)
    post_form(client, "/sign-out", {}, form_page="/board")
    assert client.get("/board").status_code == 302
    with client.session_transaction() as browser:
        browser.update(stolen)
    assert client.get("/board").status_code == 302


def test_local_passwords_still_work_beside_the_hospital(client, session, post_form) -> None:
    make_user(session, username="desk", password="secret-pass")
    response = post_form(client, "/sign-in", {"username": "desk", "password": "secret-pass"})
    assert response.status_code == 302


def test_local_passwords_may_be_turned_off(app_config: dict, clean_db, session, post_form) -> None:
    from clinic import create_app
    from clinic.bootstrap import of_app

    app = create_app({**app_config, "LOCAL_PASSWORDS": False})
    try:
        client = app.test_client()
        make_user(session, username="desk", password="secret-pass")
        page = client.get("/sign-in").get_data(as_text=True)
        assert "Sign in with the hospital" in page and 'name="password"' not in page
        response = post_form(client, "/sign-in", {"username": "desk", "password": "secret-pass"})
        assert response.status_code == 403 and client.get("/board").status_code == 302
        assert hospital_sign_in(client, "coord.bert").status_code == 302
    finally:
        of_app(app).engine.dispose()


def _stored_request(browser) -> dict:
    (key,) = [key for key in browser if key.startswith("_state_hospital_")]
    return browser[key]["data"]


def test_a_changed_nonce_is_refused(client, session) -> None:
    start = client.get("/sign-in/hospital")
    back = walk_provider(start.headers["Location"], "desk.anna")
    with client.session_transaction() as browser:
        _stored_request(browser)["nonce"] = "not-the-nonce-sent"
        browser.modified = True
    response = client.get(back)
    assert response.status_code == 400
    assert session.exec(select(User).where(User.oidc_subject == "desk.anna")).first() is None


def test_the_provider_checks_the_pkce_verifier(client, session) -> None:
    start = client.get("/sign-in/hospital")
    back = walk_provider(start.headers["Location"], "desk.anna")
    with client.session_transaction() as browser:
        _stored_request(browser)["code_verifier"] = "x" * 64
        browser.modified = True
    assert client.get(back).status_code == 400
    assert session.exec(select(User).where(User.oidc_subject == "desk.anna")).first() is None


def test_a_provider_that_does_not_answer_gives_a_message_not_a_500(app_config: dict, clean_db) -> None:
    from clinic import create_app
    from clinic.bootstrap import of_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app({**app_config, "OIDC_ISSUER": f"http://127.0.0.1:{port}", "OIDC_TIMEOUT_SECONDS": 1})
    try:
        response = app.test_client().get("/sign-in/hospital")
        assert response.status_code == 502
        assert "does not answer" in response.get_data(as_text=True)
    finally:
        of_app(app).engine.dispose()


def test_the_settings_come_from_the_environment(monkeypatch) -> None:
    from clinic.settings import load_settings

    monkeypatch.setenv("ONEVISIT_OIDC_ISSUER", "https://login.hospital.example/realms/staff/")
    monkeypatch.setenv("ONEVISIT_OIDC_CLIENT_ID", "onevisit")
    monkeypatch.setenv("ONEVISIT_OIDC_ROLES_CLAIM", "roles")
    monkeypatch.setenv("ONEVISIT_OIDC_ROLE_MAP", '{"daycare-desk": "front_desk", "daycare-coord": "coordinator"}')
    monkeypatch.setenv("ONEVISIT_LOCAL_PASSWORDS", "false")
    settings = load_settings({"TESTING": True})
    assert settings.oidc.issuer == "https://login.hospital.example/realms/staff"
    assert settings.oidc.role_map == {"daycare-desk": "front_desk", "daycare-coord": "coordinator"}
    assert (settings.oidc.roles_claim, settings.local_passwords) == ("roles", False)


@pytest.mark.parametrize(("env", "message"), [
    ({"ONEVISIT_OIDC_ROLE_MAP": '{"daycare-desk": "desk"}'}, "ONEVISIT_OIDC_ROLE_MAP='{\"daycare-desk\": \"desk\"}': "
                                                              "unknown role 'desk': the roles are front_desk"),
    ({"ONEVISIT_OIDC_ROLE_MAP": "daycare-desk=front_desk"}, "ONEVISIT_OIDC_ROLE_MAP='daycare-desk=front_desk': "
                                                            "expected a JSON object"),
    ({"ONEVISIT_OIDC_ROLE_MAP": "[" * 5_000}, "': expected a JSON object, e.g."),
    ({"ONEVISIT_OIDC_ISSUER": "login.hospital.example"}, "ONEVISIT_OIDC_ISSUER='login.hospital.example': expected"),
    ({"ONEVISIT_OIDC_ISSUER": "https://login.hospital.example"}, "OIDC_CLIENT_ID or OIDC_ROLE_MAP is not"),
    ({"ONEVISIT_LOCAL_PASSWORDS": "false"}, "LOCAL_PASSWORDS is false but OIDC_ISSUER is not set"),
])
def test_settings_that_cannot_work_stop_start_up_naming_them(monkeypatch, env: dict, message: str) -> None:
    from clinic.settings import ConfigError, load_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings({"TESTING": True})
    assert message in str(refused.value)


def test_the_widest_mapped_role_wins_and_one_text_counts() -> None:
    from clinic.users.federated import role_from_claims

    role_map = {"desk": "front_desk", "coord": "coordinator"}
    assert role_from_claims({"groups": ["desk", "coord"]}, roles_claim="groups", role_map=role_map) == Role.COORDINATOR
    assert role_from_claims({"groups": "desk"}, roles_claim="groups", role_map=role_map) == Role.FRONT_DESK
