"""In Chromium: "Sign in with the hospital" through a real OpenID Connect provider's pages to the day board."""

import re

import pytest
from playwright.sync_api import expect

from tests.peers.oidc_provider import free_port, provider_config, start_provider

pytestmark = pytest.mark.browser


@pytest.fixture
def provider_port() -> int:
    return free_port()


@pytest.fixture
def app_config(app_config: dict, provider_port: int) -> dict:
    return {**app_config, **provider_config(f"http://127.0.0.1:{provider_port}")}


def test_a_desk_user_signs_in_with_the_hospital_and_lands_on_the_board(live_server, page, provider_port) -> None:
    provider = start_provider(port=provider_port, redirect_uri=f"{live_server}/sign-in/hospital/callback")
    try:
        page.goto(f"{live_server}/board")
        page.get_by_role("link", name="Sign in with the hospital").click()
        expect(page).to_have_url(re.compile(rf"^{provider.issuer}/interaction/"))
        page.locator("input[name=login]").fill("desk.anna")
        page.locator("input[name=password]").fill("any-password")
        page.locator("form button[type=submit]").first.click()
        page.locator("form button[type=submit]").first.click()
        expect(page).to_have_url(re.compile(rf"^{live_server}/board"))
        expect(page.get_by_text("Anna Desk")).to_be_visible()
    finally:
        provider.stop()
