"""Outside development the app refuses to start while an account has the password published in the README."""

import pytest
from sqlmodel import Session

from clinic import create_app
from clinic.bootstrap import of_app
from clinic.settings import ConfigError
from clinic.users import services as accounts
from clinic.users.models import Role
from tests.factories import make_user


@pytest.fixture
def production(app_config: dict, clean_db, monkeypatch) -> dict:
    """Settings of a production start under a WSGI server (not the ``flask`` command line)."""
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("ONEVISIT_ENV", raising=False)
    return {**app_config, "TESTING": False, "ENV": "production"}


def _demo_accounts(session: Session) -> None:
    make_user(session, username="admin", password="onevisit-demo", role=Role.ADMIN)
    make_user(session, username="desk", password="onevisit-demo")
    make_user(session, username="kees", password="a-private-passphrase")


def test_production_refuses_to_start_naming_the_accounts_and_the_fix(production: dict, session: Session) -> None:
    _demo_accounts(session)
    with pytest.raises(ConfigError) as info:
        create_app(production)
    message = info.value.message
    assert "2 account(s) still have the demo password published in the README (admin, desk)" in message
    assert "flask --app clinic users reset-password NAME" in message
    assert "kees" not in message


def test_development_keeps_the_demo_clinic(production: dict, session: Session) -> None:
    _demo_accounts(session)
    app = create_app({**production, "ENV": "development"})
    assert app.test_client().get("/sign-in").status_code == 200
    of_app(app).engine.dispose()


def test_after_resetting_and_disabling_them_production_starts(production: dict, session: Session) -> None:
    _demo_accounts(session)
    accounts.reset_password(session=session, user_id=accounts.user_by_name(session=session, username="admin").id)
    accounts.set_active(session=session, user_id=accounts.user_by_name(session=session, username="desk").id,
                        active=False)
    app = create_app(production)
    assert app.test_client().get("/sign-in").status_code == 200
    of_app(app).engine.dispose()


def test_the_command_line_still_works_so_the_accounts_can_be_fixed_but_serve_refuses(
    production: dict, session: Session, monkeypatch
) -> None:
    _demo_accounts(session)
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    app = create_app(production)
    runner = app.test_cli_runner()
    served = runner.invoke(args=["serve", "--port", "1"])
    assert served.exit_code == 1 and "Refusing to start" in served.output and "admin, desk" in served.output
    for name in ("admin", "desk"):
        assert runner.invoke(args=["users", "reset-password", name]).exit_code == 0
    monkeypatch.delenv("FLASK_RUN_FROM_CLI")
    of_app(create_app(production)).engine.dispose()
    of_app(app).engine.dispose()


def test_an_unmigrated_database_is_named_not_a_traceback(production: dict, tmp_path) -> None:
    with pytest.raises(ConfigError, match="db-upgrade"):
        create_app({**production, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
