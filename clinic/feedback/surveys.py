"""The two questions that close every interaction: *Did you get what you needed?* and *Did we do a good job?*

A ``Survey`` is made after a visit (``ask_after_visit``; the survey job scans visits completed today or
yesterday), after a completed reminder call (``ask_after_call``, from the call's status callback) and
after an inbound SMS the clinic acted on (``ask_after_inbound``; never after a survey answer, STOP, START,
HELP or a message we did not understand). ``source_ref`` names the interaction, so each is asked once.

One pending survey per patient: while one is pending (made, asked or re-asked, not answered yet), a new
interaction does not add a second one; the pending survey covers it. The exceptions are explicit: the
tablet at checkout and a re-ask from a follow-up replace (withdraw) whatever was pending.

Channel: the patient's own (SMS: both questions in one message, answered "YES NO late"; voice: a call
with a key-press menu per question; e-mail: a link to a signed page), or the tablet at checkout. A patient
who sent STOP is only asked on the tablet. SMS and calls wait for the end of the quiet hours.

No answer: asked again once the unit's ``survey_reask_after`` later (two attempts in all); still nothing
that long after the second attempt, the survey is marked unanswered and a follow-up opens (reason ``no_answer``).
Any "no" opens a follow-up; "yes" to both closes the patient's open follow-up (``clinic.feedback.followups``).
"""

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic.errors import Conflict, ValidationError, get_or_raise
from clinic.feedback import followups
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
from clinic.messaging.links import NO_LINKS, Links
from clinic.messaging.models import InboundMessage, OutboxMessage
from clinic.messaging.texts import texts
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit, VisitStatus
from outreach.channels.base import OutgoingMessage, SendResult
from outreach.keywords import WORDS, Keyword, normalise, words_for
from outreach.quiet_hours import QUIET_CHANNELS, is_quiet, next_allowed

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2

"""Time between the two attempts, and after the second before giving up."""
ANSWER_WINDOW = dt.timedelta(days=3)
"""An inbound SMS is taken as the answer of a survey asked at most this long ago."""
VISIT_DELAY = dt.timedelta(hours=1)
"""After checkout, the patient has this long to answer on the tablet before the survey goes by their channel."""
CALL_DELAY = dt.timedelta(minutes=10)
INBOUND_DELAY = dt.timedelta(minutes=15)
TABLET_PATIENCE = dt.timedelta(hours=12)
"""A tablet survey nobody answered goes by the patient's channel after this long (or is withdrawn)."""
VISIT_LOOKBACK_DAYS = 1
"""The job asks about visits completed today or this many days before (never about old history)."""
NO_SURVEY_AFTER = frozenset({
    "survey_answer", "opted_out", "opted_in", "help", "duplicate", "unknown_sender", "unknown",
})
"""Inbound outcomes that never lead to a survey."""


def pending_for_patient(*, session: Session, patient_id: int) -> Survey | None:
    return session.exec(
        select(Survey).where(Survey.patient_id == patient_id, Survey.status == SurveyStatus.PENDING)
        .order_by(col(Survey.id))
    ).first()


def find_survey(*, session: Session, survey_id: int | None) -> Survey | None:
    """The survey a page or call names, or None when it names none or one that does not exist (ids
    outside PostgreSQL's ``integer`` range are not looked up)."""
    if survey_id is None or not 0 < survey_id < 2**31:
        return None
    return session.get(Survey, survey_id)


def _existing(session: Session, trigger: SurveyTrigger, source_ref: str) -> Survey | None:
    return session.exec(select(Survey).where(Survey.trigger == trigger, Survey.source_ref == source_ref)).first()


def _create(
    *,
    session: Session,
    patient: Patient,
    trigger: SurveyTrigger,
    source_ref: str,
    now: dt.datetime,
    due: dt.datetime,
    visit_id: int | None = None,
    channel: SurveyChannel | None = None,
    replace_pending: bool = False,
) -> Survey | None:
    """The survey for this interaction: the existing one, a new one, or ``None`` (opted out, or another
    survey is pending and covers it). A visit's survey replaces a pending call or inbound survey that was
    not asked yet; ``replace_pending`` (tablet, re-ask) replaces any. Committed."""
    found = _existing(session, trigger, source_ref)
    if found is not None:
        return found
    channel = channel or channel_for(patient)
    if channel is None:
        return None
    pending = pending_for_patient(session=session, patient_id=patient.id)
    if pending is not None:
        lesser = pending.asked_at is None and pending.trigger in (SurveyTrigger.INBOUND, SurveyTrigger.CALL)
        if not (replace_pending or (trigger == SurveyTrigger.VISIT and lesser)):
            return None
        pending.status = SurveyStatus.WITHDRAWN
        session.add(pending)
    survey = Survey(
        patient_id=patient.id,
        visit_id=visit_id,
        trigger=trigger,
        source_ref=source_ref,
        channel=channel,
        language=patient.language,
        next_attempt_at=due,
        created_at=now,
    )
    session.add(survey)
    try:
        session.commit()
    except IntegrityError:  # made at the same moment by another worker: theirs stands
        session.rollback()
        return _existing(session, trigger, source_ref)
    return survey


