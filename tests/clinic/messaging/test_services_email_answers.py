"""Answers by e-mail: outreach e-mails carry their own words and a signed link to an answer page, and a choice
made there acts as an SMS reply would (confirm, cancel, transport, stop), once and only while it is offered."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.columns import Channel, Language
from clinic.errors import Conflict, NotFound
from clinic.feedback.models import Survey
from clinic.messaging import answers as email_answers
from clinic.messaging import links, sending
from clinic.messaging.answers import CANCEL, CONFIRM, START, STOP, TRANSPORT_NO, TRANSPORT_YES
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.service import transport
from clinic.service.models import TouchChannel, TouchPoint, TransportRequest
from clinic.visits.models import VisitStatus
from outreach.channels.development import DevelopmentChannel
from tests.clinic.service.test_services_transport import sent
from tests.factories import make_patient, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 9)  # a Wednesday
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
PUBLIC = links.Links(public_base_url="https://onevisit.example.org", secret_key="k")


def emailed(session: Session, action: str, *, language: str = "en", status: OutboxStatus = OutboxStatus.SENT,
            day: dt.date = DAY):
    patient = make_patient(session, language=language, channel=Channel.EMAIL, email="anna@example.org",
                           given_name="Anna")
    visit = make_visit(session, patient=patient, day=day, start=dt.datetime.combine(day, dt.time(10, 30), ZONE))
    row = sent(session, visit, action, at=NOW, channel=Channel.EMAIL, status=status, language=Language(language),
               recipient=patient.email, body="the SMS wording. Reply STOP to stop non-essential messages.",
               sent_at=NOW if status == OutboxStatus.SENT else None)
    return patient, visit, row


def answer(session: Session, row: OutboxMessage, choice: str, *, now: dt.datetime = NOW, cancelled=None):
    return email_answers.answer(session=session, outbox_id=row.id, choice=choice, now=now, unit=make_unit(desk_phone="+31 30 000 0000"),
                                after_cancel=(cancelled.append if cancelled is not None else lambda _visit_id: None))


def choices(session: Session, row: OutboxMessage, now: dt.datetime = NOW) -> tuple[str, ...]:
    return email_answers.answer_page(session=session, outbox_id=row.id, now=now, tz=TZ).choices


def test_the_dispatcher_sends_an_email_in_its_own_words_with_a_link_to_its_answer_page(session: Session) -> None:
    patient, visit, row = emailed(session, "confirmation", language="nl", status=OutboxStatus.QUEUED)
    mail = DevelopmentChannel("email")
    report = sending.dispatch_due(session=session, channels={"email": mail}, owner="t", now=NOW, unit=UNIT,
                                   links=PUBLIC)
    assert report.sent == 1
    [message] = mail.sent
    assert message.to == "anna@example.org" and message.subject == "Uw bezoek op woensdag 9 december"
    assert message.body.startswith("Beste Anna,") and message.body.endswith("\n\nDe dagbehandeling")
    assert "is geboekt op woensdag 9 december om 10:30" in message.body
    assert "STOP" not in message.body and "Antwoord" not in message.body  # e-mail replies are not read
    link = next(line for line in message.body.splitlines() if line.startswith("https://"))
    assert link.startswith("https://onevisit.example.org/answer/")
    assert links.outbox_for_token("k", link.rsplit("/", 1)[1]) == row.id
    assert links.outbox_for_token("another key", link.rsplit("/", 1)[1]) is None
    session.refresh(row)
    assert row.status == OutboxStatus.SENT and row.body.startswith("the SMS wording")  # the row keeps its plan


@pytest.mark.parametrize(
    ("action", "says", "asks"),
    [
        ("reminder", "This is a reminder of your visit (Check-up) on Wednesday 9 December at 10:30.",
         "Please confirm or cancel your visit on this page:"),
        ("transport_offer", "We can arrange transport and help at home for your visit on Wednesday 9 December.",
         "Would you like this? Answer yes or no on this page:"),
        ("coffee_voucher", "Show voucher C7-ABCDE at check-in on Wednesday 9 December.",
         "To stop messages that are not essential, open this page:"),
        ("volunteer_meet", "This is a message about your visit on Wednesday 9 December.",
         "To stop messages that are not essential, open this page:"),
    ],
)
def test_each_email_says_what_its_page_offers(session: Session, action: str, says: str, asks: str) -> None:
    patient = make_patient(session, given_name="Anna", language="en")
    subject, body = email_answers.email_words(
        patient=patient, action=action, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE),
        pathway="Check-up", voucher="C7-ABCDE", link="https://x/answer/t", tz=TZ,
    )
    assert "Wednesday 9 December" in subject
    assert says in body and f"{asks}\nhttps://x/answer/t" in body and "Reply" not in body


def test_the_page_offers_what_the_message_asks_and_the_visit_still_allows(session: Session) -> None:
    _patient, visit, reminder = emailed(session, "reminder")
    assert choices(session, reminder) == (CONFIRM, CANCEL, STOP)
    visit.status = VisitStatus.CONFIRMED
    session.add(visit)
    session.commit()
    assert choices(session, reminder) == (CANCEL, STOP)
    assert choices(session, reminder, now=dt.datetime(2026, 12, 10, 9, tzinfo=dt.UTC)) == (STOP,)  # over
    visit.status = VisitStatus.CANCELLED
    session.add(visit)
    session.commit()
    assert choices(session, reminder) == (STOP,)
    patient, _visit, offer = emailed(session, transport.OFFER_ACTION)
    assert choices(session, offer) == (TRANSPORT_YES, TRANSPORT_NO, STOP)
    patient.opted_out = True
    session.add(patient)
    session.commit()
    assert choices(session, offer) == (TRANSPORT_YES, TRANSPORT_NO, START)
    _patient, _visit, voucher = emailed(session, "coffee_voucher")
    assert choices(session, voucher) == (STOP,)


def test_only_emails_have_answer_pages(session: Session) -> None:
    _patient, _visit, row = emailed(session, "reminder")
    row.channel = Channel.SMS
    session.add(row)
    session.commit()
    with pytest.raises(NotFound):
        email_answers.answer_page(session=session, outbox_id=row.id, now=NOW, tz=TZ)
    with pytest.raises(NotFound):
        email_answers.answer_page(session=session, outbox_id=row.id + 1000, now=NOW, tz=TZ)


def test_confirming_confirms_the_visit_and_is_kept_as_an_email_answer(session: Session) -> None:
    _patient, visit, row = emailed(session, "reminder", language="fr")
    result = answer(session, row, CONFIRM)
    assert result.outcome == "confirmed" and result.language == "fr"
    assert result.reply == "Merci, votre visite du mercredi 9 décembre à 10:30 est confirmée."
    session.refresh(visit)
    session.refresh(row)
    assert visit.status == VisitStatus.CONFIRMED
    assert row.status == OutboxStatus.DELIVERED  # the answer shows the e-mail arrived
    reached = session.exec(select(TouchPoint).where(TouchPoint.ref == f"outbox:{row.id}")).one()
    assert (reached.purpose, reached.expectation_met) == ("reminder", True)
    message = session.exec(select(InboundMessage)).one()
    assert (message.channel, message.keyword, message.outcome, message.visit_id) == (
        Channel.EMAIL, "confirm", "confirmed", visit.id)
    touch = session.exec(select(TouchPoint).where(TouchPoint.purpose == "inbound_email")).one()
    assert (touch.channel, touch.expectation_met, touch.patient_id) == (TouchChannel.EMAIL, True, visit.patient_id)
    assert session.exec(select(Survey)).one().source_ref == f"inbound:{message.id}"  # the two questions follow
    with pytest.raises(Conflict) as twice:
        answer(session, row, CONFIRM)
    assert twice.value.code == "not_offered"
    assert len(session.exec(select(InboundMessage)).all()) == 1


def test_cancelling_frees_the_place_for_the_waiting_list(session: Session) -> None:
    _patient, visit, row = emailed(session, "confirmation")
    freed: list[int] = []
    result = answer(session, row, CANCEL, cancelled=freed)
    assert result.outcome == "cancelled" and "call +31 30 000 0000" in result.reply
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED and visit.cancelled_reason == email_answers.CANCEL_REASON
    assert freed == [visit.id]
    with pytest.raises(Conflict):
        answer(session, row, CONFIRM)
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED


def test_the_transport_answer_is_kept_and_can_be_changed(session: Session) -> None:
    _patient, visit, row = emailed(session, transport.OFFER_ACTION, language="nl")
    assert answer(session, row, TRANSPORT_YES).outcome == "transport_wanted"
    request = session.exec(select(TransportRequest)).one()
    assert (request.visit_id, request.wanted, request.channel) == (visit.id, True, TouchChannel.EMAIL)
    page = email_answers.answer_page(session=session, outbox_id=row.id, now=NOW, tz=TZ)
    assert page.transport_wanted is True
    declined = answer(session, row, TRANSPORT_NO)
    assert declined.reply == "Dank u, genoteerd: geen vervoer voor uw bezoek op woensdag 9 december."
    session.refresh(request)
    assert request.wanted is False
    with pytest.raises(Conflict):
        answer(session, row, CONFIRM)  # a transport e-mail does not confirm the visit


def test_stop_and_start_switch_non_essential_messages(session: Session) -> None:
    patient, _visit, row = emailed(session, "coffee_voucher")
    assert answer(session, row, STOP).outcome == "opted_out"
    session.refresh(patient)
    assert patient.opted_out
    assert choices(session, row) == (START,)
    assert answer(session, row, START).outcome == "opted_in"
    session.refresh(patient)
    assert not patient.opted_out
    assert session.exec(select(Survey)).first() is None  # no questions after stop or start
