"""Touch-points: each kind of record becomes the right touch-point through the session listener (ORM
changes and bulk statements alike), recording again is harmless, and the expectations file is validated."""

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.billing.models import Invoice, InvoiceStatus
from clinic.columns import Channel
from clinic.errors import NotFound, SeedError, ValidationError
from clinic.feedback.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpReason,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.messaging import delivery, inbound, sending
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.refill import services as refill
from clinic.refill.models import OfferChannel, OfferStatus, WaitlistEntry, WaitlistOffer
from clinic.service import touchpoints
from clinic.service.models import TouchPoint, VolunteerAssignment
from clinic.users.models import Role
from clinic.visits.models import VisitCheckin
from tests.factories import make_patient, make_unit, make_user, make_visit
from tests.peers.fakes import RecordingChannel

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)  # a Monday, 11:00 in Amsterdam: not quiet hours
DAY = dt.date(2026, 12, 2)
SEED = Path(__file__).resolve().parents[3] / "seed_data"


def _touches(session: Session, **where) -> list[TouchPoint]:
    session.expire_all()
    statement = select(TouchPoint).order_by(TouchPoint.id)
    for name, value in where.items():
        statement = statement.where(getattr(TouchPoint, name) == value)
    return list(session.exec(statement))


def _outbox(
    session: Session, visit, *, action: str = "reminder", channel: str = "sms", **kw
) -> OutboxMessage:
    row = OutboxMessage(
        visit_id=visit.id, patient_id=visit.patient_id, action=action, rule_id=f"basic-{action}",
        due_at=NOW - dt.timedelta(minutes=5), next_attempt_at=NOW - dt.timedelta(minutes=5),
        channel=Channel(channel), language="nl", recipient="+31970100000", body="Tot woensdag!", **kw,
    )  # fmt: skip
    session.add(row)
    session.commit()
    return row


# --- outbound messages ---------------------------------------------------------------------------


