"""The patient's time zone from their phone number, and quiet hours kept in it when sending."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.messaging import outreach, sending
from clinic.messaging.models import OutboxMessage, OutboxStatus
from outreach.time_zones import zone_for_phone
from tests.factories import make_pathway, make_patient, make_unit, make_visit
from tests.peers.fakes import RecordingChannel

CLINIC = "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("phone", "zone"),
    [
        ("+31612345678", "Europe/Amsterdam"),  # NL mobile
        ("+3197010500001", "Europe/Amsterdam"),  # NL, the test factories' numbers
        ("+32470123456", "Europe/Brussels"),  # BE mobile
        ("+3225551234", "Europe/Brussels"),  # BE, Brussels landline
        ("+33612345678", "Europe/Paris"),  # FR mobile
        ("+12125550123", "America/New_York"),  # US, one zone for area code 212
        ("+18085550123", "Pacific/Honolulu"),
        ("+81312345678", "Asia/Tokyo"),
    ],
)
def test_a_number_with_one_zone_gives_that_zone(phone, zone):
    assert zone_for_phone(phone, CLINIC) == zone


@pytest.mark.parametrize(
    "phone",
    [
        "+12085550123",  # US, Idaho: Boise and Los Angeles time
        "+18005550123",  # US toll-free: every North American zone
        "+34612345678",  # Spain: Madrid or the Canaries
        "+447700900123",  # a UK drama number: no zone known
        "0612345678",  # no country code
        "not a number",
        "",
        None,
    ],
)
def test_none_or_several_zones_give_the_clinic_zone(phone):
    assert zone_for_phone(phone, CLINIC) == CLINIC
    assert zone_for_phone(phone, "Europe/Lisbon") == "Europe/Lisbon"


# --- quiet hours at send time -------------------------------------------------------------------

AMS = ZoneInfo(CLINIC)
NEW_YORK = ZoneInfo("America/New_York")
BOOKED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # 10:00 Amsterdam, 04:00 New York


def confirmation_of(session: Session, phone: str) -> OutboxMessage:
    patient = make_patient(session, phone=phone)
    start = BOOKED + dt.timedelta(days=14)
    visit = make_visit(session, patient=patient, pathway=make_pathway(session), day=start.astimezone(AMS).date(),
                       start=start)
    visit.booked_at = BOOKED
    session.add(visit)
    session.commit()
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=BOOKED, unit=make_unit(tz=CLINIC))
    return session.exec(
        select(OutboxMessage).where(OutboxMessage.visit_id == visit.id, OutboxMessage.action == "confirmation")
    ).one()


def reload(session: Session, row: OutboxMessage) -> OutboxMessage:
    session.expire_all()
    return session.get(OutboxMessage, row.id)


def test_an_sms_waits_for_nine_in_the_patients_zone_not_the_clinics(session):
    dutch = confirmation_of(session, "+31612345678")
    american = confirmation_of(session, "+12125550123")
    channel = RecordingChannel("sms")
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=BOOKED, unit=make_unit(tz=CLINIC))
    assert report.sent == 1 and report.postponed == 1
    assert [m.to for m in channel.sent] == ["+31612345678"]
    held = reload(session, american)
    assert held.status == OutboxStatus.QUEUED
    assert held.next_attempt_at == dt.datetime(2026, 12, 1, 9, 0, tzinfo=NEW_YORK).astimezone(dt.UTC)
    assert reload(session, dutch).status == OutboxStatus.SENT
    # 21:30 in Amsterdam is 15:30 in New York: the American patient's text goes now
    evening = dt.datetime(2026, 12, 1, 21, 30, tzinfo=AMS).astimezone(dt.UTC)
    later = confirmation_of(session, "+31687654321")
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=evening, unit=make_unit(tz=CLINIC))
    assert [m.to for m in channel.sent] == ["+31612345678", "+12125550123"]
    assert report.sent == 1 and report.postponed == 1
    assert reload(session, later).next_attempt_at == dt.datetime(2026, 12, 2, 9, 0, tzinfo=AMS).astimezone(dt.UTC)


def test_a_number_with_several_zones_keeps_the_clinics_quiet_hours(session):
    idaho = confirmation_of(session, "+12085550123")
    channel = RecordingChannel("sms")
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=BOOKED, unit=make_unit(tz=CLINIC))
    assert report.sent == 1 and [m.to for m in channel.sent] == ["+12085550123"]  # 10:00 in the clinic
    assert reload(session, idaho).status == OutboxStatus.SENT


def test_a_retry_is_postponed_to_nine_in_the_patients_zone(session):
    american = confirmation_of(session, "+12125550123")
    channel = RecordingChannel("sms", fail=1)
    afternoon = dt.datetime(2026, 12, 1, 19, 58, tzinfo=NEW_YORK).astimezone(dt.UTC)  # retry lands after 20:00
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=afternoon, unit=make_unit(tz=CLINIC))
    assert report.retried == 1
    row = reload(session, american)
    assert row.next_attempt_at == dt.datetime(2026, 12, 2, 9, 0, tzinfo=NEW_YORK).astimezone(dt.UTC)
