"""Steps the browser tests share."""

from playwright.sync_api import Page, expect

PASSWORD = "onevisit-demo"


def sign_in(page: Page, base: str, username: str, *, landing: str | None = "/board") -> None:
    """Sign in through the form; with ``landing``, wait until the app has sent the user there."""
    page.goto(f"{base}/sign-in")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if landing:
        expect(page).to_have_url(f"{base}{landing}")


def choose_language(page: Page, language: str) -> None:
    """Pick ``language`` in the header's selector and wait until the page is in it.

    The selector submits itself once ``onevisit.js`` (deferred) has wired it, and that script hides the
    "Change" button in the same step: waiting for the button to go makes sure the choice is not made
    before anything listens (which on a loaded machine left the page in its old language)."""
    expect(page.locator(".language-form .js-hide-when-autosubmit")).to_be_hidden()
    page.locator("#site-language").select_option(language)
    expect(page.locator("html")).to_have_attribute("lang", language)
