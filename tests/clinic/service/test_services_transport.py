"""Transport and help at home: a YES or NO to the offer, by SMS or in the call, lands on the transport list;
a YES to a later reminder still confirms the visit."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.columns import Channel, Language
from clinic.errors import Conflict
from clinic.messaging import inbound
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.service import transport
from clinic.service.models import TouchChannel, TransportRequest
from clinic.visits.models import VisitStatus
from tests.factories import make_patient, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 9)  # a Wednesday
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def sent(
    session: Session, visit, action: str, *, at: dt.datetime, channel: Channel = Channel.SMS, **fields
) -> OutboxMessage:
    """An outbox row of ``visit`` sent at ``at``; ``fields`` replace any of the row's defaults."""
    row = OutboxMessage(**{
        "visit_id": visit.id,
        "patient_id": visit.patient_id,
        "action": action,
        "rule_id": f"test-{action}",
        "due_at": at,
        "next_attempt_at": at,
        "status": OutboxStatus.SENT,
        "channel": channel,
        "language": Language.EN,
        "recipient": "+31612345678",
        "body": action,
        "sent_at": at,
        **fields,
    })
    session.add(row)
    session.commit()
    return row


def offered(session: Session, language: str = "en", *, at: dt.datetime = NOW - dt.timedelta(hours=2)):
    patient = make_patient(session, language=language)
    visit = make_visit(
        session, patient=patient, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE)
    )
    sent(session, visit, transport.OFFER_ACTION, at=at)
    return patient, visit


def sms(session: Session, number: str, body: str, now: dt.datetime = NOW):
    return inbound.handle_sms(
        session=session, from_number=number, body=body, now=now, unit=UNIT, after_cancel=lambda visit_id: None
    )


def test_yes_to_the_transport_offer_puts_the_visit_on_the_transport_list(session: Session) -> None:
    patient, visit = offered(session)
    result = sms(session, patient.phone, "YES")
    assert result.outcome == "transport_wanted" and result.visit_id == visit.id
    assert "arrange transport" in result.reply and "Wednesday 9 December" in result.reply
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED  # not taken as a confirmation
    request = session.exec(select(TransportRequest)).one()
    assert (request.visit_id, request.wanted, request.channel) == (visit.id, True, TouchChannel.SMS)
    rows = transport.transport_list(session=session, today=NOW.date())
    assert [(r.visit_id, r.state, r.arranged_at) for r in rows] == [(visit.id, transport.TO_ARRANGE, None)]
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "visit"))]
    assert actions == ["transport_wanted"]


def test_no_is_kept_and_a_change_of_mind_replaces_it(session: Session) -> None:
    patient, visit = offered(session, "nl")
    result = sms(session, patient.phone, "nee")
    assert result.outcome == "transport_declined" and "geen vervoer" in result.reply
    assert sms(session, patient.phone, "ja").outcome == "transport_wanted"
    request = session.exec(select(TransportRequest)).one()
    assert request.wanted is True


def test_a_yes_to_a_later_reminder_confirms_the_visit(session: Session) -> None:
    patient, visit = offered(session, at=NOW - dt.timedelta(days=5))
    sent(session, visit, "reminder", at=NOW - dt.timedelta(hours=1))
    result = sms(session, patient.phone, "YES")
    assert result.outcome == "confirmed"
    session.refresh(visit)
    assert visit.status == VisitStatus.CONFIRMED
    assert session.exec(select(TransportRequest)).first() is None


def test_an_old_offer_or_a_cancelled_visit_is_not_answered(session: Session) -> None:
    patient, visit = offered(session, at=NOW - transport.ANSWER_WINDOW - dt.timedelta(hours=1))
    assert sms(session, patient.phone, "NO").outcome == "no_offer"
    other, cancelled = offered(session)
    cancelled.status = VisitStatus.CANCELLED
    session.add(cancelled)
    session.commit()
    assert transport.offer_awaiting_answer(session=session, patient_ids=[other.id], now=NOW) is None
    with pytest.raises(Conflict):
        transport.record_answer(
            session=session, visit_id=cancelled.id, wanted=True, channel=TouchChannel.PHONE, now=NOW
        )


