"""Twilio webhooks: signed requests act, forged or unsigned ones get 403 and change nothing."""

import datetime as dt
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from clinic.app import reconfigure
from clinic.audit.models import AuditEvent
from clinic.columns import Channel, Language
from clinic.messaging import sending
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.refill import services as refill
from clinic.refill.models import OfferStatus, WaitlistOffer
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.models import ResourceKind
from clinic.visits.models import VisitStatus
from outreach.keywords import WORDS, Keyword, normalise
from tests.containers import channels_for
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit
from tests.peers.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

TZ = "Europe/Amsterdam"
ZONE = ZoneInfo(TZ)
PUBLIC = "https://onevisit.example.org"
DESK = "+31301234567"
DAY = dt.date(2026, 12, 2)
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def fake_server():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server):
    fake_server.reset()
    return fake_server


@pytest.fixture
def app_config(app_config, fake):
    return {
        **app_config,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+3197010000001",
        "TWILIO_API_BASE_URL": fake.base_url,
        "TWILIO_TIMEOUT_SECONDS": 2,
        "PUBLIC_BASE_URL": PUBLIC,
        "DESK_PHONE": DESK,
        "MESSAGING_NOW": lambda: NOW,
    }


def signed_post(client, path, data, *, token=AUTH_TOKEN, base=PUBLIC, headers=None):
    signature = RequestValidator(token).compute_signature(base + path, data)
    return client.post(path, data=data, headers={"X-Twilio-Signature": signature, **(headers or {})})


def twiml(response) -> ElementTree.Element:
    assert response.mimetype == "text/xml", response.get_data(as_text=True)
    return ElementTree.fromstring(response.get_data(as_text=True))


