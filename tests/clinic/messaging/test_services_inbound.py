"""Inbound SMS: the sender's number finds the patient, the keyword acts, the reply is in their language."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.messaging import inbound
from clinic.messaging.models import InboundMessage
from clinic.refill import services as refill
from clinic.refill.models import OfferStatus, WaitlistStatus
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.models import ResourceKind
from clinic.visits.models import VisitStatus
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 2)  # a Wednesday
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
DESK = "+31301234567"


def sms(session: Session, number: str, body: str, *, sid: str | None = None, now: dt.datetime = NOW, **kw):
    kw.setdefault("after_cancel", lambda visit_id: None)
    return inbound.handle_sms(session=session, from_number=number, body=body, now=now, provider_id=sid,
                              unit=make_unit(desk_phone=DESK), **kw)


def booked(session: Session, language: str = "nl", status: VisitStatus = VisitStatus.BOOKED):
    patient = make_patient(session, language=language)
    visit = make_visit(session, patient=patient, day=DAY, status=status,
                       start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    return patient, visit


def test_yes_confirms_the_next_visit_in_the_patients_language(session):
    patient, visit = booked(session, "en")
    result = sms(session, patient.phone, " yes ", sid="SM1")
    assert result.outcome == "confirmed" and result.visit_id == visit.id
    assert result.reply == "Thank you, your visit on Wed 2 Dec at 10:30 is confirmed."
    session.refresh(visit)
    assert visit.status == VisitStatus.CONFIRMED
    stored = session.exec(select(InboundMessage)).one()
    assert (stored.provider_id, stored.keyword, stored.outcome, stored.patient_id) == ("SM1", "yes", "confirmed", patient.id)
    assert stored.reply == result.reply
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "visit"))]
    assert actions == ["visit.confirmed"]


def test_dutch_and_french_patients_get_dates_in_their_language(session):
    nl, _ = booked(session, "nl")
    fr, _ = booked(session, "fr")
    assert "wo 2 dec" in sms(session, nl.phone, "JA").reply
    assert "mer. 2 déc." in sms(session, fr.phone, "oui").reply


def test_a_webhook_delivered_twice_acts_once(session):
    patient, visit = booked(session, "en")
    first = sms(session, patient.phone, "CANCEL", sid="SM42")
    again = sms(session, patient.phone, "CANCEL", sid="SM42")
    assert first.outcome == "cancelled" and again.outcome == "duplicate" and again.reply == first.reply
    assert len(session.exec(select(InboundMessage)).all()) == 1


def test_cancel_cancels_the_visit_and_asks_for_a_refill(session):
    patient, visit = booked(session, "en")
    refilled = []
    result = sms(session, patient.phone, "Annuleer", after_cancel=refilled.append)
    assert result.outcome == "cancelled" and result.refill_visit_id == visit.id
    assert "is cancelled" in result.reply and DESK in result.reply
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED and visit.cancelled_reason == inbound.CANCEL_REASON
    assert refilled == [visit.id]
    assert sms(session, patient.phone, "CANCEL").outcome == "no_visit"


def test_stop_and_start_switch_every_patient_on_the_number(session):
    patient, _ = booked(session, "en")
    sibling = make_patient(session, phone=patient.phone, language="en")
    result = sms(session, patient.phone, "STOP")
    assert result.outcome == "opted_out" and "START" in result.reply
    for person in (patient, sibling):
        session.refresh(person)
        assert person.opted_out
    assert sms(session, patient.phone, "start").outcome == "opted_in"
    session.refresh(patient)
    assert not patient.opted_out
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.contact_preferences")).all()
    assert len(audited) == 4  # two patients, off then on


def test_help_unknown_words_and_unknown_numbers(session):
    patient, visit = booked(session, "en")
    assert DESK in sms(session, patient.phone, "HELP").reply
    unknown = sms(session, patient.phone, "what time is parking open?")
    assert unknown.outcome == "unknown" and "HELP" in unknown.reply
    stranger = sms(session, "+31699999999", "YES")
    assert stranger.outcome == "unknown_sender" and stranger.patient_id is None and DESK in stranger.reply
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED  # nothing changed by words that mean nothing
    assert len(session.exec(select(InboundMessage)).all()) == 3


def test_a_number_in_another_notation_still_finds_the_patient(session):
    patient, _ = booked(session, "en")
    local = "0" + patient.phone.removeprefix("+31")
    assert sms(session, local, "YES").outcome == "confirmed"


def test_no_without_an_offer_explains_how_to_cancel(session):
    patient, visit = booked(session, "en")
    result = sms(session, patient.phone, "no")
    assert result.outcome == "no_offer" and "CANCEL" in result.reply
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED


# --- waitlist offers answered by SMS ----------------------------------------------------------------


def _refill_day(session: Session, waiting: int = 2):
    """One 40-minute place on DAY (resources open 09:00-09:40), booked, cancelled, ``waiting`` patients waiting."""
    hours = tuple((wd, dt.time(9), dt.time(9, 40)) for wd in range(5))
    resources = {kind: make_resource(session, kind=kind, hours=hours)
                 for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)}
    pathway = make_pathway(session)
    visit = make_visit(session, pathway=pathway, day=DAY, start=dt.datetime.combine(DAY, dt.time(9), ZONE),
                       resources=resources)
    entries = []
    for i in range(waiting):
        patient = make_patient(session, language="en")
        entries.append(add_to_waitlist(session=session, patient_id=patient.id, pathway_id=pathway.id,
                                       earliest_date=DAY - dt.timedelta(days=3), latest_date=DAY + dt.timedelta(days=9),
                                       actor_id=None, priority=5 - i))
    refill.cancel_visit(session=session, visit_id=visit.id, reason="ill", now=NOW)
    return visit, entries


def test_first_yes_books_the_place_and_a_later_yes_hears_it_is_taken(session):
    source, entries = _refill_day(session)
    offers = refill.make_offers(session=session, visit_id=source.id, now=NOW, wave_size=2, channel="sms", unit=UNIT)
    assert len(offers) == 2
    first, second = (e.patient for e in entries)
    won = sms(session, first.phone, "YES", now=NOW + dt.timedelta(minutes=5))
    assert won.outcome == "offer_accepted" and "Wed 2 Dec at 09:00" in won.reply
    lost = sms(session, second.phone, "yes", now=NOW + dt.timedelta(minutes=6))
    assert lost.outcome == "offer_taken" and "already been taken" in lost.reply
    session.expire_all()
    assert [session.get(type(offers[0]), o.id).status for o in offers] == [OfferStatus.ACCEPTED, OfferStatus.TAKEN]
    assert session.get(type(entries[1]), entries[1].id).status == WaitlistStatus.WAITING


def test_no_declines_the_offer_and_a_late_yes_hears_it_expired(session):
    source, entries = _refill_day(session)
    offers = refill.make_offers(session=session, visit_id=source.id, now=NOW, wave_size=2, channel="sms", unit=UNIT)
    declined = sms(session, entries[0].patient.phone, "Non", now=NOW + dt.timedelta(minutes=1))
    assert declined.outcome == "offer_declined"
    late = sms(session, entries[1].patient.phone, "JA", now=NOW + dt.timedelta(minutes=31))
    assert late.outcome == "offer_expired" and "expired" in late.reply
    session.expire_all()
    statuses = [session.get(type(offers[0]), o.id).status for o in offers]
    assert statuses == [OfferStatus.DECLINED, OfferStatus.EXPIRED]


@pytest.mark.parametrize(("digits", "status", "outcome"), [("1", VisitStatus.CONFIRMED, "confirmed"),
                                                           ("2", VisitStatus.CANCELLED, "cancelled"),
                                                           ("3", VisitStatus.BOOKED, "desk"),
                                                           ("9", VisitStatus.BOOKED, "unknown")])
def test_keys_pressed_in_the_reminder_call(session, digits, status, outcome):
    patient, visit = booked(session, "fr")
    result = inbound.handle_call_choice(session=session, visit_id=visit.id, digits=digits, now=NOW, call_sid="CA1",
                                        unit=UNIT, after_cancel=lambda visit_id: None)
    assert result.outcome == outcome and result.language == "fr"
    session.refresh(visit)
    assert visit.status == status


def test_the_call_script_says_the_appointment_in_the_patients_language(session):
    patient, visit = booked(session, "nl")
    language, intro, menu = inbound.call_script(session=session, visit=visit, unit=UNIT)
    assert language == "nl" and "woensdag 2 december" in intro and "10:30" in intro and "1" in menu
