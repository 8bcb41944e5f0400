"""The front desk's day in a real browser: the board, check-in, a step started and finished, the board
updating itself without a reload, the patient page and the re-plan of the rest of the day."""

import re

import pytest
from playwright.sync_api import expect

from clinic.app import reconfigure
from clinic.users.models import Role
from clinic.web.clock import clinic_today
from tests.clinic.visits.test_board import _anchor, _open_resources
from tests.factories import make_pathway, make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def test_desk_checks_in_runs_a_step_and_the_board_follows(app, daytime_clinic, live_server, page, session, screenshot_dir):
    reconfigure(app, BOARD_REFRESH_SECONDS=1)
    app.config.update(REPLAN_SECONDS=0.5)
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk")
    with app.app_context():
        today = clinic_today()
    pathway = make_pathway(session, name="Oncology day")
    resources = _open_resources(session)
    greet = make_patient(session, given_name="Greet", family_name="Jansen", distance_km=120, needs_interpreter=True)
    visit = make_visit(session, patient=greet, pathway=pathway, day=today, start=_anchor(app, 5), resources=resources)
    late = make_patient(session, given_name="Lotte", family_name="Laat")
    make_visit(session, patient=late, pathway=pathway, day=today, start=_anchor(app, 40), resources=resources)

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.get_by_label("User name").fill("desk")
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/board")
    greet_row = page.locator(f'tr[data-visit="{visit.id}"]')
    expect(greet_row).to_contain_text("Greet Jansen")
    expect(greet_row).to_contain_text("Expected")
    expect(page.get_by_role("heading", name="Timeline per resource")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "board.png"), full_page=True)
    page.evaluate("window.__notReloaded = true")

    desk = page.context.new_page()
    desk.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    desk.goto(f"{live_server}/board")
    desk.get_by_role("button", name="Check in Greet Jansen").click()
    expect(desk).to_have_url(f"{live_server}/visits/{visit.id}")
    expect(desk.get_by_text(re.compile(r"Checked in\. Coffee voucher: C[0-9]+-[0-9A-F]{5}"))).to_be_visible()
    expect(desk.get_by_role("heading", name=re.compile("Checked in at"))).to_be_visible()
    expect(greet_row).to_contain_text("Arrived", timeout=8000)  # the first tab, never reloaded

    desk.get_by_role("button", name="Start Reg").click()
    expect(desk.get_by_role("button", name="Finish Reg")).to_be_visible()
    expect(greet_row).to_contain_text("In step: Reg", timeout=8000)
    desk.get_by_role("button", name="Finish Reg").click()
    expect(desk.get_by_role("button", name="Start Cons")).to_be_visible()
    expect(desk.locator("tr.step--done")).to_contain_text("Reg")
    desk.screenshot(path=str(screenshot_dir / "visit.png"), full_page=True)
    expect(greet_row).to_contain_text("Waiting since", timeout=8000)
    assert page.evaluate("window.__notReloaded === true"), "the board reloaded instead of updating in place"

    desk.get_by_role("link", name="Patient page").click()
    expect(desk.get_by_role("heading", name="Greet Jansen", exact=True)).to_be_visible()
    expect(desk.locator(".badge--segment", has_text="Long distance")).to_be_visible()
    expect(desk.get_by_role("heading", name="Contacts and gestures")).to_be_visible()
    desk.screenshot(path=str(screenshot_dir / "patient.png"), full_page=True)

    desk.goto(f"{live_server}/board/replan")
    expect(desk.get_by_role("heading", name="Re-plan the rest of the day")).to_be_visible()
    desk.screenshot(path=str(screenshot_dir / "replan.png"), full_page=True)
    apply = desk.get_by_role("button", name="Apply the re-plan")
    expect(apply).to_be_visible()  # Lotte was due 40 minutes ago and has not arrived
    expect(desk.locator("table.moves")).to_contain_text("Lotte Laat")
    apply.click()
    expect(desk).to_have_url(f"{live_server}/board")
    expect(desk.get_by_text(re.compile(r"Re-plan applied: \d+ steps? moved"))).to_be_visible()
    assert problems == [], f"browser console errors (CSP or script): {problems}"
