"""``flask users ...``: accounts on the command line (the operator has the server, so no sign-in)."""

import re

from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.users import services as accounts
from clinic.users.models import Role
from tests.factories import make_user


def _run(app, *args: str):
    return app.test_cli_runner().invoke(args=["users", *args])


def _one_time(output: str) -> str:
    match = re.search(r"One-time password for \S+: (\S+)", output)
    assert match, output
    return match.group(1)


def test_create_prints_a_one_time_password_once(app, session: Session) -> None:
    result = _run(app, "create", "Kees", "--role", "coordinator", "--name", "Kees Jansen", "--language", "nl")
    assert result.exit_code == 0, result.output
    password = _one_time(result.output)
    user = accounts.authenticate(session=session, username="kees", password=password)
    assert user.role == Role.COORDINATOR and user.must_change_password
    listing = _run(app, "list").output
    assert re.search(r"kees\s+coordinator\s+active, must choose a new password\s+Kees Jansen", listing)


def test_create_refuses_a_taken_name_and_a_bad_role_clearly(app, session: Session) -> None:
    make_user(session, username="kees")
    taken = _run(app, "create", "kees", "--role", "admin", "--name", "K")
    assert taken.exit_code == 1 and "Error: username: user name 'kees' is taken" in taken.output
    bad = _run(app, "create", "anna", "--role", "boss", "--name", "A")
    assert bad.exit_code == 2 and "'boss' is not one of" in bad.output
    assert "Traceback" not in taken.output + bad.output


def test_set_role_disable_enable_and_reset(app, session: Session) -> None:
    user = make_user(session, username="kees", password="onevisit-demo")
    make_user(session, username="root", role=Role.ADMIN)
    version = user.session_version
    assert _run(app, "set-role", "kees", "admin").exit_code == 0
    assert _run(app, "disable", "KEES").exit_code == 0
    session.expire_all()
    assert not user.active and user.role == Role.ADMIN and user.session_version > version
    assert _run(app, "enable", "kees").exit_code == 0
    result = _run(app, "reset-password", "kees")
    assert result.exit_code == 0
    assert "It is shown only now." in result.output
    session.expire_all()
    assert accounts.authenticate(session=session, username="kees", password=_one_time(result.output))
    actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["user.role_changed", "user.disabled", "user.enabled", "user.password_reset"]


def test_an_unknown_account_and_the_last_admin_are_clear_errors(app, session: Session) -> None:
    make_user(session, username="root", role=Role.ADMIN)
    unknown = _run(app, "reset-password", "nobody")
    assert unknown.exit_code == 1 and "Error: username: no user 'nobody'" in unknown.output
    last = _run(app, "disable", "root")
    assert last.exit_code == 1 and "last active administrator" in last.output
