"""The app factory: configuration sources, start-up checks, cookies, templates and security headers."""

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from clinic import create_app
from clinic.bootstrap import of_app
from clinic.settings import ConfigError, development_secret_key
from clinic.visits.models import VisitStatus
from clinic.web.clock import clinic_today
from tests.factories import make_pathway, make_patient, make_visit


def test_defaults_and_test_config(app_config):
    app = create_app(app_config)
    settings, unit = of_app(app).settings, of_app(app).unit
    assert unit.tz == "Europe/Amsterdam"
    assert unit.languages == ("en", "nl", "fr")
    assert unit.local_km == 25 and unit.regional_km == 50
    assert unit.currency == "EUR"
    assert unit.board_refresh_seconds == 20
    assert unit.arrival_tolerance_minutes == 15
    assert Path(settings.seed_dir).name == "seed_data"
    assert settings.env == "production"
    assert settings.database_url == app_config["DATABASE_URL"]
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False  # testing runs over plain HTTP


def test_environment_variables_are_read_and_typed(monkeypatch, app_config):
    monkeypatch.setenv("ONEVISIT_REGION_LOCAL_KM", "30")
    monkeypatch.setenv("ONEVISIT_LANGUAGES", "nl, en")
    monkeypatch.setenv("ONEVISIT_CLINIC_TIMEZONE", "Europe/Brussels")
    config = {key: value for key, value in app_config.items() if key != "DATABASE_URL"}
    monkeypatch.setenv("DATABASE_URL", app_config["DATABASE_URL"])
    app = create_app(config)
    unit = of_app(app).unit
    assert unit.local_km == 30
    assert unit.languages == ("nl", "en")
    assert unit.tz == "Europe/Brussels"
    assert of_app(app).settings.database_url == app_config["DATABASE_URL"]


def test_default_database_is_sqlite_in_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ONEVISIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("ONEVISIT_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "SECRET_KEY": "x"})
    assert app.instance_path == str(tmp_path / "instance")
    assert of_app(app).settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'onevisit.db'}"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("ONEVISIT_REGION_LOCAL_KM", "far", "REGION_LOCAL_KM"),
        ("ONEVISIT_CLINIC_TIMEZONE", "Mars/Olympus", "CLINIC_TIMEZONE"),
        ("ONEVISIT_LANGUAGES", "en,de", "LANGUAGES"),
        ("ONEVISIT_REGION_LOCAL_KM", "80", "REGION_LOCAL_KM"),
        ("ONEVISIT_BOARD_REFRESH_SECONDS", "soon", "ONEVISIT_BOARD_REFRESH_SECONDS='soon': expected a whole number"),
        ("ONEVISIT_BOARD_REFRESH_SECONDS", "0", "ONEVISIT_BOARD_REFRESH_SECONDS='0': expected"),
        ("ONEVISIT_SMTP_STARTTLS", "maybe", "ONEVISIT_SMTP_STARTTLS='maybe': expected true or false"),
        ("ONEVISIT_OUTREACH_BATCH", "many", "ONEVISIT_OUTREACH_BATCH='many': expected a whole number"),
        ("ONEVISIT_ARRIVAL_TOLERANCE_MINUTES", "soon", "ONEVISIT_ARRIVAL_TOLERANCE_MINUTES='soon': expected a whole"),
        ("ONEVISIT_ARRIVAL_TOLERANCE_MINUTES", "-5", "ONEVISIT_ARRIVAL_TOLERANCE_MINUTES='-5': expected"),
        ("ONEVISIT_ARRIVAL_TOLERANCE_MINUTES", "240", "ONEVISIT_ARRIVAL_TOLERANCE_MINUTES='240': expected"),
    ],
)
def test_bad_settings_fail_with_a_message_naming_them(monkeypatch, app_config, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=words):
        create_app(app_config)


@pytest.mark.parametrize("name", ["ONEVISIT_TWILO_AUTH_TOKEN", "ONEVISIT_CLINIC_TIMEZON"])
def test_an_unknown_onevisit_variable_stops_start_up_naming_it(monkeypatch, app_config, name):
    monkeypatch.setenv(name, "x")
    with pytest.raises(ConfigError, match=f"Unknown setting in the environment: {name} "):
        create_app(app_config)


