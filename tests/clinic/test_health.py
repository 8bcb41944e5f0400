"""``/healthz`` says whether the app can reach a migrated database."""

from clinic import create_app


def test_healthz_ok_on_the_migrated_test_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["database"] == "ok"
    assert body["database"]["revision"]


def test_healthz_reports_an_unreachable_database_with_503(app_config):
    broken = {
        **app_config,
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2",
    }
    response = create_app(broken).test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error" and body["database"]["database"] == "error"
    assert body["database"]["detail"]


def test_healthz_reports_an_unmigrated_database(app_config, tmp_path):
    empty = {**app_config, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    response = create_app(empty).test_client().get("/healthz")
    assert response.status_code == 503
    assert "db-upgrade" in response.get_json()["database"]["detail"]


def test_sign_in_page_still_renders_without_a_database(app_config):
    broken = {
        **app_config,
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2",
    }
    response = create_app(broken).test_client().get("/sign-in")
    assert response.status_code == 200
