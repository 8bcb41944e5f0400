"""Issue 4's second flow in a real browser on the demo clinic: cancel a visit -> the ranked waitlist shows ->
offer by phone to the top candidate, who accepts -> the day board shows the new visit."""

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlmodel import col, select

from clinic.bootstrap import of_app
from clinic.demo.seed import load_demo
from clinic.refill.waitlist import add_to_waitlist
from clinic.visits.models import Visit, VisitStatus
from tests.browser.pages import choose_language
from tests.factories import make_patient

pytestmark = pytest.mark.browser

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def test_cancel_refill_and_the_board_shows_the_new_visit(app, live_server, page, session, screenshot_dir):
    tz = of_app(app).unit.tz
    now = dt.datetime.now(dt.UTC)
    load_demo(session=session, directory=SEED_DIR, unit=of_app(app).unit, now=now)
    today = now.astimezone(ZoneInfo(tz)).date()
    visit = session.exec(
        select(Visit)
        .where(
            Visit.date > today + dt.timedelta(days=1),
            col(Visit.status).in_([VisitStatus.BOOKED, VisitStatus.CONFIRMED]),
        )
        .order_by(col(Visit.date), col(Visit.id))
    ).first()
    assert visit is not None, "the demo has future visits"
    # someone who surely fits the freed place: same pathway, local, short notice is fine
    add_to_waitlist(
        session=session, patient_id=make_patient(session, given_name="Rita", family_name="Refill").id,
        pathway_id=visit.pathway_id, earliest_date=today, latest_date=today + dt.timedelta(days=30),
        actor_id=None, priority=3, accepts_short_notice=True,
    )  # fmt: skip

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.get_by_label("User name").fill("desk")
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")  # the demo desk works in Dutch

    page.get_by_role("link", name="Waitlist").click()
    expect(page.get_by_role("heading", name="Waitlist", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Rita Refill"))).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "waitlist.png"), full_page=True)

    page.goto(f"{live_server}/visits/{visit.id}/cancel")
    expect(page.get_by_role("heading", name="Cancel a visit")).to_be_visible()
    page.get_by_label("Cancelled").check()
    page.get_by_label("Reason").fill("Patient has a fever")
    page.screenshot(path=str(screenshot_dir / "cancel.png"), full_page=True)
    page.get_by_label("Reason").fill("   ")
    page.get_by_role("button", name="Free the place").click()
    expect(page.locator("#reason-error")).to_have_text("Give a reason.")
    expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    assert all("400" in problem for problem in problems), problems  # the refused form answers 400
    problems.clear()
    page.get_by_label("Reason").fill("Patient has a fever")
    page.get_by_role("button", name="Free the place").click()

    expect(page).to_have_url(f"{live_server}/visits/{visit.id}/refill")
    expect(page.get_by_role("heading", name="Waitlist candidates who fit")).to_be_visible()
    rows = page.locator("table.candidates tbody tr")
    expect(rows.first).to_be_visible()
    top = rows.first.locator("th").inner_text().splitlines()[0].strip()
    expect(rows.first.locator("td").first).to_have_text("1")
    page.screenshot(path=str(screenshot_dir / "refill.png"), full_page=True)

    rows.first.get_by_role("button", name="Offer by phone").click()
    offer_row = page.locator("table.offers tbody tr", has_text=top)
    expect(offer_row).to_contain_text("Waiting for an answer")
    offer_row.get_by_role("button", name="Accepted").click()
    expect(page.get_by_text(f"{top} is booked on the freed place.")).to_be_visible()
    expect(page.locator("table.offers tbody tr", has_text=top)).to_contain_text("Accepted")
    page.screenshot(path=str(screenshot_dir / "refill-answered.png"), full_page=True)

    page.get_by_role("link", name="See the day board").click()
    expect(page).to_have_url(re.compile(rf"/board\?day={visit.date.isoformat()}"))
    expect(page.get_by_role("row", name=re.compile(re.escape(top))).first).to_be_visible()
    assert problems == [], f"browser console errors (CSP or script): {problems}"
