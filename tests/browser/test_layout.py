"""Layout a clerk sees on a tablet (1024 × 768) and a phone (390 × 844), on the demo clinic."""

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from clinic.demo.seed import load_demo
from tests.browser.pages import choose_language, sign_in
from tests.clinic.conftest import SEED_DIR
from tests.factories import make_unit

pytestmark = pytest.mark.browser
UNIT = make_unit()
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(session: Session) -> None:
    load_demo(session=session, directory=SEED_DIR, unit=UNIT, now=dt.datetime.now(dt.UTC))


def _choose_language(page, base: str, language: str) -> None:
    page.goto(f"{base}/board")
    choose_language(page, language)


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_the_day_board_fits_a_tablet_with_every_open_link(live_server, page, demo, screenshot_dir, language):
    sign_in(page, live_server, "desk")
    _choose_language(page, live_server, language)
    page.goto(f"{live_server}/board")
    box = page.locator(".table-wrap:has(table.board)")
    expect(box).to_be_visible()
    overflow = box.evaluate("el => el.scrollWidth - el.clientWidth")
    page.screenshot(path=str(screenshot_dir / f"board-1024-{language}.png"), full_page=True)
    assert overflow <= 0, f"the board is {overflow}px wider than its box at 1024 px ({language})"
    right = box.evaluate("el => el.getBoundingClientRect().right")
    actions = page.locator("table.board td.actions a")
    assert actions.count() > 0
    for i in range(actions.count()):
        edge = actions.nth(i).evaluate("el => el.getBoundingClientRect().right")
        assert edge <= right, f"an action link ends at {edge}px, past the box's {right}px"


def test_the_staff_menu_is_a_compact_disclosure_on_a_phone(browser, live_server, demo, screenshot_dir):
    context = browser.new_context(locale="en-GB", viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, live_server, "coordinator")
        _choose_language(page, live_server, "fr")
        header = page.locator(".site-header")
        height = header.evaluate("el => el.getBoundingClientRect().height")
        page.screenshot(path=str(screenshot_dir / "menu-phone-fr-closed.png"))
        assert height <= PHONE["height"] * 0.2, f"the header takes {height:.0f}px of {PHONE['height']}"
        toggle = page.get_by_role("button", name="Menu")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        menu = page.locator("#site-menu")
        expect(toggle).to_have_attribute("aria-controls", "site-menu")
        expect(menu.locator('a[href="/board"]')).to_be_hidden()

        toggle.focus()
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        first = menu.get_by_role("link").first
        expect(first).to_be_visible()
        page.keyboard.press("Tab")
        expect(first).to_be_focused()
        page.screenshot(path=str(screenshot_dir / "menu-phone-fr-open.png"))
        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(toggle).to_be_focused()
        expect(first).to_be_hidden()
    finally:
        context.close()


def test_the_whole_menu_shows_on_a_tablet(live_server, page, demo):
    sign_in(page, live_server, "coordinator")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator('#site-menu a[href="/board"]')).to_be_visible()


def test_waitlist_cards_on_a_phone_label_every_value(browser, live_server, demo, screenshot_dir):
    context = browser.new_context(locale="en-GB", viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, live_server, "desk")
        page.goto(f"{live_server}/waitlist")
        cells = page.locator("table.waitlist tbody td:not(.actions)")  # a button says what it does
        assert cells.count() > 0
        page.screenshot(path=str(screenshot_dir / "waitlist-phone.png"), full_page=True)
        unlabelled = cells.evaluate_all(
            "cells => cells.filter(td => getComputedStyle(td, '::before').content.replace(/\"/g, '').trim() === '' "
            "|| getComputedStyle(td, '::before').content === 'none').map(td => td.textContent.trim())"
        )
        assert unlabelled == [], f"values without a label on a phone: {unlabelled}"
    finally:
        context.close()
