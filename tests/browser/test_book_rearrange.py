"""In a real browser: a booking that only fits by re-arranging another patient's internal step times.

Anna was told to come at 09:05; the chair is open 09:00-11:00 and her infusion sits in the middle of it.
The desk books Bert: the proposal says one other visit's step times change; after booking, the day
board still shows Anna arriving at 09:05, her registration and infusion at their new times.
Screenshots: book-rearrange-proposal.png, book-rearrange-board.png.
"""

import re

import pytest
from playwright.sync_api import expect

from clinic.visits.models import Visit
from tests.browser.pages import choose_language
from tests.clinic.booking.test_rearrange import DAY, at, book, chair_morning
from tests.factories import make_patient, make_user

pytestmark = pytest.mark.browser


def test_desk_books_by_rearranging_and_the_board_keeps_the_others_arrival(
    app, live_server, page, session, screenshot_dir
):
    make_user(session, username="desk", password="desk-password-1")
    pathway = chair_morning(session)
    anna = book(
        session,
        make_patient(session, given_name="Anna", family_name="Arends").id,
        pathway,
        f"{DAY.isoformat()}|reg@desk@545-555|treat@chair@585-645",
    )
    bert = make_patient(session, given_name="Bert", family_name="Bakker")

    page.goto(f"{live_server}/sign-in")
    page.locator("#username").fill("desk")
    page.locator("#password").fill("desk-password-1")
    page.locator("form").filter(has=page.locator("#password")).get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")

    page.goto(f"{live_server}/book/patient/{bert.id}?pathway={pathway.id}&earliest={DAY}&latest={DAY}")
    proposal = page.locator("ol.proposals > li").first
    expect(proposal).to_contain_text("changes the step times or rooms of 1 other visit")
    expect(proposal).to_contain_text("still arrives at the time they were given")
    page.screenshot(path=str(screenshot_dir / "book-rearrange-proposal.png"), full_page=True)
    proposal.get_by_role("button", name=re.compile("^Book ")).click()
    expect(page.get_by_text(re.compile("Booked: Bert Bakker"))).to_be_visible()

    page.goto(f"{live_server}/board?day={DAY.isoformat()}")
    row = page.locator("tr.board-row", has_text="Anna Arends")
    expect(row.locator("td.time")).to_contain_text(re.compile(r"\b0?9:05"))
    page.screenshot(path=str(screenshot_dir / "book-rearrange-board.png"), full_page=True)

    session.expire_all()
    moved = session.get(Visit, anna.id)
    assert moved.announced_at == at(545)
    assert sorted(s.planned_start for s in moved.steps) == [at(560), at(600)]
    chips = page.locator(f'a[href$="/visits/{anna.id}"] .chip__time')
    expect(chips).to_have_count(2)
    times = sorted(text.replace("\u202f", " ").strip().lstrip("0") for text in chips.all_text_contents())
    assert times == ["10:00", "9:20"], times  # the unit's 24-hour format (ONEVISIT_FORMAT_LOCALE)
