"""The two questions: when a survey is made, how it is asked and re-asked, and how an SMS reply answers it."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.columns import Channel, Language
from clinic.feedback import surveys
from clinic.feedback.models import (
    FollowUp,
    FollowUpReason,
    FollowUpStatus,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.feedback.survey_channel import channel_for
from clinic.messaging import delivery, inbound, links
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.patients.models import Patient
from clinic.users.models import Role
from clinic.visits.models import VisitStatus
from tests.factories import make_patient, make_unit, make_user, make_visit
from tests.peers.fakes import RecordingChannel

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 2)  # a Wednesday
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)  # Monday 11:00 in Amsterdam


def channels() -> dict[str, RecordingChannel]:
    return {"sms": RecordingChannel("sms"), "voice": RecordingChannel("voice"), "email": RecordingChannel("email")}


def sms(session: Session, number: str, body: str, *, now: dt.datetime = NOW, sid: str | None = None):
    return inbound.handle_sms(session=session, from_number=number, body=body, now=now, provider_id=sid,
                              unit=UNIT, after_cancel=lambda visit_id: None)


def booked(session: Session, language: str = "en", **patient):
    person = make_patient(session, language=language, **patient)
    visit = make_visit(session, patient=person, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    return person, visit


def asked_survey(session: Session, language: str = "en", *, at: dt.datetime = NOW, **patient) -> Survey:
    """A patient with a survey asked by SMS at ``at``."""
    person = make_patient(session, language=language, **patient)
    survey = Survey(patient_id=person.id, trigger=SurveyTrigger.INBOUND, source_ref=f"test:{person.id}",
                    channel=SurveyChannel.SMS, language=person.language, next_attempt_at=at + UNIT.survey_reask_after,
                    attempts=1, asked_at=at, created_at=at)
    session.add(survey)
    session.commit()
    return survey


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("YES NO the wait was long", (True, False, "the wait was long")),
        ("yes yes", (True, True, "")),
        ("JA JA", (True, True, "")),
        ("ja, nee. Te lang gewacht", (True, False, "Te lang gewacht")),
        ("nee nee", (False, False, "")),
        ("OUI NON trop d'attente", (True, False, "trop d'attente")),
        ("non, oui", (False, True, "")),
        ("Non non! Personne ne m'a aidé", (False, False, "Personne ne m'a aidé")),
        ("1 yes 2 no parking was full", (True, False, "parking was full")),
        ("1: ja, 2: nee", (True, False, "")),
        ("1. oui 2. oui merci", (True, True, "merci")),
    ],
)
def test_the_first_two_answers_and_the_rest_as_comment_in_three_languages(text, expected):
    answer = surveys.parse_answer(text)
    assert answer is not None
    assert (answer.got_what_needed, answer.good_job, answer.comment) == expected


@pytest.mark.parametrize("text", ["YES", "no", "CANCEL", "STOP", "help me", "maybe yes", "yes maybe no", "", "1 yes"])
def test_a_reply_without_two_answers_is_not_an_answer(text):
    assert surveys.parse_answer(text) is None


# --- when a survey is made -----------------------------------------------------------------------------


def test_an_inbound_sms_the_clinic_acted_on_is_followed_by_one_survey(session):
    patient, visit = booked(session, "nl")
    result = sms(session, patient.phone, "JA", sid="SM1")
    assert result.outcome == "confirmed"
    survey = session.exec(select(Survey)).one()
    assert (survey.patient_id, survey.trigger, survey.source_ref) == (patient.id, SurveyTrigger.INBOUND,
                                                                     f"inbound:{result.message_id}")
    assert survey.channel == SurveyChannel.SMS and survey.language == Language.NL and survey.visit_id == visit.id
    assert survey.status == SurveyStatus.PENDING and survey.asked_at is None
    assert survey.next_attempt_at == NOW + surveys.INBOUND_DELAY
    # a second contact while it is pending does not pile up a second survey
    sms(session, patient.phone, "CANCEL", sid="SM2")
    assert len(session.exec(select(Survey)).all()) == 1


@pytest.mark.parametrize("body", ["STOP", "HELP", "START", "what is this", "AIDE"])
def test_no_survey_after_stop_help_or_a_message_not_understood(session, body):
    patient, _ = booked(session, "fr")
    sms(session, patient.phone, body)
    assert session.exec(select(Survey)).all() == []


def test_no_survey_for_an_unknown_number_or_an_opted_out_patient(session):
    sms(session, "+31612340000", "YES")
    patient, _ = booked(session, "en", opted_out=True)
    sms(session, patient.phone, "YES")
    assert session.exec(select(Survey)).all() == []


def test_an_answered_reminder_call_is_followed_by_a_survey_a_missed_one_is_not(session):
    patient, visit = booked(session, "en", channel="voice")
    rows = []
    for n in (1, 2):
        row = OutboxMessage(visit_id=visit.id, patient_id=patient.id, action="reminder_call", rule_id="r", due_at=NOW
                            + dt.timedelta(minutes=n), next_attempt_at=NOW, status=OutboxStatus.SENT, channel=Channel.VOICE,
                            language=Language.EN, recipient=patient.phone, body="call", provider_id=f"CA{n}")
        session.add(row)
        rows.append(row)
    session.commit()
    assert delivery.record_status_callback(session=session, provider_id="CA1", status="busy", now=NOW, unit=UNIT)
    assert session.exec(select(Survey)).all() == []
    assert delivery.record_status_callback(session=session, provider_id="CA2", status="completed", now=NOW, unit=UNIT)
    survey = session.exec(select(Survey)).one()
    assert (survey.trigger, survey.source_ref, survey.channel) == (SurveyTrigger.CALL, f"outbox:{rows[1].id}",
                                                                  SurveyChannel.VOICE)
    delivery.record_status_callback(session=session, provider_id="CA2", status="completed", now=NOW, unit=UNIT)  # again
    assert len(session.exec(select(Survey)).all()) == 1


def test_completed_visits_of_today_and_yesterday_get_a_survey_once_older_ones_never(session):
    today = NOW.astimezone(ZONE).date()
    done = make_visit(session, day=today, status=VisitStatus.COMPLETED)
    yesterday = make_visit(session, day=today - dt.timedelta(days=1), status=VisitStatus.COMPLETED)
    old = make_visit(session, day=today - dt.timedelta(days=30), status=VisitStatus.COMPLETED)
    booked_today = make_visit(session, day=today, status=VisitStatus.BOOKED)
    made = surveys.create_visit_surveys(session=session, now=NOW, unit=UNIT)
    by_visit = {s.visit_id: s for s in session.exec(select(Survey))}
    assert set(by_visit) == {done.id, yesterday.id} and len(made) == 2
    assert old.id not in by_visit and booked_today.id not in by_visit
    assert by_visit[done.id].next_attempt_at >= NOW  # the tablet at checkout comes first
    assert surveys.create_visit_surveys(session=session, now=NOW, unit=UNIT) == []


def test_a_visit_survey_replaces_a_pending_inbound_survey_not_asked_yet(session):
    patient, visit = booked(session, "en")
    sms(session, patient.phone, "YES")
    visit.status = VisitStatus.COMPLETED
    session.add(visit)
    session.commit()
    survey = surveys.ask_after_visit(session=session, visit_id=visit.id, now=NOW)
    statuses = {s.trigger: s.status for s in session.exec(select(Survey))}
    assert statuses == {SurveyTrigger.INBOUND: SurveyStatus.WITHDRAWN, SurveyTrigger.VISIT: SurveyStatus.PENDING}
    assert survey.trigger == SurveyTrigger.VISIT


def test_the_channel_is_the_patients_own_and_none_after_stop():
    def person(**kw):
        return Patient(mrn="X", given_name="A", family_name="B", birth_date=dt.date(1970, 1, 1), phone="+31600000000",
                       language="en", address_line="x", postcode="x", city="x", distance_km=1, **kw)

    assert channel_for(person(channel="sms")) == SurveyChannel.SMS
    assert channel_for(person(channel="voice")) == SurveyChannel.VOICE
    assert channel_for(person(channel="email", email="a@example.org")) == SurveyChannel.EMAIL
    assert channel_for(person(channel="email")) == SurveyChannel.SMS  # no address: SMS
    assert channel_for(person(channel="sms", opted_out=True)) is None


# --- asking ----------------------------------------------------------------------------------------------


def test_due_surveys_go_by_the_patients_channel_in_their_language(session):
    nl = make_patient(session, language="nl")
    caller = make_patient(session, language="fr", channel="voice")
    mailer = make_patient(session, language="en", channel="email", email="anna@example.org")
    for person in (nl, caller, mailer):
        surveys._create(session=session, patient=person, trigger=SurveyTrigger.INBOUND, source_ref=f"t:{person.id}",
                        now=NOW, due=NOW)
    fake = channels()
    public = links.Links(public_base_url="https://onevisit.example.org", secret_key="k")
    report = surveys.send_due(session=session, channels=fake, now=NOW, unit=UNIT, links=public)
    assert report.sent == 3
    [text] = fake["sms"].sent
    assert text.to == nl.phone and text.language == "nl"
    assert "JA NEE" in text.body  # the reply words of the patient's language
    [call] = fake["voice"].sent
    assert call.voice_url.startswith("https://onevisit.example.org/twilio/survey/")
    survey_id = links.survey_for_key("k", call.voice_url.rsplit("/", 1)[1])
    assert session.get(Survey, survey_id).patient_id == caller.id
    [mail] = fake["email"].sent
    assert mail.to == "anna@example.org" and "https://onevisit.example.org/survey/" in mail.body
    for survey in session.exec(select(Survey)):
        assert survey.attempts == 1 and survey.asked_at == NOW and survey.next_attempt_at == NOW + UNIT.survey_reask_after


def test_quiet_hours_postpone_sms_and_calls_but_not_e_mail(session):
    evening = dt.datetime(2026, 11, 30, 20, 30, tzinfo=dt.UTC)  # 21:30 in Amsterdam
    texted = make_patient(session, language="en")
    mailed = make_patient(session, language="en", channel="email", email="x@example.org")
    for person in (texted, mailed):
        surveys._create(session=session, patient=person, trigger=SurveyTrigger.INBOUND, source_ref=f"t:{person.id}",
                        now=evening, due=evening)
    fake = channels()
    report = surveys.send_due(session=session, channels=fake, now=evening, unit=UNIT)
    assert (report.sent, report.postponed) == (1, 1) and fake["sms"].sent == []
    waiting = session.exec(select(Survey).where(Survey.patient_id == texted.id)).one()
    assert waiting.attempts == 0 and waiting.next_attempt_at == dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def test_no_answer_is_asked_once_more_then_a_follow_up_opens(session):
    make_user(session, username="desk1", role=Role.FRONT_DESK)
    patient = make_patient(session, language="en")
    survey = surveys._create(session=session, patient=patient, trigger=SurveyTrigger.INBOUND, source_ref="t:1",
                             now=NOW, due=NOW)
    fake = channels()
    surveys.send_due(session=session, channels=fake, now=NOW, unit=UNIT)
    assert surveys.send_due(session=session, channels=fake, now=NOW + dt.timedelta(hours=23), unit=UNIT).sent == 0
    second = NOW + UNIT.survey_reask_after
    assert surveys.send_due(session=session, channels=fake, now=second, unit=UNIT).sent == 1
    assert len(fake["sms"].sent) == 2
    session.refresh(survey)
    assert survey.attempts == 2 and survey.status == SurveyStatus.PENDING
    assert session.exec(select(FollowUp)).all() == []
    report = surveys.send_due(session=session, channels=fake, now=second + UNIT.survey_reask_after, unit=UNIT)
    assert report.gave_up == 1 and len(fake["sms"].sent) == 2
    session.refresh(survey)
    assert survey.status == SurveyStatus.UNANSWERED
    follow_up = session.exec(select(FollowUp)).one()
    assert (follow_up.reason, follow_up.status, follow_up.survey_id) == (FollowUpReason.NO_ANSWER, FollowUpStatus.OPEN,
                                                                        survey.id)


def test_a_patient_who_sent_stop_meanwhile_is_not_asked_by_sms(session):
    patient = make_patient(session, language="en")
    survey = surveys._create(session=session, patient=patient, trigger=SurveyTrigger.INBOUND, source_ref="t:1",
                             now=NOW, due=NOW)
    patient.opted_out = True
    session.add(patient)
    session.commit()
    fake = channels()
    assert surveys.send_due(session=session, channels=fake, now=NOW, unit=UNIT).withdrawn == 1
    session.refresh(survey)
    assert survey.status == SurveyStatus.WITHDRAWN and fake["sms"].sent == []


def test_a_failed_send_counts_as_an_attempt_and_is_retried(session):
    patient = make_patient(session, language="en")
    survey = surveys._create(session=session, patient=patient, trigger=SurveyTrigger.INBOUND, source_ref="t:1",
                             now=NOW, due=NOW)
    fake = {"sms": RecordingChannel("sms", fail=1)}
    assert surveys.send_due(session=session, channels=fake, now=NOW, unit=UNIT).failed == 1
    session.refresh(survey)
    assert survey.attempts == 1 and survey.asked_at is None
    assert surveys.send_due(session=session, channels=fake, now=NOW + UNIT.survey_reask_after, unit=UNIT).sent == 1


# --- answering by SMS ----------------------------------------------------------------------------------


def test_an_sms_reply_answers_the_survey_before_the_visit_keywords(session):
    make_user(session, username="desk1", role=Role.FRONT_DESK)
    survey = asked_survey(session, "nl")
    person = session.get(Patient, survey.patient_id)
    person_visit = make_visit(session, patient=person, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    result = sms(session, person.phone, "ja nee, te lang gewacht", now=NOW + dt.timedelta(hours=1))
    assert result.outcome == "survey_answer" and result.patient_id == person.id
    assert result.reply == surveys.thanks("nl", survey.__class__(got_what_needed=True, good_job=False))
    session.refresh(survey)
    assert (survey.status, survey.got_what_needed, survey.good_job, survey.comment) == (
        SurveyStatus.ANSWERED, True, False, "te lang gewacht")
    session.refresh(person_visit)
    assert person_visit.status == VisitStatus.BOOKED  # "ja" did not confirm the visit
    follow_up = session.exec(select(FollowUp)).one()
    assert follow_up.reason == FollowUpReason.ANSWERED_NO and follow_up.survey_id == survey.id
    stored = session.exec(select(InboundMessage)).one()
    assert stored.outcome == "survey_answer"
    assert len(session.exec(select(Survey)).all()) == 1  # no survey about the survey answer


def _phone(session: Session, survey: Survey) -> str:
    return session.get(Patient, survey.patient_id).phone


def test_a_single_yes_still_confirms_the_visit_while_a_survey_is_pending(session):
    survey = asked_survey(session, "en")
    person = session.get(Patient, survey.patient_id)
    visit = make_visit(session, patient=person, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    assert sms(session, person.phone, "YES").outcome == "confirmed"
    session.refresh(visit)
    session.refresh(survey)
    assert visit.status == VisitStatus.CONFIRMED and survey.status == SurveyStatus.PENDING


def test_stop_and_a_survey_asked_too_long_ago_are_not_answers(session):
    old = asked_survey(session, "en", at=NOW - surveys.ANSWER_WINDOW - dt.timedelta(minutes=1))
    assert sms(session, _phone(session, old), "YES NO").outcome != "survey_answer"
    fresh = asked_survey(session, "en")
    assert sms(session, _phone(session, fresh), "STOP no no").outcome == "opted_out"
    session.refresh(fresh)
    assert fresh.status == SurveyStatus.PENDING


def test_an_open_waitlist_offer_takes_the_yes_before_the_survey(session):
    from clinic.refill.models import OfferChannel, OfferStatus, WaitlistEntry, WaitlistOffer

    survey = asked_survey(session, "en")
    person = session.get(Patient, survey.patient_id)
    source = make_visit(session, day=DAY, status=VisitStatus.CANCELLED)
    entry = WaitlistEntry(patient_id=person.id, pathway_id=source.pathway_id, earliest_date=DAY, latest_date=DAY)
    session.add(entry)
    session.flush()
    session.add(WaitlistOffer(entry_id=entry.id, source_visit_id=source.id, day=DAY, slot_start=NOW, itinerary={},
                              channel=OfferChannel.SMS, sent_at=NOW, expires_at=NOW + dt.timedelta(minutes=30),
                              status=OfferStatus.EXPIRED))
    session.commit()
    assert sms(session, person.phone, "YES YES").outcome.startswith("offer_")
    session.refresh(survey)
    assert survey.status == SurveyStatus.PENDING
