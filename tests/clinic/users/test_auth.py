"""Sign-in, sign-out, the role landing pages and role checks."""

import re
from datetime import time

import pytest
from sqlmodel import select

from clinic.users.models import Role, User
from tests.factories import make_user


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_anonymous_visitor_is_sent_to_sign_in(client):
    for path in ("/", "/board", "/volunteer/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next="), path


def test_sign_in_page_has_labelled_fields_and_a_token(client):
    html = text_of(client.get("/sign-in"))
    assert '<label class="field__label" for="username">User name</label>' in html
    assert '<label class="field__label" for="password">Password</label>' in html
    assert 'name="csrf_token"' in html


def test_front_desk_signs_in_and_lands_on_the_day_board(client, session, post_form):
    make_user(
        session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk"
    )
    response = post_form(client, "/sign-in", {"username": "desk", "password": "onevisit-demo"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/board"
    board = client.get("/board")
    assert board.status_code == 200
    assert "Dana Desk" in text_of(board)


def test_wrong_password_and_unknown_user_get_the_same_generic_message(client, session, post_form):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    wrong = post_form(client, "/sign-in", {"username": "desk", "password": "not-it"})
    unknown = post_form(client, "/sign-in", {"username": "nobody", "password": "onevisit-demo"})
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert "Wrong user name or password." in text_of(response)
    assert client.get("/board").status_code == 302


def test_empty_fields_get_messages_next_to_the_field(client, post_form):
    response = post_form(client, "/sign-in", {"username": "", "password": ""})
    html = text_of(response)
    assert response.status_code == 400
    assert 'id="username-error">Enter your user name.</p>' in html
    assert 'id="password-error">Enter your password.</p>' in html
    assert 'aria-describedby="username-error"' in html


def test_inactive_user_cannot_sign_in(client, session, post_form):
    user = make_user(session, username="gone", password="onevisit-demo", role=Role.FRONT_DESK)
    user.active = False
    session.add(user)
    session.commit()
    response = post_form(client, "/sign-in", {"username": "gone", "password": "onevisit-demo"})
    assert response.status_code == 400 and "Wrong user name or password." in text_of(response)


def test_next_is_followed_only_to_local_paths(client, session, form_token):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    token = form_token(client, "/sign-in")
    local = client.post(
        "/sign-in?next=/board%3Fday%3D2026-01-05",
        data={"username": "desk", "password": "onevisit-demo", "csrf_token": token},
    )
    assert local.headers["Location"] == "/board?day=2026-01-05"
    client.post("/sign-out", data={"csrf_token": form_token(client, "/board")})
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        token = form_token(client, "/sign-in")
        response = client.post(
            "/sign-in",
            query_string={"next": evil},
            data={"username": "desk", "password": "onevisit-demo", "csrf_token": token},
        )
        assert response.headers["Location"] == "/", evil
        client.post("/sign-out", data={"csrf_token": form_token(client, "/board")})


def test_sign_out_is_a_post_and_ends_the_session(desk_client, form_token):
    assert desk_client.get("/sign-out").status_code == 405
    assert desk_client.get("/board").status_code == 200
    response = desk_client.post("/sign-out", data={"csrf_token": form_token(desk_client, "/board")})
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    assert desk_client.get("/board").status_code == 302


def test_volunteer_lands_on_their_own_page_and_may_not_open_the_board(client, session, signed_in):
    from clinic.service.models import Volunteer, VolunteerAvailability

    volunteer = Volunteer(name="Vera Visser", phone="+31612345678")
    session.add(volunteer)
    session.commit()
    for weekday in range(7):
        session.add(
            VolunteerAvailability(
                volunteer_id=volunteer.id, weekday=weekday, starts=time(9, 0), ends=time(12, 30)
            )
        )
    session.commit()
    signed_in(client, Role.VOLUNTEER, display_name="Vera Visser", volunteer_id=volunteer.id)
    assert client.get("/").headers["Location"] == "/volunteer/"
    page = text_of(client.get("/volunteer/"))
    assert "Hello, Vera Visser" in page
    assert "Available from 09:00 to 12:30" in page
    assert ">Day board<" not in page
    assert client.get("/board").status_code == 403


def test_volunteer_without_a_linked_record_is_told_so(client, signed_in):
    signed_in(client, Role.VOLUNTEER)
    page = text_of(client.get("/volunteer/"))
    assert "not linked to a volunteer record" in page


def test_volunteer_client_fixture_is_linked_and_sees_no_availability_yet(volunteer_client):
    page = text_of(volunteer_client.get("/volunteer/"))
    assert "Hello, Vera Volunteer" in page
    assert "No availability is recorded for you yet." in page


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.COORDINATOR, Role.ADMIN])
def test_staff_may_not_open_the_volunteer_page(client, signed_in, role):
    signed_in(client, role)
    assert client.get("/volunteer/").status_code == 403


def test_roles_required_rejects_roles_not_listed(app, client, signed_in):
    from clinic.web.roles import ADMIN, roles_required

    @app.get("/test-only/admin")
    @roles_required(ADMIN)
    def admin_only():
        return "admin things"

    assert client.get("/test-only/admin").status_code == 302
    signed_in(client, Role.FRONT_DESK)
    assert client.get("/test-only/admin").status_code == 403


def test_admin_may_open_admin_pages(app, client, signed_in):
    from clinic.web.roles import roles_required

    @app.get("/test-only/admin")
    @roles_required(Role.ADMIN)
    def admin_only():
        return "admin things"

    signed_in(client, Role.ADMIN)
    assert client.get("/test-only/admin").data == b"admin things"


def test_nav_shows_only_what_the_role_may_open(desk_client):
    page = text_of(desk_client.get("/board"))
    assert ">Day board<" in page and ">My day<" not in page


def test_session_cookie_is_http_only_and_same_site(client, session, post_form):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    response = post_form(client, "/sign-in", {"username": "desk", "password": "onevisit-demo"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie


def test_a_deactivated_user_is_signed_out_on_the_next_request(desk_client, session):
    user = session.exec(select(User).where(User.username == "desk")).one()
    user.active = False
    session.add(user)
    session.commit()
    assert desk_client.get("/board").status_code == 302


def test_added_nav_items_are_shown_to_their_roles_only(app, client, signed_in, monkeypatch):
    from clinic.web import nav
    from clinic.web.roles import roles_required

    monkeypatch.setattr(nav, "NAV_ITEMS", list(nav.NAV_ITEMS))

    @app.get("/test-only/reports", endpoint="test_reports")
    @roles_required(Role.COORDINATOR)
    def reports():
        return "reports"

    nav.add_nav_item("test_reports", "Reports", {Role.COORDINATOR})
    nav.add_nav_item("not.registered", "Ghost", {Role.COORDINATOR})
    signed_in(client, Role.COORDINATOR)
    page = text_of(client.get("/board"))
    assert 'href="/test-only/reports"' in page and ">Reports<" in page and "Ghost" not in page
