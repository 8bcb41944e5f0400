"""The coordinator optimises a coming day in a real browser: from the day board to the preview, applied
with the keyboard, and the board shows the new times."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from clinic.bootstrap import of_app
from clinic.users.models import Role
from clinic.web.clock import clinic_today
from tests.browser.pages import PASSWORD, sign_in
from tests.clinic.visits.test_board import _open_resources
from tests.factories import make_pathway, make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def test_coordinator_previews_and_applies_and_the_board_shows_the_new_times(app, live_server, page, session,
                                                                           screenshot_dir):
    app.config["OPTIMISE_SECONDS"] = 1.0
    make_user(session, username="cora", password=PASSWORD, role=Role.COORDINATOR, display_name="Cora Coordinator")
    with app.app_context():
        day = clinic_today() + dt.timedelta(days=2)
    tz = of_app(app).unit.zone

    def at(hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tz)

    greet = make_patient(session, given_name="Greet", family_name="Wachter")
    visit = make_visit(session, patient=greet, pathway=make_pathway(session, name="Check-up"), day=day, start=at(8),
                       resources=_open_resources(session))
    _reg, cons, out = visit.steps
    for step, start in ((cons, at(8, 50)), (out, at(9, 10))):
        step.planned_end = start + (step.planned_end - step.planned_start)
        step.planned_start = start
        session.add(step)
    session.commit()

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page, live_server, "cora", landing=None)
    page.goto(f"{live_server}/board?day={day.isoformat()}")
    cons_chip = page.locator(".chip", has_text="Greet Wachter · Cons")
    expect(cons_chip).to_contain_text(re.compile(r"08:50"))

    link = page.get_by_role("link", name="Optimise this day")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/optimise?day={day.isoformat()}")
    expect(page.get_by_role("heading", name="Optimise a day")).to_be_visible()
    expect(page.locator("table.optimise-summary")).to_contain_text(re.compile(r"Total waiting \(minutes\)\s*40\s*0"))
    moves = page.locator("table.moves")
    expect(moves).to_contain_text("Greet Wachter")
    expect(moves).to_contain_text(re.compile(r"arrives at 08:00 \(unchanged\), waits 40 → 0 min"))
    expect(moves.locator("del").first).to_have_text(re.compile(r"08:50–09:10"))
    expect(moves.locator("ins").first).to_have_text(re.compile(r"08:10–08:30"))
    page.screenshot(path=str(screenshot_dir / "optimise.png"), full_page=True)

    apply = page.get_by_role("button", name="Apply the optimisation")
    apply.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/board?day={day.isoformat()}")
    expect(page.get_by_text(re.compile(r"Day optimised: 2 steps moved"))).to_be_visible()
    expect(page.locator(".chip", has_text="Greet Wachter · Cons")).to_contain_text(re.compile(r"08:10"))
    expect(page.locator(".chip", has_text="Greet Wachter · Reg")).to_contain_text(re.compile(r"08:00"))
    assert problems == []
