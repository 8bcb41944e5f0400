"""End to end (issue 5, "Tests (real parts)"): book patients of every segment, the right actions are
planned per segment, time moves on and the dispatcher sends exactly the due messages through the real
Twilio client to the fake Twilio server, in each patient's language; YES and CANCEL replies round-trip
through the signed webhook; a forged one is refused."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from clinic.messaging import outreach
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.visits import services as visit_service
from clinic.visits.models import VisitStatus
from clinic.worker import dispatcher
from tests.conftest import TEST_SECRET_KEY
from tests.containers import channels_for, reset_dispatcher, worker_container
from tests.factories import make_pathway, make_patient, make_unit, make_visit
from tests.peers.fake_twilio import AUTH_TOKEN

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
PUBLIC = "https://onevisit.example.org"
BOOKED_AT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)  # Tue 1 Dec, 10:30 in Amsterdam
DAY = dt.date(2026, 12, 11)  # Friday, ten days ahead
START = dt.datetime.combine(DAY, dt.time(10, 30), ZONE)
UNDER_70 = dt.date(1960, 5, 17)  # 66 on the visit day
OVER_70 = dt.date(1950, 3, 2)  # 76 on the visit day

# The default rules (seed_data/outreach_rules.yaml) per segment, as issue 5 describes them:
# every patient gets a confirmation (patient's channel: SMS here) and a reminder SMS two days before;
# regional and 70+ also get a reminder call one week before (the segment rule adds to the basic one of
# the same action: `replaces: false`); long-distance gets a coffee voucher (the volunteer is a service,
# no message); 70+ are offered transport by SMS at booking, 70+ and long-distance by a call (sub-segment).
TWO_DAYS = ("sms", (dt.date(2026, 12, 9), dt.time(10)))
SEVEN_DAYS = ("voice", (dt.date(2026, 12, 4), dt.time(10)))
SEGMENTS = {
    # name: (birth date, distance km, language, {action: (channel, local due date/time or "booking"), ...})
    "local_under_70": (UNDER_70, 10.0, "nl", {
        "confirmation": (("sms", "booking"),),
        "reminder": (TWO_DAYS,),
    }),
    "regional": (UNDER_70, 30.0, "fr", {
        "confirmation": (("sms", "booking"),),
        "reminder": (SEVEN_DAYS, TWO_DAYS),
    }),
    "long_distance": (UNDER_70, 80.0, "en", {
        "confirmation": (("sms", "booking"),),
        "coffee_voucher": (("sms", "booking"),),
        "reminder": (TWO_DAYS,),
    }),
    "over_70": (OVER_70, 10.0, "fr", {
        "confirmation": (("sms", "booking"),),
        "reminder": (SEVEN_DAYS, TWO_DAYS),
        "transport_offer": (("sms", "booking"),),
    }),
    "over_70_long_distance": (OVER_70, 80.0, "nl", {
        "confirmation": (("sms", "booking"),),
        "coffee_voucher": (("sms", "booking"),),
        "reminder": (SEVEN_DAYS, TWO_DAYS),
        "transport_offer": (("voice", "booking"),),
    }),
}
# the visit day as Babel writes it (format "full") in each language
CONFIRMATION = {"en": "OneVisit: your visit (Check-up) is booked for", "nl": "OneVisit: uw bezoek (Check-up) is geboekt op",
                "fr": "OneVisit: votre visite (Check-up) est réservée le"}
VISIT_DAY_TEXT = {"en": "Friday, 11 December 2026", "nl": "vrijdag 11 december 2026", "fr": "vendredi 11 décembre 2026"}


def book_all(session: Session) -> dict[str, tuple]:
    """One patient per segment, each booked on DAY at 10:30, outreach planned at BOOKED_AT."""
    pathway = make_pathway(session)
    booked = {}
    for name, (birth, km, language, _expected) in SEGMENTS.items():
        patient = make_patient(session, birth_date=birth, distance_km=km, language=language, channel="sms")
        visit = make_visit(session, patient=patient, pathway=pathway, day=DAY, start=START)
        visit.booked_at = BOOKED_AT - dt.timedelta(minutes=1)
        session.add(visit)
        session.commit()
        outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=BOOKED_AT, unit=UNIT)
        booked[name] = (patient, visit)
    session.expire_all()
    return booked


def rows_of(session: Session, visit_id: int) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit_id)
                             .execution_options(populate_existing=True)))


@pytest.mark.parametrize("segment", list(SEGMENTS))
def test_each_segment_gets_exactly_its_planned_actions(session, segment):
    booked = book_all(session)
    patient, visit = booked[segment]
    expected = SEGMENTS[segment][3]
    rows = rows_of(session, visit.id)
    planned: dict[str, tuple] = {}
    for row in sorted(rows, key=lambda r: r.due_at):
        assert row.status == OutboxStatus.QUEUED, (row.action, row.last_error)
        local = row.due_at.astimezone(ZONE)
        due = "booking" if row.due_at == visit.booked_at.astimezone(dt.UTC) else (local.date(), local.time())
        planned[row.action] = (*planned.get(row.action, ()), (row.channel.value, due))
    assert planned == expected
    assert len(rows) == sum(map(len, expected.values()))  # one reminder per rule, never per step
    assert {row.language.value for row in rows} == {SEGMENTS[segment][2]}


@pytest.fixture
def running_dispatcher(clock, database_url, twilio_config):
    """The dispatcher job configured with the real Twilio channels (pointed at the fake server), the clock
    at ``BOOKED_AT``."""
    clock.move_to(BOOKED_AT)
    config = {**twilio_config, "PUBLIC_BASE_URL": PUBLIC, "SECRET_KEY": TEST_SECRET_KEY}
    dispatcher.configure(worker_container(database_url, tz=TZ, channels=channels_for(config)), owner="e2e")
    yield
    reset_dispatcher()


def test_time_moves_on_and_the_fake_twilio_gets_exactly_the_due_messages(clock, session, fake_twilio,
                                                                       running_dispatcher):
    booked = book_all(session)
    phone = {name: patient.phone for name, (patient, _visit) in booked.items()}

    def received() -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {name: {"sms": 0, "voice": 0} for name in booked}
        by_phone = {number: name for name, number in phone.items()}
        for request in fake_twilio.messages():
            counts[by_phone[request.field("To")]]["sms"] += 1
        for request in fake_twilio.calls():
            counts[by_phone[request.field("To")]]["voice"] += 1
        return counts

    # 1. at booking time (10:30 local): confirmations, coffee vouchers, transport offers
    clock.move_to(BOOKED_AT + dt.timedelta(minutes=1))
    assert dispatcher.dispatch_job() == {"lease": 1, "sent": 9, "recovered": 0}
    assert received() == {
        "local_under_70": {"sms": 1, "voice": 0},
        "regional": {"sms": 1, "voice": 0},
        "long_distance": {"sms": 2, "voice": 0},
        "over_70": {"sms": 2, "voice": 0},
        "over_70_long_distance": {"sms": 2, "voice": 1},
    }
    for request in fake_twilio.messages():  # every text in its patient's language, with Babel's date
        name = next(n for n, number in phone.items() if number == request.field("To"))
        language = SEGMENTS[name][2]
        assert VISIT_DAY_TEXT[language] in request.field("Body"), (name, request.field("Body"))
    texts = {name: sorted(r.field("Body") for r in fake_twilio.messages() if r.field("To") == number)
             for name, number in phone.items()}
    for name, bodies in texts.items():  # exactly one confirmation each, in the patient's own words
        assert sum(b.startswith(CONFIRMATION[SEGMENTS[name][2]]) for b in bodies) == 1, (name, bodies)
    assert any("the coffee is on us" in b for b in texts["long_distance"])
    assert any("de koffie is van ons" in b for b in texts["over_70_long_distance"])
    assert any(b.startswith("OneVisit peut organiser le transport") for b in texts["over_70"])
    [call] = fake_twilio.calls()
    assert call.field("Url").startswith(PUBLIC + "/twilio/voice/")
    assert call.field("StatusCallback") == PUBLIC + "/twilio/status"
    assert all(r.field("From") == "+3197010000001" for r in fake_twilio.requests)

    # a second run at the same moment sends nothing more
    assert dispatcher.dispatch_job()["sent"] == 0
    assert len(fake_twilio.requests) == 9

    # 2. the local patient cancels (at the desk) the next day, before their reminder is due
    clock.move_to(BOOKED_AT + dt.timedelta(days=1))
    visit_service.change_status(session=session, visit_id=booked["local_under_70"][1].id,
                                status=VisitStatus.CANCELLED, actor_id=None, reason="ill")
    assert dispatcher.dispatch_job()["sent"] == 0

    # 3. Fri 4 Dec 10:05 local: the reminder calls one week before (regional, 70+, 70+ long-distance)
    fake_twilio.reset()
    clock.move_to(dt.datetime(2026, 12, 4, 9, 5, tzinfo=dt.UTC))
    assert dispatcher.dispatch_job()["sent"] == 3
    assert sorted(r.field("To") for r in fake_twilio.calls()) == sorted(
        phone[n] for n in ("regional", "over_70", "over_70_long_distance"))
    assert fake_twilio.messages() == []

    # 4. Wed 9 Dec 10:05 local: the reminder SMS two days before, for everyone but the local patient,
    #    whose visit is cancelled; the call a week before does not replace it
    fake_twilio.reset()
    clock.move_to(dt.datetime(2026, 12, 9, 9, 5, tzinfo=dt.UTC))
    assert dispatcher.dispatch_job()["sent"] == 4
    assert fake_twilio.calls() == []
    assert sorted(r.field("To") for r in fake_twilio.messages()) == sorted(
        phone[n] for n in ("regional", "long_distance", "over_70", "over_70_long_distance"))
    reminder = next(r for r in fake_twilio.messages() if r.field("To") == phone["long_distance"])
    assert reminder.field("Body").startswith("OneVisit reminder:") and VISIT_DAY_TEXT["en"] in reminder.field("Body")
    assert dispatcher.dispatch_job()["sent"] == 0  # again at the same moment: nothing more
    assert len(fake_twilio.requests) == 4

    cancelled = rows_of(session, booked["local_under_70"][1].id)
    assert {(r.action, r.status) for r in cancelled} == {
        ("confirmation", OutboxStatus.SENT), ("reminder", OutboxStatus.WITHDRAWN)}
    assert all(r.status == OutboxStatus.SENT for name, (_p, visit) in booked.items()
               if name != "local_under_70" for r in rows_of(session, visit.id))


# --- replies through the signed webhook ----------------------------------------------------------


@pytest.fixture
def app_config(app_config, twilio_config):
    return {**app_config, **twilio_config, "PUBLIC_BASE_URL": PUBLIC, "MESSAGING_NOW": lambda: BOOKED_AT}


def signed_post(client, data, *, token=AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(PUBLIC + "/twilio/sms", data)
    return client.post("/twilio/sms", data=data, headers={"X-Twilio-Signature": signature})


def sms_form(patient, body, sid):
    return {"From": patient.phone, "To": "+3197010000001", "Body": body, "MessageSid": sid}


def test_yes_and_cancel_round_trip_and_a_forged_reply_is_refused(client, session, fake_twilio):
    booked = book_all(session)
    yes_patient, yes_visit = booked["regional"]  # French: "oui"
    cancel_patient, cancel_visit = booked["long_distance"]

    forged = client.post("/twilio/sms", data=sms_form(cancel_patient, "CANCEL", "SM-forged"),
                         headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert forged.status_code == 403
    wrong_key = signed_post(client, sms_form(cancel_patient, "CANCEL", "SM-forged2"), token="not-the-token")
    assert wrong_key.status_code == 403
    session.expire_all()
    assert session.get(type(cancel_visit), cancel_visit.id).status == VisitStatus.BOOKED
    assert {r.status for r in rows_of(session, cancel_visit.id)} == {OutboxStatus.QUEUED}
    assert session.exec(select(InboundMessage)).all() == []

    response = signed_post(client, sms_form(yes_patient, "oui", "SM-yes"))
    assert response.status_code == 200
    assert "confirmée" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(type(yes_visit), yes_visit.id).status == VisitStatus.CONFIRMED
    assert {r.status for r in rows_of(session, yes_visit.id)} == {OutboxStatus.QUEUED}  # reminders still go

    response = signed_post(client, sms_form(cancel_patient, "CANCEL", "SM-cancel"))
    assert response.status_code == 200
    assert "is cancelled" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(type(cancel_visit), cancel_visit.id).status == VisitStatus.CANCELLED
    rows = rows_of(session, cancel_visit.id)
    assert len(rows) == 3 and {r.status for r in rows} == {OutboxStatus.WITHDRAWN}
    assert [(m.keyword, m.outcome) for m in session.exec(select(InboundMessage).order_by(InboundMessage.id))] == [
        ("yes", "confirmed"), ("cancel", "cancelled")]
    assert fake_twilio.requests == []  # nobody on the waiting list: no offers texted
