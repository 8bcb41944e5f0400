"""Sign-in throttling (kept in the database, so every worker sees it) and sessions that end on the server."""

import datetime as dt
import re

from clinic import create_app
from clinic.users import services as user_services
from clinic.users.models import Role
from tests.factories import make_user

PASSWORD = "onevisit-demo"


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _try(client, post_form, username: str, password: str, **kw):
    return post_form(client, "/sign-in", {"username": username, "password": password}, **kw)


def test_wrong_passwords_for_an_account_are_throttled_without_checking_the_password(
    client, session, post_form, clock, monkeypatch
):
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
    for _ in range(5):
        assert _try(client, post_form, "desk", "guess-guess").status_code == 400
    checked = []
    real = user_services.check_password_hash
    monkeypatch.setattr(user_services, "check_password_hash", lambda *a: checked.append(a) or real(*a))
    clock.shift(dt.timedelta(minutes=1))
    for password in ("another-guess", PASSWORD):
        response = _try(client, post_form, "DESK ", password)
        assert response.status_code == 429
        assert "Too many wrong passwords. Please wait 14 minutes and try again." in text_of(response)
        assert response.headers["Retry-After"] == str(14 * 60)
    assert checked == []  # scrypt never ran for the throttled account
    assert client.get("/board").status_code == 302

    clock.shift(dt.timedelta(minutes=14, seconds=1))  # the first failure leaves the 15-minute window
    assert _try(client, post_form, "desk", PASSWORD).status_code == 302
    assert client.get("/board").status_code == 200


def test_the_throttle_message_is_translated(client, session, post_form, clock):
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
    for _ in range(5):
        _try(client, post_form, "desk", "guess-guess")
    response = _try(client, post_form, "desk", PASSWORD, headers={"Accept-Language": "nl"})
    assert response.status_code == 429
    assert "Te veel foute wachtwoorden. Wacht 15 minuten en probeer het opnieuw." in text_of(response)


def test_one_address_guessing_many_accounts_is_throttled(app_config, clean_db, session, post_form, clock):
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
    client = create_app({**app_config, "SIGN_IN_ADDRESS_FAILURES": 3}).test_client()
    for name in ("anna", "bert", "cees"):
        assert _try(client, post_form, name, "guess-guess").status_code == 400
    assert _try(client, post_form, "desk", PASSWORD).status_code == 429
    other_address = {"environ_base": {"REMOTE_ADDR": "10.0.0.9"}}
    response = post_form(client, "/sign-in", {"username": "desk", "password": PASSWORD}, **other_address)
    assert response.status_code == 302


def test_the_throttle_holds_across_worker_processes(app_config, clean_db, session, post_form, clock):
    """Two apps on one database stand for two gunicorn workers: failures seen by one throttle the other."""
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
    workers = [create_app(app_config).test_client() for _ in range(2)]
    for attempt in range(5):
        assert _try(workers[attempt % 2], post_form, "desk", "guess-guess").status_code == 400
    assert _try(workers[1], post_form, "desk", PASSWORD).status_code == 429
    assert _try(workers[0], post_form, "desk", PASSWORD).status_code == 429


def test_a_right_password_clears_the_account_failures(client, session, post_form, clock):
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
    for _ in range(4):
        _try(client, post_form, "desk", "guess-guess")
    assert _try(client, post_form, "desk", PASSWORD).status_code == 302
    client.post("/sign-out", data={"csrf_token": _token(client)})
    for _ in range(4):
        assert _try(client, post_form, "desk", "guess-guess").status_code == 400
    assert _try(client, post_form, "desk", PASSWORD).status_code == 302


def _token(client) -> str:
    from tests.conftest import csrf_token_from

    return csrf_token_from(client.get("/board").get_data(as_text=True))


def _copy_cookie(app, client):
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_session_cookie_copied_before_sign_out_no_longer_opens_the_board(app, desk_client):
    thief = _copy_cookie(app, desk_client)
    assert thief.get("/board").status_code == 200
    desk_client.post("/sign-out", data={"csrf_token": _token(desk_client)})
    assert thief.get("/board").status_code == 302
    assert desk_client.get("/board").status_code == 302


