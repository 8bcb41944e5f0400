"""Browser fixtures: the app on a real local port and Debian's headless Chromium driven by Playwright.

Playwright's own browser download is never used: ``executable_path`` points at /usr/bin/chromium.
"""

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.unavailable import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test app served by werkzeug on 127.0.0.1 (a free port) against the test database; yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed on this machine (apt-get install chromium)",
                    in_ci="CI must install Debian's chromium for the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def daytime_clinic(app) -> str:
    """The clinic's zone set to one where it is 14:xx now, so that a patient can be late today, and the rest
    of today re-planned, whatever the hour the tests run at. The browser tests keep the real clock (no
    ``clock`` fixture): Chromium's clock cannot travel, and would drop a session cookie that expired by it."""
    from clinic.app import reconfigure

    return reconfigure(app, CLINIC_TIMEZONE=daytime_zone(dt.datetime.now(dt.UTC))).unit.tz


def daytime_zone(now: dt.datetime, hour: int = 14) -> str:
    """A fixed-offset zone where it is ``hour``:xx at ``now``."""
    offset = hour - now.hour
    if offset < -12:  # Etc zones run from UTC-12 to UTC+14: the same hour, a day later
        offset += 24
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")  # POSIX signs: Etc/GMT-3 is UTC+3
