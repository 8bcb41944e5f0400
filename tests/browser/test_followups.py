"""The follow-up loop in a real browser: a "no" by SMS (a signed Twilio webhook) appears on the board, the
desk re-asks, "YES NO" keeps it open and only "YES YES" closes it."""

import datetime as dt
import re

import pytest
import requests
from playwright.sync_api import expect
from twilio.request_validator import RequestValidator

from clinic.feedback.models import Survey, SurveyChannel, SurveyTrigger
from clinic.users.models import Role
from tests.factories import make_patient, make_user

pytestmark = pytest.mark.browser
AUTH_TOKEN = "browser-test-auth-token"
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
"""The app's clock for SMS and re-asks: daytime, so the quiet hours never hold the questions back."""


@pytest.fixture
def app_config(app_config):
    return {**app_config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "MESSAGING_NOW": lambda: NOW}


def text_from_patient(live_server: str, phone: str, body: str, sid: str) -> requests.Response:
    """An inbound SMS as Twilio posts it, signed with the auth token over the URL it calls."""
    url = f"{live_server}/twilio/sms"
    form = {"From": phone, "To": "+3197010000001", "Body": body, "MessageSid": sid}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert response.status_code == 200, response.text
    return response


def test_a_no_by_sms_appears_on_the_board_and_closes_only_after_yes_yes(live_server, page, session, screenshot_dir):
    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk")
    patient = make_patient(session, language="en", given_name="Nora", family_name="Nooit")
    now = NOW
    session.add(Survey(patient_id=patient.id, trigger=SurveyTrigger.INBOUND, source_ref="browser:1",
                       channel=SurveyChannel.SMS, language=patient.language, next_attempt_at=now + dt.timedelta(hours=24),
                       asked_at=now, attempts=1, created_at=now))
    session.commit()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    forged = requests.post(f"{live_server}/twilio/sms", data={"From": patient.phone, "Body": "NO NO"}, timeout=10)
    assert forged.status_code == 403
    reply = text_from_patient(live_server, patient.phone, "NO NO nobody told me the results", "SMbrowser1")
    assert "Someone from the day-care unit will contact you soon" in reply.text

    page.goto(f"{live_server}/sign-in")
    page.get_by_label("User name").fill("desk")
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Follow-ups").click()
    expect(page.get_by_role("heading", name="Follow-ups", exact=True)).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Nora Nooit"))
    expect(row).to_contain_text("Open")
    expect(row).to_contain_text("Dana Desk")
    expect(row).to_contain_text("nobody told me the results")
    page.screenshot(path=str(screenshot_dir / "follow-ups-board.png"), full_page=True)

    row.get_by_role("link", name="Nora Nooit").click()
    expect(page.get_by_role("heading", name="Follow-up for Nora Nooit")).to_be_visible()
    page.get_by_label("Ask by").select_option("channel")
    page.get_by_role("button", name="Re-ask").click()
    expect(page.get_by_text("The two questions were sent to the patient.")).to_be_visible()

    text_from_patient(live_server, patient.phone, "YES NO still waiting for a call", "SMbrowser2")
    page.reload()
    expect(page.locator(".lead .status--open")).to_be_visible()
    expect(page.locator(".history")).to_contain_text("needed: yes, good job: no")
    page.screenshot(path=str(screenshot_dir / "follow-up-detail.png"), full_page=True)

    page.get_by_role("button", name="Re-ask").click()
    expect(page.get_by_text("The two questions were sent to the patient.")).to_be_visible()
    reply = text_from_patient(live_server, patient.phone, "yes yes thank you", "SMbrowser3")
    assert "We are glad we could help" in reply.text

    page.get_by_role("link", name="All follow-ups").click()
    row = page.get_by_role("row", name=re.compile("Nora Nooit"))
    expect(row).to_contain_text("Closed")
    expect(row).not_to_contain_text("Open")
    page.get_by_role("link", name="Closed", exact=True).click()
    expect(page.get_by_role("row", name=re.compile("Nora Nooit"))).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "follow-ups-closed.png"), full_page=True)
    assert problems == []
