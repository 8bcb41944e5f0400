"""The patient's calendar file (iCalendar, RFC 5545 / iTIP RFC 5546): the visit's arrival, how long it takes and
where, in the patient's language.

One event per visit with a stable UID (``visit-<id>@<the host of PUBLIC_BASE_URL>``), so a calendar
program replaces what it holds: the booking confirmation by e-mail carries it (``METHOD:REQUEST``), a
move of the announced arrival sends an update with a higher ``SEQUENCE`` (``Visit.calendar_sequence``), a
cancellation ``METHOD:CANCEL``. Internal re-arrangements (``VisitRearranged``) keep the arrival and send
nothing. Staff download the same file from the visit and patient pages.

The queued rows carry no file: the dispatcher builds it from the visit as it is when the e-mail leaves
(``sending``), with the sequence in force then, so a late update never undoes a newer one.
"""

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

import icalendar
from sqlmodel import Session, col, select

from clinic.columns import Channel, Language, OutboxChannel, utcnow
from clinic.errors import Conflict, get_or_raise
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.outreach import CALENDAR_CANCEL, CALENDAR_UPDATE
from clinic.messaging.texts import clock, long_day, texts
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit, VisitStatus
from outreach.channels.base import Attachment

REQUEST, CANCEL = "REQUEST", "CANCEL"
METHODS = {"confirmation": REQUEST, CALENDAR_UPDATE: REQUEST, CALENDAR_CANCEL: CANCEL}
"""Outbox actions whose e-mail carries the calendar file, and its METHOD."""
DOWNLOADABLE = frozenset({VisitStatus.BOOKED, VisitStatus.CONFIRMED})
CALENDAR_RULE = "calendar"
"""The ``rule_id`` of the update and cancel rows: no rule of the rules file plans them."""
PRODID = "-//OneVisit//Day-care visit//EN"


@dataclass(frozen=True)
class CalendarFile:
    filename: str
    data: bytes
    method: str

    @property
    def content_type(self) -> str:
        return f"text/calendar; charset=utf-8; method={self.method}"

    def attachment(self) -> Attachment:
        return Attachment(self.filename, "text/calendar", self.data, (("method", self.method),))


def uid_for(visit_id: int, unit: Unit) -> str:
    host = urlsplit(unit.public_base_url).hostname or "onevisit.invalid"
    return f"visit-{visit_id}@{host}"


def visit_times(visit: Visit) -> tuple[dt.datetime, dt.datetime]:
    """``(arrival, end)``: the announced arrival and the end of the last planned step (``Conflict``
    ``not_planned`` for a visit without planned steps)."""
    if not visit.steps or visit.arrival_at is None:
        raise Conflict("the visit has no planned steps yet", code="not_planned", field="visit_id")
    arrival = visit.arrival_at
    end = max(max(step.planned_end for step in visit.steps), arrival + dt.timedelta(minutes=1))
    return arrival, end


def visit_calendar(visit: Visit, unit: Unit, method: str = REQUEST) -> bytes:
    """The visit's iCalendar file: ``REQUEST`` (add or update) or ``CANCEL`` (``STATUS:CANCELLED``), with the
    arrival in the unit's time zone (and its VTIMEZONE), the unit's name and address, words in the
    patient's language and ``SEQUENCE`` = ``visit.calendar_sequence``."""
    if method not in (REQUEST, CANCEL):
        raise ValueError(f"unknown calendar method {method!r}")
    patient: Patient = visit.patient
    language = str(getattr(patient.language, "value", patient.language) or Language.EN.value)
    _ = texts(language)
    arrival, end = visit_times(visit)
    zone = unit.zone
    pathway = visit.pathway.name_in(patient.language) if visit.pathway else ""
    facts = {
        "pathway": pathway,
        "unit": unit.name,
        "day": long_day(arrival, language, unit.tz),
        "time": clock(arrival, language, unit.tz),
        "end": clock(end, language, unit.tz),
    }
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = icalendar.Event()
    event.add("uid", uid_for(visit.id, unit))
    event.add("dtstamp", utcnow().replace(microsecond=0))
    event.add("sequence", visit.calendar_sequence)
    event.add("dtstart", arrival.astimezone(zone).replace(microsecond=0))
    event.add("duration", end - arrival)
    event.add("summary", _("Day-care visit: %(pathway)s") % facts)
    event.add("description", _("Please arrive at %(time)s. Every step of your day-care process takes place in "
                               "this one visit, which ends at about %(end)s.") % facts)
    event.add("location", ", ".join(part for part in (unit.name, unit.address) if part))
    if patient.email:
        attendee = icalendar.vCalAddress(f"mailto:{patient.email}")
        attendee.params["cn"] = icalendar.vText(patient.display_name)
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = icalendar.vText("FALSE")
        event.add("attendee", attendee)
    event.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def visit_calendar_file(visit: Visit, unit: Unit, method: str = REQUEST) -> CalendarFile:
    return CalendarFile(filename=f"visit-{visit.id}.ics", data=visit_calendar(visit, unit, method), method=method)


