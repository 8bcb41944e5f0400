"""Error pages are friendly, translated and never show a stack trace."""

import pytest

from clinic import create_app


@pytest.fixture
def failing_app(app_config):
    app = create_app({**app_config, "PROPAGATE_EXCEPTIONS": False})

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("secret internals")

    return app


def test_404_page_is_friendly(client):
    response = client.get("/no/such/page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in html and 'lang="en"' in html


def test_404_page_in_dutch_and_french(client):
    nl = client.get("/no/such/page", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Pagina niet gevonden" in nl and 'lang="nl"' in nl
    fr = client.get("/no/such/page", headers={"Accept-Language": "fr-BE,fr;q=0.9"}).get_data(as_text=True)
    assert "Page introuvable" in fr and 'lang="fr"' in fr


def test_405_page_says_allowed_methods(client):
    response = client.get("/language")
    assert response.status_code == 405
    assert response.headers["Allow"]
    assert "That action is not possible here" in response.get_data(as_text=True)


def test_403_page(client, signed_in):
    from clinic.users.models import Role

    signed_in(client, Role.VOLUNTEER)
    response = client.get("/board")
    assert response.status_code == 403
    assert "You may not open this page" in response.get_data(as_text=True)


def test_500_shows_the_friendly_page_without_internals(failing_app, caplog):
    response = failing_app.test_client().get("/test-only/boom", headers={"Accept-Language": "nl"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Er is iets misgegaan" in html
    assert "secret internals" not in html and "Traceback" not in html
    assert "secret internals" in caplog.text


def test_api_paths_get_json_errors(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json() == {"status": "error", "code": 404, "message": "Not Found"}