def ask_after_visit(*, session: Session, visit_id: int, now: dt.datetime, completed_at: dt.datetime | None = None) -> Survey | None:
    """The survey of a completed visit, due ``VISIT_DELAY`` after it ended (the tablet comes first)."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status != VisitStatus.COMPLETED:
        raise Conflict("only a completed visit is asked about", code="not_completed")
    patient = session.get(Patient, visit.patient_id)
    due = max(now, (completed_at or now) + VISIT_DELAY)
    return _create(session=session, patient=patient, trigger=SurveyTrigger.VISIT, source_ref=f"visit:{visit.id}",
                   now=now, due=due, visit_id=visit.id)


def ask_after_call(*, session: Session, outbox_id: int, now: dt.datetime) -> Survey | None:
    """After a reminder call that was answered (Twilio reported ``completed``)."""
    message = get_or_raise(session, OutboxMessage, outbox_id, what="outbox message", field="outbox_id")
    patient = session.get(Patient, message.patient_id)
    return _create(session=session, patient=patient, trigger=SurveyTrigger.CALL, source_ref=f"outbox:{message.id}",
                   now=now, due=now + CALL_DELAY, visit_id=message.visit_id)


def ask_after_inbound(*, session: Session, message_id: int, now: dt.datetime) -> Survey | None:
    """After an inbound SMS the clinic acted on; ``None`` after a survey answer, STOP, START, HELP, a
    message not understood or from an unknown number."""
    message = get_or_raise(session, InboundMessage, message_id, what="inbound message", field="message_id")
    if message.patient_id is None or message.outcome in NO_SURVEY_AFTER:
        return None
    patient = session.get(Patient, message.patient_id)
    return _create(session=session, patient=patient, trigger=SurveyTrigger.INBOUND, source_ref=f"inbound:{message.id}",
                   now=now, due=now + INBOUND_DELAY, visit_id=message.visit_id)


def ask_on_tablet(*, session: Session, visit_id: int, now: dt.datetime) -> Survey:
    """The visit's survey answered on the tablet at checkout: made now if the job has not made it yet (it
    replaces any other pending survey of the patient); an unanswered one switches to the tablet."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    patient = session.get(Patient, visit.patient_id)
    survey = _create(session=session, patient=patient, trigger=SurveyTrigger.VISIT, source_ref=f"visit:{visit.id}",
                     now=now, due=now + VISIT_DELAY, visit_id=visit.id, channel=SurveyChannel.TABLET,
                     replace_pending=True)
    if survey.status == SurveyStatus.PENDING and survey.channel != SurveyChannel.TABLET:
        survey.channel = SurveyChannel.TABLET
        survey.next_attempt_at = max(survey.next_attempt_at, now + VISIT_DELAY)
        session.add(survey)
        session.commit()
    return survey


def create_visit_surveys(*, session: Session, now: dt.datetime, unit: Unit) -> list[int]:
    """Surveys for visits completed today or yesterday (clinic time) that have none yet; their ids."""
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    asked = sa.exists().where(Survey.visit_id == Visit.id, Survey.trigger == SurveyTrigger.VISIT)
    visits = list(
        session.exec(
            select(Visit).where(
                Visit.status == VisitStatus.COMPLETED,
                Visit.date >= today - dt.timedelta(days=VISIT_LOOKBACK_DAYS),
                Visit.date <= today,
                ~asked,
            ).order_by(col(Visit.id))
        )
    )
    made = []
    for visit in visits:
        survey = ask_after_visit(session=session, visit_id=visit.id, now=now, completed_at=visit.updated_at)
        if survey is not None and survey.visit_id == visit.id:
            made.append(survey.id)
    return made


