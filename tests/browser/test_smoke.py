"""Smoke test in a real browser: the sign-in page renders and the front desk lands on the day board."""

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from clinic.bootstrap import of_app
from clinic.users.models import Role
from clinic.web.clock import clinic_today
from tests.factories import make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def test_desk_signs_in_and_lands_on_the_day_board(app, live_server, page, session, screenshot_dir):
    make_user(
        session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk"
    )
    with app.app_context():
        today = clinic_today()
    zone = ZoneInfo(of_app(app).unit.tz)
    patient = make_patient(session, given_name="Greet", family_name="Jansen")
    make_visit(session, patient=patient, day=today, start=datetime.combine(today, time(9, 0), zone))

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "sign-in.png"), full_page=True)

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.get_by_label("User name").fill("desk")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    assert all("400" in problem for problem in problems), problems  # the refused sign-in answers 400
    problems.clear()

    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/board")
    expect(page.get_by_role("heading", name="Day board")).to_be_visible()
    expect(page.get_by_text("Dana Desk")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Greet Jansen"))).to_contain_text("9:00")
    expect(page.get_by_role("link", name="Day board")).to_have_attribute("aria-current", "page")
    page.screenshot(path=str(screenshot_dir / "day-board.png"), full_page=True)

    page.get_by_label("Language").select_option("nl")
    expect(page.get_by_role("heading", name="Dagoverzicht")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "nl")

    page.get_by_role("button", name="Afmelden").click()
    expect(page).to_have_url(f"{live_server}/sign-in")
    expect(page.get_by_text("U bent afgemeld.")).to_be_visible()
    assert problems == [], f"browser console errors (CSP or script): {problems}"


def test_tablet_in_portrait_scrolls_the_board_tables_not_the_page(app, live_server, browser, session):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    with app.app_context():
        today = clinic_today()
    zone = ZoneInfo(of_app(app).unit.tz)
    for hour, name in ((8, "Wilhelmina"), (9, "Maximiliaan"), (10, "Alexandrine")):
        patient = make_patient(session, given_name=name, family_name="van Oldenbarnevelt")
        make_visit(session, patient=patient, day=today, start=datetime.combine(today, time(hour, 0), zone))

    tablet = browser.new_context(locale="en-GB", viewport={"width": 768, "height": 1024}, has_touch=True)
    try:
        page = tablet.new_page()
        page.goto(f"{live_server}/sign-in")
        page.get_by_label("User name").fill("desk")
        page.get_by_label("Password").fill("onevisit-demo")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Day board")).to_be_visible()

        widths = page.evaluate(
            "() => ({page: document.documentElement.scrollWidth, view: window.innerWidth,"
            " tables: [...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth - w.clientWidth)})"
        )
        # the board's own table fits a tablet now (tests/browser/test_layout.py); any other table scrolls in its box
        assert widths["page"] == widths["view"], f"the page scrolls sideways on a tablet: {widths}"
    finally:
        tablet.close()


def test_patient_details_wrap_on_a_narrow_screen(live_server, browser, session):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK)
    patient = make_patient(session, email="wilhelmina.van.oldenbarnevelt-hoogstraten@ziekenhuis-voorbeeld.example")
    narrow = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = narrow.new_page()
        page.goto(f"{live_server}/sign-in?next=/patients/{patient.id}")
        page.get_by_label("User name").fill("desk")
        page.get_by_label("Password").fill("onevisit-demo")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(patient.email)).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width == 390, f"the patient page is {width} px wide on a 390 px phone"
    finally:
        narrow.close()
