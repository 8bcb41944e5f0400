"""axe-core on every screen of the demo clinic, in English and Dutch, on a tablet and on a phone: no serious or
critical violation; and the keyboard reaches every control of the main screens with a visible focus.

One browser for the run; one page load per screen and language (``tests/browser/screens.py`` reads the
screens from the app's ``url_map``), at alternate widths: a screen is on a tablet in one language and on a
phone in the other, so every screen is checked at both widths and in both languages, and each language at
both widths. axe comes from axe-playwright-python, which ships axe.min.js.
"""

import datetime as dt
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from clinic.app import reconfigure
from clinic.demo.seed import load_demo
from clinic.web.clock import clinic_today
from tests.browser.conftest import daytime_zone
from tests.browser.pages import PASSWORD, choose_language
from tests.browser.screens import NOT_SCREENS, Screen, sample_ids, screen_paths

pytestmark = pytest.mark.browser

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"
LANGUAGES = {"en": "en-GB", "nl": "nl-NL"}
WIDTHS = {"tablet": {"width": 1024, "height": 768}, "phone": {"width": 390, "height": 844}}
BLOCKING = ("serious", "critical")


@pytest.fixture
def demo(app, session) -> dict[str, dict[str, dict[str, object]]]:
    """The demo clinic with 12 weeks of history, in a zone where it is 11:xx now: the demo's visits of the
    morning are under way then (by the afternoon every one has left, and the checkout screens need two)."""
    unit = reconfigure(app, CLINIC_TIMEZONE=daytime_zone(dt.datetime.now(dt.UTC), hour=11)).unit
    load_demo(session=session, directory=SEED_DIR, unit=unit, now=dt.datetime.now(dt.UTC), history_weeks=12)
    with app.app_context():
        today = clinic_today()
    return sample_ids(session, secret_key=app.config["SECRET_KEY"], today=today, unit=unit,
                      languages=tuple(LANGUAGES))


def _sign_in(page: Page, base: str, username: str, language: str) -> None:
    page.goto(f"{base}/sign-in")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    choose_language(page, language)  # submits itself; the account keeps it


def blocking_violations(page: Page, axe: Axe) -> list[str]:
    """axe's serious and critical violations on ``page``, one line per rule with its first offending nodes."""
    found = []
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
            found.append(f"{violation['impact']} {violation['id']} ({len(violation['nodes'])}): {targets}")
    return found


def test_every_route_that_is_not_a_screen_exists(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(NOT_SCREENS) <= endpoints, set(NOT_SCREENS) - endpoints


def test_no_serious_or_critical_axe_violation_on_any_screen(app, demo, live_server, browser: Browser):
    """Each screen in English and in Dutch, at the tablet's width in one and the phone's in the other (a
    violation that shows only for one screen in one language at one width is the case left out)."""
    axe = Axe()
    problems: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    for number, (language, locale) in enumerate(LANGUAGES.items()):
        screens = screen_paths(app, demo[language])
        assert len(screens) >= 30, [screen.endpoint for screen in screens]
        contexts = {}
        try:
            for index, screen in enumerate(screens):
                width = list(WIDTHS)[(number + index) % len(WIDTHS)]
                page = contexts.get(screen.who)
                if page is None:
                    context = browser.new_context(locale=locale, viewport=WIDTHS[width])
                    page = contexts[screen.who] = context.new_page()
                    page.set_default_timeout(15_000)
                    if screen.who in ("coordinator", "volunteer", "admin"):
                        _sign_in(page, live_server, screen.who, language)
                page.set_viewport_size(WIDTHS[width])
                seen.setdefault(screen.endpoint, set()).add(width)
                problems.update(_check(page, axe, live_server, screen, f"{language}/{width}"))
        finally:
            for page in contexts.values():
                page.context.close()
    assert len(seen) >= 30
    assert {endpoint for endpoint, widths in seen.items() if widths != set(WIDTHS)} == set()
    assert not problems, "\n".join(f"{where}: {line}" for where, lines in problems.items() for line in lines)


def _check(page: Page, axe: Axe, base: str, screen: Screen, where: str) -> dict[str, list[str]]:
    response = page.goto(base + screen.path)
    label = f"{where} {screen.endpoint} {screen.path}"
    if response is None or response.status != 200:
        return {label: [f"answered {response.status if response else 'nothing'}"]}
    found = blocking_violations(page, axe)
    return {label: found} if found else {}


MARK_FOCUSABLES = """() => {
  if (document.activeElement) document.activeElement.blur();
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]';
  const look = (el) => { const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.borderColor, s.backgroundColor].join('|'); };
  const wanted = [...document.querySelectorAll(selector)].filter((el) => el.tabIndex >= 0 && !el.disabled
    && el.checkVisibility({visibilityProperty: true}) && !el.closest('[inert]'));
  wanted.forEach((el, index) => { el.dataset.focusIndex = index; el.dataset.unfocused = look(el); });
  return wanted.length;
}"""
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el.dataset.focusIndex === undefined) return null;
  const s = getComputedStyle(el);
  const look = [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.borderColor, s.backgroundColor].join('|');
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
  return {index: Number(el.dataset.focusIndex), visible: look !== el.dataset.unfocused && ring,
          name: `${el.tagName.toLowerCase()} ${(el.getAttribute('aria-label') || el.textContent || el.name || '').trim().slice(0, 40)}`};
}"""


def keyboard_tour(page: Page) -> tuple[int, set[int], list[str]]:
    """Tab from the top of the page through every control: how many there are, which the keyboard reached,
    and those whose focus did not show (no outline or shadow of its own, or the same look as unfocused)."""
    wanted = page.evaluate(MARK_FOCUSABLES)
    page.locator("body").focus()
    reached: set[int] = set()
    unseen: list[str] = []
    last = None
    for _ in range(wanted + 40):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or focused["index"] == last:  # Tab moves between a date field's parts
            continue
        if focused["index"] in reached:
            break  # round the page and back
        last = focused["index"]
        reached.add(focused["index"])
        if not focused["visible"]:
            unseen.append(focused["name"])
    return wanted, reached, unseen


def test_the_keyboard_reaches_every_control_with_a_visible_focus(app, demo, live_server, page):
    """The board, the Book screen, a visit and the outbox, one after the other on one demo clinic."""
    _sign_in(page, live_server, "desk", "en")
    problems = []
    for path in ("/board", "/book", f"/visits/{demo['en']['*']['visit_id']}", "/outbox"):
        page.goto(live_server + path)
        wanted, reached, unseen = keyboard_tour(page)
        if wanted < 5:
            problems.append(f"{path}: only {wanted} controls")
        if len(reached) != wanted:
            problems.append(f"{path}: Tab reached {len(reached)} of {wanted} controls")
        if unseen:
            problems.append(f"{path}: no visible focus on {unseen}")
    assert not problems, "\n".join(problems)
