"""Answers to outreach e-mails: a link to a page where the patient does what an SMS reply or a key pressed in
a call would do (confirm or cancel the visit, answer the transport offer, stop or restart non-essential
messages).

Replies to e-mail are not read, so an outreach e-mail never asks for one. It carries one link instead
(``clinic.messaging.links``: the outbox row, signed with the app's secret key, valid for 60 days), and its words
(``email_words``) say what the page offers. Opening the page changes nothing, because mail scanners open
links too. A choice posted from it acts through the same services as an SMS reply. It is stored as an
``InboundMessage`` on the e-mail channel (a touch-point, followed by the two questions as an SMS the clinic
acted on is), the e-mail counts as delivered from then on (SMTP gives no receipt), and the page answers in
the patient's language. Only the choices the message asks for and the
visit still allows are offered (``AnswerPage.choices``); ``answer`` refuses any other.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session

from clinic.columns import Channel
from clinic.errors import Conflict, NotFound
from clinic.messaging import inbound
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.outreach import CALENDAR_CANCEL, CALENDAR_UPDATE, VOLUNTEER_ACTION
from clinic.messaging.texts import clock, long_day, texts
from clinic.patients import services as patient_service
from clinic.patients.models import Patient
from clinic.service import transport
from clinic.service.models import TouchChannel
from clinic.unit.context import Unit
from clinic.visits import services as visit_service
from clinic.visits.models import Visit, VisitStatus

CONFIRM, CANCEL, TRANSPORT_YES, TRANSPORT_NO, STOP, START = (
    "confirm", "cancel", "transport_yes", "transport_no", "stop", "start",
)
VISIT_ACTIONS = ("confirmation", "reminder", CALENDAR_UPDATE)
"""Outreach messages about the visit itself: their page confirms or cancels it."""
CANCEL_REASON = "cancelled by the patient (e-mail)"


def email_words(
    *,
    patient: Patient,
    action: str,
    day: dt.date,
    start: dt.datetime | None,
    pathway: str,
    voucher: str,
    link: str,
    tz: str,
    note: str = "",
) -> tuple[str, str]:
    """``(subject, body)`` of the outreach e-mail ``action`` about a visit on ``day``, in the patient's language,
    ending with ``link`` to the answer page and a sentence saying what can be done there. ``note`` is the
    outbox row's own wording, which the volunteer's announcement carries (its name, place and time)."""
    language = str(patient.language)
    _ = texts(language)
    facts = {
        "name": patient.given_name,
        "pathway": pathway,
        "day": long_day(start or day, language, tz),
        "time": clock(start, language, tz) if start else "",
        "voucher": voucher,
    }
    if action == "confirmation":
        subject = _("Your visit on %(day)s") % facts
        text = _("Your visit (%(pathway)s) is booked for %(day)s at %(time)s. Every step of your day-care process "
                 "takes place in this one visit.") % facts
        ask = _("To confirm or cancel your visit, or to stop messages that are not essential, open this page:")
    elif action == "reminder":
        subject = _("Reminder: your visit on %(day)s") % facts
        text = _("This is a reminder of your visit (%(pathway)s) on %(day)s at %(time)s.") % facts
        ask = _("Please confirm or cancel your visit on this page:")
    elif action == transport.OFFER_ACTION:
        subject = _("Transport for your visit on %(day)s") % facts
        text = _("We can arrange transport and help at home for your visit on %(day)s.") % facts
        ask = _("Would you like this? Answer yes or no on this page:")
    elif action == VOLUNTEER_ACTION:
        subject = _("Who meets you on %(day)s") % facts
        text = note.removeprefix("OneVisit:").strip()
        ask = _("To stop messages that are not essential, open this page:")
    elif action == CALENDAR_UPDATE:
        subject = _("Your visit has moved to %(day)s") % facts
        text = _("Your visit (%(pathway)s) has moved: please come on %(day)s at %(time)s. The calendar file in this "
                 "e-mail updates the visit in your calendar.") % facts
        ask = _("To confirm or cancel your visit, or to stop messages that are not essential, open this page:")
    elif action == CALENDAR_CANCEL:
        subject = _("Your visit on %(day)s is cancelled") % facts
        text = _("Your visit (%(pathway)s) on %(day)s at %(time)s is cancelled. The calendar file in this e-mail "
                 "takes it out of your calendar.") % facts
        ask = _("To stop messages that are not essential, open this page:")
    elif action == "coffee_voucher":
        subject = _("The coffee is on us on %(day)s") % facts
        text = _("You travel far to see us, so the coffee is on us. Show voucher %(voucher)s at check-in on "
                 "%(day)s.") % facts
        ask = _("To stop messages that are not essential, open this page:")
    else:
        subject = _("Your visit on %(day)s") % facts
        text = _("This is a message about your visit on %(day)s.") % facts
        ask = _("To stop messages that are not essential, open this page:")
    greeting = _("Hello %(name)s,") % facts
    signature = _("The day-care unit")
    return subject, f"{greeting}\n\n{text}\n\n{ask}\n{link}\n\n{signature}"


@dataclass(frozen=True)
class AnswerPage:
    """What an e-mailed link shows: the visit, where it stands, and the choices open now."""

    outbox_id: int
    patient_id: int
    language: str
    visit_id: int
    day: dt.date
    start: dt.datetime | None
    visit_status: VisitStatus
    transport_wanted: bool | None
    opted_out: bool
    choices: tuple[str, ...]


def _load(session: Session, outbox_id: int) -> tuple[OutboxMessage, Visit, Patient]:
    row = session.get(OutboxMessage, outbox_id)
    visit = session.get(Visit, row.visit_id) if row is not None else None
    if row is None or visit is None or row.channel != Channel.EMAIL:
        raise NotFound(f"no outreach e-mail {outbox_id}", field="outbox_id")
    return row, visit, session.get(Patient, row.patient_id)


def _choices(row: OutboxMessage, visit: Visit, patient: Patient, today: dt.date) -> tuple[str, ...]:
    choices: list[str] = []
    coming = visit.date >= today
    if coming and row.action in VISIT_ACTIONS:
        if visit.status == VisitStatus.BOOKED:
            choices.append(CONFIRM)
        if visit.status in inbound.UPCOMING:
            choices.append(CANCEL)
    if coming and row.action == transport.OFFER_ACTION and visit.status in transport.OPEN_VISITS:
        choices += [TRANSPORT_YES, TRANSPORT_NO]
    choices.append(START if patient.opted_out else STOP)
    return tuple(choices)


def answer_page(*, session: Session, outbox_id: int, now: dt.datetime, tz: str) -> AnswerPage:
    """The page of the e-mail in outbox row ``outbox_id``; ``NotFound`` when there is no such e-mail."""
    row, visit, patient = _load(session, outbox_id)
    wanted = transport.for_visit(session=session, visit_id=visit.id)
    return AnswerPage(
        outbox_id=row.id,
        patient_id=patient.id,
        language=str(patient.language),
        visit_id=visit.id,
        day=visit.date,
        start=inbound.visit_start(session=session, visit=visit),
        visit_status=visit.status,
        transport_wanted=wanted.wanted if wanted is not None else None,
        opted_out=patient.opted_out,
        choices=_choices(row, visit, patient, now.astimezone(ZoneInfo(tz)).date()),
    )


def answer(
    *,
    session: Session,
    outbox_id: int,
    choice: str,
    now: dt.datetime,
    unit: Unit,
    after_cancel: Callable[[int], None] | None = None,
) -> inbound.InboundResult:
    """Do what the patient chose on the page of the e-mail in ``outbox_id`` and say so in their language.

    ``Conflict`` (code ``not_offered``) when the page no longer offers ``choice`` (the visit was cancelled or
    confirmed meanwhile, say); nothing is stored then. A cancellation frees the place: ``after_cancel``
    (default: the next wave of offers, recorded) gets the visit id."""
    page = answer_page(session=session, outbox_id=outbox_id, now=now, tz=unit.tz)
    if choice not in page.choices:
        raise Conflict(f"the e-mail's page does not offer {choice!r} now", code="not_offered", field="choice")
    _ = texts(page.language)
    facts = {"day": long_day(page.start or page.day, page.language, unit.tz),
             "time": clock(page.start, page.language, unit.tz) if page.start else "–",
             "desk": unit.desk_phone or _("the front desk")}
    cancelled = None
    if choice == CONFIRM:
        visit_service.change_status(session=session, visit_id=page.visit_id, status=VisitStatus.CONFIRMED,
                                    actor_id=None, reason="confirmed by e-mail")
        outcome, reply = "confirmed", _("Thank you, your visit on %(day)s at %(time)s is confirmed.") % facts
    elif choice == CANCEL:
        visit_service.change_status(session=session, visit_id=page.visit_id, status=VisitStatus.CANCELLED,
                                    actor_id=None, reason=CANCEL_REASON, now=now)
        cancelled = page.visit_id
        outcome = "cancelled"
        reply = _("Your visit on %(day)s at %(time)s is cancelled. To book a new one, call %(desk)s.") % facts
    elif choice in (TRANSPORT_YES, TRANSPORT_NO):
        visit = session.get(Visit, page.visit_id)
        outcome = inbound.note_transport(session=session, visit=visit, wanted=choice == TRANSPORT_YES, now=now,
                                         channel=TouchChannel.EMAIL)
        reply = inbound.transport_reply(outcome, language=page.language, day=page.day, tz=unit.tz, by_sms=False)
    else:
        patient_service.set_contact_preferences(session=session, patient_id=page.patient_id, actor_id=None,
                                                opted_out=choice == STOP)
        if choice == STOP:
            outcome, reply = "opted_out", inbound.opt_out_reply(page.language, desk=facts["desk"], by_sms=False)
        else:
            outcome, reply = "opted_in", inbound.opt_in_reply(page.language, by_sms=False)
    row = session.get(OutboxMessage, outbox_id)
    if row.status == OutboxStatus.SENT:  # SMTP gives no receipt: an answer from its page shows the e-mail arrived
        row.status, row.updated_at = OutboxStatus.DELIVERED, now
        session.add(row)
    result = inbound.InboundResult(outcome=outcome, reply=reply, language=page.language, patient_id=page.patient_id,
                                   visit_id=page.visit_id, refill_visit_id=cancelled)
    stored = inbound.store(session=session, channel=Channel.EMAIL, provider_id=None, from_number="", body=choice,
                           keyword=choice, result=result, now=now)
    if cancelled is not None:
        (after_cancel or inbound.default_after_cancel(session, now, unit.tz))(cancelled)
    if stored.message_id is not None:
        inbound.survey_after(session, stored.message_id, now)
    return stored
