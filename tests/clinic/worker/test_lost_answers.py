"""Exactly once when Twilio's answer is lost: Twilio created the SMS, but its answer came after the client's
time-out or never came (the connection dropped). The dispatcher asks Twilio (the lookup recovery uses)
before any retry, so the fake server holds one message each time; it retries only when Twilio does not
have it, and leaves the row "unknown" (on the call list) when Twilio does not answer the question either."""

import datetime as dt

import pytest
from sqlmodel import Session

from clinic.columns import utcnow
from clinic.messaging import outreach, recovery, sending
from clinic.messaging.models import OutboxMessage, OutboxStatus
from tests.containers import channels_for
from tests.factories import make_pathway, make_patient, make_unit, make_visit

UNIT = make_unit(tz="Europe/Amsterdam")
pytestmark = pytest.mark.usefixtures("clock")  # a weekday afternoon: quiet hours hold nothing back


@pytest.fixture
def channels(twilio_config):  # TWILIO_TIMEOUT_SECONDS is 1
    return channels_for({**twilio_config, "PUBLIC_BASE_URL": "https://onevisit.example.org", "SECRET_KEY": "k"})


def confirmation_due(session: Session) -> OutboxMessage:
    """One SMS patient's booked visit, its confirmation due now; returns that row."""
    patient = make_patient(session, channel="sms")
    start = utcnow().replace(microsecond=0) + dt.timedelta(days=14)
    visit = make_visit(session, patient=patient, pathway=make_pathway(session), day=start.date(), start=start)
    visit.booked_at = utcnow() - dt.timedelta(minutes=1)
    session.add(visit)
    session.commit()
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=utcnow(), unit=UNIT)
    [row_id] = sending.due_ids(session=session, now=utcnow(), limit=100)
    return session.get(OutboxMessage, row_id)


def dispatch(session: Session, channels) -> sending.DispatchReport:
    report = sending.dispatch_due(session=session, channels=channels, owner="d", now=utcnow(), unit=UNIT)
    session.expire_all()
    return report


def dispatch_later(session: Session, channels, clock) -> None:
    """A dispatcher run after every backoff has passed: a row queued for a retry would be sent again."""
    clock.shift(dt.timedelta(hours=1))
    dispatch(session, channels)


@pytest.mark.parametrize("lose", ["time-out", "dropped"])
def test_an_sms_twilio_created_without_us_hearing_is_sent_once(session, channels, fake_twilio, clock, lose):
    row = confirmation_due(session)
    if lose == "time-out":
        fake_twilio.delay(3.0)  # the answer comes two seconds after the client gave up
    else:
        fake_twilio.drop()
    report = dispatch(session, channels)
    [created] = fake_twilio.created()
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.provider_id, row.on_call_list) == (OutboxStatus.SENT, created["sid"], False)
    assert report.sent == 1 and report.retried == 0

    dispatch_later(session, channels, clock)
    assert len(fake_twilio.created()) == 1 and len(fake_twilio.messages()) == 1


def test_an_sms_twilio_never_created_is_retried(session, channels, fake_twilio, clock):
    row = confirmation_due(session)
    fake_twilio.drop(create=False)  # the connection dropped before Twilio kept anything
    report = dispatch(session, channels)
    assert fake_twilio.created() == [] and len(fake_twilio.lists()) == 1  # asked before retrying
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.attempts, report.retried) == (OutboxStatus.QUEUED, 1, 1)

    dispatch_later(session, channels, clock)
    [created] = fake_twilio.created()
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.provider_id) == (OutboxStatus.SENT, created["sid"])


def test_when_twilio_answers_neither_send_nor_lookup_the_row_is_unknown_until_it_does(
    session, channels, fake_twilio, clock
):
    row = confirmation_due(session)
    fake_twilio.drop()  # Twilio keeps the SMS, its answer is lost
    fake_twilio.fail_with(503, after=1)  # and it does not answer the lookup either
    report = dispatch(session, channels)
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.on_call_list, report.failed, report.retried) == (OutboxStatus.UNKNOWN, True, 0, 0)
    assert "outcome unknown" in row.last_error

    dispatch_later(session, channels, clock)  # not retried
    assert len(fake_twilio.messages()) == 1
    assert recovery.settle_unknown(session=session, channels=channels, now=utcnow()) == 1
    session.expire_all()
    [created] = fake_twilio.created()
    row = session.get(OutboxMessage, row.id)
    assert (row.status, row.provider_id, row.on_call_list) == (OutboxStatus.SENT, created["sid"], False)