def booked(session, language="en", status=VisitStatus.BOOKED):
    patient = make_patient(session, language=language)
    visit = make_visit(session, patient=patient, day=DAY, status=status,
                       start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    return patient, visit


def sms_form(patient, body, sid="SM0001"):
    return {"From": patient.phone, "To": "+3197010000001", "Body": body, "MessageSid": sid, "AccountSid": ACCOUNT_SID}


def test_a_signed_yes_confirms_and_replies_with_twiml(client, session):
    patient, visit = booked(session)
    response = signed_post(client, "/twilio/sms", sms_form(patient, "YES"))
    assert response.status_code == 200
    [message] = twiml(response).findall("Message")
    assert message.text == "Thank you, your visit on Wed 2 Dec at 10:30 is confirmed."
    session.refresh(visit)
    assert visit.status == VisitStatus.CONFIRMED


@pytest.mark.parametrize(
    "attack",
    ["unsigned", "wrong_token", "tampered_body", "internal_url", "signed_for_other_path"],
)
def test_forged_or_unsigned_requests_get_403_and_change_nothing(client, session, attack):
    patient, visit = booked(session)
    form = sms_form(patient, "CANCEL")
    if attack == "unsigned":
        response = client.post("/twilio/sms", data=form)
    elif attack == "wrong_token":
        response = signed_post(client, "/twilio/sms", form, token="not-the-token")
    elif attack == "tampered_body":
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/sms", sms_form(patient, "HELP"))
        response = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    elif attack == "internal_url":  # signed for the address Flask sees, not the public one Twilio calls
        response = signed_post(client, "/twilio/sms", form, base="http://localhost")
    else:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/status", form)
        response = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED
    assert session.exec(select(InboundMessage)).all() == []
    assert session.exec(select(AuditEvent)).all() == []


@pytest.mark.parametrize("path", ["/twilio/status", "/twilio/voice/x", "/twilio/voice/x/gather"])
def test_every_webhook_checks_the_signature(client, path):
    assert client.post(path, data={"CallSid": "CA1", "CallStatus": "completed", "Digits": "2"}).status_code == 403


def test_without_a_public_url_the_request_url_is_signed(app_config, client, session):
    reconfigure(client.application, PUBLIC_BASE_URL="")
    patient, _ = booked(session)
    response = signed_post(client, "/twilio/sms", sms_form(patient, "HELP"), base="http://localhost")
    assert response.status_code == 200 and DESK in twiml(response).find("Message").text


def test_without_an_auth_token_every_webhook_is_refused(client, session):
    reconfigure(client.application, TWILIO_AUTH_TOKEN="")
    patient, _ = booked(session)
    assert signed_post(client, "/twilio/sms", sms_form(patient, "YES"), token="").status_code == 403


def test_the_sha256_signature_with_a_shared_key(client, session):
    reconfigure(client.application, TWILIO_WEBHOOK_SECRET="shared-secret")
    patient, _ = booked(session)
    form = sms_form(patient, "HELP")
    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    signature = RequestValidator("shared-secret").compute_signature(PUBLIC + "/twilio/sms", form, "HMAC_SHA256")
    response = client.post("/twilio/sms", data=form, headers={
        "X-Twilio-Signature": signature, "X-Twilio-Webhooks-Signature-Settings": settings})
    assert response.status_code == 200
    forged = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/sms", form, "HMAC_SHA256")
    response = client.post("/twilio/sms", data=form, headers={
        "X-Twilio-Signature": forged, "X-Twilio-Webhooks-Signature-Settings": settings})
    assert response.status_code == 403


def test_stop_and_start_by_sms(client, session):
    patient, _ = booked(session, "nl")
    reply = twiml(signed_post(client, "/twilio/sms", sms_form(patient, "stop", "SM1"))).find("Message").text
    session.refresh(patient)
    assert patient.opted_out and reply
    signed_post(client, "/twilio/sms", sms_form(patient, "START", "SM2"))
    session.refresh(patient)
    assert not patient.opted_out


OPT_OUT_WORDS = [
    ("en", "STOP"), ("en", "stop"), ("en", "STOPALL"), ("en", "Stop all"), ("en", "UNSUBSCRIBE"), ("en", "unsubscribe"),
    ("en", "CANCEL ALL"), ("en", "cancel all"), ("en", "END"), ("en", "end"), ("en", "QUIT"), ("en", "Quit."),
    ("nl", "STOP"), ("nl", "STOPPEN"), ("nl", "stoppen"), ("nl", "AFMELDEN"), ("nl", "afmelden"),
    ("nl", "UITSCHRIJVEN"), ("nl", "Uitschrijven"),
    ("fr", "STOP"), ("fr", "ARRÊT"), ("fr", "arret"), ("fr", "Arrêter"), ("fr", "ARRETER"), ("fr", "DÉSABONNER"),
    ("fr", "desabonner"), ("fr", "Désinscrire"), ("fr", "DESINSCRIRE"),
]
OPT_IN_WORDS = [
    ("en", "START"), ("en", "start"), ("en", "UNSTOP"), ("en", "Subscribe"),
    ("nl", "START"), ("nl", "AANMELDEN"), ("nl", "aanmelden"), ("nl", "INSCHRIJVEN"), ("nl", "inschrijven"),
    ("fr", "START"), ("fr", "DÉMARRER"), ("fr", "demarrer"), ("fr", "REPRENDRE"), ("fr", "Reprendre"),
]


def test_the_webhook_tests_cover_every_opt_out_and_opt_in_word():
    for keyword, tried in ((Keyword.STOP, OPT_OUT_WORDS), (Keyword.START, OPT_IN_WORDS)):
        for language, table in WORDS.items():
            missing = set(table[keyword]) - {normalise(word) for lang, word in tried if lang == language}
            assert not missing, (language, keyword, missing)


@pytest.mark.parametrize(("language", "word"), OPT_OUT_WORDS)
def test_every_opt_out_word_opts_out_by_signed_sms(client, session, language, word):
    patient, visit = booked(session, language)
    reply = twiml(signed_post(client, "/twilio/sms", sms_form(patient, word, "SM1"))).find("Message").text
    session.refresh(patient)
    session.refresh(visit)
    assert patient.opted_out
    assert visit.status == VisitStatus.BOOKED  # "CANCEL ALL" stops messages, it does not cancel the visit
    assert session.exec(select(InboundMessage)).one().outcome == "opted_out"
    assert "START" in reply


@pytest.mark.parametrize(("language", "word"), OPT_IN_WORDS)
def test_every_opt_in_word_opts_in_by_signed_sms(client, session, language, word):
    patient, _ = booked(session, language)
    patient.opted_out = True
    session.add(patient)
    session.commit()
    signed_post(client, "/twilio/sms", sms_form(patient, word, "SM1"))
    session.refresh(patient)
    assert not patient.opted_out
    assert session.exec(select(InboundMessage)).one().outcome == "opted_in"


@pytest.mark.parametrize(
    ("language", "word", "still_coming", "overpromise"),
    [
        ("en", "STOP", "Reminders of your visits still come", "no longer get reminders"),
        ("nl", "stoppen", "Herinneringen aan uw bezoeken krijgt u wel", "geen herinneringen"),
        ("fr", "arrêt", "Les rappels de vos visites continuent", "plus de rappels"),
    ],
)
def test_the_stop_reply_says_reminders_still_come_in_the_patients_language(
    client, session, language, word, still_coming, overpromise
):
    patient, _ = booked(session, language)
    reply = twiml(signed_post(client, "/twilio/sms", sms_form(patient, word, "SM1"))).find("Message").text
    assert still_coming in reply and DESK in reply
    assert overpromise not in reply


def test_after_stop_the_dispatcher_skips_the_coffee_voucher_and_still_sends_the_reminder(client, session, fake):
    patient, visit = booked(session, "nl")
    signed_post(client, "/twilio/sms", sms_form(patient, "STOPPEN", "SM1"))
    queued = {
        action: OutboxMessage(visit_id=visit.id, patient_id=patient.id, action=action, rule_id=rule, due_at=NOW,
                              next_attempt_at=NOW, status=OutboxStatus.QUEUED, channel=Channel.SMS,
                              language=Language.NL, recipient=patient.phone, body=body, essential=essential)
        for action, rule, body, essential in [
            ("coffee_voucher", "long-distance-coffee", "Koffie van ons", False),
            ("reminder", "basic-reminder", "Herinnering aan uw bezoek", True),
        ]
    }
    session.add_all(queued.values())
    session.commit()
    session.expire_all()  # the dispatcher runs in a session of its own, which reads the patient as STOP left them
    channels = channels_for({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                             "TWILIO_FROM_NUMBER": "+3197010000001", "TWILIO_API_BASE_URL": fake.base_url})
    sending.dispatch_due(session=session, channels=channels, owner="t", now=NOW, unit=make_unit(tz=TZ))
    for row in queued.values():
        session.refresh(row)
    assert queued["coffee_voucher"].status == OutboxStatus.SKIPPED
    assert queued["reminder"].status == OutboxStatus.SENT
    assert [m["body"] for m in fake.created()] == ["Herinnering aan uw bezoek"]


def test_a_signed_request_without_sender_is_a_400_not_a_500(client):
    assert signed_post(client, "/twilio/sms", {"Body": "YES"}).status_code == 400
    assert signed_post(client, "/twilio/status", {"MessageSid": "SM1"}).status_code == 400


# --- the reminder call -----------------------------------------------------------------------------


def voice_key(app, visit_id):
    from clinic.messaging.inbound_views import voice_key

    with app.test_request_context():
        return voice_key(visit_id)


def test_the_call_speaks_the_patients_language_and_gathers_one_key(app, client, session):
    patient, visit = booked(session, "fr")
    key = voice_key(app, visit.id)
    root = twiml(signed_post(client, f"/twilio/voice/{key}", {"CallSid": "CA1", "To": patient.phone}))
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("action") == f"{PUBLIC}/twilio/voice/{key}/gather"
    says = gather.findall("Say")
    assert {s.get("language") for s in says} == {"fr-FR"}
    assert "mercredi 2 décembre" in says[0].text and "10:30" in says[0].text
    assert root.find("Hangup") is not None


def test_an_unknown_or_forged_call_key_is_404(client):
    assert signed_post(client, "/twilio/voice/1", {"CallSid": "CA1"}).status_code == 404


def test_press_1_confirms_2_cancels_and_re_offers_3_dials_the_desk(app, client, session, fake):
    patient, visit = booked(session)
    key = voice_key(app, visit.id)
    root = twiml(signed_post(client, f"/twilio/voice/{key}/gather", {"CallSid": "CA1", "Digits": "3"}))
    assert root.find("Dial").text == DESK
    root = twiml(signed_post(client, f"/twilio/voice/{key}/gather", {"CallSid": "CA1", "Digits": "7"}))
    assert root.find("Redirect").text == f"{PUBLIC}/twilio/voice/{key}"
    signed_post(client, f"/twilio/voice/{key}/gather", {"CallSid": "CA1", "Digits": "1"})
    session.refresh(visit)
    assert visit.status == VisitStatus.CONFIRMED
    root = twiml(signed_post(client, f"/twilio/voice/{key}/gather", {"CallSid": "CA1", "Digits": "2"}))
    assert root.find("Hangup") is not None
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED
    stored = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [(m.channel, m.outcome) for m in stored] == [
        (Channel.VOICE, "desk"), (Channel.VOICE, "unknown"), (Channel.VOICE, "confirmed"), (Channel.VOICE, "cancelled")]


def test_the_transport_offers_call_asks_its_question_and_2_is_no_not_cancel(app, client, session):
    from clinic.service.models import TransportRequest
    from outreach.channels.twilio_urls import call_for_key, voice_url

    patient, visit = booked(session, "en")
    url = voice_url(PUBLIC, app.config["SECRET_KEY"], visit.id, "transport_offer")
    key = url.rsplit("/", 1)[1]
    assert call_for_key(app.config["SECRET_KEY"], key) == (visit.id, "transport_offer")
    assert call_for_key(app.config["SECRET_KEY"], voice_key(app, visit.id)) == (visit.id, "reminder")
    gather = twiml(signed_post(client, f"/twilio/voice/{key}", {"CallSid": "CA5"})).find("Gather")
    said = " ".join(s.text for s in gather.findall("Say"))
    assert "transport and help at home" in said and "Press 1 if you would like this" in said and "cancel" not in said
    root = twiml(signed_post(client, f"/twilio/voice/{key}/gather", {"CallSid": "CA5", "Digits": "2"}))
    assert "no transport" in root.find("Say").text and root.find("Hangup") is not None
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED
    assert session.exec(select(TransportRequest)).one().wanted is False


def test_the_coffee_vouchers_call_says_it_and_hangs_up(app, client, session):
    from outreach.channels.twilio_urls import voice_url

    patient, visit = booked(session, "nl")
    key = voice_url(PUBLIC, app.config["SECRET_KEY"], visit.id, "coffee_voucher").rsplit("/", 1)[1]
    root = twiml(signed_post(client, f"/twilio/voice/{key}", {"CallSid": "CA6"}))
    assert root.find("Gather") is None and "koffie" in root.find("Say").text and root.find("Hangup") is not None


# --- delivery status ---------------------------------------------------------------------------------


def _outbox(session, visit, patient, provider_id):
    message = OutboxMessage(visit_id=visit.id, patient_id=patient.id, action="reminder_sms", rule_id="basic",
                            due_at=NOW, next_attempt_at=NOW, status=OutboxStatus.SENT, channel=Channel.SMS,
                            language=Language.EN, recipient=patient.phone, body="Reminder", provider_id=provider_id)
    session.add(message)
    session.commit()
    return message


def test_a_delivered_callback_marks_the_outbox_row_delivered(client, session):
    patient, visit = booked(session)
    message = _outbox(session, visit, patient, "SMabc")
    response = signed_post(client, "/twilio/status", {"MessageSid": "SMabc", "MessageStatus": "delivered"})
    assert response.status_code == 204
    session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED


def test_an_undelivered_callback_sends_the_row_back_for_retry_or_failure(client, session):
    patient, visit = booked(session)
    message = _outbox(session, visit, patient, "SMabc")
    response = signed_post(client, "/twilio/status", {"MessageSid": "SMabc", "MessageStatus": "undelivered",
                                                      "ErrorCode": "30003"})
    assert response.status_code == 204
    session.refresh(message)
    assert message.status in (OutboxStatus.QUEUED, OutboxStatus.FAILED)
    assert "undelivered" in message.last_error


def test_interim_and_unknown_callbacks_change_nothing(client, session):
    patient, visit = booked(session)
    message = _outbox(session, visit, patient, "SMabc")
    assert signed_post(client, "/twilio/status", {"MessageSid": "SMabc", "MessageStatus": "sent"}).status_code == 204
    assert signed_post(client, "/twilio/status", {"MessageSid": "SMnone", "MessageStatus": "failed"}).status_code == 204
    session.refresh(message)
    assert message.status == OutboxStatus.SENT


def test_a_forged_delivery_callback_changes_nothing(client, session):
    patient, visit = booked(session)
    message = _outbox(session, visit, patient, "SMabc")
    response = client.post("/twilio/status", data={"MessageSid": "SMabc", "MessageStatus": "failed"})
    assert response.status_code == 403
    session.refresh(message)
    assert message.status == OutboxStatus.SENT


# --- cancel by SMS, the place goes to the waitlist by SMS, first YES wins ------------------------------


def test_cancel_by_sms_offers_the_place_and_the_first_yes_books_it(app, client, session, fake):
    hours = tuple((wd, dt.time(9), dt.time(9, 40)) for wd in range(5))
    resources = {kind: make_resource(session, kind=kind, hours=hours)
                 for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)}
    pathway = make_pathway(session)
    holder = make_patient(session, language="en")
    visit = make_visit(session, patient=holder, pathway=pathway, day=DAY,
                       start=dt.datetime.combine(DAY, dt.time(9), ZONE), resources=resources)
    waiting = [make_patient(session, language=lang) for lang in ("nl", "fr")]
    for i, person in enumerate(waiting):
        add_to_waitlist(session=session, patient_id=person.id, pathway_id=pathway.id, earliest_date=DAY,
                        latest_date=DAY, actor_id=None, priority=5 - i)

    reply = twiml(signed_post(client, "/twilio/sms", sms_form(holder, "cancel", "SM10"))).find("Message").text
    assert "is cancelled" in reply
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED
    texts = {r.field("To"): r.field("Body") for r in fake.messages()}
    assert set(texts) == {p.phone for p in waiting}
    assert "wo 2 dec" in texts[waiting[0].phone] and "09:00" in texts[waiting[0].phone]
    assert "mer. 2 déc." in texts[waiting[1].phone]
    assert all(r.field("StatusCallback") == f"{PUBLIC}/twilio/status" for r in fake.messages())

    won = twiml(signed_post(client, "/twilio/sms", sms_form(waiting[1], "OUI", "SM11"))).find("Message").text
    lost = twiml(signed_post(client, "/twilio/sms", sms_form(waiting[0], "ja", "SM12"))).find("Message").text
    assert "déc." in won and won != lost
    offers = session.exec(select(WaitlistOffer).order_by(WaitlistOffer.id)).all()
    assert sorted(o.status for o in offers) == sorted([OfferStatus.ACCEPTED, OfferStatus.TAKEN])
    assert refill.first_offer_delay(session=session, visit_id=visit.id) is not None


def test_the_dispatchers_voice_url_is_served_by_the_blueprint(app, client, session):
    from outreach.channels.twilio_urls import status_url, voice_url

    patient, visit = booked(session, "nl")
    url = voice_url(PUBLIC, app.config["SECRET_KEY"], visit.id)
    response = signed_post(client, url.removeprefix(PUBLIC), {"CallSid": "CA9"})
    assert response.status_code == 200 and "woensdag 2 december" in response.get_data(as_text=True)
    assert status_url(PUBLIC) == PUBLIC + "/twilio/status"


@pytest.mark.parametrize(
    ("sender", "body"),
    [("+31612345678", ""), ("not a number", "YES"), ("+3161234567899999999999999999999999999", "ja"),
     ("+31612345678", "🙂" * 50), ("+31612345678", "x" * 5000), ("+31612345678", "'; DROP TABLE patient; --")],
)
def test_odd_signed_input_never_gives_a_500(client, session, sender, body):
    response = signed_post(client, "/twilio/sms", {"From": sender, "Body": body, "MessageSid": "SModd"})
    assert response.status_code == 200
    assert twiml(response).tag == "Response"
    stored = session.exec(select(InboundMessage)).one()
    assert stored.outcome == "unknown_sender" and len(stored.body) <= 1600
