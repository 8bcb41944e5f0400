"""In a real browser on the demo clinic: the front desk books a patient's oncology day.

Sign in -> Book -> find the patient -> choose the oncology pathway -> pick the best proposal -> booked.
Screenshots: book-search.png, book-proposals.png, book-done.png.
"""

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from clinic.bootstrap import of_app
from clinic.demo.seed import load_demo
from clinic.patients.models import Patient
from clinic.unit.models import Pathway
from clinic.visits.models import Visit, VisitStatus
from tests.browser.pages import choose_language

pytestmark = pytest.mark.browser
SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def test_desk_books_an_oncology_day_for_a_demo_patient(app, live_server, page, session, screenshot_dir):
    load_demo(
        session=session, directory=SEED_DIR, unit=of_app(app).unit, now=dt.datetime.now(dt.UTC)
    )
    patient = session.exec(select(Patient).where(Patient.mrn == "P000001")).one()  # Sven Peters, local
    oncology = session.exec(select(Pathway).where(Pathway.code == "onco-infusion")).one()
    before = {v.id for v in session.exec(select(Visit).where(Visit.patient_id == patient.id))}

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form").filter(has=page.locator("#password")).get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")  # the demo desk user reads Dutch; this test reads English
    expect(page.get_by_role("heading", name="Day board")).to_be_visible()

    page.get_by_role("link", name="Book", exact=True).click()
    expect(page.get_by_role("heading", name="Book a visit")).to_be_visible()
    search = page.get_by_label("Name, date of birth, phone or record number")
    expect(search).to_be_focused()
    search.fill("Peters 12-10-1958")
    page.get_by_role("button", name="Find patient").click()
    row = page.get_by_role("row", name=re.compile("Sven Peters"))
    expect(row).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "book-search.png"), full_page=True)

    row.get_by_role("link", name="Book for Sven Peters").click()
    expect(page.get_by_role("heading", name="Book a visit for Sven Peters")).to_be_visible()
    page.get_by_label("Pathway").select_option(label=oncology.name)
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        page.get_by_label(day).check()
    page.get_by_role("button", name="Find itineraries").click()
    expect(page.get_by_role("heading", name="Proposed itineraries")).to_be_visible()
    proposals = page.locator("ol.proposals > li")
    expect(proposals.first).to_contain_text("Arrive at")
    assert proposals.count() >= 2
    first = proposals.first
    for step in ("Infusion", "Checkout"):
        expect(first).to_contain_text(re.compile(step, re.IGNORECASE))
    page.screenshot(path=str(screenshot_dir / "book-proposals.png"), full_page=True)

    first.get_by_role("button", name=re.compile("^Book ")).click()
    expect(page.get_by_text(re.compile("Booked: Sven Peters"))).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "book-done.png"), full_page=True)

    session.expire_all()
    new = [v for v in session.exec(select(Visit).where(Visit.patient_id == patient.id)) if v.id not in before]
    assert len(new) == 1
    visit = new[0]
    assert visit.pathway_id == oncology.id and visit.status is VisitStatus.BOOKED
    assert len(visit.steps) == len(oncology.steps)
    assert problems == [], problems


def test_desk_registers_a_new_patient_with_a_message_next_to_the_phone(
    app, live_server, page, session, screenshot_dir
):
    from clinic.users.models import Role
    from tests.factories import make_user

    make_user(
        session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk"
    )
    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form").filter(has=page.locator("#password")).get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/board")

    page.goto(f"{live_server}/book")
    page.get_by_role("link", name="Register a new patient").click()
    values = {
        "Record number": "N000123",
        "Given name": "Noor",
        "Family name": "Nieuw",
        "Date of birth": "1951-04-02",
        "Phone": "12345",
        "Address": "Dorpsstraat 1",
        "Postcode": "3511 AA",
        "City": "Utrecht",
        "Distance from home (km)": "12",
    }
    for name, value in values.items():
        page.get_by_label(name, exact=True).fill(value)
    page.get_by_role("button", name="Register and continue").click()
    phone = page.get_by_label("Phone", exact=True)
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#phone-error")).to_contain_text("Enter a valid phone number")
    expect(page.get_by_label("Given name")).to_have_value("Noor")
    page.screenshot(path=str(screenshot_dir / "book-register.png"), full_page=True)

    phone.fill("06 1234 5678")
    page.get_by_role("button", name="Register and continue").click()
    expect(page.get_by_role("heading", name="Book a visit for Noor Nieuw")).to_be_visible()
    expect(page.get_by_text("+31 6 12345678")).to_be_visible()
    session.expire_all()
    assert session.exec(select(Patient).where(Patient.mrn == "N000123")).one().phone == "+31612345678"


def test_desk_books_a_proposal_that_bends_a_preference(app, live_server, page, session, screenshot_dir):
    """The far-away 74-year-old: nothing keeps every rule in winter, so the proposals bend a preference,
    say which in plain words, and the booked visit records it."""
    from clinic.users.models import Role
    from tests.clinic.booking.test_preferences import demo_like_unit, far_senior
    from tests.factories import make_user

    make_user(session, username="desk", password="onevisit-demo", role=Role.FRONT_DESK, display_name="Dana Desk")
    pathway = demo_like_unit(session)
    patient = far_senior(session, given_name="Wim", family_name="Verweg")
    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form").filter(has=page.locator("#password")).get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/board")

    page.goto(f"{live_server}/book/patient/{patient.id}")
    page.get_by_label("Pathway").select_option(label=pathway.name)
    page.get_by_role("button", name="Find itineraries").click()
    expect(page.get_by_role("heading", name="Proposed itineraries")).to_be_visible()
    expect(page.get_by_text("Nothing fits every preference of this patient.")).to_be_visible()
    first = page.locator("ol.proposals > li").first
    bends = first.get_by_role("list", name="Preferences this itinerary bends")
    expect(bends).to_be_visible()
    label = bends.locator("li").first.inner_text()
    assert label.startswith(("Home after dark: leaves at", "Arrives at")), label
    expect(first).to_contain_text("The unit can add:")
    body = page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
    assert "arrival window" not in body and "leave-by" not in body
    page.screenshot(path=str(screenshot_dir / "book-bent-proposals.png"), full_page=True)

    first.get_by_role("button", name=re.compile("^Book ")).click()
    expect(page.get_by_text(re.compile("Booked: Wim Verweg"))).to_be_visible()
    expect(page.get_by_text(f"This visit bends a preference: {label}")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "book-bent-done.png"), full_page=True)

    session.expire_all()
    visit = session.exec(select(Visit).where(Visit.patient_id == patient.id)).one()
    assert visit.status is VisitStatus.BOOKED and visit.notes.startswith("Bends preferences: ")
