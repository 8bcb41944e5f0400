"""The Accounts screen (administrators only) and the password page (everyone; forced after a reset)."""

import re

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.users import services as accounts
from clinic.users.models import Role, User
from tests.factories import make_user

GOOD = "lantern-orchard-47"


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _one_time(response) -> str:
    match = re.search(r'class="one-time-password"><code>([^<]+)</code>', response.get_data(as_text=True))
    assert match, text_of(response)
    return match.group(1)


@pytest.mark.parametrize("fixture", ["desk_client", "coordinator_client", "volunteer_client"])
def test_only_administrators_open_the_accounts_screen(request, fixture: str, session: Session, post_form) -> None:
    client = request.getfixturevalue(fixture)
    target = make_user(session, username="target")
    assert client.get("/admin/accounts").status_code == 403
    assert client.get(f"/admin/accounts/{target.id}").status_code == 403
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/account/password").get_data(as_text=True))
    for path, data in [
        ("/admin/accounts", {"username": "evil", "display_name": "E", "role": "admin"}),
        (f"/admin/accounts/{target.id}/active", {"active": "0"}),
        (f"/admin/accounts/{target.id}/reset", {}),
        (f"/admin/accounts/{target.id}/role", {"role": "admin"}),
    ]:
        assert client.post(path, data={**data, "csrf_token": token.group(1)}).status_code == 403, path
    session.expire_all()
    assert target.active and target.role == Role.FRONT_DESK
    assert session.exec(select(User).where(User.username == "evil")).first() is None


def test_the_header_shows_accounts_to_administrators(admin_client) -> None:
    assert 'href="/admin/accounts"' in admin_client.get("/board").get_data(as_text=True)


def test_the_header_hides_accounts_from_the_desk(desk_client) -> None:
    html = desk_client.get("/board").get_data(as_text=True)
    assert 'href="/admin/accounts"' not in html and 'href="/account/password"' in html


def test_an_admin_creates_an_account_and_its_first_sign_in_must_choose_a_password(
    admin_client, app, session: Session, post_form
) -> None:
    response = post_form(admin_client, "/admin/accounts",
                         {"username": "kees", "display_name": "Kees Jansen", "role": "coordinator", "language": "nl"})
    assert response.status_code == 201
    assert "It is shown only now" in text_of(response)
    password = _one_time(response)
    page = text_of(admin_client.get("/admin/accounts"))
    assert "kees" in page and "must choose a new password" in page
    assert password not in page

    kees = app.test_client()
    signed = post_form(kees, "/sign-in", {"username": "kees", "password": password})
    assert signed.status_code == 302 and signed.headers["Location"].startswith("/account/password")
    board = kees.get("/board")
    assert board.status_code == 302 and board.headers["Location"] == "/account/password?next=/board"
    forced = kees.get("/account/password", headers={"Accept-Language": "nl"})
    assert "U bent aangemeld met een eenmalig wachtwoord" in text_of(forced)

    weak = post_form(kees, "/account/password?next=/board",
                     {"current_password": password, "new_password": "kees-jansen-2026", "repeat": "kees-jansen-2026"})
    assert weak.status_code == 400 and "Het wachtwoord mag uw gebruikersnaam niet bevatten." in text_of(weak)
    done = post_form(kees, "/account/password?next=/board",
                     {"current_password": password, "new_password": GOOD, "repeat": GOOD})
    assert done.status_code == 302 and done.headers["Location"] == "/board"
    assert kees.get("/board").status_code == 200  # this session stays signed in
    session.expire_all()
    assert not accounts.user_by_name(session=session, username="kees").must_change_password


def test_bad_new_account_input_is_a_field_error(admin_client, session: Session, post_form) -> None:
    make_user(session, username="kees")
    taken = post_form(admin_client, "/admin/accounts", {"username": "kees", "display_name": "K", "role": "admin"})
    assert taken.status_code == 400 and "This user name is taken." in text_of(taken)
    bad = post_form(admin_client, "/admin/accounts", {"username": "no spaces", "display_name": "K", "role": "boss"})
    assert bad.status_code == 400 and "Not a valid choice" in text_of(bad)


def test_a_language_or_volunteer_of_only_spaces_counts_as_none(admin_client, session: Session, post_form) -> None:
    response = post_form(admin_client, "/admin/accounts", {"username": "anna", "display_name": "Anna", "role": "front_desk",
                                                            "language": " ", "volunteer_id": "\r"})
    assert response.status_code == 201, text_of(response)
    anna = accounts.user_by_name(session=session, username="anna")
    assert anna.language is None and anna.volunteer_id is None


def test_disable_and_reset_end_the_users_sessions(admin_client, app, session: Session, post_form) -> None:
    user = make_user(session, username="kees", password="secret-pass")
    kees = app.test_client()
    post_form(kees, "/sign-in", {"username": "kees", "password": "secret-pass"})
    assert kees.get("/board").status_code == 200

    page = f"/admin/accounts/{user.id}"
    reset = post_form(admin_client, f"{page}/reset", {}, form_page=page)
    assert reset.status_code == 200
    assert kees.get("/board").status_code == 302  # signed out on the server
    password = _one_time(reset)
    post_form(kees, "/sign-in", {"username": "kees", "password": password})
    assert kees.get("/board").headers["Location"].startswith("/account/password")

    disabled = post_form(admin_client, f"{page}/active", {"active": "0"}, form_page=page)
    assert disabled.status_code == 302
    assert kees.get("/account/password").status_code == 302
    assert "Disabled" in text_of(admin_client.get(page))
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.entity == "user")).all()
    assert "user.password_reset" in actions and "user.disabled" in actions


def test_the_last_admin_is_not_disabled_and_roles_change(admin_client, session: Session, post_form) -> None:
    admin = accounts.user_by_name(session=session, username="admin")
    page = f"/admin/accounts/{admin.id}"
    refused = post_form(admin_client, f"{page}/active", {"active": "0"}, form_page=page)
    assert refused.status_code == 409 and "This is the last active administrator." in text_of(refused)
    user = make_user(session, username="kees")
    changed = post_form(admin_client, f"/admin/accounts/{user.id}/role", {"role": "coordinator"},
                        form_page=f"/admin/accounts/{user.id}")
    assert changed.status_code == 302
    session.expire_all()
    assert user.role == Role.COORDINATOR
    assert admin_client.get("/admin/accounts/99999999").status_code == 404


def test_changing_ones_own_password_needs_the_current_one(desk_client, session: Session, post_form) -> None:
    wrong = post_form(desk_client, "/account/password",
                      {"current_password": "nope", "new_password": GOOD, "repeat": GOOD},
                      headers={"Accept-Language": "fr"})
    assert wrong.status_code == 400 and "Le mot de passe actuel est incorrect." in text_of(wrong)
    common = post_form(desk_client, "/account/password",
                       {"current_password": "onevisit-demo", "new_password": "password1234", "repeat": "password1234"})
    assert "This password is too common" in text_of(common)
    short = post_form(desk_client, "/account/password",
                      {"current_password": "onevisit-demo", "new_password": "short", "repeat": "short"},
                      headers={"Accept-Language": "nl"})
    assert "Gebruik minstens 12 tekens." in text_of(short)
    differ = post_form(desk_client, "/account/password",
                       {"current_password": "onevisit-demo", "new_password": GOOD, "repeat": GOOD + "x"})
    assert "The two new passwords differ." in text_of(differ)
    ok = post_form(desk_client, "/account/password",
                   {"current_password": "onevisit-demo", "new_password": GOOD, "repeat": GOOD})
    assert ok.status_code == 302 and desk_client.get("/board").status_code == 200
