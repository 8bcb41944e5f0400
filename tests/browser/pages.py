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
