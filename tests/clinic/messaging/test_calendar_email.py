"""The patient's calendar file by e-mail: the booking confirmation received by a real SMTP server carries an
.ics that parses with icalendar, with the announced arrival in the unit's time zone, how long the visit takes
and where; a move sends an update (same UID, higher SEQUENCE), a cancellation a CANCEL, a re-arrangement
nothing."""

import datetime as dt
import email
import email.policy
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlmodel import Session

from clinic import events
from clinic.columns import Channel
from clinic.messaging.models import OutboxStatus
from clinic.visits.models import Visit
from outreach.channels.email_smtp import SmtpEmailChannel
from tests.clinic.messaging.outbound_flow import (
    UNIT,
    book,
    cancel,
    dispatch,
    handled_factory,
    move,
    pathway,
    rows,
)
from tests.factories import make_patient


@pytest.fixture
def flow(clock, clean_db, smtp_server):
    host, port, mailbox = smtp_server
    with handled_factory(clean_db)() as session:
        yield session, {"email": SmtpEmailChannel(host=host, port=port, timeout=5)}, mailbox


def received_calendar(mailbox, index: int = -1) -> tuple[email.message.EmailMessage, icalendar.Calendar]:
    mail = email.message_from_string(mailbox.messages[index]["data"], policy=email.policy.default)
    [part] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    return mail, part, icalendar.Calendar.from_ical(part.get_payload(decode=True))


def the_event(calendar: icalendar.Calendar) -> icalendar.Event:
    [event] = calendar.walk("VEVENT")
    return event


def emailed_patient(session: Session, **kw):
    return make_patient(session, channel=Channel.EMAIL, email="anna@example.org", language="nl", **kw)


def booked(session: Session):
    patient = emailed_patient(session)
    visit = book(session, patient.id, pathway(session).id)
    return patient, session.get(Visit, visit.id)


def test_the_confirmation_carries_the_visit_s_calendar_file(flow) -> None:
    session, channels, mailbox = flow
    patient, visit = booked(session)
    report = dispatch(session, channels, dt.datetime.now(dt.UTC))
    assert report.sent == 1 and len(mailbox.messages) == 1
    mail, part, calendar = received_calendar(mailbox)
    assert mail["To"] == "anna@example.org" and mail["Subject"].startswith("Uw bezoek op")
    assert part.get_param("method") == "REQUEST" and part.get_filename() == f"visit-{visit.id}.ics"
    assert calendar["METHOD"] == "REQUEST"
    event = the_event(calendar)
    start = event.decoded("DTSTART")
    assert start == visit.announced_at and start.tzinfo == ZoneInfo("Europe/Amsterdam")
    assert start.astimezone(ZoneInfo("Europe/Amsterdam")).date() == visit.date
    assert calendar.walk("VTIMEZONE")[0]["TZID"] == "Europe/Amsterdam"
    assert event.decoded("DURATION") == max(s.planned_end for s in visit.steps) - visit.announced_at
    assert str(event["LOCATION"]) == "Dagbehandeling Oost, Heidelberglaan 100, 3584 CX Utrecht"
    assert str(event["UID"]) == f"visit-{visit.id}@onevisit.example.org" and event["SEQUENCE"] == 0
    assert str(event["SUMMARY"]) == "Dagbehandeling: Infusion"  # in the patient's language (nl)
    assert "Kom om " in str(event["DESCRIPTION"])
    session.refresh(visit)
    assert visit.calendar_arrival == visit.announced_at


def test_a_move_sends_an_update_with_the_same_uid_and_a_higher_sequence(flow) -> None:
    session, channels, mailbox = flow
    patient, visit = booked(session)
    dispatch(session, channels, dt.datetime.now(dt.UTC))
    first = the_event(received_calendar(mailbox)[2])
    moved = move(session, visit)
    [update] = rows(session, visit.id, action="calendar_update")
    assert update.status == OutboxStatus.QUEUED and update.channel == Channel.EMAIL
    assert dispatch(session, channels, dt.datetime.now(dt.UTC)).sent == 1
    mail, part, calendar = received_calendar(mailbox)
    assert mail["Subject"].startswith("Uw bezoek is verplaatst naar")
    event = the_event(calendar)
    assert event["UID"] == first["UID"] and event["SEQUENCE"] == first["SEQUENCE"] + 1 == 1
    session.refresh(moved)
    assert event.decoded("DTSTART") == moved.announced_at != first.decoded("DTSTART")
    assert moved.announced_at.astimezone(UNIT.zone).date() == dt.date(2026, 12, 21)
    assert part.get_param("method") == "REQUEST" and calendar["METHOD"] == "REQUEST"


def test_a_cancellation_sends_a_cancel(flow) -> None:
    session, channels, mailbox = flow
    patient, visit = booked(session)
    dispatch(session, channels, dt.datetime.now(dt.UTC))
    first = the_event(received_calendar(mailbox)[2])
    cancel(session, visit)
    assert dispatch(session, channels, dt.datetime.now(dt.UTC)).sent == 1
    mail, part, calendar = received_calendar(mailbox)
    assert part.get_param("method") == "CANCEL" and calendar["METHOD"] == "CANCEL"
    event = the_event(calendar)
    assert event["UID"] == first["UID"] and event["SEQUENCE"] == 1 and event["STATUS"] == "CANCELLED"
    assert mail["Subject"].endswith("is geannuleerd")
    assert [r.status for r in rows(session, visit.id, action="calendar_cancel")] == [OutboxStatus.SENT]


def test_a_rearrangement_or_an_unsent_confirmation_sends_no_update(flow) -> None:
    session, channels, mailbox = flow
    patient, visit = booked(session)
    move(session, visit)  # the confirmation has not gone yet: it will carry the new time itself
    assert rows(session, visit.id, action="calendar_update") == []
    dispatch(session, channels, dt.datetime.now(dt.UTC))
    session.refresh(visit)
    assert the_event(received_calendar(mailbox)[2]).decoded("DTSTART") == visit.announced_at
    events.record(session, events.VisitRearranged(visit_id=visit.id))
    session.commit()  # internal step times changed, the arrival stands: nothing for the patient
    assert rows(session, visit.id, action="calendar_update") == []
    assert dispatch(session, channels, dt.datetime.now(dt.UTC)).sent == 0 and len(mailbox.messages) == 1


def test_a_patient_reached_by_sms_gets_no_calendar_file(flow) -> None:
    session, channels, mailbox = flow
    patient = make_patient(session, email="bert@example.org")  # SMS is their channel
    visit = book(session, patient.id, pathway(session).id)
    session.get(Visit, visit.id).calendar_arrival = visit.announced_at  # even had one been sent some other way
    session.commit()
    move(session, session.get(Visit, visit.id))
    cancel(session, session.get(Visit, visit.id))
    assert rows(session, visit.id, action="calendar_update") == rows(session, visit.id, action="calendar_cancel") == []
