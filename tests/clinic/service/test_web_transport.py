"""The transport list over HTTP: who asked for transport, marking it arranged, an answer noted by the desk,
and the visit page and check-in that show it."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.service import transport
from clinic.service.models import TouchChannel, TransportRequest
from tests.clinic.service.test_services_transport import sent
from tests.factories import make_patient, make_visit

ZONE = ZoneInfo("Europe/Amsterdam")


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone(ZONE).date()


def offered_visit(session: Session, name: str, *, day: dt.date | None = None):
    patient = make_patient(session, given_name=name, family_name="Oud", language="en")
    day = day or today() + dt.timedelta(days=3)
    visit = make_visit(session, patient=patient, day=day, start=dt.datetime.combine(day, dt.time(10), ZONE))
    sent(session, visit, transport.OFFER_ACTION, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    return visit


def answer(session: Session, visit, wanted: bool) -> TransportRequest:
    return transport.record_answer(
        session=session,
        visit_id=visit.id,
        wanted=wanted,
        channel=TouchChannel.SMS,
        now=dt.datetime.now(dt.UTC),
    )


def test_the_list_shows_who_to_arrange_and_marking_it_arranged(
    desk_client, session: Session, post_form
) -> None:
    wants = offered_visit(session, "Wim")
    answer(session, wants, True)
    declines = offered_visit(session, "Dora")
    answer(session, declines, False)
    page = desk_client.get("/transport").get_data(as_text=True)
    assert 'href="/transport"' in page
    to_arrange = page.split('id="arrange-heading"')[1].split('id="arranged-heading"')[0]
    assert "Wim Oud" in to_arrange and "Dora Oud" not in to_arrange and "Mark arranged" in to_arrange
    assert "Dora Oud" in page.split('id="declined-heading"')[1]
    request = transport.for_visit(session=session, visit_id=wants.id)
    response = post_form(
        desk_client, f"/transport/{request.id}/arranged", {"note": "Taxi 09:15"}, form_page="/transport"
    )
    assert response.status_code == 303
    page = desk_client.get("/transport").get_data(as_text=True)
    assert "Transport marked as arranged." in page
    assert "Nothing to arrange." in page and "Taxi 09:15" in page.split('id="arranged-heading"')[1]
    again = post_form(desk_client, f"/transport/{request.id}/arranged", {}, form_page="/transport")
    assert again.status_code == 303
    assert "already arranged" in desk_client.get("/transport").get_data(as_text=True)
    session.expire_all()
    assert transport.for_visit(session=session, visit_id=wants.id).arranged_at is not None
    assert desk_client.post(f"/transport/{request.id}/arranged", data={}).status_code == 400  # no CSRF token
    assert desk_client.post("/transport/99999/arranged", data={"csrf_token": ""}).status_code in (400, 404)


def test_the_desk_notes_an_answer_on_the_visit_page(desk_client, session: Session, post_form) -> None:
    visit = offered_visit(session, "Wim")
    url = f"/visits/{visit.id}"
    page = desk_client.get(url).get_data(as_text=True)
    assert "No answer from the patient about transport." in page and "Patient wants transport" in page
    response = post_form(
        desk_client, f"/visits/{visit.id}/transport", {"wanted": "yes", "next": url}, form_page=url
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    page = desk_client.get(url).get_data(as_text=True)
    assert "The patient wants transport" in page and "Patient does not want transport" in page
    request = session.exec(select(TransportRequest)).one()
    assert (request.wanted, request.channel) == (True, TouchChannel.PHONE)
    assert (
        session.exec(select(AuditEvent).where(AuditEvent.action == "transport_wanted")).one().actor_id
        is not None
    )
    bad = post_form(desk_client, f"/visits/{visit.id}/transport", {"wanted": "maybe"}, form_page=url)
    assert bad.status_code == 303
    assert "Choose whether the patient wants transport." in desk_client.get(url).get_data(as_text=True)


def test_check_in_is_ticked_when_the_transport_was_arranged(desk_client, session: Session) -> None:
    visit = offered_visit(session, "Wim", day=today())
    request = answer(session, visit, True)
    transport.mark_arranged(
        session=session, request_id=request.id, actor_id=None, now=dt.datetime.now(dt.UTC)
    )
    page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    box = (
        page.split('name="transport_booked"')[0].rsplit("<input", 1)[1]
        + page.split('name="transport_booked"')[1].split(">")[0]
    )
    assert "checked" in box


def test_a_visit_without_a_transport_offer_shows_no_transport_section(desk_client, session: Session) -> None:
    patient = make_patient(session, language="en")
    day = today() + dt.timedelta(days=2)
    visit = make_visit(session, patient=patient, day=day, start=dt.datetime.combine(day, dt.time(10), ZONE))
    assert 'id="transport"' not in desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)


def test_volunteers_may_not_see_the_list(volunteer_client) -> None:
    assert volunteer_client.get("/transport").status_code == 403


def test_check_in_warns_when_wanted_transport_is_not_arranged_and_the_day_keeps_it_listed(
    desk_client, session: Session, post_form
) -> None:
    visit = offered_visit(session, "Wim", day=today())
    answer(session, visit, True)
    page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert "Wants transport home: not arranged yet" in page and "No special arrangements" not in page
    response = post_form(desk_client, f"/visits/{visit.id}/check-in", {}, form_page=f"/visits/{visit.id}")
    assert response.status_code == 303
    assert "Wim Oud" in desk_client.get("/transport").get_data(as_text=True).split('id="arranged-heading"')[0]


def test_pick_up_list_per_day_printable_and_refuses_bad_days(desk_client, session):
    import re

    zone = ZoneInfo("Europe/Amsterdam")
    day = dt.date(2026, 12, 10)
    visit = make_visit(session, patient=make_patient(session, given_name="Wim", family_name="Wiel",
                                                           distance_km=20, needs_wheelchair=True),
                          day=day, start=dt.datetime.combine(day, dt.time(10, 0), zone))  # fmt: skip
    request = transport.record_answer(session=session, visit_id=visit.id, wanted=True,
                                              channel=TouchChannel.SMS, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))  # fmt: skip
    page = desk_client.get(f"/transport/day?day={day}")
    body = re.sub(r"\s+", " ", page.get_data(as_text=True))
    assert page.status_code == 200 and "desk-print.css" in body
    row = body.split(f'id="pickup-{request.id}"')[1].split("</tr>")[0]
    assert "9:30" in row and "10:00" in row and "Wheelchair" in row and "Teststraat" in row and "To arrange" in row
    assert 'href="/transport/day"' in desk_client.get("/transport").get_data(as_text=True)
    assert "Nobody needs transport on this day." in desk_client.get("/transport/day?day=2026-12-11").get_data(as_text=True)
    for bad in ("day=garbage", "day=2026-13-01", "day=" + "9" * 300, "day=9999-12-31", "day=0001-01-01"):
        assert desk_client.get(f"/transport/day?{bad}").status_code == 400, bad
