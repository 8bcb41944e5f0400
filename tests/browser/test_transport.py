"""Transport in a real browser: an older patient answers the SMS offer with YES, the desk finds the patient
on the transport list, notes what was booked and marks it arranged; the visit page says so."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from clinic.messaging import inbound
from clinic.service import transport
from clinic.users.models import Role
from tests.browser.pages import PASSWORD, sign_in
from tests.clinic.service.test_services_transport import sent
from tests.factories import make_patient, make_unit, make_user, make_visit

pytestmark = pytest.mark.browser
ZONE = ZoneInfo("Europe/Amsterdam")


def test_a_yes_by_sms_reaches_the_transport_list_and_is_arranged(live_server, page, session, screenshot_dir) -> None:
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK, display_name="Dana Desk",
              language="en")  # fmt: skip
    patient = make_patient(session, given_name="Wim", family_name="Wagenaar", birth_date=dt.date(1944, 3, 2))
    day = dt.datetime.now(dt.UTC).astimezone(ZONE).date() + dt.timedelta(days=3)
    visit = make_visit(session, patient=patient, day=day, start=dt.datetime.combine(day, dt.time(10), ZONE))
    now = dt.datetime.now(dt.UTC)
    sent(session, visit, transport.OFFER_ACTION, at=now - dt.timedelta(hours=1))
    reply = inbound.handle_sms(session=session, from_number=patient.phone, body="Yes", now=now, unit=make_unit(),
                               after_cancel=lambda visit_id: None)  # fmt: skip
    assert reply.outcome == "transport_wanted"
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    sign_in(page, live_server, "desk")
    page.get_by_role("link", name="Transport").click()
    expect(page.get_by_role("heading", name="Transport and help at home")).to_be_visible()
    request = transport.for_visit(session=session, visit_id=visit.id)
    row = page.locator(f"#transport-{request.id}")
    expect(row).to_contain_text("Wim Wagenaar")
    expect(row).to_contain_text("SMS")
    page.screenshot(path=str(screenshot_dir / "transport-list.png"), full_page=True)
    row.get_by_placeholder("What was booked").fill("Taxi Centrale, 08:45")
    row.get_by_role("button", name="Mark arranged for Wim Wagenaar").click()
    expect(page.get_by_text("Transport marked as arranged.")).to_be_visible()
    expect(page.get_by_text("Nothing to arrange.")).to_be_visible()
    page.locator("section[aria-labelledby=arranged-heading]").get_by_role("link").first.click()
    expect(page.locator("#transport")).to_contain_text("Transport arranged")
    expect(page.locator("#transport")).to_contain_text("Taxi Centrale, 08:45")
    page.locator("#transport").screenshot(path=str(screenshot_dir / "transport-visit.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert problems == [], f"browser console errors (CSP or script): {problems}"
