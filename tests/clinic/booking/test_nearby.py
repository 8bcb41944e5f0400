"""A warning when the patient already has a visit of the same pathway within CLOSE_VISIT_DAYS: the service,
the Book screen's proposals and flash after booking, the Move screen's proposals and flash after moving."""

import datetime as dt
import html
import re

from sqlmodel import select

from clinic.booking.nearby import CLOSE_VISIT_DAYS, nearby_visits
from clinic.visits.models import Visit, VisitStatus
from tests.factories import make_pathway, make_patient, make_visit

CHOICE = re.compile(r'name="choice" value="([^"]+)"')
DAY = dt.date(2026, 12, 14)


def test_close_visits_of_the_same_pathway_only(session) -> None:
    patient = make_patient(session)
    pathway, other_pathway = make_pathway(session), make_pathway(session)
    held = make_visit(session, patient=patient, pathway=pathway, day=DAY)
    make_visit(session, patient=patient, pathway=other_pathway, day=DAY)
    make_visit(session, patient=patient, pathway=pathway, day=DAY + dt.timedelta(days=2), status=VisitStatus.CANCELLED)
    make_visit(session, pathway=pathway, day=DAY)  # another patient
    far = make_visit(session, patient=patient, pathway=pathway, day=DAY + dt.timedelta(days=CLOSE_VISIT_DAYS + 1))
    days = [DAY + dt.timedelta(days=n) for n in (-CLOSE_VISIT_DAYS, -3, 0, CLOSE_VISIT_DAYS, 40)]
    found = nearby_visits(session=session, patient_id=patient.id, pathway_id=pathway.id, days=days)
    assert [n.visit_id for n in found[DAY - dt.timedelta(days=CLOSE_VISIT_DAYS)]] == [held.id]
    assert [(n.visit_id, n.days_apart) for n in found[DAY - dt.timedelta(days=3)]] == [(held.id, 3)]
    assert [n.visit_id for n in found[DAY + dt.timedelta(days=CLOSE_VISIT_DAYS)]] == [far.id, held.id]  # nearest first
    assert DAY + dt.timedelta(days=40) not in found
    moved = nearby_visits(session=session, patient_id=patient.id, pathway_id=pathway.id, days=[DAY],
                          exclude_visit_id=held.id)  # fmt: skip
    assert moved == {}
    assert nearby_visits(session=session, patient_id=patient.id, pathway_id=pathway.id, days=[]) == {}


def test_book_screen_warns_on_a_close_proposal_and_after_booking(clock, desk_client, post_form, session, infusion):
    patient = make_patient(session)
    earliest = dt.date(2026, 12, 7)
    make_visit(session, patient=patient, pathway=infusion, day=earliest + dt.timedelta(days=3))
    url = f"/book/patient/{patient.id}?pathway={infusion.id}&earliest={earliest}&latest={earliest}"
    page = desk_client.get(url).get_data(as_text=True)
    assert "already has a visit of this pathway within 7 days" in page and "3 days apart" in page
    choice = html.unescape(CHOICE.findall(page)[0])
    done = post_form(desk_client, f"/book/patient/{patient.id}/book?pathway={infusion.id}&earliest={earliest}&latest={earliest}",
                     {"choice": choice}, form_page=url)  # fmt: skip
    assert done.status_code == 302
    after = desk_client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Note: the patient has another visit of this pathway on" in after

    far = f"/book/patient/{patient.id}?pathway={infusion.id}&earliest=2027-01-11&latest=2027-01-11"
    assert "already has a visit of this pathway" not in desk_client.get(far).get_data(as_text=True)


def test_move_screen_warns_on_a_close_proposal_and_after_moving(clock, desk_client, post_form, session, infusion):
    patient = make_patient(session)
    start = dt.datetime(2026, 12, 21, 8, tzinfo=dt.UTC)
    visit = make_visit(session, patient=patient, pathway=infusion, day=start.date(), start=start)
    make_visit(session, patient=patient, pathway=infusion, day=dt.date(2026, 12, 10))
    target = dt.date(2026, 12, 8)
    move_page = f"/visits/{visit.id}/move?earliest={target}&latest={target}"
    page = desk_client.get(move_page).get_data(as_text=True)
    assert "already has a visit of this pathway within 7 days" in page and "2 days apart" in page
    choice = html.unescape(CHOICE.findall(page)[0])
    done = post_form(desk_client, move_page, {"choice": choice}, form_page=move_page)
    assert done.status_code == 303
    session.expire_all()
    assert session.exec(select(Visit.date).where(Visit.id == visit.id)).one() == target
    after = desk_client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Note: the patient has another visit of this pathway on" in after


def test_the_visit_page_offers_move_for_a_booked_visit_not_started(clock, desk_client, session, infusion):
    start = dt.datetime(2026, 12, 21, 8, tzinfo=dt.UTC)
    booked = make_visit(session, pathway=infusion, day=start.date(), start=start)
    done = make_visit(session, pathway=infusion, day=start.date(), start=start, status=VisitStatus.CHECKED_IN)
    assert f'href="/visits/{booked.id}/move"' in desk_client.get(f"/visits/{booked.id}").get_data(as_text=True)
    assert f'href="/visits/{done.id}/move"' not in desk_client.get(f"/visits/{done.id}").get_data(as_text=True)
