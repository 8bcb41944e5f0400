"""Issue 6 in a real browser: a desk clerk grants a recovery gesture within their monthly limit (shown on
the patient page), one above it is refused with the limit, what is used and what is left, and waits in the
coordinator's queue; the coordinator approves it."""

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from clinic.service.models import GestureStatus, RecoveryGesture
from clinic.users.models import Role
from tests.browser.pages import PASSWORD, sign_in
from tests.factories import make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def test_a_gesture_above_the_desk_limit_is_refused_and_the_coordinator_approves_it(
    live_server, page, session, screenshot_dir
) -> None:
    make_user(
        session,
        username="desk",
        password=PASSWORD,
        role=Role.FRONT_DESK,
        display_name="Dana Desk",
        language="en",
    )
    make_user(session, username="coordinator", password=PASSWORD, role=Role.COORDINATOR,
              display_name="Cor Coordinator", language="en")  # fmt: skip
    patient = make_patient(session, given_name="Greta", family_name="Gebaar")
    make_visit(session, patient=patient)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    sign_in(page, live_server, "desk")
    page.goto(f"{live_server}/patients/{patient.id}")
    grant = page.locator("form", has=page.get_by_role("heading", name="Grant a gesture"))
    grant.get_by_label("Gesture").select_option("meal_voucher")
    grant.get_by_label("Reason").fill("Waited two hours for the infusion chair")
    grant.get_by_role("button", name="Grant").click()
    expect(
        page.get_by_text("Meal voucher of €12.50 granted to Greta Gebaar. €62.50 of your monthly limit left.")
    ).to_be_visible()
    gestures = page.locator("table.patient-gestures")
    expect(gestures.get_by_role("row", name=re.compile("Meal voucher"))).to_contain_text("Granted")

    grant = page.locator("form", has=page.get_by_role("heading", name="Grant a gesture"))
    grant.get_by_label("Gesture").select_option("taxi_home")
    grant.get_by_label("Cost (EUR)").fill("70,00")
    grant.get_by_label("Reason").fill("Missed the last bus after the delay")
    grant.get_by_role("button", name="Grant").click()
    refusal = ("Refused: €70.00 is above your monthly limit of €75.00 (€12.50 used, €62.50 left). "
               "The request for Taxi home is waiting for the coordinator's approval.")  # fmt: skip
    expect(page.get_by_text(refusal)).to_be_visible()
    expect(gestures.get_by_role("row", name=re.compile("Taxi home"))).to_contain_text("Waiting for approval")
    page.screenshot(path=str(screenshot_dir / "gestures-refused.png"), full_page=True)
    pending = session.exec(select(RecoveryGesture).where(RecoveryGesture.kind == "taxi_home")).one()
    assert pending.status == GestureStatus.PENDING

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, "coordinator")
    page.get_by_role("link", name="Gestures").click()
    expect(page.get_by_role("heading", name="Waiting for approval")).to_be_visible()
    row = page.locator(f"#pending-{pending.id}")
    expect(row).to_contain_text("Greta Gebaar")
    expect(row).to_contain_text("€70.00")
    expect(row).to_contain_text("Dana Desk")
    page.screenshot(path=str(screenshot_dir / "gestures-queue.png"), full_page=True)
    row.get_by_role("button", name="Approve €70.00 for Greta Gebaar").click()
    expect(page.get_by_text("Approved: €70.00 for Greta Gebaar.")).to_be_visible()
    expect(page.get_by_text("Nothing is waiting for approval.")).to_be_visible()
    expect(page.locator("#budget-remaining")).to_contain_text("€930.00")
    expect(page.locator(f"#gesture-{pending.id}")).to_contain_text("Granted")

    page.goto(f"{live_server}/patients/{patient.id}")
    expect(
        page.locator("table.patient-gestures").get_by_role("row", name=re.compile("Taxi home"))
    ).to_contain_text("Granted")
    page.screenshot(path=str(screenshot_dir / "gestures-patient.png"), full_page=True)
    session.expire_all()
    assert session.get(RecoveryGesture, pending.id).status == GestureStatus.GRANTED
    assert problems == [], f"browser console errors (CSP or script): {problems}"