def calendar_download(*, session: Session, visit_id: int, unit: Unit) -> CalendarFile:
    """The calendar file of a booked visit that has not started, for staff to print or send; ``Conflict``
    (``no_calendar``) for any other visit. Downloading changes nothing (the sequence stays)."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status not in DOWNLOADABLE:
        raise Conflict(f"a {visit.status.value} visit has no calendar file", code="no_calendar", field="visit_id")
    return visit_calendar_file(visit, unit)


def attachment_for(row: OutboxMessage, visit: Visit, unit: Unit) -> Attachment | None:
    """The calendar file the e-mail of ``row`` carries, or ``None`` (another action, or nothing planned)."""
    method = METHODS.get(row.action)
    if method is None or not visit.steps:
        return None
    return visit_calendar_file(visit, unit, method).attachment()


def calendar_sent(visit: Visit, row: OutboxMessage) -> None:
    """Remember the arrival the patient's calendar now holds, once ``row``'s e-mail with the file went out."""
    if METHODS.get(row.action) == REQUEST:
        visit.calendar_arrival = visit.arrival_at


def reached_by_email(patient: Patient) -> bool:
    return patient.channel == Channel.EMAIL and bool(patient.email)


def queue_calendar_change(
    *, session: Session, visit_id: int, now: dt.datetime | None = None, cancelled: bool = False
) -> OutboxMessage | None:
    """After a move or a cancellation: queue the e-mail with the updated (or cancelling) calendar file for a
    patient reached by e-mail whose calendar holds the visit, with the sequence raised; committed.

    Nothing when the patient's calendar never got the visit (no file sent yet: the queued confirmation will
    carry the new time), or, for a move, when the announced arrival is the one the calendar holds."""
    now = now or utcnow()
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    patient: Patient = visit.patient
    if visit.calendar_arrival is None or not reached_by_email(patient):
        session.rollback()
        return None
    if not cancelled and (visit.status not in DOWNLOADABLE or visit.arrival_at == visit.calendar_arrival):
        session.rollback()
        return None
    action = CALENDAR_CANCEL if cancelled else CALENDAR_UPDATE
    try:
        for old in session.exec(
            select(OutboxMessage).where(
                OutboxMessage.visit_id == visit_id,
                col(OutboxMessage.action).in_([CALENDAR_UPDATE, CALENDAR_CANCEL]),
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
        ):
            old.status = OutboxStatus.WITHDRAWN
            old.last_error = "a newer calendar file replaces it"
            session.add(old)
        visit.calendar_sequence += 1
        if cancelled:
            visit.calendar_arrival = None
        session.add(visit)
        language = str(getattr(patient.language, "value", patient.language))
        row = OutboxMessage(
            visit_id=visit.id, patient_id=patient.id, action=action, rule_id=CALENDAR_RULE, due_at=now,
            next_attempt_at=now, status=OutboxStatus.QUEUED, channel=OutboxChannel.EMAIL,
            language=Language(language), essential=True, recipient=(patient.email or "")[:254],
            body=_row_words(language=language, cancelled=cancelled),
        )
        session.add(row)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return row


def _row_words(*, language: str, cancelled: bool) -> str:
    """What the Outbox screen shows of the row (the e-mail itself is worded when it leaves)."""
    _ = texts(language)
    if cancelled:
        return _("OneVisit: the calendar file that takes your cancelled visit out of your calendar.")
    return _("OneVisit: the updated calendar file of your visit.")