def test_the_documented_variables_outside_the_settings_are_known(monkeypatch, app_config, tmp_path):
    monkeypatch.setenv("ONEVISIT_ENV", "production")
    monkeypatch.setenv("ONEVISIT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ONEVISIT_SEED_DIR", str(Path(__file__).resolve().parents[2] / "seed_data"))
    assert create_app(app_config).instance_path == str(tmp_path)


def test_a_bad_board_refresh_stops_start_up_not_the_board(monkeypatch, app_config):
    monkeypatch.setenv("ONEVISIT_BOARD_REFRESH_SECONDS", "twenty")
    with pytest.raises(ConfigError, match="ONEVISIT_BOARD_REFRESH_SECONDS"):
        create_app(app_config)
    monkeypatch.setenv("ONEVISIT_BOARD_REFRESH_SECONDS", "45")
    assert of_app(create_app(app_config)).unit.board_refresh_seconds == 45


def test_the_arrival_tolerance_is_read_into_the_unit(monkeypatch, app_config):
    monkeypatch.setenv("ONEVISIT_ARRIVAL_TOLERANCE_MINUTES", "20")
    assert of_app(create_app(app_config)).unit.arrival_tolerance_minutes == 20


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, database_url):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ONEVISIT_SECRET_KEY", raising=False)
    monkeypatch.delenv("ONEVISIT_ENV", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"DATABASE_URL": database_url})


def test_production_e_mail_needs_the_address_its_links_point_at(monkeypatch, database_url):
    monkeypatch.delenv("ONEVISIT_ENV", raising=False)
    monkeypatch.delenv("ONEVISIT_PUBLIC_BASE_URL", raising=False)
    settings = {"DATABASE_URL": database_url, "SECRET_KEY": "s" * 40, "SMTP_HOST": "smtp.example.org"}
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app(settings)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app({**settings, "PUBLIC_BASE_URL": "onevisit.example.org"})
    app = create_app({**settings, "PUBLIC_BASE_URL": "https://onevisit.example.org"})
    assert of_app(app).unit.public_base_url == "https://onevisit.example.org"


def test_production_cookies_are_secure(monkeypatch, database_url):
    monkeypatch.delenv("ONEVISIT_ENV", raising=False)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "s" * 40})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_development_key_is_created_once_private_and_reused(tmp_path):
    first = development_secret_key(str(tmp_path))
    assert len(first) >= 32
    assert (os.stat(tmp_path / "secret_key").st_mode & 0o777) == 0o600
    assert development_secret_key(str(tmp_path)) == first


