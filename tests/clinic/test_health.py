"""``/healthz`` says only whether the app can reach a migrated database; the details go to the log."""

from clinic import create_app

BROKEN_URL = "postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2"


def test_healthz_ok_on_the_migrated_test_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_without_details_when_the_database_is_down(app_config, caplog):
    response = create_app({**app_config, "DATABASE_URL": BROKEN_URL}).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error"}
    text = response.get_data(as_text=True)
    for secret in ("127.0.0.1", "9", "nobody", "nowhere", "psycopg", "Operational"):
        assert secret not in text
    assert "127.0.0.1" in caplog.text and "health check failed" in caplog.text


def test_healthz_reports_an_unmigrated_database_in_the_log_only(app_config, tmp_path, caplog):
    empty = {**app_config, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    response = create_app(empty).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error"}
    assert "db-upgrade" in caplog.text


def test_sign_in_page_still_renders_without_a_database(app_config):
    response = create_app({**app_config, "DATABASE_URL": BROKEN_URL}).test_client().get("/sign-in")
    assert response.status_code == 200
