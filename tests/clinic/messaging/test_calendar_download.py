"""The visit page and the patient page offer the visit's calendar file (.ics) to print or send: the same file
the e-mail carries, in the patient's language; none for a visit that is not booked."""

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
from sqlmodel import Session

from clinic.columns import Language
from clinic.visits.models import VisitStatus
from tests.factories import make_patient, make_visit

ZONE = ZoneInfo("Europe/Amsterdam")
DAY = dt.date(2026, 12, 9)
START = dt.datetime.combine(DAY, dt.time(10, 30), ZONE)


def booked(session: Session, **kw):
    patient = make_patient(session, language=Language.FR, email="claire@example.org", given_name="Claire")
    visit = make_visit(session, patient=patient, day=DAY, start=START, **kw)
    visit.announced_at = START
    session.commit()
    return patient, visit


def test_the_visit_page_offers_the_calendar_file(desk_client, session: Session) -> None:
    patient, visit = booked(session)
    page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert f'href="/visits/{visit.id}/calendar.ics"' in page and "Add to calendar (.ics)" in page
    response = desk_client.get(f"/visits/{visit.id}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar") and "method=REQUEST" in response.headers[
        "Content-Type"]
    assert response.headers["Content-Disposition"] == f'attachment; filename="visit-{visit.id}.ics"'
    calendar = icalendar.Calendar.from_ical(response.data)
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == START and event.decoded("DTSTART").tzinfo == ZONE
    assert event.decoded("DURATION") == dt.timedelta(minutes=40)  # the three steps back to back
    assert str(event["SUMMARY"]).startswith("Hôpital de jour : ")  # the patient's language, not the page's
    assert str(event["UID"]).startswith(f"visit-{visit.id}@") and event["SEQUENCE"] == 0
    assert "mailto:claire@example.org" in str(event["ATTENDEE"])


def test_the_patient_page_offers_the_slip_and_the_calendar_file(desk_client, session: Session) -> None:
    patient, visit = booked(session)
    page = desk_client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f'href="/visits/{visit.id}/calendar.ics"' in page and f'href="/visits/{visit.id}/slip"' in page


def test_a_visit_that_is_not_booked_has_no_calendar_file(desk_client, session: Session) -> None:
    patient, visit = booked(session, status=VisitStatus.CANCELLED)
    assert f"/visits/{visit.id}/calendar.ics" not in desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    response = desk_client.get(f"/visits/{visit.id}/calendar.ics")
    assert response.status_code == 303 and response.headers["Location"] == f"/visits/{visit.id}"
    page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert "This visit has no calendar file: it is not booked, or has started." in page
    assert desk_client.get("/visits/999999/calendar.ics").status_code == 404


def test_the_link_is_translated(desk_client, session: Session, form_token) -> None:
    patient, visit = booked(session)
    for language, words in (("nl", "Toevoegen aan agenda (.ics)"), ("fr", "Ajouter à l'agenda (.ics)")):
        token = form_token(desk_client, "/board")
        desk_client.post("/language", data={"language": language, "next": "/board", "csrf_token": token})
        page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
        assert words in page, language


def test_signed_out_nobody_gets_the_file(client, session: Session) -> None:
    patient, visit = booked(session)
    assert client.get(f"/visits/{visit.id}/calendar.ics").status_code in (302, 303)
