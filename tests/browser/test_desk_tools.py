"""The clerk's everyday tools in a real browser, by keyboard where a clerk would type: the header's patient
search, the patient page's messages per visit, the board's filters kept from day to day and a row's
"running late", the printed day list, the patient's slip in French and the day's pick-ups."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from clinic.columns import Channel, Language
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.service import transport
from clinic.service.models import TouchChannel
from clinic.users.models import Role
from clinic.web.clock import clinic_today
from tests.browser.pages import PASSWORD, sign_in
from tests.clinic.visits.test_board import _anchor, _open_resources
from tests.factories import make_pathway, make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def test_search_filters_print_and_slip(app, daytime_clinic, live_server, page, session, screenshot_dir) -> None:
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK, display_name="Dana Desk",
              language="en")  # fmt: skip
    with app.app_context():
        today = clinic_today()
    resources = _open_resources(session)
    oncology = make_pathway(session, name="Oncology day")
    heart = make_pathway(session, name="Heart check", names={"fr": "Contrôle cardiaque"})
    claire = make_patient(session, given_name="Claire", family_name="Dubois", language="fr", mrn="P123456",
                          birth_date=dt.date(1950, 4, 12), distance_km=40, needs_wheelchair=True)  # fmt: skip
    coming = make_visit(session, patient=claire, pathway=heart, day=today, start=_anchor(app, -90),
                        resources=resources)  # fmt: skip
    other = make_visit(session, patient=make_patient(session, given_name="Otto", family_name="Other"),
                       pathway=oncology, day=today, start=_anchor(app, -30), resources=resources)  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    session.add(OutboxMessage(
        visit_id=coming.id, patient_id=claire.id, action="confirmation", rule_id="basic.confirmation", due_at=now,
        next_attempt_at=now, status=OutboxStatus.SENT, channel=Channel.SMS, language=Language.FR,
        recipient=claire.phone, body="Confirmation", sent_at=now,
    ))  # fmt: skip
    session.commit()
    transport.record_answer(session=session, visit_id=coming.id, wanted=True, channel=TouchChannel.SMS, now=now)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    sign_in(page, live_server, "desk")
    search = page.get_by_role("searchbox", name="Find a patient by name, birth date or number")
    search.focus()
    page.keyboard.type("12-04-1950")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Patients found")).to_be_visible()
    page.get_by_role("link", name="Claire Dubois", exact=True).click()
    expect(page.get_by_role("heading", name="Messages per visit")).to_be_visible()
    expect(page.locator(f"#messages-visit-{coming.id}")).to_contain_text("Booking confirmation")
    expect(page.locator(f"#messages-visit-{coming.id}")).to_contain_text("Sent")

    page.goto(f"{live_server}/board")
    page.get_by_label("Pathway").select_option(label="Heart check")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator(f'tr[data-visit="{coming.id}"]')).to_be_visible()
    expect(page.locator(f'tr[data-visit="{other.id}"]')).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "board-filtered.png"), full_page=True)
    page.get_by_role("link", name="Next day").click()
    expect(page.get_by_label("Pathway")).to_have_value(str(heart.id))
    page.get_by_role("link", name="Previous day").click()
    page.get_by_role("link", name="Claire Dubois is running late: re-plan with a new arrival time").click()
    expect(page.get_by_label("Late visit")).to_have_value(str(coming.id))
    expect(page.get_by_label("Patient now expected at")).to_be_focused()

    page.goto(f"{live_server}/board")
    page.get_by_role("link", name="Print the day list").click()
    expect(page.get_by_role("heading", name="Day list for")).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    row = page.locator(f"#list-visit-{coming.id}")
    expect(row).to_contain_text("Claire Dubois")
    expect(row).to_contain_text("To arrange")
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    page.emulate_media(media="screen")
    page.screenshot(path=str(screenshot_dir / "day-list.png"), full_page=True)

    page.goto(f"{live_server}/visits/{coming.id}")
    page.get_by_role("link", name="Appointment slip").click()
    expect(page.get_by_role("heading", name="Votre rendez-vous")).to_be_visible()
    expect(page.locator(".slip")).to_contain_text("Contrôle cardiaque")
    expect(page.locator(".slip")).to_contain_text("fauteuil roulant")
    page.locator(".slip").screenshot(path=str(screenshot_dir / "appointment-slip.png"))

    page.goto(f"{live_server}/transport")
    page.get_by_role("link", name="Pick-ups per day (printable)").click()
    pickup = page.locator("table.transport-day tbody tr").first
    expect(pickup).to_contain_text("Claire Dubois")
    expect(pickup).to_contain_text("Wheelchair")
    expect(pickup).to_contain_text("60 min on the road")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert problems == [], f"browser console errors (CSP or script): {problems}"
