"""Issue 6's volunteer flow in a real browser: a volunteer on a phone sees only their own list (allowed fields
only) and marks a patient met; front-desk pages and another volunteer's list are closed to them; the
coordinator overrides an assignment and the volunteer sees the patient appear."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from clinic.service import volunteers as service
from clinic.service.models import MeetingOutcome, VolunteerAssignment
from clinic.users.models import Role
from tests.browser.pages import PASSWORD, sign_in
from tests.factories import make_unit, make_user
from tests.volunteer_factories import TZ, make_day_visit, make_volunteer

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def test_volunteer_phone_list_met_access_and_coordinator_override(app, live_server, browser, session, screenshot_dir):
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(TZ)).date()
    tomorrow = today + dt.timedelta(days=1)
    vera = make_volunteer(session, "Vera Visser", languages=("nl", "en"))
    henk = make_volunteer(session, "Henk Mulder", languages=("fr", "nl"), weekdays=(tomorrow.weekday(),))
    make_user(session, username="vera", password=PASSWORD, role=Role.VOLUNTEER, display_name="Vera Visser",
              volunteer_id=vera.id, language="en")
    make_user(session, username="cor", password=PASSWORD, role=Role.COORDINATOR, display_name="Cor Coordinator",
              language="en")
    johanna = make_day_visit(session, today, 10, given_name="Johanna", family_name="Zwart", needs_wheelchair=True)
    kees = make_day_visit(session, tomorrow, 11, given_name="Kees", family_name="Kok", language="fr")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    for day in (today, tomorrow):
        service.match_day(session=session, day=day, unit=make_unit(tz=TZ), now=now)
    rows = {r.visit_id: r for r in session.exec(select(VolunteerAssignment))}
    assert rows[johanna.id].volunteer_id == vera.id and rows[kees.id].volunteer_id == henk.id

    problems: list[str] = []
    phone = browser.new_context(locale="en-GB", viewport=PHONE, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        sign_in(page, live_server, "vera", landing=None)
        expect(page).to_have_url(f"{live_server}/volunteer/")
        today_section = page.locator("section", has=page.get_by_role("heading", name="Today", exact=True))
        card = today_section.locator("li.my-patient", has_text="Johanna Z.")
        expect(card).to_be_visible()
        expect(card).to_contain_text("Wheelchair")
        expect(card).to_contain_text("Main entrance")
        expect(card).to_contain_text("NL")
        body = page.locator("main").inner_text()
        patient = johanna.patient
        for forbidden in (patient.mrn, patient.phone, "Zwart", patient.address_line, johanna.pathway.name, "Kees"):
            assert forbidden not in body, forbidden
        page.screenshot(path=str(screenshot_dir / "volunteer-phone.png"), full_page=True)

        card.get_by_role("button", name="Met Johanna Z.", exact=True).click()
        expect(page.get_by_text("Thank you: marked as met.")).to_be_visible()
        expect(page.locator("li.my-patient", has_text="Johanna Z.").locator(".status")).to_have_text("Met")
        session.expire_all()
        assert session.get(VolunteerAssignment, rows[johanna.id].id).outcome == MeetingOutcome.MET

        for path in ("/board", "/book", "/follow-ups/", "/kbr/", "/volunteers/",
                     f"/volunteers/{henk.id}/print?day={tomorrow.isoformat()}"):
            response = page.goto(f"{live_server}{path}")
            assert response is not None and response.status == 403, path

        desk = browser.new_context(locale="en-GB", viewport={"width": 1024, "height": 768})
        coordinator = desk.new_page()
        coordinator.set_default_timeout(10_000)
        try:
            sign_in(coordinator, live_server, "cor", landing=None)
            coordinator.goto(f"{live_server}/volunteers/?day={tomorrow.isoformat()}")
            row = coordinator.locator(f"#assignment-{rows[kees.id].id}")
            expect(row).to_contain_text("Henk Mulder")
            row.get_by_label("Volunteer for Kees Kok").select_option(value=str(vera.id))
            row.get_by_role("button", name="Assign").click()
            expect(coordinator.get_by_text("Assignment changed.")).to_be_visible()
            row = coordinator.locator(f"#assignment-{rows[kees.id].id}")
            expect(row).to_contain_text("Vera Visser")
            expect(row).to_contain_text("Chosen by the coordinator")
            coordinator.screenshot(path=str(screenshot_dir / "volunteers-day.png"), full_page=True)
        finally:
            desk.close()

        page.goto(f"{live_server}/volunteer/")
        tomorrow_section = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Tomorrow")))
        kees_card = tomorrow_section.locator("li.my-patient", has_text="Kees K.")
        expect(kees_card).to_be_visible()
        expect(kees_card).to_contain_text("FR")
        expect(kees_card.get_by_role("button")).to_have_count(0)  # tomorrow: nothing to mark yet
    finally:
        phone.close()
    assert problems == [], problems