# --- the answer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    got_what_needed: bool
    good_job: bool
    comment: str = ""


_YES = {w for table in WORDS.values() for w in table[Keyword.YES]} | {"YES"}
_NO = {w for table in WORDS.values() for w in table[Keyword.NO]}
_TOKEN = re.compile(r"[A-Za-z0-9À-ÿ]+")
_NUMBERED = re.compile(r"^\s*1\s*[.:)=-]?\s*([A-Za-zÀ-ÿ]+)[\s,;.]+2\s*[.:)=-]?\s*([A-Za-zÀ-ÿ]+)\b[\s,;.:!-]*(.*)$", re.S)


def _yes_no(word: str) -> bool | None:
    normal = normalise(word)
    if normal in _YES:
        return True
    if normal in _NO:
        return False
    return None


def parse_answer(text: str) -> Answer | None:
    """Both answers from an SMS reply, or ``None`` when it does not start with two of them.

    ``"YES NO the wait was long"``, ``"ja ja"``, ``"Oui, non. trop d'attente"``, ``"1 yes 2 no late"``:
    the first two yes/no words (any of the three languages) are the answers, the rest is the comment."""
    raw = (text or "").strip()
    numbered = _NUMBERED.match(raw)
    if numbered:
        first, second = _yes_no(numbered.group(1)), _yes_no(numbered.group(2))
        if first is not None and second is not None:
            return Answer(first, second, numbered.group(3).strip()[:1000])
    tokens = list(_TOKEN.finditer(raw))
    if len(tokens) < 2 or any(ch.isalnum() for ch in raw[: tokens[0].start()]):
        return None
    first, second = _yes_no(tokens[0].group()), _yes_no(tokens[1].group())
    if first is None or second is None:
        return None
    between = raw[tokens[0].end(): tokens[1].start()]
    if any(ch.isalnum() for ch in between):
        return None
    comment = raw[tokens[1].end():].lstrip(" \t\r\n,;.:!-").strip()
    return Answer(first, second, comment[:1000])


def answerable_survey(*, session: Session, patient_ids: list[int], now: dt.datetime) -> Survey | None:
    """The survey an inbound SMS of these patients answers: pending, asked within ``ANSWER_WINDOW``."""
    if not patient_ids:
        return None
    return session.exec(
        select(Survey).where(
            col(Survey.patient_id).in_(patient_ids),
            Survey.status == SurveyStatus.PENDING,
            col(Survey.asked_at).is_not(None),
            col(Survey.asked_at) >= now - ANSWER_WINDOW,
        ).order_by(col(Survey.asked_at).desc(), col(Survey.id).desc())
    ).first()


def record_answer(
    *,
    session: Session,
    survey_id: int,
    got_what_needed: bool,
    good_job: bool,
    comment: str = "",
    now: dt.datetime,
    channel: SurveyChannel | None = None,
    unit: Unit,
) -> tuple[Survey, FollowUp | None]:
    """Store both answers (one transaction with the follow-up they open or close)."""
    survey = get_or_raise(session, Survey, survey_id, what="survey")
    if survey.status != SurveyStatus.PENDING:
        raise Conflict("this survey was already answered or closed", code="not_pending")
    if not isinstance(got_what_needed, bool) or not isinstance(good_job, bool):
        raise ValidationError("answer both questions with yes or no", field="answers", code="both_answers")
    text = (comment or "").strip()
    if len(text) > 1000:
        raise ValidationError("at most 1000 characters", field="comment", code="comment_too_long")
    survey.got_what_needed = got_what_needed
    survey.good_job = good_job
    survey.comment = text
    survey.status = SurveyStatus.ANSWERED
    survey.answered_at = now
    if channel is not None:
        survey.channel = channel
    session.add(survey)
    session.flush()
    follow_up = followups.answered(session=session, survey=survey, now=now, unit=unit)
    session.commit()
    return survey, follow_up


def thanks(language: str, answer: Answer | Survey) -> str:
    """The reply to an answer: a promise to call back after a "no"."""
    _ = texts(language)
    if answer.got_what_needed and answer.good_job:
        return _("Thank you for your answers. We are glad we could help.")
    return _("Thank you for your answers. Someone from the day-care unit will contact you soon.")


# --- asking -----------------------------------------------------------------------------------------