def test_arranging_takes_the_visit_off_the_list_to_arrange(session: Session) -> None:
    first_patient, first = offered(session)
    sms(session, first_patient.phone, "YES")
    declined_patient, declined = offered(session)
    sms(session, declined_patient.phone, "NO")
    request = transport.for_visit(session=session, visit_id=first.id)
    done = transport.mark_arranged(
        session=session, request_id=request.id, actor_id=None, now=NOW, note="taxi 9:15"
    )
    assert done.arranged_at == NOW and done.note == "taxi 9:15"
    rows = transport.transport_list(session=session, today=NOW.date())
    assert [(r.visit_id, r.arranged_at is not None, r.state) for r in rows] == [
        (first.id, True, transport.ARRANGED),
        (declined.id, False, transport.DECLINED),
    ]
    with pytest.raises(Conflict) as twice:
        transport.mark_arranged(session=session, request_id=request.id, actor_id=None, now=NOW)
    no = transport.for_visit(session=session, visit_id=declined.id)
    with pytest.raises(Conflict) as unwanted:
        transport.mark_arranged(session=session, request_id=no.id, actor_id=None, now=NOW)
    assert (twice.value.code, unwanted.value.code) == ("already_arranged", "not_wanted")


def test_the_transport_call_asks_its_own_question_and_takes_1_and_2(session: Session) -> None:
    patient, visit = offered(session, "fr")
    language, intro, menu = inbound.call_script(session=session, visit=visit, unit=UNIT, action="transport_offer")
    assert language == "fr" and "transport" in intro and "9 décembre" in intro
    assert "1" in menu and "2" in menu and "annuler" not in menu
    pressed = inbound.handle_call_choice(
        session=session,
        visit_id=visit.id,
        digits="1",
        now=NOW,
        call_sid="CA1",
        unit=UNIT,
        action="transport_offer",
    )
    assert pressed.outcome == "transport_wanted"
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED
    request = transport.for_visit(session=session, visit_id=visit.id)
    assert (request.wanted, request.channel) == (True, TouchChannel.VOICE)
    again = inbound.handle_call_choice(
        session=session,
        visit_id=visit.id,
        digits="9",
        now=NOW,
        call_sid="CA2",
        unit=UNIT,
        action="transport_offer",
    )
    assert again.outcome == "unknown"


def test_each_call_says_what_its_message_is_about(session: Session) -> None:
    patient = make_patient(session, language="en")
    visit = make_visit(
        session, patient=patient, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE)
    )
    _, reminder, reminder_menu = inbound.call_script(session=session, visit=visit, unit=UNIT)
    _, confirmation, confirmation_menu = inbound.call_script(
        session=session, visit=visit, unit=UNIT, action="confirmation"
    )
    _, coffee, coffee_menu = inbound.call_script(session=session, visit=visit, unit=UNIT, action="coffee_voucher")
    assert "reminder" in reminder and "10:30" in reminder and "Press 1 to confirm" in reminder_menu
    assert "is booked for" in confirmation and "10:30" in confirmation and confirmation_menu == reminder_menu
    assert "coffee is on us" in coffee and coffee_menu is None
    assert not any("Reply" in text for text in (reminder, confirmation, coffee))


def test_travel_minutes_round_up_to_five():
    assert transport.travel_minutes(0) == 5 and transport.travel_minutes(-3) == 5
    assert transport.travel_minutes(10) == 15  # 15 min at 40 km/h
    assert transport.travel_minutes(11) == 20  # 16.5 min, rounded up
    assert transport.travel_minutes(80) == 120


def test_transport_day_lists_wanted_rides_by_pick_up_time(session: Session):
    from clinic.service.models import TouchChannel

    zone = ZoneInfo("Europe/Amsterdam")
    day = dt.date(2026, 12, 10)
    near = make_visit(session, patient=make_patient(session, given_name="Near", distance_km=10), day=day,
                      start=dt.datetime.combine(day, dt.time(9, 0), zone))  # fmt: skip
    far = make_visit(session, patient=make_patient(session, given_name="Far", distance_km=80, needs_wheelchair=True),
                     day=day, start=dt.datetime.combine(day, dt.time(10, 0), zone))  # fmt: skip
    declined = make_visit(session, day=day, start=dt.datetime.combine(day, dt.time(8, 0), zone))
    for visit, wanted in ((near, True), (far, True), (declined, False)):
        transport.record_answer(session=session, visit_id=visit.id, wanted=wanted, channel=TouchChannel.SMS,
                                now=dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC))  # fmt: skip
    rows = transport.transport_day(session=session, day=day)
    assert [r.visit_id for r in rows] == [far.id, near.id]  # 08:00 pick-up before 08:45
    assert rows[0].pickup == dt.datetime.combine(day, dt.time(8, 0), zone) and rows[0].wheelchair
    assert rows[1].pickup == dt.datetime.combine(day, dt.time(8, 45), zone) and rows[1].travel_minutes == 15
    assert rows[1].address.startswith("Teststraat") and rows[0].state == transport.TO_ARRANGE
    assert transport.transport_day(session=session, day=day + dt.timedelta(days=1)) == []
