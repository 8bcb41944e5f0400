"""Response headers: no caching of pages with patient data, HSTS over TLS, and the CSP and frame rules."""

from clinic import create_app
from clinic.users.models import Role

CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
SIGNED_IN_PAGES = ("/board", "/board/live", "/waitlist", "/outbox", "/audit", "/book", "/transport", "/checkout")


def test_every_signed_in_page_is_not_stored(client, signed_in):
    signed_in(client, Role.ADMIN, username="admin")
    for path in SIGNED_IN_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_sign_in_and_error_pages_are_not_stored_either(client):
    assert client.get("/sign-in").headers["Cache-Control"] == "no-store"
    assert client.get("/no/such/page").headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client):
    response = client.get("/static/css/audit.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_csp_and_frame_rules_are_still_there(client, signed_in):
    signed_in(client, Role.FRONT_DESK, username="desk")
    for path in ("/sign-in", "/board"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"] == CSP
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_hsts_only_over_tls(client):
    assert "Strict-Transport-Security" not in client.get("/sign-in").headers
    secure = client.get("/sign-in", base_url="https://clinic.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_behind_a_tls_proxy_and_its_setting(app_config, clean_db):
    proxied = create_app({**app_config, "PROXY_COUNT": 1, "HSTS_SECONDS": 600}).test_client()
    response = proxied.get("/sign-in", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.1.1"})
    assert response.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    off = create_app({**app_config, "HSTS_SECONDS": 0}).test_client()
    assert "Strict-Transport-Security" not in off.get("/sign-in", base_url="https://clinic.example").headers