def sms_text(language: str) -> str:
    _ = texts(language)
    yes, no = words_for(Keyword.YES, language)[0], words_for(Keyword.NO, language)[0]
    return _(
        "The day-care unit would like to know: 1. Did you get what you needed? 2. Did we do a good job? "
        "Reply with two answers, e.g. %(yes)s %(no)s, and a comment if you like."
    ) % {"yes": yes, "no": no}


def voice_texts(language: str) -> dict[str, str]:
    _ = texts(language)
    return {
        "intro": _("Hello, this is the day-care unit. We have two short questions."),
        "q1": _("Did you get what you needed? Press 1 for yes, 2 for no."),
        "q2": _("Did we do a good job? Press 1 for yes, 2 for no."),
        "thanks_yes": _("Thank you for your answers. Goodbye."),
        "thanks_no": _("Thank you for your answers. Someone from the day-care unit will call you soon. Goodbye."),
        "again": _("Sorry, we did not understand."),
        "goodbye": _("We did not hear a choice. Goodbye."),
    }


def email_texts(language: str, link: str) -> tuple[str, str]:
    _ = texts(language)
    subject = _("Two questions from the day-care unit")
    body = _(
        "Hello,\n\nThe day-care unit would like to know two things: did you get what you needed, and did we "
        "do a good job? Answering takes a minute:\n\n%(link)s\n\nThank you."
    ) % {"link": link}
    return subject, body


def outgoing(survey: Survey, patient: Patient, links: Links) -> OutgoingMessage:
    """The message that asks ``survey`` by its channel."""
    language = str(survey.language)
    key = f"survey:{survey.id}:{survey.attempts + 1}"
    meta = {"survey_id": str(survey.id)}
    if survey.channel == SurveyChannel.EMAIL:
        subject, body = email_texts(language, links.email_url(survey.id))
        return OutgoingMessage(key=key, channel="email", to=patient.email or "", body=body, language=language,
                               subject=subject, metadata=meta)
    if survey.channel == SurveyChannel.VOICE:
        return OutgoingMessage(key=key, channel="voice", to=patient.phone, body=voice_texts(language)["intro"],
                               language=language, voice_url=links.voice_url(survey.id), metadata=meta)
    return OutgoingMessage(key=key, channel="sms", to=patient.phone, body=sms_text(language), language=language,
                           metadata=meta)


def _give_up(session: Session, survey: Survey, now: dt.datetime, unit: Unit) -> None:
    survey.status = SurveyStatus.UNANSWERED
    session.add(survey)
    session.flush()
    followups.open_or_add(session=session, survey=survey, reason=FollowUpReason.NO_ANSWER, now=now, unit=unit)


def send_survey(
    *,
    session: Session,
    survey_id: int,
    channels: Mapping[str, object],
    now: dt.datetime,
    unit: Unit,
    links: Links = NO_LINKS,
) -> SendResult | None:
    """Ask (or re-ask) one pending survey now by its channel; ``None`` when not sent (tablet, quiet hours:
    postponed to their end, opted out meanwhile: withdrawn). Counts the attempt either way it is sent."""
    survey = session.get(Survey, survey_id)
    if survey is None or survey.status != SurveyStatus.PENDING or survey.channel == SurveyChannel.TABLET:
        return None
    patient = session.get(Patient, survey.patient_id)
    if patient.opted_out and survey.channel.value in QUIET_CHANNELS:
        survey.status = SurveyStatus.WITHDRAWN
        session.add(survey)
        session.commit()
        return None
    if survey.channel.value in QUIET_CHANNELS and is_quiet(now, unit.tz):
        survey.next_attempt_at = next_allowed(now, survey.channel.value, unit.tz)
        session.add(survey)
        session.commit()
        return None
    channel = channels.get(survey.channel.value)
    message = outgoing(survey, patient, links)
    if channel is None:
        result = SendResult(ok=False, error=f"no {survey.channel.value} channel")
    else:
        try:
            result = channel.send(message)
        except Exception as exc:  # noqa: BLE001 - a broken channel must not stop the other surveys
            log.exception("sending survey %s failed", survey.id)
            result = SendResult(ok=False, error=str(exc)[:200], retryable=True)
    survey.attempts += 1
    survey.next_attempt_at = now + unit.survey_reask_after
    if result.ok:
        survey.asked_at = now
    else:
        log.warning("survey %s by %s not sent: %s", survey.id, survey.channel.value, result.error)
    session.add(survey)
    session.commit()
    return result


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    postponed: int = 0
    withdrawn: int = 0
    gave_up: int = 0
    switched: int = 0
    survey_ids: list[int] = field(default_factory=list)


