"""In a real browser on the demo clinic: the front desk books a treatment series and moves one cycle.

Book -> the patient -> oncology, "book as a series" (4 cycles every 21 days ± 2) -> preview of every cycle ->
book -> the patient page lists the series -> move cycle 2 a week later (keyboard only) -> the later cycles are
re-proposed -> confirm. Screenshots: series-preview.png, series-patient.png, series-move-preview.png.
"""

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from clinic.booking.models import TreatmentSeries
from clinic.bootstrap import of_app
from clinic.demo.seed import load_demo
from clinic.patients.models import Patient
from clinic.unit.models import Pathway
from clinic.visits.models import Visit
from tests.browser.pages import choose_language

pytestmark = pytest.mark.browser
SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def test_desk_books_a_series_and_moves_one_cycle(app, live_server, page, session, screenshot_dir):
    load_demo(session=session, directory=SEED_DIR, unit=of_app(app).unit, now=dt.datetime.now(dt.UTC))
    patient = session.exec(select(Patient).where(Patient.mrn == "P000001")).one()  # Sven Peters
    oncology = session.exec(select(Pathway).where(Pathway.code == "onco-infusion")).one()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form").filter(has=page.locator("#password")).get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")
    expect(page.get_by_role("heading", name="Day board")).to_be_visible()

    page.goto(f"{live_server}/book/patient/{patient.id}")
    expect(page.get_by_role("heading", name="Book a visit for Sven Peters")).to_be_visible()
    page.get_by_label("Pathway").select_option(label=oncology.name)
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        page.get_by_label(day).check()
    page.get_by_label("Book as a series of cycles").check()
    page.get_by_label("Cycles", exact=True).fill("4")
    page.get_by_label("Every (days)").fill("21")
    page.get_by_label("Tolerance (± days)").fill("2")
    page.get_by_role("button", name="Find itineraries").click()
    expect(page.get_by_role("heading", name=re.compile("Proposed series: 4 cycles every 21 days"))).to_be_visible()
    rows = page.locator(".series-preview tbody tr")
    expect(rows).to_have_count(4)
    page.screenshot(path=str(screenshot_dir / "series-preview.png"), full_page=True)
    page.get_by_role("button", name="Book the series").click()

    expect(page.get_by_text(re.compile("Booked: Sven Peters, a series of 4 cycles"))).to_be_visible()
    expect(page.get_by_role("heading", name="Treatment series")).to_be_visible()
    series = session.exec(select(TreatmentSeries).where(TreatmentSeries.patient_id == patient.id)).one()
    visits = session.exec(select(Visit).where(Visit.series_id == series.id).order_by(Visit.cycle)).all()
    assert [v.cycle for v in visits] == [1, 2, 3, 4]
    cycles = page.locator(f"#series-{series.id} tbody tr")
    expect(cycles).to_have_count(4)
    page.screenshot(path=str(screenshot_dir / "series-patient.png"), full_page=True)

    move = page.get_by_role("link", name="Move cycle 2")
    move.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Move a visit")).to_be_visible()
    new_day = visits[1].date + dt.timedelta(days=7)
    page.get_by_label("Earliest date").fill(new_day.isoformat())
    page.get_by_label("Latest date (optional)").fill(new_day.isoformat())
    page.get_by_role("button", name="Find itineraries").click()
    first = page.locator("ol.proposals > li").first
    expect(first).to_contain_text("Arrive at")
    first.get_by_role("button", name=re.compile("^Move to ")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Later cycles")).to_be_visible()
    expect(page.locator(".series-later tbody tr")).to_have_count(2)
    page.screenshot(path=str(screenshot_dir / "series-move-preview.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Confirm: move cycle 2")).click()

    expect(page.get_by_text(re.compile("Moved to"))).to_be_visible()
    session.expire_all()
    after = session.exec(select(Visit).where(Visit.series_id == series.id).order_by(Visit.cycle)).all()
    assert after[0].date == visits[0].date and after[1].date == new_day
    for k, visit in enumerate(after[2:], start=1):
        assert abs((visit.date - (new_day + dt.timedelta(days=21 * k))).days) <= 2
    expect(page.locator(f"#series-{series.id}")).to_contain_text(f"{new_day.day}")
    assert problems == [], problems