def test_sign_out_ends_the_sessions_on_other_devices_too(app, session, signed_in, post_form):
    tablet, desk = app.test_client(), app.test_client()
    signed_in(tablet, Role.FRONT_DESK, username="desk")
    assert _try(desk, post_form, "desk", PASSWORD).status_code == 302
    desk.post("/sign-out", data={"csrf_token": _token(desk)})
    assert tablet.get("/board").status_code == 302


def test_a_new_password_or_disabling_ends_every_session(app, session, signed_in, post_form):
    tablet = app.test_client()
    user = signed_in(tablet, Role.FRONT_DESK, username="desk")
    user_services.change_password(session=session, user_id=user.id, password="a-new-password")
    assert tablet.get("/board").status_code == 302
    assert _try(tablet, post_form, "desk", "a-new-password").status_code == 302
    assert tablet.get("/board").status_code == 200
    user_services.set_active(session=session, user_id=user.id, active=False)
    assert tablet.get("/board").status_code == 302
    assert _try(tablet, post_form, "desk", "a-new-password").status_code == 400


def test_an_idle_session_ends_and_the_next_request_goes_to_sign_in(clock, desk_client):
    clock.shift(dt.timedelta(minutes=29))
    assert desk_client.get("/board").status_code == 200  # activity restarts the idle time
    clock.shift(dt.timedelta(minutes=29))
    assert desk_client.get("/board").status_code == 200
    clock.shift(dt.timedelta(minutes=31))
    response = desk_client.get("/board?day=2026-12-02")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/board?day%3D2026-12-02"
    page = text_of(desk_client.get(response.headers["Location"]))
    assert "You were signed out after 30 minutes without activity. Please sign in again." in page
    assert desk_client.get("/board").status_code == 302


def test_a_refresh_of_the_board_never_rewrites_the_session_cookie(clock, desk_client, app):
    """A board's refresh sent before a check-in's answer and answered after it must not put back the session
    it read (the check-in's message would be lost): it answers without a session cookie."""
    cookie = app.config.get("SESSION_COOKIE_NAME", "session")

    def writes_cookie(response) -> bool:
        return any(h.startswith(f"{cookie}=") for h in response.headers.getlist("Set-Cookie"))

    assert desk_client.get("/board").status_code == 200
    clock.shift(dt.timedelta(seconds=30))
    assert not writes_cookie(desk_client.get("/board/live"))
    clock.shift(dt.timedelta(seconds=31))
    assert writes_cookie(desk_client.get("/board/live"))  # a minute on: the activity is noted, once
    assert not writes_cookie(desk_client.get("/board/live"))


def test_the_idle_timeout_follows_its_setting(app_config, clean_db, signed_in, clock):
    client = create_app({**app_config, "IDLE_MINUTES": 5}).test_client()
    signed_in(client, Role.FRONT_DESK, username="desk")
    clock.shift(dt.timedelta(minutes=6))
    assert client.get("/board").status_code == 302


def test_the_users_commands_end_the_sessions(app, session, signed_in):
    tablet = app.test_client()
    user = signed_in(tablet, Role.FRONT_DESK, username="desk")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "password", "desk", "--password", "brand-new-pass"])
    assert result.exit_code == 0, result.output
    assert tablet.get("/board").status_code == 302
    session.refresh(user)
    assert user_services.authenticate(session=session, username="desk", password="brand-new-pass").id == user.id
    assert runner.invoke(args=["users", "disable", "desk"]).exit_code == 0
    session.refresh(user)
    assert not user.active
    assert runner.invoke(args=["users", "enable", "desk"]).exit_code == 0
    session.refresh(user)
    assert user.active
    missing = runner.invoke(args=["users", "disable", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output
    short = runner.invoke(args=["users", "password", "desk", "--password", "short"])
    assert short.exit_code == 1 and "at least 12 characters" in short.output
