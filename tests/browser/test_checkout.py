"""Checkout in a real browser on the demo clinic: an in-progress visit -> checkout -> the invoice and its PDF."""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import format_currency
from playwright.sync_api import expect
from sqlmodel import select

from clinic.billing.models import Invoice
from clinic.bootstrap import of_app
from clinic.visits.models import StepStatus, Visit, VisitStatus
from tests.browser.pages import choose_language

pytestmark = pytest.mark.browser
SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def _demo_day(tz: str) -> dt.datetime:
    """11:00 on today's date in the clinic, or on the last weekday before it (the demo has no weekend visits).

    With the ``daytime_clinic`` fixture it is 14:xx in the clinic, so 11:00 has passed and checking out
    now comes after every step the demo has the patient through (at night it came first)."""
    zone = ZoneInfo(tz)
    day = dt.datetime.now(dt.UTC).astimezone(zone).date()
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(11), zone).astimezone(dt.UTC)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ").replace("\u202f", " ")).strip()


def test_checkout_of_a_demo_visit_shows_every_performed_step_and_the_total(
    app, daytime_clinic, live_server, page, session, screenshot_dir
):
    from clinic.demo.seed import load_demo

    tz = of_app(app).unit.tz
    load_demo(session=session, directory=SEED_DIR, unit=of_app(app).unit, now=_demo_day(tz))
    visit = next(
        v
        for v in session.exec(select(Visit).where(Visit.status == VisitStatus.IN_PROGRESS).order_by(Visit.id))
        if v.pathway.code == "onco-infusion" and any(s.status == StepStatus.IN_PROGRESS for s in v.steps)
    )
    performed = [s for s in visit.steps if s.status in (StepStatus.DONE, StepStatus.IN_PROGRESS)]
    performed.append(next(s for s in visit.steps if s.pathway_step.code == "out"))  # done at checkout
    names = [s.pathway_step.step_type.name for s in performed]
    expected_cents = sum(s.pathway_step.step_type.tariff_cents for s in performed)
    assert expected_cents > 0
    language = visit.patient.language.value
    expected_total = format_currency(Decimal(expected_cents) / 100, "EUR", locale=language)

    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")  # the clerk works in English; the invoice is the patient's

    page.get_by_role("link", name="Checkout", exact=True).click()
    expect(page.get_by_role("heading", name="Checkout", exact=True)).to_be_visible()
    link = page.get_by_role("link", name=f"Check out {visit.patient.display_name}")
    if link.count():  # the demo day is today (a weekday): start from the list
        link.first.click()
    else:
        page.goto(f"{live_server}/visits/{visit.id}/checkout")
    expect(page).to_have_url(f"{live_server}/visits/{visit.id}/checkout")
    expect(page.get_by_role("heading", name=f"Checkout: {visit.patient.display_name}")).to_be_visible()
    for name in names:
        expect(page.get_by_role("rowheader", name=name, exact=True)).to_be_visible()
    english_total = format_currency(Decimal(expected_cents) / 100, "EUR", locale="en")
    assert _normal(page.locator("#checkout-total").inner_text()) == _normal(english_total)
    page.screenshot(path=str(screenshot_dir / "checkout.png"), full_page=True)

    page.get_by_role("button", name="Check out and issue the invoice").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+$"))
    invoice = session.exec(select(Invoice).where(Invoice.visit_id == visit.id)).one()
    article = page.locator("article.invoice")
    expect(article).to_have_attribute("lang", language)
    expect(article).to_contain_text(invoice.number)
    rows = [_normal(t) for t in article.locator("tbody tr.invoice__line th").all_inner_texts()]
    assert rows == [s.pathway_step.step_type.name_in(language) for s in performed]  # the patient's words
    assert _normal(page.locator("#invoice-total").inner_text()) == _normal(expected_total)
    assert invoice.total_cents == expected_cents
    expect(page.get_by_role("status")).to_contain_text(invoice.number)
    page.screenshot(path=str(screenshot_dir / "invoice.png"), full_page=True)

    pdf = page.request.get(f"{live_server}/invoices/{invoice.id}.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")

    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".credit-form")).to_be_hidden()
    expect(article).to_be_visible()
    page.emulate_media(media="screen")

    # the coordinator finds the checkout in the audit log, with the clerk's name
    page.locator('form[action="/sign-out"] button').click()
    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("coordinator")
    page.locator("#password").fill("onevisit-demo")
    page.locator("form button[type=submit]").last.click()
    choose_language(page, "en")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Record type").select_option("visit")
    page.get_by_label("Record number").fill(str(visit.id))
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row", name=re.compile("Checked out"))
    expect(row).to_contain_text("Dana de Balie")
    expect(row).to_contain_text(invoice.number)
    page.screenshot(path=str(screenshot_dir / "audit.png"), full_page=True)
    assert problems == [], f"browser console errors (CSP or script): {problems}"
