"""The coordinator in a real browser: the outbox, a rejected rule file (rules in force stay), the preview."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from clinic.messaging import outreach, rules_file
from clinic.users.models import Role
from tests.factories import make_pathway, make_patient, make_unit, make_user, make_visit

pytestmark = pytest.mark.browser


def test_coordinator_reviews_outbox_rules_and_preview(live_server, page, session, screenshot_dir, tmp_path):
    make_user(session, username="coord", password="onevisit-demo", role=Role.COORDINATOR, display_name="Cor")
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(days=10)).replace(hour=9, minute=0, second=0, microsecond=0)
    patient = make_patient(session, given_name="Riet", family_name="Verre", distance_km=80,
                           birth_date=dt.date(1944, 2, 2))
    visit = make_visit(session, patient=patient, pathway=make_pathway(session), day=start.date(), start=start)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=now, unit=make_unit())
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.get_by_label("User name").fill("coord")
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Riet Verre.*Coffee voucher"))).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("queued")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=queued"))
    page.screenshot(path=str(screenshot_dir / "outreach-outbox.png"), full_page=True)

    page.get_by_role("link", name="Outreach rules").click()
    bad = tmp_path / "broken-rules.yaml"
    bad.write_text(rules_file.rules_in_force(session=session).text.replace("layer: segment", "layer: segmant", 1))
    page.get_by_label("Or upload a rule file").set_input_files(str(bad))
    page.get_by_role("button", name="Check and put in force").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "broken-rules.yaml: rule long-distance-coffee: field layer: must be one of"
    )
    expect(page.get_by_text("The clinic's default rules")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "outreach-rules-rejected.png"), full_page=True)

    page.get_by_role("link", name="Outreach preview").click()
    page.get_by_label("Patient record number").fill(patient.mrn)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("section.preview")).to_have_count(1)
    expect(page.locator("section.preview h3")).not_to_contain_text("if booked on this date")  # the real visit
    fired = page.locator("ul.fired li", has_text="senior-long-distance-transport-call")
    expect(fired).to_contain_text(re.compile(r"age 8\d ≥ 70 and region long distance = long distance"))
    expect(fired).to_contain_text("replaces senior-transport-offer")
    page.screenshot(path=str(screenshot_dir / "outreach-preview.png"), full_page=True)
    assert problems == []