def test_development_mode_without_key_uses_the_instance_key(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("ONEVISIT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ONEVISIT_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ONEVISIT_SECRET_KEY", raising=False)
    app = create_app({"DATABASE_URL": database_url})
    assert of_app(app).settings.env == "development"
    assert app.config["SECRET_KEY"] == (Path(app.instance_path) / "secret_key").read_text().strip()
    assert app.config["SESSION_COOKIE_SECURE"] is False


CLINIC_DIR = Path(__file__).resolve().parents[2] / "clinic"


def test_every_template_name_has_one_home(app):
    """Shared templates lie in clinic/templates, a domain's in clinic/<package>/templates/<package>/: names are
    unique (Flask takes the first folder holding a name) and the app renders each from its own file."""
    packages = {p.name for p in CLINIC_DIR.iterdir() if (p / "__init__.py").is_file()}
    homes: dict[str, Path] = {}
    for path in sorted(CLINIC_DIR.glob("**/templates/**/*.html")):
        folder = next(parent for parent in path.parents if parent.name == "templates")
        name = path.relative_to(folder).as_posix()
        assert name not in homes, f"{name} is both {homes[name]} and {path}"
        homes[name] = path
        first = name.split("/")[0]
        if folder == CLINIC_DIR / "templates":
            assert first not in packages, f"shared template {name} is named like the {first} package"
        else:
            assert folder.parent.parent == CLINIC_DIR and first == folder.parent.name, (
                f"{path} should lie in clinic/{folder.parent.name}/templates/{folder.parent.name}/"
            )
    assert {"base.html", "_forms.html", "errors/404.html", "booking/plan.html"} <= homes.keys()
    assert set(app.jinja_env.list_templates()) == homes.keys()
    for name, path in homes.items():
        assert Path(app.jinja_env.loader.get_source(app.jinja_env, name)[1]) == path


def test_static_assets_are_served_locally(client):
    css = client.get("/static/css/onevisit.css")
    assert css.status_code == 200 and b"--brand" in css.data
    assert client.get("/static/js/onevisit.js").status_code == 200


def test_pages_carry_security_headers_and_no_outside_assets(client):
    response = client.get("/sign-in")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html


# --- the front-desk home page (day board) ---------------------------------------------------------


def test_day_board_shows_counts_rows_times_and_badges(desk_client, session):
    day = date(2026, 7, 1)
    pathway = make_pathway(session, name="Diabetes day")
    senior = make_patient(
        session,
        given_name="Greet",
        family_name="Oud",
        birth_date=date(1940, 1, 2),
        distance_km=40.0,
        needs_wheelchair=True,
    )
    make_visit(
        session, patient=senior, pathway=pathway, day=day, start=datetime(2026, 7, 1, 6, 30, tzinfo=UTC)
    )
    make_visit(session, pathway=pathway, day=day, status=VisitStatus.CANCELLED)
    make_visit(session, pathway=pathway, day=date(2026, 7, 2))

    html = re.sub(r"\s+", " ", desk_client.get("/board?day=2026-07-01").get_data(as_text=True))
    assert "Wednesday 1 July 2026" in html  # the unit's format (nl_NL), English words
    assert "Greet Oud" in html and "Diabetes day" in html
    assert "08:30–09:10" in html  # 06:30 UTC is 08:30 in Amsterdam in summer
    assert "Next: Reg" in html
    for badge in ("70+", "Regional", "Wheelchair"):
        assert f'<span class="badge">{badge}</span>' in html
    assert '<span class="count__number">2</span> <span class="count__label">Visits</span>' in html
    assert '<span class="count__number">1</span> <span class="count__label">Cancelled</span>' in html
    assert "2 visits" in html


def test_day_board_in_dutch(desk_client, session):
    make_visit(session, day=date(2026, 7, 1), start=datetime(2026, 7, 1, 6, 30, tzinfo=UTC))
    html = desk_client.get("/board?day=2026-07-01", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "woensdag 1 juli 2026" in html and "08:30–09:10" in html and "Ingepland" in html


def test_day_board_defaults_to_today_in_the_clinic_and_has_no_visits_message(desk_client):
    with desk_client.application.app_context():
        today = clinic_today()
    html = desk_client.get("/board").get_data(as_text=True)
    assert f'value="{today.isoformat()}"' in html
    assert "No visits on this day." in html


def test_day_board_bad_date_gets_a_message_next_to_the_picker(desk_client):
    response = desk_client.get("/board?day=2026-02-31")
    assert response.status_code == 400
    assert 'id="day-error"' in response.get_data(as_text=True)


def test_coordinator_and_admin_see_the_board(coordinator_client):
    assert coordinator_client.get("/").headers["Location"] == "/board"
    assert coordinator_client.get("/board").status_code == 200


def test_unusable_database_url_fails_with_a_message(app_config):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app({**app_config, "DATABASE_URL": "mysql://somewhere/db"})


def test_behind_a_proxy_forwarded_scheme_and_host_are_trusted(monkeypatch, app_config):
    monkeypatch.setenv("ONEVISIT_PROXY_COUNT", "1")
    app = create_app(app_config)

    @app.get("/test-only/url")
    def show_url():
        from flask import request

        return request.url

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "clinic.example"}
    assert (
        app.test_client().get("/test-only/url", headers=forwarded).text
        == "https://clinic.example/test-only/url"
    )


def test_without_proxy_setting_forwarded_headers_are_ignored(app):
    @app.get("/test-only/url")
    def show_url():
        from flask import request

        return request.url

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    assert app.test_client().get("/test-only/url", headers=forwarded).text == "http://localhost/test-only/url"
