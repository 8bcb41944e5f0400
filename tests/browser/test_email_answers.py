"""An e-mail's answer page in a real browser on a phone: the dispatcher e-mails a Dutch patient's reminder with
its link, the patient opens it, confirms the visit and stops non-essential messages."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from clinic.messaging import links, sending
from clinic.messaging.models import OutboxStatus
from clinic.patients.models import Patient
from clinic.visits.models import Visit, VisitStatus
from outreach.channels.development import DevelopmentChannel
from tests.clinic.messaging.test_services_email_answers import emailed
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_unit

pytestmark = pytest.mark.browser
ZONE = ZoneInfo("Europe/Amsterdam")


def test_a_patient_confirms_by_the_link_in_the_reminder_email(live_server, browser, session, screenshot_dir) -> None:
    day = dt.datetime.now(dt.UTC).astimezone(ZONE).date() + dt.timedelta(days=4)
    patient, visit, _row = emailed(session, "reminder", language="nl", status=OutboxStatus.QUEUED, day=day)
    mail = DevelopmentChannel("email")
    sending.dispatch_due(session=session, channels={"email": mail}, owner="t", now=dt.datetime.now(dt.UTC), unit=make_unit(),
                          links=links.Links(public_base_url=live_server, secret_key=TEST_SECRET_KEY))
    [message] = mail.sent
    link = next(line for line in message.body.splitlines() if line.startswith(live_server))

    phone = browser.new_context(locale="nl-NL", viewport={"width": 390, "height": 844})
    page = phone.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Uw bezoek op")
    expect(page.get_by_text("Uw eerste afspraak is om 10:30.")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "email-answer.png"), full_page=True)
    page.get_by_role("button", name="Ja, ik kom").click()
    expect(page.get_by_text("Uw bezoek is bevestigd. Dank u!")).to_be_visible()
    expect(page.get_by_role("button", name="Ja, ik kom")).to_have_count(0)
    page.get_by_role("button", name="Niet-essentiële berichten stoppen").click()
    expect(page.get_by_role("button", name="Weer herinneringen en aanbiedingen krijgen")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert problems == [], f"browser console errors: {problems}"
    phone.close()
    session.expire_all()
    assert session.exec(select(Visit.status).where(Visit.id == visit.id)).one() == VisitStatus.CONFIRMED
    assert session.exec(select(Patient.opted_out).where(Patient.id == patient.id)).one() is True
