"""``recover_stale`` with the real Twilio channels against the fake server: rows a dead dispatcher claimed
are marked sent when Twilio has the message (with Twilio's sid), queued again when it has not, retried
when Twilio has it as failed, and left "unknown" (on the call list) when Twilio does not answer, until a
later tick's lookup settles it."""

import datetime as dt
from collections import Counter

import pytest
from sqlmodel import Session, select

from clinic.columns import Channel, utcnow
from clinic.messaging import lease, outbox, outreach, recovery, sending
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.patients.models import Patient
from outreach.channels import OutgoingMessage
from tests.containers import channels_for
from tests.factories import make_pathway, make_patient, make_unit, make_visit

STALE = dt.timedelta(seconds=1)
TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
pytestmark = pytest.mark.usefixtures("clock")  # a weekday afternoon: quiet hours hold nothing back


@pytest.fixture
def channels(twilio_config):
    config = {**twilio_config, "PUBLIC_BASE_URL": "https://onevisit.example.org", "SECRET_KEY": "k"}
    return channels_for(config)


def book(session: Session, *, senior_far: bool = False) -> int:
    """A booked visit two weeks ahead, outreach planned now; returns the visit id."""
    fields = {"birth_date": dt.date(1950, 1, 1), "distance_km": 80.0} if senior_far else {}
    patient = make_patient(session, channel="sms", **fields)
    start = utcnow().replace(microsecond=0) + dt.timedelta(days=14)
    visit = make_visit(session, patient=patient, pathway=make_pathway(session), day=start.date(), start=start)
    visit.booked_at = utcnow() - dt.timedelta(minutes=1)
    session.add(visit)
    session.commit()
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=utcnow(), unit=UNIT)
    return visit.id


def due_rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    ids = sending.due_ids(session=session, now=utcnow(), limit=100)
    return [session.get(OutboxMessage, row_id) for row_id in ids]


def die_after_claiming(session: Session, rows: list[OutboxMessage]) -> None:
    """What a dispatcher killed mid-batch leaves: the rows claimed, nothing recorded."""
    claimed = sending._claim(session, [r.id for r in rows], "dead", utcnow() - 3 * STALE)
    assert len(claimed) == len(rows)


def hand_to_twilio(session: Session, channels, row: OutboxMessage) -> str:
    """The dead dispatcher's request that reached Twilio before the kill; returns Twilio's sid."""
    patient = session.get(Patient, row.patient_id)
    message = OutgoingMessage(key=sending.message_key(row), channel=row.channel.value, to=patient.phone,
                              body=row.body, language=row.language.value,
                              metadata={"visit_id": str(row.visit_id)})
    result = channels[row.channel.value].send(message)
    assert result.ok
    return result.provider_id


def recover(session: Session, channels) -> int:
    return recovery.recover_stale(session=session, channels=channels, owner="new", now=utcnow(), stale_after=STALE,
                                  unit=UNIT)


def test_what_twilio_has_is_marked_sent_the_rest_is_sent_once_more(session, channels, fake_twilio):
    for _ in range(3):
        book(session)
    book(session, senior_far=True)  # confirmation and coffee voucher by SMS, transport offer by call
    rows = due_rows(session)
    assert Counter(r.channel.value for r in rows) == {"sms": 5, "voice": 1}
    die_after_claiming(session, rows)
    text = rows[0]
    call = next(r for r in rows if r.channel.value == "voice")
    text_sid, call_sid = hand_to_twilio(session, channels, text), hand_to_twilio(session, channels, call)

    assert recover(session, channels) == 6
    by_id = {r.id: r for r in due_rows(session)}  # the queued ones are due again at once
    assert set(by_id) == {r.id for r in rows} - {text.id, call.id}
    for row_id, sid in ((text.id, text_sid), (call.id, call_sid)):
        row = session.get(OutboxMessage, row_id)
        assert (row.status, row.provider_id, row.on_call_list) == (OutboxStatus.SENT, sid, False)
    assert len(fake_twilio.lists()) == 5 + 2  # 5 SMS lookups of one list each, one call lookup of two

    report = sending.dispatch_due(session=session, channels=channels, owner="new", now=utcnow(), unit=UNIT)
    assert report.sent == 4
    sent = Counter((r.field("To"), r.field("Body")) for r in fake_twilio.messages())
    assert set(sent.values()) == {1} and len(sent) == 5
    assert [r.field("To") for r in fake_twilio.calls()] == [session.get(Patient, call.patient_id).phone]
    session.expire_all()
    assert {r.status for r in session.exec(select(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows])))} \
        == {OutboxStatus.SENT}


def test_a_call_already_credited_to_another_row_is_not_this_rows(session, channels, fake_twilio):
    """The patient's reminder call went out after the dead dispatcher claimed the transport offer call:
    the one call Twilio has is the reminder's, so the offer is queued again, not marked sent."""
    visit_id = book(session, senior_far=True)
    [offer] = [r for r in due_rows(session) if r.channel.value == "voice"]
    die_after_claiming(session, [offer])
    reminder = session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit_id,
                                                        OutboxMessage.action == "reminder",
                                                        OutboxMessage.channel == Channel.VOICE)).one()
    reminder.provider_id = hand_to_twilio(session, channels, reminder)
    reminder.status = OutboxStatus.SENT
    session.add(reminder)
    session.commit()
    assert recover(session, channels) == 1
    session.expire_all()
    row = session.get(OutboxMessage, offer.id)
    assert row.status == OutboxStatus.QUEUED and row.provider_id is None


