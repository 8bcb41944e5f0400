"""Patients' rights in a real browser, by keyboard only: the coordinator tabs to the erase link, types the
record number and erases; the access log shows the clerk's earlier visit to the page."""

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from clinic.users.models import Role
from tests.browser.pages import PASSWORD, sign_in
from tests.factories import make_patient, make_user, make_visit

pytestmark = pytest.mark.browser


def tab_to(page: Page, text: str, *, tag: str = "A", limit: int = 250) -> None:
    """Press Tab until the focused element is a ``tag`` whose text (or label) is ``text``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; const l = e.labels && e.labels[0];"
            " return [e.tagName, (l ? l.textContent : e.textContent).trim()]; }"
        )
        if focused == [tag, text]:
            return
    raise AssertionError(f"{text!r} cannot be reached with the Tab key")


def test_erasure_by_keyboard_and_the_access_log(live_server, page, session, browser):
    make_user(session, username="coordinator", password=PASSWORD, role=Role.COORDINATOR, display_name="Cora Coordinator")
    make_user(session, username="desk", password=PASSWORD, role=Role.FRONT_DESK, display_name="Dana Desk")
    patient = make_patient(session, given_name="Łucja", family_name="Brzęczyszczykiewicz")
    make_visit(session, patient=patient, day=dt.date.today() - dt.timedelta(days=30))

    desk = browser.new_context(locale="en-GB").new_page()
    sign_in(desk, live_server, "desk")
    desk.goto(f"{live_server}/patients/{patient.id}")
    expect(desk.get_by_role("heading", name="Łucja Brzęczyszczykiewicz")).to_be_visible()
    expect(desk.get_by_role("link", name="Erase the patient's data")).to_have_count(0)
    desk.context.close()

    sign_in(page, live_server, "coordinator")
    page.goto(f"{live_server}/patients/{patient.id}")
    log = page.get_by_role("table", name="Who opened this record")
    expect(log.get_by_role("cell", name="Dana Desk")).to_be_visible()
    tab_to(page, "Erase the patient's data")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/patients/{patient.id}/erase")
    tab_to(page, "Type the record number to confirm", tag="INPUT")
    page.keyboard.type(patient.mrn)
    page.keyboard.press("Enter")
    expect(page.get_by_text("The patient's data has been erased.")).to_be_visible()
    expect(page.get_by_text("Brzęczyszczykiewicz")).to_have_count(0)
