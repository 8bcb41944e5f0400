"""The rules of the day in a real browser: tomorrow's visit cannot be started (no button, and a forced start is
refused with a message), a check-in is undone with the Undo button, and the tablet's kiosk mode."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from clinic.feedback import surveys
from clinic.users.models import Role
from clinic.visits.models import VisitStatus
from clinic.web.clock import clinic_today
from tests.clinic.visits.test_board import _anchor, _open_resources
from tests.factories import make_pathway, make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def _sign_in(page, live_server: str, username: str = "desk") -> None:
    page.goto(f"{live_server}/sign-in")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()


def test_tomorrows_visit_is_not_started_and_a_check_in_is_undone(app, daytime_clinic, live_server, page, session,
                                                                  screenshot_dir):  # fmt: skip
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk")
    with app.app_context():
        today = clinic_today()
    pathway = make_pathway(session, name="Oncology day")
    resources = _open_resources(session)
    tomorrow = make_visit(session, patient=make_patient(session, given_name="Tom", family_name="Morgen"),
                          pathway=pathway, day=today + dt.timedelta(days=1),
                          start=_anchor(app, 5) + dt.timedelta(days=1), resources=resources)  # fmt: skip
    now = make_visit(session, patient=make_patient(session, given_name="Nora", family_name="Nu"), pathway=pathway,
                     day=today, start=_anchor(app, 5), resources=resources)  # fmt: skip
    _sign_in(page, live_server)

    page.goto(f"{live_server}/visits/{tomorrow.id}")
    expect(page.locator("#day-rule-note")).to_contain_text("only on the visit's day")
    expect(page.get_by_role("button", name=re.compile("^Start "))).to_have_count(0)
    expect(page.get_by_role("button", name="Check in")).to_have_count(0)
    # a start forced past the screen (an old tab, a crafted post) is refused by the service, with a message
    page.evaluate(
        """([action]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            for (const [name, value] of [['csrf_token', document.querySelector('input[name=csrf_token]').value],
                                         ['action', 'start']]) {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        [f"/visits/{tomorrow.id}/steps/{tomorrow.steps[0].id}"],
    )
    expect(page.locator(f"#step-{tomorrow.steps[0].id} .field__error")).to_contain_text(
        "check-in, steps and checkout happen only on the visit's day"
    )
    page.screenshot(path=str(screenshot_dir / "visit-tomorrow-refused.png"), full_page=True)
    session.refresh(tomorrow)
    assert tomorrow.status is VisitStatus.BOOKED

    page.goto(f"{live_server}/visits/{now.id}")
    expect(page.locator("#day-rule-note")).to_contain_text("Check the patient in first")
    expect(page.get_by_role("button", name=re.compile("^Start "))).to_have_count(0)
    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_role("button", name="Start Reg")).to_be_visible()
    expect(page.locator(".undo-bar")).to_contain_text("Your last action here: check-in")
    page.screenshot(path=str(screenshot_dir / "visit-undo.png"), full_page=True)
    page.locator("#undo-button").click()
    expect(page.get_by_text("Undone: check-in.")).to_be_visible()
    expect(page.get_by_role("button", name="Check in")).to_be_visible()
    session.refresh(now)
    assert now.status is VisitStatus.BOOKED


def test_the_tablet_is_a_kiosk_until_staff_sign_for_it(app, daytime_clinic, live_server, page, session,
                                                       screenshot_dir):  # fmt: skip
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk")
    with app.app_context():
        today = clinic_today()
    visit = make_visit(session, patient=make_patient(session, given_name="Kees", family_name="Kiosk", language="nl"),
                       day=today, status=VisitStatus.COMPLETED)  # fmt: skip
    survey = surveys.ask_on_tablet(session=session, visit_id=visit.id, now=dt.datetime.now(dt.UTC))
    _sign_in(page, live_server)
    page.goto(f"{live_server}/follow-ups/tablet/{survey.id}")
    expect(page.get_by_role("heading", name="Twee vragen van de dagbehandeling")).to_be_visible()
    expect(page.locator("nav.site-nav")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "tablet-kiosk.png"), full_page=True)
    page.goto(f"{live_server}/board")  # the patient tries to wander off
    expect(page).to_have_url(f"{live_server}/follow-ups/tablet/{survey.id}")

    page.get_by_role("link", name="Medewerkers: tabletmodus verlaten").click()  # in the patient's language
    page.get_by_label("Staff user name").fill("desk")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Back to staff mode").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password.")
    page.get_by_label("Staff user name").fill("desk")
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Back to staff mode").click()
    expect(page.get_by_text("The tablet is back in staff mode.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
