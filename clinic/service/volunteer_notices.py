"""The volunteer's SMS the evening before: their list for the next clinic day (``volunteer_list``, the
only view of the patients a volunteer gets), queued per volunteer and day and sent outside quiet hours."""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic.columns import Language
from clinic.errors import Conflict
from clinic.messaging.models import OutboxStatus
from clinic.messaging.texts import clock, short_day, texts
from clinic.service.models import Volunteer, VolunteerAssignment, VolunteerNotice
from clinic.service.volunteers import MEETING_PLACES, NOTICE_TIME, VolunteerListRow, volunteer_list
from clinic.unit.context import Unit
from outreach.channels.base import OutgoingMessage
from outreach.quiet_hours import is_quiet, next_allowed


def _notice_language(volunteer: Volunteer) -> str:
    known = {language.value for language in Language}
    return next((lang for lang in volunteer.languages or () if lang in known), "en")


def notice_text(*, rows: Sequence[VolunteerListRow], day: dt.date, language: str, tz: str) -> str:
    """The SMS: the day, then one line per patient (time, name, language, needs, place, leave time)."""
    _ = texts(language)
    lines = [_("OneVisit: your patients on %(day)s.") % {"day": short_day(day, language, tz)}]
    for row in rows:
        needs = [_("wheelchair") if row.wheelchair else "", _("hearing support") if row.hearing else ""]
        extra = "".join(f", {need}" for need in needs if need)
        place = _(MEETING_PLACES[row.meeting_place]) if row.meeting_place in MEETING_PLACES else row.meeting_place
        lines.append(
            _("%(time)s %(name)s (%(language)s%(needs)s) at %(place)s, leaves about %(leave)s")
            % {
                "time": clock(row.meet_at, language, tz),
                "name": row.short_name,
                "language": row.language.upper(),
                "needs": extra,
                "place": place,
                "leave": clock(row.leave_at, language, tz),
            }
        )
    lines.append(_("Mark met or not met on your OneVisit page. Thank you!"))
    return "\n".join(lines)[:2000]


@dataclass(frozen=True)
class NoticeReport:
    queued: int
    updated: int
    withdrawn: int


def queue_notices(*, session: Session, day: dt.date, now: dt.datetime, tz: str) -> NoticeReport:
    """One SMS per volunteer with patients on ``day``, due at 18:00 the evening before (or now when later,
    outside quiet hours). A queued notice is brought up to date; a sent one is never sent again; the
    queued notice of a volunteer left without patients is withdrawn."""
    zone = ZoneInfo(tz)
    due = dt.datetime.combine(day - dt.timedelta(days=1), NOTICE_TIME, zone).astimezone(dt.UTC)
    due = next_allowed(max(due, now), "sms", tz)
    volunteer_ids = set(
        session.exec(
            select(VolunteerAssignment.volunteer_id).where(
                VolunteerAssignment.day == day, col(VolunteerAssignment.volunteer_id).is_not(None)
            )
        ).all()
    )
    existing = {n.volunteer_id: n for n in session.exec(select(VolunteerNotice).where(VolunteerNotice.day == day))}
    queued = updated = withdrawn = 0
    for volunteer_id in sorted(volunteer_ids):
        volunteer = session.get(Volunteer, volunteer_id)
        if volunteer is None or not volunteer.active:
            continue
        language = _notice_language(volunteer)
        body = notice_text(
            rows=volunteer_list(session=session, volunteer_id=volunteer_id, days=[day]), day=day, language=language,
            tz=tz,
        )
        notice = existing.get(volunteer_id)
        if notice is None:
            session.add(VolunteerNotice(volunteer_id=volunteer_id, day=day, recipient=volunteer.phone, body=body,
                                        due_at=due))
            queued += 1
        elif notice.status in (OutboxStatus.QUEUED, OutboxStatus.WITHDRAWN) and (
            (notice.body, notice.recipient, notice.status) != (body, volunteer.phone, OutboxStatus.QUEUED)
        ):
            if notice.status == OutboxStatus.WITHDRAWN:
                notice.due_at = due
            notice.body, notice.recipient, notice.status = body, volunteer.phone, OutboxStatus.QUEUED
            updated += 1
    for volunteer_id, notice in existing.items():
        if volunteer_id not in volunteer_ids and notice.status == OutboxStatus.QUEUED:
            notice.status = OutboxStatus.WITHDRAWN
            withdrawn += 1
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("notices for this day were queued twice at once; run it again", code="notice_busy") from None
    return NoticeReport(queued, updated, withdrawn)


@dataclass(frozen=True)
class SendReport:
    sent: int = 0
    failed: int = 0
    postponed: int = 0
    skipped: int = 0


def send_due_notices(
    *, session: Session, channels: Mapping[str, Any], now: dt.datetime, unit: Unit
) -> SendReport:
    """Send every due notice by SMS, each at most once: a notice is claimed (``queued`` -> ``sending``,
    committed) before the channel is called, so a second sender or a crash can never send it again; one
    left in ``sending`` by a crash stays visible in the Outbox and is not retried. Inside the quiet hours
    a notice waits for 09:00; a notice for a day already past is skipped."""
    table = VolunteerNotice.__table__
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    due = session.exec(
        select(VolunteerNotice)
        .where(VolunteerNotice.status == OutboxStatus.QUEUED, VolunteerNotice.due_at <= now)
        .order_by(col(VolunteerNotice.due_at), col(VolunteerNotice.id))
    ).all()
    session.commit()
    sent = failed = postponed = skipped = 0
    for notice in due:
        if notice.day < today:
            notice.status, notice.last_error = OutboxStatus.SKIPPED, "the day has passed"
            session.commit()
            skipped += 1
            continue
        if is_quiet(now, unit.tz):
            notice.due_at = next_allowed(now, "sms", unit.tz)
            session.commit()
            postponed += 1
            continue
        claimed = session.execute(
            table.update()
            .where(table.c.id == notice.id, table.c.status == OutboxStatus.QUEUED.value)
            .values(status=OutboxStatus.SENDING.value)
        ).rowcount
        session.commit()
        if claimed != 1:
            continue
        session.refresh(notice)
        channel = channels.get("sms")
        volunteer = session.get(Volunteer, notice.volunteer_id)
        language = _notice_language(volunteer) if volunteer else "en"
        try:
            if channel is None:
                raise RuntimeError("no SMS channel configured")
            result = channel.send(
                OutgoingMessage(key=f"volunteer-notice:{notice.id}", channel="sms", to=notice.recipient,
                                body=notice.body, language=language)
            )
            error = None if result.ok else (result.error or "refused")
        except Exception as exc:  # noqa: BLE001 - a broken channel is recorded on the notice, never retried blind
            result, error = None, f"{type(exc).__name__}: {exc}"
        if error is None:
            notice.status, notice.provider_id, notice.sent_at = OutboxStatus.SENT, result.provider_id, now
            sent += 1
        else:
            notice.status, notice.last_error = OutboxStatus.FAILED, error[:500]
            failed += 1
        session.commit()
    return SendReport(sent, failed, postponed, skipped)


def list_notices(*, session: Session, limit: int = 200) -> list[tuple[VolunteerNotice, str]]:
    """The newest volunteer notices with the volunteer's name, for the Outbox screen."""
    rows = session.exec(
        select(VolunteerNotice, Volunteer.name)
        .join(Volunteer, col(Volunteer.id) == col(VolunteerNotice.volunteer_id))
        .order_by(col(VolunteerNotice.due_at).desc(), col(VolunteerNotice.id).desc())
        .limit(limit)
    ).all()
    return [(notice, name) for notice, name in rows]