def test_an_outbox_message_is_a_touch_point_once_sent_and_met_when_delivered(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    row = _outbox(session, visit)
    assert _touches(session) == []  # queued: no contact yet

    sms = RecordingChannel("sms")
    report = sending.dispatch_due(session=session, channels={"sms": sms}, owner="test", now=NOW, unit=UNIT)
    assert report.sent == 1
    (touch,) = _touches(session)
    assert (touch.patient_id, touch.visit_id, touch.purpose, touch.ref) == (
        visit.patient_id, visit.id, "reminder", f"outbox:{row.id}",
    )  # fmt: skip
    assert (touch.channel, touch.direction, touch.expectation_met, touch.at) == ("sms", "outbound", None, NOW)

    session.refresh(row)
    later = NOW + dt.timedelta(minutes=1)
    assert delivery.record_delivery(
        session=session, provider_id=row.provider_id, status="delivered", now=later, unit=UNIT
    )
    (touch,) = _touches(session)  # the same touch-point, now known to be met
    assert touch.expectation_met is True and touch.at == NOW


def test_a_message_that_fails_onto_the_call_list_is_not_met(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    row = _outbox(session, visit, action="confirmation", channel="voice")
    voice = RecordingChannel("voice", fail=1, retryable=False)
    sending.dispatch_due(session=session, channels={"voice": voice}, owner="test", now=NOW, unit=UNIT)
    session.refresh(row)
    assert row.status == OutboxStatus.FAILED and row.on_call_list
    (touch,) = _touches(session)
    assert (touch.purpose, touch.channel, touch.expectation_met) == ("confirmation", "voice", False)


def test_withdrawn_and_skipped_messages_are_no_contact(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    _outbox(session, visit, status=OutboxStatus.WITHDRAWN)
    _outbox(session, visit, action="coffee_voucher", status=OutboxStatus.SKIPPED)
    assert _touches(session) == []


# --- the patient contacts us ----------------------------------------------------------------------


def test_inbound_sms_from_a_patient_is_an_inbound_touch_point(session: Session) -> None:
    patient = make_patient(session)
    help_reply = inbound.handle_sms(
        session=session, from_number=patient.phone, body="HELP", now=NOW, provider_id="SM1", unit=UNIT
    )
    garbled = inbound.handle_sms(
        session=session, from_number=patient.phone, body="what?", now=NOW, provider_id="SM2", unit=UNIT
    )
    inbound.handle_sms(
        session=session, from_number="+31970109999999", body="HELP", now=NOW, provider_id="SM3", unit=UNIT
    )
    inbound.handle_sms(
        session=session, from_number=patient.phone, body="HELP", now=NOW, provider_id="SM1", unit=UNIT
    )  # retry
    assert (help_reply.outcome, garbled.outcome) == ("help", "unknown")
    touches = _touches(session)
    assert [(t.purpose, t.channel, t.direction, t.expectation_met, t.note) for t in touches] == [
        ("inbound_sms", "sms", "inbound", True, "help"),
        ("inbound_sms", "sms", "inbound", False, "unknown"),
    ]  # the unknown sender is nobody's touch-point; the retried webhook adds nothing
    assert {t.patient_id for t in touches} == {patient.id}
    assert [t.ref for t in touches] == [f"inbound:{help_reply.message_id}", f"inbound:{garbled.message_id}"]


def test_a_key_pressed_in_a_call_is_an_inbound_call(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    session.add(InboundMessage(channel=Channel.VOICE, provider_id="CA1:1", from_number="+31970100000",
                               body="1", patient_id=visit.patient_id, visit_id=visit.id, outcome="confirmed"))  # fmt: skip
    session.commit()
    (touch,) = _touches(session)
    assert (touch.purpose, touch.channel, touch.visit_id, touch.expectation_met) == (
        "inbound_call", "voice", visit.id, True,
    )  # fmt: skip


# --- at the unit --------------------------------------------------------------------------------


def test_check_in_is_a_walk_in_met_within_the_lateness_threshold(session: Session) -> None:
    limit = touchpoints.load_expectations().late_minutes_max
    on_time, late = make_visit(session, day=DAY), make_visit(session, day=DAY)
    desk = make_user(session, username="desk-1")
    session.add_all([
        VisitCheckin(visit_id=on_time.id, checked_in_at=NOW, late_minutes=limit, checked_in_by=desk.id),
        VisitCheckin(visit_id=late.id, checked_in_at=NOW, late_minutes=limit + 1),
    ])  # fmt: skip
    session.commit()
    touches = {t.visit_id: t for t in _touches(session, purpose="check_in")}
    assert touches[on_time.id].expectation_met is True and touches[on_time.id].user_id == desk.id
    assert touches[late.id].expectation_met is False
    assert {(t.channel, t.direction, t.patient_id) for t in touches.values()} == {
        ("walk_in", "inbound", on_time.patient_id), ("walk_in", "inbound", late.patient_id),
    }  # fmt: skip


def test_an_invoice_issued_at_checkout_is_a_touch_point_and_its_credit_note_is_not(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    invoice = Invoice(year=2026, seq=1, patient_id=visit.patient_id, visit_id=visit.id, issued_at=NOW)
    session.add(invoice)
    session.commit()
    invoice.status = InvoiceStatus.CREDITED
    session.add(Invoice(year=2026, seq=2, patient_id=visit.patient_id, visit_id=visit.id, issued_at=NOW,
                        credit_for_id=invoice.id))  # fmt: skip
    session.commit()
    (touch,) = _touches(session)
    assert (touch.purpose, touch.channel, touch.ref, touch.expectation_met) == (
        "checkout", "walk_in", f"invoice:{invoice.id}", True,
    )  # fmt: skip


def test_volunteer_outcomes_by_orm_and_by_bulk_update(session: Session) -> None:
    visits = [make_visit(session, day=DAY) for _ in range(3)]
    rows = [
        VolunteerAssignment(visit_id=v.id, day=DAY, reason="long_distance", meet_at=NOW, leave_at=NOW)
        for v in visits
    ]
    session.add_all(rows)
    session.commit()
    assert _touches(session) == []
    rows[0].outcome, rows[0].outcome_at = "met", NOW
    session.commit()
    # a bulk statement by WHERE clause, and an ORM bulk update by primary key: no flush happens
    table = VolunteerAssignment.__table__
    session.execute(table.update().where(table.c.id == rows[1].id).values(outcome="not_met", outcome_at=NOW))
    session.execute(sa.update(VolunteerAssignment), [{"id": rows[2].id, "outcome": "met", "outcome_at": NOW}])
    session.commit()
    touches = {t.visit_id: t for t in _touches(session)}
    assert [touches[v.id].expectation_met for v in visits] == [True, False, True]
    assert {(t.purpose, t.channel, t.direction) for t in touches.values()} == {
        ("volunteer_meeting", "walk_in", "outbound")
    }


# --- offers, surveys, follow-ups ------------------------------------------------------------------


def _offer(session: Session, channel: OfferChannel) -> WaitlistOffer:
    source = make_visit(session, day=DAY)
    patient = make_patient(session)
    entry = WaitlistEntry(patient_id=patient.id, pathway_id=source.pathway_id, earliest_date=DAY,
                          latest_date=DAY, status="offered")  # fmt: skip
    session.add(entry)
    session.commit()
    offer = WaitlistOffer(entry_id=entry.id, source_visit_id=source.id, day=DAY, slot_start=NOW,
                          itinerary={"steps": []}, channel=channel, sent_at=NOW,
                          expires_at=NOW + dt.timedelta(minutes=30))  # fmt: skip
    session.add(offer)
    session.commit()
    return offer


def test_an_answered_offer_is_a_touch_point_and_an_expired_one_is_not(session: Session) -> None:
    declined = _offer(session, OfferChannel.SMS)
    called = _offer(session, OfferChannel.PHONE)
    expired = _offer(session, OfferChannel.SMS)
    later = NOW + dt.timedelta(minutes=3)
    refill.decline_offer(session=session, offer_id=declined.id, now=later)  # a conditional bulk UPDATE
    refill.decline_offer(session=session, offer_id=called.id, now=later)
    refill.expire_offers(session=session, now=NOW + dt.timedelta(hours=1))  # closed unanswered
    session.expire_all()
    assert session.get(WaitlistOffer, expired.id).status == OfferStatus.EXPIRED
    touches = {t.ref: t for t in _touches(session, purpose="waitlist_offer")}
    assert set(touches) == {f"offer:{declined.id}", f"offer:{called.id}"}
    sms, phone = touches[f"offer:{declined.id}"], touches[f"offer:{called.id}"]
    assert (sms.channel, sms.direction, sms.expectation_met, sms.at, sms.note) == (
        "sms",
        "inbound",
        True,
        later,
        "declined",
    )
    assert (phone.channel, phone.direction) == ("phone", "outbound")
    entry_patient = session.get(WaitlistEntry, declined.entry_id).patient_id
    assert sms.patient_id == entry_patient


def test_an_offer_answered_too_late_is_not_met(session: Session) -> None:
    offer = _offer(session, OfferChannel.SMS)
    offer.status, offer.answered_at = OfferStatus.TAKEN, NOW
    session.commit()
    (touch,) = _touches(session)
    assert touch.expectation_met is False and touch.note == "taken"


def _survey(session: Session, patient_id: int, **kw) -> Survey:
    survey = Survey(patient_id=patient_id, trigger=SurveyTrigger.VISIT, source_ref=f"visit:{kw.pop('n', 1)}",
                    channel=kw.pop("channel", SurveyChannel.SMS), language="nl", next_attempt_at=NOW, **kw)  # fmt: skip
    session.add(survey)
    session.commit()
    return survey


def test_answered_surveys_by_orm_and_bulk_update(session: Session) -> None:
    patient = make_patient(session)
    yes_yes = _survey(session, patient.id, n=1, channel=SurveyChannel.TABLET)
    yes_no = _survey(session, patient.id, n=2)
    pending = _survey(session, patient.id, n=3)
    assert _touches(session) == []
    yes_yes.status, yes_yes.got_what_needed, yes_yes.good_job, yes_yes.answered_at = (
        "answered",
        True,
        True,
        NOW,
    )
    session.commit()
    session.execute(
        sa.update(Survey)
        .where(Survey.id == yes_no.id)
        .values(
            status=SurveyStatus.ANSWERED,
            got_what_needed=True,
            good_job=False,
            answered_at=NOW,
            comment="slow",
        )
    )
    session.execute(
        sa.update(Survey).where(Survey.id == pending.id).values(attempts=1)
    )  # not a watched column
    session.commit()
    touches = {t.ref: t for t in _touches(session)}
    assert set(touches) == {f"survey:{yes_yes.id}", f"survey:{yes_no.id}"}
    assert (touches[f"survey:{yes_yes.id}"].channel, touches[f"survey:{yes_yes.id}"].expectation_met) == (
        "walk_in",
        True,
    )
    no = touches[f"survey:{yes_no.id}"]
    assert (no.purpose, no.channel, no.direction, no.expectation_met, no.note) == (
        "two_questions", "sms", "inbound", False, "slow",
    )  # fmt: skip


def test_a_follow_up_call_is_met_before_it_is_due(session: Session) -> None:
    patient = make_patient(session)
    desk = make_user(session, username="desk-2", role=Role.FRONT_DESK)
    follow_up = FollowUp(patient_id=patient.id, reason=FollowUpReason.ANSWERED_NO, due_at=NOW)
    session.add(follow_up)
    session.commit()
    session.add_all([
        FollowUpEvent(follow_up_id=follow_up.id, kind="opened", at=NOW - dt.timedelta(hours=2)),
        FollowUpEvent(follow_up_id=follow_up.id, kind="called", at=NOW - dt.timedelta(hours=1), user_id=desk.id,
                      note="apologised for the wait"),
        FollowUpEvent(follow_up_id=follow_up.id, kind="called", at=NOW + dt.timedelta(hours=1), user_id=desk.id),
    ])  # fmt: skip
    session.commit()
    touches = _touches(session)
    assert [(t.purpose, t.channel, t.direction, t.expectation_met, t.user_id) for t in touches] == [
        ("follow_up_call", "phone", "outbound", True, desk.id),
        ("follow_up_call", "phone", "outbound", False, desk.id),
    ]
    assert touches[0].note == "apologised for the wait"


# --- idempotence and the paths around the session --------------------------------------------------


def test_recording_again_is_harmless_and_backfill_covers_raw_writes(session: Session, engine: Engine) -> None:
    visit = make_visit(session, day=DAY)
    row = _outbox(session, visit, status=OutboxStatus.DELIVERED, sent_at=NOW)
    assert len(_touches(session)) == 1
    row.on_call_list = False  # no change
    row.status = OutboxStatus.DELIVERED
    session.add(row)
    session.commit()
    assert len(_touches(session)) == 1

    with engine.begin() as connection:  # around every session: only a backfill sees these
        table = InboundMessage.__table__
        connection.execute(table.insert().values(channel="sms", from_number="+31970100000", body="JA",
                                                 patient_id=visit.patient_id, outcome="confirmed", received_at=NOW))  # fmt: skip
        connection.execute(sa.update(OutboxMessage.__table__).values(status="failed", on_call_list=True))
    assert len(_touches(session)) == 1
    assert touchpoints.backfill(session=session) == 2
    assert touchpoints.backfill(session=session) == 2  # again: same rows, brought up to date, none added
    touches = _touches(session)
    assert sorted((t.purpose, t.expectation_met) for t in touches) == [
        ("inbound_sms", True),
        ("reminder", False),
    ]


def test_a_bulk_insert_through_the_session_is_recorded(session: Session) -> None:
    patient = make_patient(session)
    session.execute(
        sa.insert(InboundMessage),
        [
            {"channel": "sms", "from_number": patient.phone, "patient_id": patient.id, "outcome": "help",
             "received_at": NOW},
            {"channel": "sms", "from_number": patient.phone, "patient_id": patient.id, "outcome": "no_visit",
             "received_at": NOW},
        ],
    )  # fmt: skip
    session.commit()
    assert sorted(t.expectation_met for t in _touches(session)) == [False, True]


def test_a_rolled_back_change_leaves_no_touch_point(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    session.add(VisitCheckin(visit_id=visit.id, checked_in_at=NOW))
    session.flush()
    assert session.exec(select(TouchPoint)).one().purpose == "check_in"
    session.rollback()
    assert _touches(session) == []


# --- logged by hand -------------------------------------------------------------------------------


def test_staff_log_a_contact_by_hand(session: Session) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient=patient, day=DAY)
    desk = make_user(session, username="desk-3")
    touch = touchpoints.log_contact(
        session=session, patient_id=patient.id, channel="phone", direction="inbound", purpose="question",
        met=True, note="  asked about parking  ", actor_id=desk.id, now=NOW, visit_id=visit.id,
    )  # fmt: skip
    assert (touch.ref, touch.note, touch.user_id, touch.visit_id) == (
        None,
        "asked about parking",
        desk.id,
        visit.id,
    )
    assert touchpoints.for_patient(session=session, patient_id=patient.id)[0].id == touch.id
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "touchpoint.logged")).one()
    assert (event.actor_id, event.entity_id) == (desk.id, touch.id)

    base = dict(session=session, patient_id=patient.id, channel="walk_in", direction="outbound",
                purpose="complaint", met=None, note="", actor_id=desk.id, now=NOW)  # fmt: skip
    for field, bad in [("channel", "sms"), ("direction", "sideways"), ("purpose", "check_in"),
                       ("note", "x" * 501), ("visit_id", make_visit(session, day=DAY).id)]:  # fmt: skip
        with pytest.raises(ValidationError) as info:
            touchpoints.log_contact(**{**base, field: bad})
        assert info.value.field == field
    with pytest.raises(NotFound):
        touchpoints.log_contact(**{**base, "patient_id": 999_999})
    assert len(_touches(session)) == 1


def test_the_patient_history_is_newest_first(session: Session) -> None:
    patient = make_patient(session)
    for hours in (3, 1, 2):
        touchpoints.log_contact(session=session, patient_id=patient.id, channel="web", direction="inbound",
                                purpose="information", met=None, note=str(hours), actor_id=None,
                                now=NOW - dt.timedelta(hours=hours))  # fmt: skip
    assert [t.note for t in touchpoints.for_patient(session=session, patient_id=patient.id)] == [
        "1",
        "2",
        "3",
    ]


# --- the expectations file ------------------------------------------------------------------------


def test_the_shipped_expectations_describe_every_recorded_purpose() -> None:
    expectations = touchpoints.load_expectations(SEED / "touchpoints.yaml")
    assert set(touchpoints.RECORDED_PURPOSES) <= set(expectations.purposes)
    assert expectations.purpose("some_new_action") is expectations.purposes["message"]
    texts = expectations.purposes["check_in"].texts("fr")
    assert str(expectations.late_minutes_max) in texts["met"] and "{" not in texts["met"]
    assert expectations.manual() and all(
        code not in touchpoints.RECORDED_PURPOSES for code in expectations.manual()
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("late_minutes_max: 15", "late_minutes_max: -5"),
         "touchpoints.yaml: purposes.check_in.late_minutes_max: Input should be greater than or equal to 0"),
        (lambda t: t.replace("  two_questions:\n", "  two_questionz:\n"),
         "touchpoints.yaml: purposes.two_questions: missing"),
        (lambda t: t.replace("    manual: true\n", "    manual: true\n    colour: red\n", 1),
         "touchpoints.yaml: purposes.question.colour: Extra inputs are not permitted"),
        (lambda t: t.replace('      en: "Complaint"\n', ""),
         "touchpoints.yaml: purposes.complaint.label.en: Field required"),
        (lambda t: t.replace("version: 1", "version: [1"), "touchpoints.yaml: line "),
        (lambda t: t.replace("  question:\n", "  Question!:\n"), "touchpoints.yaml: purposes: Value error, purpose 'Question!'"),
    ],
)  # fmt: skip
def test_a_bad_expectations_file_is_refused_with_file_and_key(tmp_path: Path, edit, expected: str) -> None:
    path = tmp_path / "touchpoints.yaml"
    path.write_text(edit((SEED / "touchpoints.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(SeedError) as info:
        touchpoints.load_expectations(path)
    assert any(problem.startswith(expected) for problem in info.value.problems), info.value.problems


def test_backfill_can_stay_inside_the_callers_transaction(session: Session) -> None:
    visit = make_visit(session, day=DAY)
    session.connection().execute(
        VisitCheckin.__table__.insert(), [{"visit_id": visit.id, "checked_in_at": NOW, "late_minutes": 0}]
    )
    assert touchpoints.backfill(session=session, commit=False) == 1
    assert session.exec(select(TouchPoint)).one().purpose == "check_in"
    session.rollback()
    assert _touches(session) == []