def test_a_message_twilio_has_as_failed_is_retried(session, channels, fake_twilio):
    book(session)
    [row] = due_rows(session)
    die_after_claiming(session, [row])
    sid = hand_to_twilio(session, channels, row)
    fake_twilio.set_status(sid, "undelivered")
    assert recover(session, channels) == 1
    session.expire_all()
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.attempts, row.provider_id) == (OutboxStatus.QUEUED, 1, sid)
    assert "undelivered" in row.last_error and row.next_attempt_at > utcnow()


def settle(session: Session, channels) -> int:
    settled = recovery.settle_unknown(session=session, channels=channels, now=utcnow())
    session.expire_all()
    return settled


def unknown_after_crash(session: Session, channels, fake_twilio, *, reached_twilio: bool = True) -> OutboxMessage:
    """A row a dead dispatcher claimed, recovered while Twilio does not answer the lookup: ``unknown``."""
    book(session)
    [row] = due_rows(session)
    die_after_claiming(session, [row])
    if reached_twilio:
        hand_to_twilio(session, channels, row)
    fake_twilio.fail_with(503)
    assert recover(session, channels) == 1
    session.expire_all()
    return session.get(OutboxMessage, row.id)


def test_when_twilio_does_not_answer_the_row_is_unknown_and_on_the_call_list(session, channels, fake_twilio):
    row = unknown_after_crash(session, channels, fake_twilio)
    assert (row.status, row.on_call_list, row.provider_id) == (OutboxStatus.UNKNOWN, True, None)
    assert "no answer from the provider" in row.last_error and "503" in row.last_error
    assert len(fake_twilio.messages()) == 1
    assert due_rows(session) == []  # not sent again


def test_an_unknown_row_twilio_has_is_settled_as_sent_on_a_later_tick(session, channels, fake_twilio, clock):
    row = unknown_after_crash(session, channels, fake_twilio)
    [created] = fake_twilio.created()
    clock.shift(dt.timedelta(minutes=5))
    fake_twilio.fail_with(503)  # still no answer: it stays unknown
    assert settle(session, channels) == 0
    assert session.get(OutboxMessage, row.id).status == OutboxStatus.UNKNOWN

    clock.shift(dt.timedelta(minutes=5))
    assert settle(session, channels) == 1
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.provider_id, row.on_call_list) == (OutboxStatus.SENT, created["sid"], False)
    sending.dispatch_due(session=session, channels=channels, owner="new", now=utcnow(), unit=UNIT)
    assert settle(session, channels) == 0
    assert len(fake_twilio.messages()) == 1  # exactly one message at Twilio


def test_an_unknown_row_twilio_does_not_have_fails_and_is_not_sent_again(session, channels, fake_twilio, clock):
    row = unknown_after_crash(session, channels, fake_twilio, reached_twilio=False)
    clock.shift(dt.timedelta(minutes=5))
    assert settle(session, channels) == 1
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.on_call_list) == (OutboxStatus.FAILED, True)
    clock.shift(dt.timedelta(hours=2))
    sending.dispatch_due(session=session, channels=channels, owner="new", now=utcnow(), unit=UNIT)
    assert fake_twilio.messages() == []  # the desk may have called already


def test_unknown_rows_older_than_two_days_are_no_longer_asked_about(session, channels, fake_twilio, clock):
    row = unknown_after_crash(session, channels, fake_twilio)
    asked = len(fake_twilio.lists())
    clock.shift(dt.timedelta(days=3))
    assert settle(session, channels) == 0
    assert len(fake_twilio.lists()) == asked
    assert session.get(OutboxMessage, row.id).status == OutboxStatus.UNKNOWN


def test_a_dispatcher_that_lost_its_lease_mid_batch_sends_no_more_and_hands_its_claims_back(session):
    """A stalled dispatcher whose lease another one took must not send rows the new holder may recover."""
    from sqlmodel import Session as Other

    from tests.peers.fakes import RecordingChannel

    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)  # 11:00 in Amsterdam
    pathway = make_pathway(session)
    for _ in range(4):
        patient = make_patient(session)
        visit = make_visit(session, patient=patient, pathway=pathway, day=dt.date(2026, 12, 15),
                           start=dt.datetime(2026, 12, 15, 9, 30, tzinfo=dt.UTC))
        visit.booked_at = start
        session.add(visit)
        session.commit()
        outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=start, unit=make_unit(tz="Europe/Amsterdam"))
    ttl = dt.timedelta(seconds=60)
    assert lease.acquire_lease(session=session, owner="slow", now=start, ttl=ttl)
    ticks = iter(start + n * ttl / 2 for n in range(100))  # every look at the clock: half a lease later

    class Stalling(RecordingChannel):
        def send(self, message):
            with Other(session.get_bind()) as other:  # meanwhile another dispatcher took the lease over
                assert lease.acquire_lease(session=other, owner="other", now=start + 10 * ttl, ttl=ttl)
            return super().send(message)

    channel = Stalling("sms")
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="slow", claim_batch=10,
                                  clock=lambda: next(ticks), lease_ttl=ttl, unit=make_unit(tz="Europe/Amsterdam"))
    assert report.lease_lost and report.sent == 1 and len(channel.sent) == 1
    counts = outbox.outbox_counts(session=session)
    assert counts.get("sent") == 1 and "sending" not in counts
    session.expire_all()
    handed_back = session.exec(select(OutboxMessage).where(OutboxMessage.action == "confirmation",
                                                           OutboxMessage.status == OutboxStatus.QUEUED)).all()
    assert len(handed_back) == 3 and all(row.claimed_by is None for row in handed_back)
