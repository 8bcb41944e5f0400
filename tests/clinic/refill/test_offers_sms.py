"""Waitlist offers by SMS: a wave goes out through the real Twilio client to the fake server, the first
YES books, later YESes hear the place is taken, expiry sends the next wave."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.messaging import inbound
from clinic.messaging.texts import offer_sms
from clinic.refill import services as refill
from clinic.refill.models import OfferStatus, WaitlistOffer
from clinic.refill.offers_sms import advance_offers, send_offer_wave
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.models import ResourceKind
from clinic.visits.models import VisitStatus
from tests.containers import channels_for
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 2)  # a Wednesday
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
CANCELLED_AT = NOW - dt.timedelta(minutes=2)


def freed_place(session: Session, languages=("en", "nl", "fr", "en")):
    """One 40-minute place on DAY at 10:30, cancelled at CANCELLED_AT; patients waiting, best first."""
    hours = tuple((wd, dt.time(10, 30), dt.time(11, 10)) for wd in range(5))
    resources = {kind: make_resource(session, kind=kind, hours=hours)
                 for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)}
    pathway = make_pathway(session)
    visit = make_visit(session, pathway=pathway, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE),
                       resources=resources)
    patients = []
    for i, language in enumerate(languages):
        patient = make_patient(session, language=language)
        add_to_waitlist(session=session, patient_id=patient.id, pathway_id=pathway.id, earliest_date=DAY,
                        latest_date=DAY, actor_id=None, priority=5 - i)
        patients.append(patient)
    refill.cancel_visit(session=session, visit_id=visit.id, reason="ill", now=CANCELLED_AT)
    return visit, patients


@pytest.fixture
def channels(twilio_config):
    return channels_for(twilio_config)


def answer(session, patient, body, now):
    return inbound.handle_sms(session=session, from_number=patient.phone, body=body, now=now, unit=UNIT,
                              after_cancel=lambda visit_id: None)


def test_the_offer_text_in_three_languages():
    start = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)  # a Thursday, 10:30 in Amsterdam
    text = offer_sms(language="en", slot_start=start, sent_at=NOW, expires_at=NOW + dt.timedelta(minutes=30), tz=TZ)
    assert text.startswith("A place opened on Thu 3 Dec at 10:30; reply YES within 30 minutes")
    assert "do 3 dec" in offer_sms(language="nl", slot_start=start, sent_at=NOW, expires_at=NOW, tz=TZ)
    assert "jeu. 3 déc." in offer_sms(language="fr", slot_start=start, sent_at=NOW, expires_at=NOW, tz=TZ)


def test_a_wave_is_texted_to_the_best_candidates_in_their_language(session, channels, fake_twilio):
    visit, patients = freed_place(session)
    sent = send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2,
                           status_callback="https://clinic.example/twilio/status")
    assert [s.patient_id for s in sent] == [patients[0].id, patients[1].id]
    assert all(s.result.ok and s.result.provider_id.startswith("SM") for s in sent)
    bodies = {r.field("To"): r.field("Body") for r in fake_twilio.messages()}
    assert bodies[patients[0].phone].startswith("A place opened on Wed 2 Dec at 10:30; reply YES within 30 minutes")
    assert "wo 2 dec" in bodies[patients[1].phone]
    offers = session.exec(select(WaitlistOffer)).all()
    assert {o.channel for o in offers} == {"sms"} and {o.seconds_after_cancel for o in offers} == {120}
    assert refill.first_offer_delay(session=session, visit_id=visit.id) == dt.timedelta(minutes=2)
    audited = session.exec(select(AuditEvent.action).where(AuditEvent.action == "offer.sms_sent")).all()
    assert len(audited) == 2


def test_first_yes_books_later_yes_is_told_the_place_is_taken(session, channels, fake_twilio):
    visit, patients = freed_place(session)
    send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=3)
    second, first = patients[1], patients[2]
    won = answer(session, first, "oui", NOW + dt.timedelta(minutes=4))
    lost = answer(session, second, "JA", NOW + dt.timedelta(minutes=5))
    assert won.outcome == "offer_accepted" and "mer. 2 déc." in won.reply
    assert lost.outcome == "offer_taken" and "wachtlijst" in lost.reply  # in the patient's own language (nl)
    booked = session.get(type(visit), won.visit_id)
    assert booked.patient_id == first.id and booked.status == VisitStatus.BOOKED and booked.date == DAY
    statuses = {o.entry.patient_id: o.status for o in session.exec(select(WaitlistOffer)).all()}
    assert statuses == {patients[0].id: OfferStatus.TAKEN, second.id: OfferStatus.TAKEN, first.id: OfferStatus.ACCEPTED}
    assert send_offer_wave(session=session, visit_id=visit.id, now=NOW + dt.timedelta(minutes=40),
                           channels=channels, unit=UNIT) == []  # filled: no further waves


def test_expiry_sends_the_next_wave(session, channels, fake_twilio):
    visit, patients = freed_place(session)
    send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    assert advance_offers(session=session, now=NOW + dt.timedelta(minutes=10), channels=channels, unit=UNIT) == {}
    fake_twilio.reset()
    waves = advance_offers(session=session, now=NOW + dt.timedelta(minutes=31), channels=channels, unit=UNIT, wave_size=2)
    assert [s.patient_id for s in waves[visit.id]] == [patients[2].id, patients[3].id]
    assert {r.field("To") for r in fake_twilio.messages()} == {patients[2].phone, patients[3].phone}
    late = answer(session, patients[0], "YES", NOW + dt.timedelta(minutes=32))
    assert late.outcome == "offer_expired"
    assert {o.wave for o in session.exec(select(WaitlistOffer)).all()} == {1, 2}


def test_when_everyone_in_a_wave_says_no_the_next_wave_is_asked_for(session, channels, fake_twilio):
    visit, patients = freed_place(session, languages=("en", "en", "en"))
    send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    first = answer(session, patients[0], "no", NOW + dt.timedelta(minutes=1))
    assert first.outcome == "offer_declined" and first.refill_visit_id is None
    second = answer(session, patients[1], "NO", NOW + dt.timedelta(minutes=2))
    assert second.refill_visit_id == visit.id


def test_patients_who_sent_stop_get_no_offer(session, channels, fake_twilio):
    visit, patients = freed_place(session)
    inbound.handle_sms(session=session, from_number=patients[0].phone, body="STOP", now=NOW, unit=UNIT)
    sent = send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    assert [s.patient_id for s in sent] == [patients[1].id, patients[2].id]
    assert patients[0].phone not in {r.field("To") for r in fake_twilio.messages()}


def test_a_failing_provider_is_recorded_and_the_offers_stand(session, channels, fake_twilio):
    visit, patients = freed_place(session)
    fake_twilio.fail_with(503, times=2)
    sent = send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    assert [s.result.ok for s in sent] == [False, False] and all(s.result.retryable for s in sent)
    failed = session.exec(select(AuditEvent).where(AuditEvent.action == "offer.sms_failed")).all()
    assert len(failed) == 2 and "503" in failed[0].details["error"]
    assert len(session.exec(select(WaitlistOffer)).all()) == 2


def test_quiet_hours_hold_the_wave_until_nine(session, channels, fake_twilio):
    visit, patients = freed_place(session)
    evening = dt.datetime(2026, 11, 29, 20, 30, tzinfo=ZONE)
    refill_visit = session.get(type(visit), visit.id)
    refill_visit.cancelled_at = evening - dt.timedelta(minutes=5)
    session.add(refill_visit)
    session.commit()
    assert send_offer_wave(session=session, visit_id=visit.id, now=evening, channels=channels, unit=UNIT) == []
    assert advance_offers(session=session, now=evening + dt.timedelta(hours=2), channels=channels, unit=UNIT) == {}
    assert fake_twilio.requests == [] and session.exec(select(WaitlistOffer)).all() == []
    morning = dt.datetime(2026, 11, 30, 9, 1, tzinfo=ZONE)
    waves = advance_offers(session=session, now=morning, channels=channels, unit=UNIT, wave_size=2)
    assert [s.patient_id for s in waves[visit.id]] == [patients[0].id, patients[1].id]
    assert len(fake_twilio.messages()) == 2


def test_when_nobody_is_left_the_job_stops_asking(session, channels, fake_twilio):
    visit, patients = freed_place(session, languages=("en",))
    later = NOW + dt.timedelta(minutes=31)
    assert len(send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT)) == 1
    assert advance_offers(session=session, now=later, channels=channels, unit=UNIT) == {}  # expired, nobody else
    none_left = session.exec(select(AuditEvent).where(AuditEvent.action == "offer.none_left")).all()
    assert len(none_left) == 1
    advance_offers(session=session, now=later + dt.timedelta(minutes=1), channels=channels, unit=UNIT)
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "offer.none_left")).all()) == 1


def test_offers_keep_each_patients_quiet_hours_not_the_units(session, channels, fake_twilio):
    """09:35 at the unit (Amsterdam) is 08:35 in London: the London patients are not texted, the Dutch one
    is; the London ones get their offers once it is 09:00 in London."""
    visit, patients = freed_place(session, languages=("en", "en", "nl"))
    for patient, phone in zip(patients[:2], ("+442079460101", "+442079460102"), strict=True):
        patient.phone = phone
        session.add(patient)
    session.commit()
    morning = dt.datetime(2026, 11, 30, 9, 35, tzinfo=ZONE)
    sent = send_offer_wave(session=session, visit_id=visit.id, now=morning, channels=channels, unit=UNIT)
    assert [s.patient_id for s in sent] == [patients[2].id]
    assert [r.field("To") for r in fake_twilio.messages()] == [patients[2].phone]
    session.exec(select(WaitlistOffer)).one().expires_at = morning + dt.timedelta(minutes=1)  # the Dutch patient let it expire
    session.commit()
    assert advance_offers(session=session, now=morning + dt.timedelta(minutes=5), channels=channels, unit=UNIT) == {}
    assert len(fake_twilio.messages()) == 1  # 08:40 in London
    london_nine = dt.datetime(2026, 11, 30, 9, 1, tzinfo=ZoneInfo("Europe/London"))
    waves = advance_offers(session=session, now=london_nine, channels=channels, unit=UNIT)
    assert [s.patient_id for s in waves[visit.id]] == [patients[0].id, patients[1].id]


def test_a_wave_nobody_can_get_in_time_says_so(session, channels, fake_twilio):
    """Every candidate is in London, where it is 08:10: no SMS, and the held wave is recorded (once) for the
    refill screen, with when it can go and whether that is before the place starts."""
    visit, patients = freed_place(session, languages=("en",))
    patients[0].phone = "+442079460103"
    session.add(patients[0])
    session.commit()
    early = dt.datetime(2026, 11, 30, 9, 10, tzinfo=ZONE)  # 08:10 in London
    assert send_offer_wave(session=session, visit_id=visit.id, now=early, channels=channels, unit=UNIT) == []
    assert fake_twilio.requests == []
    [held] = session.exec(select(AuditEvent).where(AuditEvent.action == "offer.held_quiet")).all()
    assert held.entity_id == visit.id and held.details == {"until": "2026-11-30T09:00:00+00:00", "in_time": True}
    send_offer_wave(session=session, visit_id=visit.id, now=early + dt.timedelta(minutes=1), channels=channels,
                    unit=UNIT)
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "offer.held_quiet")).all()) == 1


def test_the_winner_sending_yes_twice_at_once_hears_the_place_is_theirs(
    session, session_factory, channels, fake_twilio, monkeypatch
):
    """Two workers take the same YES (a resend, a double tap): the second read the offer before the first booked."""
    visit, patients = freed_place(session, languages=("en", "nl"))
    send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    with session_factory() as other_worker:
        offer = inbound.recent_offer(session=other_worker, patient_ids=[patients[0].id], now=NOW)
    assert offer.status == OfferStatus.OPEN
    won = answer(session, patients[0], "YES", NOW + dt.timedelta(minutes=3))
    monkeypatch.setattr(inbound, "recent_offer", lambda **kw: offer if patients[0].id in kw["patient_ids"] else None)
    again = answer(session, patients[0], "yes", NOW + dt.timedelta(minutes=3, seconds=1))
    assert won.outcome == "offer_accepted"
    assert again.outcome == "offer_already_accepted", again.reply
    assert "taken" not in again.reply and "Wed 2 Dec at 10:30" in again.reply
    assert again.visit_id == won.visit_id
    later = answer(session, patients[0], "yes", NOW + dt.timedelta(minutes=6))
    assert later.outcome == "offer_already_accepted" and later.visit_id == won.visit_id


def test_a_late_yes_from_another_patient_still_hears_the_place_is_taken(session, channels, fake_twilio):
    visit, patients = freed_place(session, languages=("en", "nl"))
    send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    answer(session, patients[0], "YES", NOW + dt.timedelta(minutes=3))
    lost = answer(session, patients[1], "ja", NOW + dt.timedelta(minutes=7))
    assert lost.outcome == "offer_taken"


def test_the_winner_sending_yes_again_later_is_not_told_the_place_is_taken(session, channels, fake_twilio):
    visit, patients = freed_place(session, languages=("en", "nl"))
    send_offer_wave(session=session, visit_id=visit.id, now=NOW, channels=channels, unit=UNIT, wave_size=2)
    won = answer(session, patients[0], "YES", NOW + dt.timedelta(minutes=3))
    again = answer(session, patients[0], "yes", NOW + dt.timedelta(minutes=40))
    assert "taken" not in again.reply and "Wed 2 Dec at 10:30" in again.reply
    assert again.visit_id == won.visit_id