def send_due(
    *,
    session: Session,
    channels: Mapping[str, object],
    now: dt.datetime,
    unit: Unit,
    links: Links = NO_LINKS,
    limit: int = 200,
) -> SendReport:
    """The job's work: give up on surveys asked twice without an answer (follow-up ``no_answer``), move
    stale tablet surveys to the patient's channel, and ask every due survey."""
    report = SendReport()
    for survey in list(session.exec(
        select(Survey).where(Survey.status == SurveyStatus.PENDING, Survey.channel == SurveyChannel.TABLET,
                             col(Survey.created_at) <= now - TABLET_PATIENCE).limit(limit)
    )):
        patient = session.get(Patient, survey.patient_id)
        remote = channel_for(patient)
        if survey.trigger == SurveyTrigger.FOLLOW_UP:
            _give_up(session, survey, now, unit)
            report.gave_up += 1
        elif remote is None:
            survey.status = SurveyStatus.WITHDRAWN
            report.withdrawn += 1
        else:
            survey.channel = remote
            survey.next_attempt_at = now
            report.switched += 1
        session.add(survey)
        session.commit()
    due = list(session.exec(
        select(Survey).where(Survey.status == SurveyStatus.PENDING, Survey.channel != SurveyChannel.TABLET,
                             col(Survey.next_attempt_at) <= now)
        .order_by(col(Survey.next_attempt_at), col(Survey.id)).limit(limit)
    ))
    for survey in due:
        if survey.attempts >= MAX_ATTEMPTS:
            _give_up(session, survey, now, unit)
            session.commit()
            report.gave_up += 1
            continue
        result = send_survey(session=session, survey_id=survey.id, channels=channels, now=now, unit=unit, links=links)
        session.refresh(survey)
        if result is None:
            if survey.status == SurveyStatus.WITHDRAWN:
                report.withdrawn += 1
            else:
                report.postponed += 1
        elif result.ok:
            report.sent += 1
            report.survey_ids.append(survey.id)
        else:
            report.failed += 1
    return report


# --- the patient page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientFeedback:
    surveys: list[Survey]
    follow_ups: list[FollowUp]

    @property
    def open_follow_ups(self) -> list[FollowUp]:
        return [f for f in self.follow_ups if f.status == FollowUpStatus.OPEN]


def patient_feedback(*, session: Session, patient_id: int, limit: int = 50) -> PatientFeedback:
    """The patient's surveys (latest first) and follow-ups (open first) for the Feedback section."""
    surveys = list(session.exec(
        select(Survey).where(Survey.patient_id == patient_id)
        .order_by(col(Survey.created_at).desc(), col(Survey.id).desc()).limit(limit)
    ))
    follow_ups = sorted(
        session.exec(select(FollowUp).where(FollowUp.patient_id == patient_id).limit(limit)),
        key=lambda f: (f.status != FollowUpStatus.OPEN, -f.created_at.timestamp()),
    )
    return PatientFeedback(surveys=surveys, follow_ups=list(follow_ups))


@dataclass(frozen=True)
class AskedSurvey:
    """A survey as the Outbox screen shows it: who was asked, by which channel, and the text they got."""

    survey: Survey
    patient_name: str
    recipient: str
    text: str


def list_asked(*, session: Session, limit: int = 200) -> list[AskedSurvey]:
    """The surveys sent by SMS, call or e-mail (newest first) with their text, so the Outbox screen shows
    every message, including those the development channel only pretended to send."""
    rows = session.exec(
        select(Survey, Patient)
        .join(Patient, col(Patient.id) == col(Survey.patient_id))
        .where(col(Survey.asked_at).is_not(None), Survey.channel != SurveyChannel.TABLET)
        .order_by(col(Survey.asked_at).desc(), col(Survey.id).desc())
        .limit(limit)
    )
    asked = []
    for survey, patient in rows:
        language = str(survey.language)
        if survey.channel == SurveyChannel.EMAIL:
            recipient, text = patient.email or "", email_texts(language, "…")[0]
        elif survey.channel == SurveyChannel.VOICE:
            voice = voice_texts(language)
            recipient, text = patient.phone, " ".join((voice["intro"], voice["q1"], voice["q2"]))
        else:
            recipient, text = patient.phone, sms_text(language)
        asked.append(AskedSurvey(survey=survey, patient_name=patient.display_name, recipient=recipient, text=text))
    return asked
