"""Every form needs its CSRF token: a POST without one gets the "form expired" page and changes nothing."""

from sqlmodel import select

from clinic.users.models import Role, User
from tests.factories import make_user


def test_sign_in_without_token_is_rejected_and_signs_nobody_in(client, session):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    response = client.post("/sign-in", data={"username": "desk", "password": "onevisit-demo"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The form expired" in html and "Traceback" not in html
    assert client.get("/board").status_code == 302


def test_token_from_another_session_is_rejected(app, client, session, form_token):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    stolen = form_token(app.test_client(), "/sign-in")
    response = client.post(
        "/sign-in", data={"username": "desk", "password": "onevisit-demo", "csrf_token": stolen}
    )
    assert response.status_code == 400 and "The form expired" in response.get_data(as_text=True)


def test_language_change_without_token_changes_nothing(desk_client, session):
    response = desk_client.post("/language", data={"language": "nl"})
    assert response.status_code == 400
    user = session.exec(select(User).where(User.username == "desk")).one()
    session.refresh(user)
    assert user.language is None
    assert 'lang="en"' in desk_client.get("/board").get_data(as_text=True)


def test_sign_out_without_token_keeps_the_person_signed_in(desk_client):
    assert desk_client.post("/sign-out").status_code == 400
    assert desk_client.get("/board").status_code == 200


def test_json_clients_get_json(client):
    response = client.post("/sign-in", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == 400
