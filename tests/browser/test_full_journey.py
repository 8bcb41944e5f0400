"""The whole front-desk journey in a real browser on the demo clinic, ending in the invoice.

Sign in as front desk -> book Sven Peters' oncology day (the engine's first proposal) -> check him in ->
start and finish every step -> check out -> the invoice lists every performed step with the right total.
Check-in only works on the visit's own day and the engine may propose a later day, so the test moves the
booked visit (date and step times, by whole days) to today before checking in.
Screenshots: journey-visit.png, journey-checkout.png, journey-invoice.png.
"""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from babel.numbers import format_currency
from playwright.sync_api import expect
from sqlmodel import select

from clinic.billing.models import Invoice
from clinic.bootstrap import of_app
from clinic.demo.seed import load_demo
from clinic.patients.models import Patient
from clinic.visits.models import Visit, VisitStatus
from clinic.web.clock import clinic_today
from tests.browser.pages import choose_language

pytestmark = pytest.mark.browser
SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ").replace("\u202f", " ")).strip()


def test_book_check_in_run_every_step_check_out_and_invoice(app, live_server, page, session, screenshot_dir):
    load_demo(
        session=session, directory=SEED_DIR, unit=of_app(app).unit, now=dt.datetime.now(dt.UTC)
    )
    patient = session.exec(select(Patient).where(Patient.mrn == "P000001")).one()  # Sven Peters
    before = {v.id for v in session.exec(select(Visit).where(Visit.patient_id == patient.id))}
    with app.app_context():
        today = clinic_today()

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    # sign in as the front desk, working in English
    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form").filter(has=page.locator("#password")).get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")
    expect(page.get_by_role("heading", name="Day board")).to_be_visible()

    # book the patient's oncology day: the engine's best proposal
    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_label("Name, date of birth, phone or record number").fill("Peters 12-10-1958")
    page.get_by_role("button", name="Find patient").click()
    page.get_by_role("row", name=re.compile("Sven Peters")).get_by_role(
        "link", name="Book for Sven Peters"
    ).click()
    page.get_by_label("Pathway").select_option(label="Oncology infusion day")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        page.get_by_label(day).check()
    page.get_by_role("button", name="Find itineraries").click()
    page.locator("ol.proposals > li").first.get_by_role("button", name=re.compile("^Book ")).click()
    expect(page.get_by_text(re.compile("Booked: Sven Peters"))).to_be_visible()

    session.expire_all()
    visit = next(
        v for v in session.exec(select(Visit).where(Visit.patient_id == patient.id)) if v.id not in before
    )
    assert visit.status is VisitStatus.BOOKED
    shift = dt.timedelta(days=(today - visit.date).days)
    if shift:
        visit.date = today
        for step in visit.steps:
            step.planned_start += shift
            step.planned_end += shift
        session.commit()
    names = [s.pathway_step.step_type.name for s in sorted(visit.steps, key=lambda s: s.planned_start)]
    expected_cents = sum(s.pathway_step.step_type.tariff_cents for s in visit.steps)

    # check in, then start and finish every step in order
    page.goto(f"{live_server}/visits/{visit.id}")
    page.locator("#check-in").get_by_role("button", name="Check in").click()
    expect(page.get_by_role("heading", name=re.compile("Checked in at"))).to_be_visible()
    for name in names:
        page.get_by_role("button", name=f"Start {name}", exact=True).click()
        page.get_by_role("button", name=f"Finish {name}", exact=True).click()
        expect(page.locator("tr.step--done", has_text=name)).to_be_visible()
    expect(page.locator(".visit-header .status")).to_have_text("Completed")
    page.screenshot(path=str(screenshot_dir / "journey-visit.png"), full_page=True)

    # check out: the invoice lists every performed step with the right total, in the patient's language
    page.locator(".visit-actions").get_by_role("link", name="Check out").click()
    expect(page).to_have_url(f"{live_server}/visits/{visit.id}/checkout")
    page.screenshot(path=str(screenshot_dir / "journey-checkout.png"), full_page=True)
    page.get_by_role("button", name="Check out and issue the invoice").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+$"))
    invoice = session.exec(select(Invoice).where(Invoice.visit_id == visit.id)).one()
    article = page.locator("article.invoice")
    expect(article).to_contain_text(invoice.number)
    in_patients_words = [s.pathway_step.step_type.name_in(patient.language)
                         for s in sorted(visit.steps, key=lambda s: s.planned_start)]
    assert [_normal(t) for t in article.locator("tr.invoice__line th").all_inner_texts()] == in_patients_words
    total = format_currency(Decimal(expected_cents) / 100, "EUR", locale=patient.language.value)
    assert _normal(page.locator("#invoice-total").inner_text()) == _normal(total)
    assert invoice.total_cents == expected_cents > 0
    page.screenshot(path=str(screenshot_dir / "journey-invoice.png"), full_page=True)
    assert problems == [], f"browser console errors (CSP or script): {problems}"
