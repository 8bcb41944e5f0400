"""An administrator makes an account on the Accounts screen; its first sign-in, in a real browser, must choose
a password before anything else."""

import pytest
from playwright.sync_api import expect

from clinic.users.models import Role
from tests.browser.pages import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.browser


def test_a_new_account_chooses_its_password_at_the_first_sign_in(live_server, browser, page, session):
    make_user(session, username="admin", password="onevisit-demo", role=Role.ADMIN, display_name="Ada Admin")
    sign_in(page, live_server, "admin")
    page.get_by_role("link", name="Accounts").click()
    page.get_by_label("User name").fill("kees")
    page.get_by_label("Name", exact=True).fill("Kees Jansen")
    page.get_by_label("Role").select_option("front_desk")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Account kees is created")).to_be_visible()
    one_time = page.locator(".one-time-password code").inner_text()

    context = browser.new_context(locale="en-GB")
    kees = context.new_page()
    kees.goto(f"{live_server}/sign-in")
    kees.get_by_label("User name").fill("kees")
    kees.get_by_label("Password").fill(one_time)
    kees.get_by_role("button", name="Sign in").click()
    expect(kees.get_by_text("You signed in with a one-time password.")).to_be_visible()
    kees.goto(f"{live_server}/board")
    expect(kees).to_have_url(f"{live_server}/account/password?next=/board")
    kees.get_by_label("Current password").fill(one_time)
    kees.get_by_label("New password", exact=True).fill("short")
    kees.get_by_label("New password again").fill("short")
    kees.get_by_role("button", name="Change password").click()
    expect(kees.get_by_text("Use at least 12 characters.")).to_be_visible()
    kees.get_by_label("Current password").fill(one_time)
    kees.get_by_label("New password", exact=True).fill("lantern-orchard-47")
    kees.get_by_label("New password again").fill("lantern-orchard-47")
    kees.get_by_role("button", name="Change password").click()
    expect(kees).to_have_url(f"{live_server}/board")
    expect(kees.get_by_text("Your password is changed.")).to_be_visible()
    context.close()
