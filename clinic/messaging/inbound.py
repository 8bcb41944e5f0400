"""Answers from patients: inbound SMS keywords and the keys pressed in a reminder call.

``handle_sms`` finds the patient by the sender's number and acts on the first word (see
``outreach.keywords``): YES accepts an open waitlist offer, answers the transport offer when that is the
newest question the patient was sent (``clinic.service.transport``), or confirms the next visit; NO
declines the offer or the transport; CANCEL cancels the next visit (then the freed place is re-offered);
STOP/START switch all non-essential messages off/on (the reply says what still comes); HELP gives the desk's number. Every message is stored
(``InboundMessage``) with what it was taken to mean and the reply, which is in the patient's language.
A webhook delivered twice (same provider id) is answered the same way and acts once.

The two questions (``clinic.feedback.surveys``): a reply that starts with two yes/no words from a patient
with a survey asked in the last days, and no open waitlist offer, answers the survey before any keyword
is looked at ("YES NO late"); an SMS the clinic acted on is followed by a survey (not after STOP, START,
HELP, a survey answer or a message not understood), and so is an answered reminder call
(``clinic.messaging.delivery``).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic import events
from clinic.columns import Channel
from clinic.errors import Conflict, DomainError
from clinic.feedback import surveys
from clinic.messaging.models import InboundMessage
from clinic.messaging.texts import clock, long_day, short_day, texts
from clinic.patients import services as patient_service
from clinic.patients.models import Patient, normalise_phone
from clinic.refill import services as refill
from clinic.refill.models import OfferChannel, OfferStatus, WaitlistEntry, WaitlistOffer
from clinic.service import transport
from clinic.service.models import TouchChannel
from clinic.unit.context import Unit
from clinic.visits import services as visit_service
from clinic.visits.models import Visit, VisitStatus, VisitStep
from outreach.keywords import Keyword, parse

OFFER_MEMORY = dt.timedelta(hours=24)
"""A YES within this time of an offer is taken as its answer, even if the offer has closed meanwhile."""
UPCOMING = (VisitStatus.BOOKED, VisitStatus.CONFIRMED)
CANCEL_REASON = "cancelled by the patient (SMS)"
CALL_CANCEL_REASON = "cancelled by the patient (reminder call)"


@dataclass(frozen=True)
class InboundResult:
    outcome: str
    reply: str
    language: str = "en"
    patient_id: int | None = None
    visit_id: int | None = None
    refill_visit_id: int | None = None  # a freed place that needs its next wave of offers (cancelled, declined)
    message_id: int | None = None


# --- look-ups -----------------------------------------------------------------------------------


def _number(raw: str) -> str:
    raw = (raw or "").strip()
    try:
        return normalise_phone(raw)
    except ValueError:
        return raw


def patients_for_number(*, session: Session, number: str) -> list[Patient]:
    """Patients registered with this phone number (a shared family phone gives several)."""
    return list(
        session.exec(select(Patient).where(Patient.phone == _number(number)).order_by(col(Patient.id)))
    )


def next_visit(*, session: Session, patient_ids: list[int], now: dt.datetime, tz: str) -> Visit | None:
    """The earliest booked or confirmed visit from today (clinic time) on."""
    if not patient_ids:
        return None
    today = now.astimezone(ZoneInfo(tz)).date()
    return session.exec(
        select(Visit)
        .where(col(Visit.patient_id).in_(patient_ids), col(Visit.status).in_(UPCOMING), Visit.date >= today)
        .order_by(col(Visit.date), col(Visit.id))
    ).first()


def visit_start(*, session: Session, visit: Visit) -> dt.datetime | None:
    """When the patient was told to arrive (the first step's start for a visit stored before that was kept)."""
    if visit.announced_at is not None:
        return visit.announced_at
    return session.exec(select(sa.func.min(VisitStep.planned_start)).where(VisitStep.visit_id == visit.id)).first()


def recent_offer(*, session: Session, patient_ids: list[int], now: dt.datetime) -> WaitlistOffer | None:
    """The patient's latest SMS offer not answered yet, sent within ``OFFER_MEMORY``."""
    if not patient_ids:
        return None
    return session.exec(
        select(WaitlistOffer)
        .join(WaitlistEntry, col(WaitlistEntry.id) == col(WaitlistOffer.entry_id))
        .where(
            col(WaitlistEntry.patient_id).in_(patient_ids),
            WaitlistOffer.channel == OfferChannel.SMS,
            col(WaitlistOffer.answered_at).is_(None),
            col(WaitlistOffer.sent_at) >= now - OFFER_MEMORY,
        )
        .order_by(col(WaitlistOffer.sent_at).desc(), col(WaitlistOffer.id).desc())
    ).first()


def default_after_cancel(session: Session, now: dt.datetime, unit: Unit) -> Callable[[int], None]:
    """After a cancellation: the next wave of offers (recorded only; a job or the webhook sends them)."""

    def after(visit_id: int) -> None:
        try:
            refill.make_offers(session=session, visit_id=visit_id, now=now, channel="sms", unit=unit)
        except DomainError:
            session.rollback()

    return after


# --- the SMS -----------------------------------------------------------------------------------


def handle_sms(
    *,
    session: Session,
    from_number: str,
    body: str,
    now: dt.datetime,
    provider_id: str | None = None,
    unit: Unit,
    after_cancel: Callable[[int], None] | None = None,
) -> InboundResult:
    """Act on one inbound SMS and return the reply to send back (stored with the message).
    A follow-up opened by a "no" in the reply is due ``unit.follow_up_due_working_days`` working days later."""
    if provider_id:
        seen = session.exec(select(InboundMessage).where(InboundMessage.provider_id == provider_id)).first()
        if seen is not None:
            return InboundResult(
                outcome="duplicate", reply=seen.reply, patient_id=seen.patient_id, visit_id=seen.visit_id,
                message_id=seen.id,
            )
    keyword = parse(body)
    people = patients_for_number(session=session, number=from_number)
    if not people:
        _ = texts("en")
        desk = unit.desk_phone or _("the front desk")
        result = InboundResult(
            outcome="unknown_sender",
            reply=_("This number is not known to us. Please call %(desk)s.") % {"desk": desk},
        )
    else:
        result = _act(
            session=session, people=people, keyword=keyword, now=now, unit=unit, body=body,
        )
    stored = store(
        session=session, channel=Channel.SMS, provider_id=provider_id, from_number=from_number, body=body,
        keyword=keyword.value if keyword else None, result=result, now=now,
    )
    if result.refill_visit_id is not None and stored.outcome != "duplicate":
        (after_cancel or default_after_cancel(session, now, unit))(result.refill_visit_id)
    if stored.outcome != "duplicate" and stored.message_id is not None:
        survey_after(session, stored.message_id, now)
    return stored


def survey_after(session: Session, message_id: int, now: dt.datetime) -> None:
    """The two questions after an inbound contact (``surveys.ask_after_inbound`` says when not)."""
    try:
        surveys.ask_after_inbound(session=session, message_id=message_id, now=now)
    except DomainError:
        session.rollback()


def _survey_answer(
    *, session: Session, people: list[Patient], body: str, now: dt.datetime, unit: Unit
) -> InboundResult | None:
    """``body`` as the answer to the patients' survey asked in the last days, or ``None``."""
    survey = surveys.answerable_survey(session=session, patient_ids=[p.id for p in people], now=now)
    answer = surveys.parse_answer(body) if survey is not None else None
    if answer is None:
        return None
    try:
        surveys.record_answer(session=session, survey_id=survey.id, got_what_needed=answer.got_what_needed,
                              good_job=answer.good_job, comment=answer.comment, now=now, unit=unit)
    except DomainError:
        session.rollback()
        return None
    language = str(survey.language)
    return InboundResult(outcome="survey_answer", reply=surveys.thanks(language, answer), language=language,
                         patient_id=survey.patient_id, visit_id=survey.visit_id)


def store(
    *,
    session: Session,
    channel: Channel,
    provider_id: str | None,
    from_number: str,
    body: str,
    keyword: str | None,
    result: InboundResult,
    now: dt.datetime,
) -> InboundResult:
    """Keep what the patient sent, what it was taken to mean and the answer (committed); the result with its
    ``message_id``, or the first answer when the same provider id arrived before."""
    message = InboundMessage(
        received_at=now,
        channel=channel,
        provider_id=provider_id or None,
        from_number=(from_number or "")[:32],
        body=(body or "")[:1600],
        patient_id=result.patient_id,
        visit_id=result.visit_id,
        keyword=keyword,
        outcome=result.outcome,
        reply=result.reply[:1600],
    )
    session.add(message)
    try:
        session.flush()
        events.record(
            session,
            events.MessageAnswered(
                message_id=message.id, channel=str(channel), outcome=message.outcome,
                patient_id=message.patient_id, visit_id=message.visit_id,
            ),
        )
        session.commit()
    except IntegrityError:  # the same webhook arrived twice at once: the first one's answer stands
        session.rollback()
        seen = session.exec(select(InboundMessage).where(InboundMessage.provider_id == provider_id)).one()
        return InboundResult(outcome="duplicate", reply=seen.reply, patient_id=seen.patient_id, visit_id=seen.visit_id,
                             message_id=seen.id)
    return InboundResult(**{**result.__dict__, "message_id": message.id})


def _act(
    *,
    session: Session,
    people: list[Patient],
    keyword: Keyword | None,
    now: dt.datetime,
    unit: Unit,
    body: str = "",
) -> InboundResult:
    ids = [p.id for p in people]
    patient = people[0]
    upcoming = next_visit(session=session, patient_ids=ids, now=now, tz=unit.tz)
    if upcoming is not None:
        patient = next(p for p in people if p.id == upcoming.patient_id)
    offer = recent_offer(session=session, patient_ids=ids, now=now)
    if offer is None and keyword not in (Keyword.STOP, Keyword.START, Keyword.HELP, Keyword.CANCEL):
        answered = _survey_answer(session=session, people=people, body=body, now=now, unit=unit)
        if answered is not None:
            return answered
    if offer is not None and keyword in (Keyword.YES, Keyword.NO):
        patient = session.get(WaitlistEntry, offer.entry_id).patient
    language = str(patient.language)
    _ = texts(language)
    desk = unit.desk_phone or _("the front desk")

    def result(outcome: str, reply: str, **kw) -> InboundResult:
        kw.setdefault("visit_id", upcoming.id if upcoming else None)
        return InboundResult(outcome=outcome, reply=reply, language=language, patient_id=patient.id, **kw)

    def when(visit: Visit) -> dict[str, str]:
        start = visit_start(session=session, visit=visit)
        if start is None:
            return {"day": short_day(visit.date, language, unit.tz), "time": "–"}
        return {"day": short_day(start, language, unit.tz), "time": clock(start, language, unit.tz)}

    if keyword is Keyword.YES and offer is not None:
        return _answer_offer_yes(session=session, offer=offer, now=now, unit=unit, result=result, when=when, _=_)
    if keyword is Keyword.NO and offer is not None:
        next_wave = None
        if offer.status == OfferStatus.OPEN:
            try:
                refill.decline_offer(session=session, offer_id=offer.id, now=now)
            except DomainError:
                session.rollback()
            else:
                still_open = session.exec(
                    select(WaitlistOffer.id).where(
                        WaitlistOffer.source_visit_id == offer.source_visit_id,
                        col(WaitlistOffer.status).in_([OfferStatus.OPEN, OfferStatus.ACCEPTED]),
                    )
                ).first()
                next_wave = offer.source_visit_id if still_open is None else None
        return result(
            "offer_declined", _("Thank you for letting us know. You stay on the waiting list."), visit_id=None,
            refill_visit_id=next_wave,
        )
    if keyword in (Keyword.YES, Keyword.NO):
        asked = transport.offer_awaiting_answer(session=session, patient_ids=ids, now=now)
        if asked is not None:
            return _answer_transport_sms(
                session=session, visit=asked, wanted=keyword is Keyword.YES, now=now, tz=unit.tz
            )
    if keyword is Keyword.YES:
        if upcoming is None:
            return result("no_visit", _("We found no coming visit for this number. Questions? Call %(desk)s.")
                          % {"desk": desk})
        if upcoming.status == VisitStatus.BOOKED:
            try:
                visit_service.change_status(
                    session=session, visit_id=upcoming.id, status=VisitStatus.CONFIRMED, actor_id=None,
                    reason="confirmed by SMS",
                )
            except DomainError:
                session.rollback()
        return result("confirmed", _("Thank you, your visit on %(day)s at %(time)s is confirmed.") % when(upcoming))
    if keyword is Keyword.CANCEL:
        if upcoming is None:
            return result("no_visit", _("We found no coming visit for this number. Questions? Call %(desk)s.")
                          % {"desk": desk})
        moment = when(upcoming)
        try:
            visit_service.change_status(
                session=session, visit_id=upcoming.id, status=VisitStatus.CANCELLED, actor_id=None,
                reason=CANCEL_REASON, now=now,
            )
        except DomainError:
            session.rollback()
            return result("not_cancelled", _("Your visit could not be cancelled by SMS. Please call %(desk)s.")
                          % {"desk": desk})
        return result(
            "cancelled",
            _("Your visit on %(day)s at %(time)s is cancelled. To book a new one, call %(desk)s.")
            % {**moment, "desk": desk},
            refill_visit_id=upcoming.id,
        )
    if keyword is Keyword.NO:
        return result("no_offer", _("There is no open offer for you. To cancel your visit, reply CANCEL."))
    if keyword in (Keyword.STOP, Keyword.START):
        stop = keyword is Keyword.STOP
        for person in people:
            patient_service.set_contact_preferences(
                session=session, patient_id=person.id, actor_id=None, opted_out=stop
            )
        if stop:
            return result("opted_out", opt_out_reply(language, desk=desk, by_sms=True))
        return result("opted_in", opt_in_reply(language, by_sms=True))
    if keyword is Keyword.HELP:
        return result("help", _("Day-care unit: questions or changes? Call %(desk)s. Reply YES to confirm, "
                                "CANCEL to cancel, STOP to stop messages.") % {"desk": desk})
    return result("unknown", _("Sorry, we did not understand. Reply YES to confirm, CANCEL to cancel, "
                               "HELP for help."))


def opt_out_reply(language: str, *, desk: str, by_sms: bool) -> str:
    """What STOP stops and what still comes. An opted-out patient is not sent offers (waitlist places, the
    coffee voucher, transport), the two questions or any other message a rule does not mark essential; the
    booking's confirmation and the visit's reminders are essential and still come (``sending._send_one``)."""
    _ = texts(language)
    reply = _("You will get no more offers, questions or other extra messages from us. Reminders of your visits "
              "still come, so you know when to come; to stop those too, call %(desk)s.") % {"desk": desk}
    if by_sms:
        reply += " " + _("Reply START to get everything again.")
    return reply


def opt_in_reply(language: str, *, by_sms: bool) -> str:
    """What START switches back on: the non-essential messages (the reminders never stopped)."""
    _ = texts(language)
    if by_sms:
        return _("Welcome back: you will get our offers and other messages again. Reply STOP to stop them.")
    return _("Welcome back: you will get our offers and other messages again.")


def _answer_offer_yes(*, session, offer, now, unit: Unit, result, when, _) -> InboundResult:
    taken = _("Sorry, this place has already been taken. You stay on the waiting list.")
    if offer.status == OfferStatus.EXPIRED or (offer.status == OfferStatus.OPEN and now >= offer.expires_at):
        expired = _("Sorry, this offer has expired. You stay on the waiting list.")
    else:
        expired = None

    def theirs(accepted: WaitlistOffer) -> InboundResult:
        """The patient's own offer was accepted already (a second YES, or two at once): the place is theirs."""
        visit = session.get(Visit, accepted.booked_visit_id)
        return result("offer_already_accepted",
                      _("This place is yours: we expect you on %(day)s at %(time)s. See you then!") % when(visit),
                      visit_id=visit.id)

    if offer.status == OfferStatus.ACCEPTED and offer.booked_visit_id is not None:
        return theirs(offer)
    if offer.status != OfferStatus.OPEN:
        outcome = "offer_expired" if expired else "offer_taken"
        return result(outcome, expired or taken, visit_id=None)
    try:
        visit = refill.accept_offer(session=session, offer_id=offer.id, now=now, unit=unit)
    except Conflict as exc:
        session.rollback()
        now_stored = session.get(WaitlistOffer, offer.id)
        if now_stored.status == OfferStatus.ACCEPTED and now_stored.booked_visit_id is not None:
            return theirs(now_stored)
        if exc.code == "expired":
            return result("offer_expired", expired or _("Sorry, this offer has expired. You stay on the waiting list."),
                          visit_id=None)
        return result("offer_taken", taken, visit_id=None)
    except DomainError:
        session.rollback()
        return result("offer_taken", taken, visit_id=None)
    return result("offer_accepted", _("Booked: we expect you on %(day)s at %(time)s. See you then!") % when(visit),
                  visit_id=visit.id)


def note_transport(
    *, session: Session, visit: Visit, wanted: bool, now: dt.datetime, channel: TouchChannel
) -> str:
    """Keep a YES or NO to the transport offer for ``visit``; the outcome (``transport_wanted``,
    ``transport_declined``, or ``transport_not_recorded`` when the visit no longer takes one)."""
    try:
        transport.record_answer(session=session, visit_id=visit.id, wanted=wanted, channel=channel, now=now)
    except DomainError:
        session.rollback()
        return "transport_not_recorded"
    return "transport_wanted" if wanted else "transport_declined"


def _answer_transport_sms(
    *, session: Session, visit: Visit, wanted: bool, now: dt.datetime, tz: str
) -> InboundResult:
    patient = session.get(Patient, visit.patient_id)
    language = str(patient.language)
    outcome = note_transport(session=session, visit=visit, wanted=wanted, now=now, channel=TouchChannel.SMS)
    reply = transport_reply(outcome, language=language, day=visit.date, tz=tz, by_sms=True)
    return InboundResult(outcome=outcome, reply=reply, language=language, patient_id=patient.id, visit_id=visit.id)


def transport_reply(outcome: str, *, language: str, day: dt.date, tz: str, by_sms: bool) -> str:
    """What an SMS (``by_sms``) or an e-mail's answer page says back to a transport answer (``note_transport``'s
    outcome); only an SMS may invite a second answer by reply."""
    _ = texts(language)
    facts = {"day": long_day(day, language, tz)}
    if outcome == "transport_wanted":
        return _("Thank you. We will arrange transport and help at home for your visit on %(day)s and call you "
                 "with the details.") % facts
    if outcome == "transport_declined":
        if by_sms:
            return _("Thank you, noted: no transport for your visit on %(day)s. If you change your mind, reply "
                     "YES.") % facts
        return _("Thank you, noted: no transport for your visit on %(day)s.") % facts
    return _("We could not note your answer about transport. Please call the front desk.")


# --- the reminder call ----------------------------------------------------------------------------


def call_script(
    *, session: Session, visit: Visit, unit: Unit, action: str = "reminder"
) -> tuple[str, str, str | None]:
    """``(language, what the call says, the menu or None)`` for an outreach call about ``visit``."""
    patient = session.get(Patient, visit.patient_id)
    start = visit_start(session=session, visit=visit)
    return call_words(patient=patient, day=visit.date, start=start, tz=unit.tz, action=action)


def call_words(
    *, patient: Patient, day: dt.date, start: dt.datetime | None, tz: str, action: str = "reminder"
) -> tuple[str, str, str | None]:
    """``call_script`` on what is already loaded (the visit's day and first planned start).

    Each action has its own words (the SMS texts ask for replies a call cannot take): the reminder and the
    confirmation end with the menu of ``handle_call_choice``, the transport offer asks 1 or 2 for yes or no,
    the coffee voucher has no menu."""
    language = str(patient.language)
    _ = texts(language)
    facts = {
        "name": patient.given_name,
        "day": long_day(start or day, language, tz),
        "time": clock(start, language, tz) if start else "",
    }
    menu = _("Press 1 to confirm, 2 to cancel, 3 to speak to the front desk.")
    if action == transport.OFFER_ACTION:
        intro = _("Hello %(name)s, this is the day-care unit about your visit on %(day)s. We can arrange "
                  "transport and help at home for it.") % facts
        return language, intro, _("Press 1 if you would like this, 2 if not.")
    if action == "coffee_voucher":
        intro = _("Hello %(name)s, this is the day-care unit. You travel far to see us, so the coffee is on us "
                  "on %(day)s: the front desk has your voucher when you check in. Goodbye.") % facts
        return language, intro, None
    if action == "confirmation":
        if start is None:
            intro = _("Hello %(name)s, this is the day-care unit: your visit is booked for %(day)s.") % facts
        else:
            intro = _("Hello %(name)s, this is the day-care unit: your visit is booked for %(day)s at "
                      "%(time)s.") % facts
        intro += " " + _("Every step of your day-care process takes place in this one visit.")
        return language, intro, menu
    if start is None:
        intro = _("Hello %(name)s, this is the day-care unit with a reminder of your visit on %(day)s.") % facts
    else:
        intro = _("Hello %(name)s, this is the day-care unit with a reminder of your visit on %(day)s at "
                  "%(time)s.") % facts
    return language, intro, menu


def call_goodbye(language: str) -> str:
    """Said when the caller pressed nothing."""
    _ = texts(language)
    return _("We did not hear a choice. Goodbye.")


def desk_unavailable(language: str) -> str:
    _ = texts(language)
    return _("Sorry, the front desk cannot be reached by phone right now. Goodbye.")


def handle_call_choice(
    *,
    session: Session,
    visit_id: int,
    digits: str,
    now: dt.datetime,
    call_sid: str | None = None,
    from_number: str = "",
    unit: Unit,
    after_cancel: Callable[[int], None] | None = None,
    action: str = "reminder",
) -> InboundResult:
    """A key pressed in an outreach call: 1 confirms, 2 cancels (then the place is re-offered),
    3 asks for the desk (the webhook dials it); in the transport offer's call 1 is yes and 2 no; anything
    else repeats the menu."""
    visit = visit_service.get_visit(session=session, visit_id=visit_id)
    patient = session.get(Patient, visit.patient_id)
    language = str(patient.language)
    _ = texts(language)
    digit = (digits or "").strip()[:1]
    cancelled = None
    if action == transport.OFFER_ACTION and digit in ("1", "2"):
        outcome = note_transport(session=session, visit=visit, wanted=digit == "1", now=now,
                                  channel=TouchChannel.VOICE)
        reply = {
            "transport_wanted": _("Thank you, we will arrange transport and call you with the details. "
                                  "Goodbye."),
            "transport_declined": _("Thank you, noted: no transport. Goodbye."),
            "transport_not_recorded": _("We could not note your answer about transport. Please call the front "
                                        "desk."),
        }[outcome]
    elif action == transport.OFFER_ACTION:
        outcome, reply = "unknown", _("Sorry, we did not understand.")
    elif digit == "1":
        if visit.status == VisitStatus.BOOKED:
            visit_service.change_status(session=session, visit_id=visit.id, status=VisitStatus.CONFIRMED,
                                        actor_id=None, reason="confirmed in the reminder call")
        if visit.status == VisitStatus.CONFIRMED:
            outcome, reply = "confirmed", _("Thank you, your visit is confirmed. Goodbye.")
        else:
            outcome, reply = "not_confirmed", _("This visit can no longer be confirmed. Please call the front desk.")
    elif digit == "2":
        if visit.status in UPCOMING:
            visit_service.change_status(session=session, visit_id=visit.id, status=VisitStatus.CANCELLED,
                                        actor_id=None, reason=CALL_CANCEL_REASON, now=now)
            cancelled = visit.id
            outcome, reply = "cancelled", _("Your visit is cancelled. Please call us to book a new one. Goodbye.")
        else:
            outcome, reply = "not_cancelled", _("This visit can no longer be cancelled. Please call the front desk.")
    elif digit == "3":
        outcome, reply = "desk", _("Please hold, we are putting you through to the front desk.")
    else:
        outcome, reply = "unknown", _("Sorry, we did not understand.")
    # (the webhook repeats the menu after "unknown"; "goodbye" is said when no key was pressed at all)
    result = InboundResult(outcome=outcome, reply=reply, language=language, patient_id=patient.id,
                           visit_id=visit.id, refill_visit_id=cancelled)
    key = f"{call_sid}:{digit or '-'}" if call_sid else None
    stored = store(session=session, channel=Channel.VOICE, provider_id=key, from_number=from_number or patient.phone,
                    body=digits or "", keyword=None, result=result, now=now)
    if cancelled is not None and stored.outcome != "duplicate":
        (after_cancel or default_after_cancel(session, now, unit))(cancelled)
    return stored
