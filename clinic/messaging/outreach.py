"""Each visit's outreach plan: booking, rescheduling and cancelling a visit (re)plan its outbox rows
(unique per visit, action and due time) in one transaction, by the rules in force
(``clinic.messaging.rules_file``).

Sending what is due is ``clinic.messaging.sending``, taking over after a dead dispatcher
``clinic.messaging.recovery``, the provider's status callback ``clinic.messaging.delivery``, what the
rules would do ``clinic.messaging.preview``, the Outbox screen's queries ``clinic.messaging.outbox``.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.columns import Channel, Language, OutboxChannel, utcnow
from clinic.errors import NotFound, get_or_raise
from clinic.messaging.facts import patient_facts, visit_facts
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.rules_file import rules_in_force
from clinic.messaging.texts import render_text, volunteer_text
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit, VisitStatus
from outreach.planning import PlannedMessage, plan_messages
from outreach.quiet_hours import next_allowed
from outreach.rules import RuleSet

PENDING = (OutboxStatus.QUEUED,)
ANSWERED = "answered"
"""``last_error`` prefix of a row withdrawn because its question was answered: re-planning never revives it."""
OFFER_ACTIONS = ("transport_offer",)
"""Outreach actions that offer the patient something and wait for their answer."""
REPLANNABLE = (OutboxStatus.QUEUED, OutboxStatus.WITHDRAWN, OutboxStatus.SKIPPED)
"""A row in one of these states may get a new wording, channel or status; the others are history."""
SENDABLE_VISITS = frozenset({VisitStatus.REQUESTED, VisitStatus.BOOKED, VisitStatus.CONFIRMED})
CALENDAR_UPDATE = "calendar_update"
"""The e-mail with the visit's calendar file after its announced arrival moved (``clinic.messaging.calendar``)."""
CALENDAR_CANCEL = "calendar_cancel"
"""The e-mail with the calendar file that takes a cancelled visit out of the patient's calendar."""


@dataclass
class PlanResult:
    visit_id: int
    queued: int = 0
    updated: int = 0
    withdrawn: int = 0
    skipped: int = 0
    kept: int = 0


#: What planning and previews read of a visit, loaded with it in one query each.
VISIT_DETAILS = (
    selectinload(Visit.patient),  # type: ignore[arg-type]
    selectinload(Visit.pathway),  # type: ignore[arg-type]
    selectinload(Visit.steps),  # type: ignore[arg-type]
)


def planned_by_rules(row: OutboxMessage) -> bool:
    """Whether the rules plan ``row``: not the volunteer's announcement (the volunteers' matching plans it),
    the calendar's updates (``clinic.messaging.calendar``) nor the SIU feed (``clinic.messaging.siu``)."""
    return row.action not in (VOLUNTEER_ACTION, CALENDAR_UPDATE, CALENDAR_CANCEL) and row.channel != OutboxChannel.HL7


def recipient_for(patient: Patient, channel: str) -> str:
    return (patient.email or "") if channel == "email" else patient.phone


def _plan_one(
    session: Session,
    visit: Visit,
    ruleset: RuleSet,
    *,
    now: dt.datetime,
    unit: Unit,
    existing: list[OutboxMessage],
) -> PlanResult:
    patient = visit.patient
    pfacts = patient_facts(patient, unit=unit)
    vfacts = visit_facts(visit)
    firings = ruleset.actions_for(pfacts, vfacts, now=now)
    wanted = plan_messages(firings, pfacts, vfacts, now=now, tz=unit.tz)
    result = PlanResult(visit_id=visit.id)
    by_key = {(row.action, row.due_at): row for row in existing}
    starts_at = vfacts.starts_at or (
        dt.datetime.combine(visit.date, dt.time(9), ZoneInfo(unit.tz)).astimezone(dt.UTC)
    )
    pathway_name = visit.pathway.name_in(pfacts.language) if visit.pathway else ""
    answered = {row.action for row in existing if _answered(row)}
    wanted = [p for p in wanted if p.action not in answered]
    wanted_keys = {(p.action, p.due_at) for p in wanted}
    for row in existing:
        if not planned_by_rules(row):
            continue
        if (row.action, row.due_at) not in wanted_keys and row.status in PENDING:
            row.status = OutboxStatus.WITHDRAWN
            row.last_error = "no longer planned (visit moved, cancelled or rules changed)"
            session.add(row)
            result.withdrawn += 1
    for planned in wanted:
        body = render_text(
            planned.template,
            language=pfacts.language,
            tz=unit.tz,
            visit_id=visit.id,
            pathway=pathway_name,
            starts_at=starts_at,
        )
        row = by_key.get((planned.action, planned.due_at))
        status = OutboxStatus(planned.status)
        if row is None:
            session.add(_new_row(visit, patient, planned, status=status, body=body, language=pfacts.language))
            result.queued += status == OutboxStatus.QUEUED
            result.skipped += status == OutboxStatus.SKIPPED
        elif row.status in REPLANNABLE:
            changed = (row.status, row.body, row.channel.value, row.rule_id) != (
                status,
                body,
                planned.channel,
                planned.rule_id,
            )
            if changed:
                row.status = status
                row.body = body[:2000]
                row.channel = Channel(planned.channel)
                row.fallback_channel = Channel(planned.fallback_channel) if planned.fallback_channel else None
                row.rule_id = planned.rule_id
                row.recipient = recipient_for(patient, planned.channel)[:254]
                row.next_attempt_at = planned.send_at
                row.essential = planned.essential
                row.attempts = 0
                row.last_error = None if status == OutboxStatus.QUEUED else planned.reason[:500]
                session.add(row)
                result.updated += 1
            else:
                result.kept += 1
        else:
            result.kept += 1  # sending, sent, delivered or failed: history, never re-sent by a re-plan
    return result


def _new_row(
    visit: Visit, patient: Patient, planned: PlannedMessage, *, status: OutboxStatus, body: str, language: str
) -> OutboxMessage:
    return OutboxMessage(
        visit_id=visit.id,
        patient_id=patient.id,
        action=planned.action,
        rule_id=planned.rule_id,
        due_at=planned.due_at,
        next_attempt_at=planned.send_at,
        status=status,
        channel=Channel(planned.channel),
        fallback_channel=Channel(planned.fallback_channel) if planned.fallback_channel else None,
        language=Language(language),
        essential=planned.essential,
        recipient=recipient_for(patient, planned.channel)[:254],
        body=body[:2000],
        last_error=None if status == OutboxStatus.QUEUED else planned.reason[:500],
    )


def plan_visit_outreach(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime | None = None,
    unit: Unit,
    actor_id: int | None = None,
    rules: RuleSet | None = None,
) -> PlanResult:
    """(Re)plan one visit's outbox after booking, rescheduling or cancelling it; committed and audited.

    A cancelled (or otherwise finished) visit's pending rows are withdrawn; rows already sent stay.
    """
    results = plan_visits_outreach(
        session=session,
        visit_ids=[visit_id],
        now=now,
        unit=unit,
        actor_id=actor_id,
        rules=rules,
    )
    return results[0]


def plan_visits_outreach(
    *,
    session: Session,
    visit_ids: Iterable[int],
    now: dt.datetime | None = None,
    unit: Unit,
    actor_id: int | None = None,
    rules: RuleSet | None = None,
    audit_each: bool = True,
) -> list[PlanResult]:
    """``plan_visit_outreach`` for many visits in one transaction (bulk loads; used by the benchmark)."""
    now = now or utcnow()
    ids = list(dict.fromkeys(visit_ids))
    ruleset = rules or rules_in_force(session=session).rules
    try:
        visits: dict[int, Visit] = {}
        existing: dict[int, list[OutboxMessage]] = {visit_id: [] for visit_id in ids}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            for visit in session.exec(
                select(Visit)
                .where(col(Visit.id).in_(chunk))
                .options(
                    selectinload(Visit.patient),  # type: ignore[arg-type]
                    selectinload(Visit.pathway),  # type: ignore[arg-type]
                    selectinload(Visit.steps),  # type: ignore[arg-type]
                )
            ):
                visits[visit.id] = visit
            for row in session.exec(select(OutboxMessage).where(col(OutboxMessage.visit_id).in_(chunk))):
                existing[row.visit_id].append(row)
        results = []
        for visit_id in ids:
            visit = visits.get(visit_id)
            if visit is None:
                raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
            result = _plan_one(
                session,
                visit,
                ruleset,
                now=now,
                unit=unit,
                existing=existing[visit_id],
            )
            results.append(result)
            if audit_each and (result.queued or result.updated or result.withdrawn or result.skipped):
                details = {
                    "queued": result.queued,
                    "updated": result.updated,
                    "withdrawn": result.withdrawn,
                    "skipped": result.skipped,
                }
                audit.record(
                    session=session,
                    actor_id=actor_id,
                    action="visit.outreach_planned",
                    entity="visit",
                    entity_id=visit_id,
                    details=details,
                    flush=len(ids) == 1,  # a bulk re-plan flushes once, at its commit
                )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return results


def replan_upcoming(
    *,
    session: Session,
    now: dt.datetime | None = None,
    unit: Unit,
    actor_id: int | None = None,
    chunk: int = 500,
) -> int:
    """Re-plan every visit still ahead (today on, not cancelled), e.g. after the rules changed or to
    plan a freshly loaded demo; one transaction per ``chunk`` visits. Returns how many were planned."""
    now = now or utcnow()
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    ids = list(
        session.exec(
            select(Visit.id)
            .where(col(Visit.date) >= today, col(Visit.status).in_(list(SENDABLE_VISITS)))
            .order_by(col(Visit.id))
        )
    )
    session.commit()
    ruleset = rules_in_force(session=session).rules
    for start in range(0, len(ids), chunk):
        plan_visits_outreach(
            session=session,
            visit_ids=ids[start : start + chunk],
            now=now,
            unit=unit,
            actor_id=actor_id,
            rules=ruleset,
        )
    return len(ids)


def _answered(row: OutboxMessage) -> bool:
    return row.status == OutboxStatus.WITHDRAWN and (row.last_error or "").startswith(ANSWERED)


def withdraw_answered(
    *,
    session: Session,
    visit_id: int,
    actions: Iterable[str],
    why: str,
    actor_id: int | None = None,
) -> int:
    """Withdraw the visit's queued messages of ``actions``: their question has been answered (or no longer
    needs one: ``why`` says which); a later re-plan does not queue them again. Committed, audited."""
    actions = list(actions)
    try:
        rows = list(
            session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.visit_id == visit_id,
                    col(OutboxMessage.action).in_(actions),
                    col(OutboxMessage.status).in_(list(PENDING)),
                )
            )
        )
        for row in rows:
            row.status = OutboxStatus.WITHDRAWN
            row.last_error = f"{ANSWERED}: {why}"[:500]
            session.add(row)
        if rows:
            audit.record(
                session=session,
                actor_id=actor_id,
                action="visit.outreach_withdrawn",
                entity="visit",
                entity_id=visit_id,
                details={"withdrawn": len(rows), "actions": sorted({row.action for row in rows}), "why": why},
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)


def withdraw_visit_outreach(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime | None = None,
    actor_id: int | None = None,
    why: str = "visit cancelled",
) -> int:
    """Withdraw every message of the visit not sent yet (cancelled, or completed: ``why``); committed and
    audited."""
    now = now or utcnow()
    get_or_raise(session, Visit, visit_id, what="visit")
    try:
        rows = list(
            session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.visit_id == visit_id,
                    col(OutboxMessage.status).in_(list(PENDING)),
                    OutboxMessage.channel != OutboxChannel.HL7,  # the SIU feed tells the whole story
                )
            )
        )
        for row in rows:
            row.status = OutboxStatus.WITHDRAWN
            row.last_error = why
            session.add(row)
        if rows:
            audit.record(
                session=session,
                actor_id=actor_id,
                action="visit.outreach_withdrawn",
                entity="visit",
                entity_id=visit_id,
                details={"withdrawn": len(rows), "why": why},
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)


# --- the volunteer's announcement ----------------------------------------------------------------------

VOLUNTEER_ACTION = "volunteer"
"""The outbox action telling a patient who meets them (issue 25); planned by the volunteers' matching."""
VOLUNTEER_RULE_ID = "volunteer-announcement"
"""No rule of the rules file plans it: the row's ``rule_id`` names the matching instead."""
VOLUNTEER_TIME = dt.time(10, 0)
"""Due the day before the visit at this local time (the reminder's)."""


@dataclass(frozen=True)
class Meeting:
    """Who meets a visit's patient, when and where, as the volunteers' matching wrote it."""

    first_name: str
    place: str
    """An untranslated label (``clinic.service.volunteers.MEETING_PLACES``)."""
    meet_at: dt.datetime


def plan_volunteer_announcements(
    *, session: Session, meetings: dict[int, Meeting | None], now: dt.datetime, tz: str
) -> PlanResult:
    """Queue, update or withdraw each visit's announcement of its volunteer (``None``: nobody meets it) in
    the caller's transaction (not committed).

    One row per visit and due time (the day before the meeting at ``VOLUNTEER_TIME``, the outbox's key),
    sent from then on outside quiet hours and never in the past, by the patient's channel (SMS when that is
    a call), in their language. A queued row gets the new wording when the volunteer, place or time
    changes; a row already sent (or being sent, or failed) is history: a later change is not announced
    again. The announcement is not essential: a patient who opted out is still met, just not told."""
    result = PlanResult(visit_id=0)
    ids = list(meetings)
    if not ids:
        return result
    zone = ZoneInfo(tz)
    visits = {
        v.id: v
        for v in session.exec(
            select(Visit).where(col(Visit.id).in_(ids)).options(selectinload(Visit.patient))  # type: ignore[arg-type]
        )
    }
    existing: dict[int, list[OutboxMessage]] = {visit_id: [] for visit_id in ids}
    for row in session.exec(
        select(OutboxMessage).where(col(OutboxMessage.visit_id).in_(ids), OutboxMessage.action == VOLUNTEER_ACTION)
    ):
        existing[row.visit_id].append(row)
    for visit_id, meeting in meetings.items():
        visit = visits.get(visit_id)
        due = send_at = None
        if meeting is not None and visit is not None:
            meet_day = meeting.meet_at.astimezone(zone).date()
            due = dt.datetime.combine(meet_day - dt.timedelta(days=1), VOLUNTEER_TIME, zone).astimezone(dt.UTC)
        for row in existing[visit_id]:
            if row.due_at != due and row.status in PENDING:
                row.status = OutboxStatus.WITHDRAWN
                row.last_error = "no volunteer meets this visit any more, or it moved"
                session.add(row)
                result.withdrawn += 1
        if meeting is None or visit is None or due is None:
            continue
        patient = visit.patient
        language = str(getattr(patient.language, "value", patient.language))
        channel = str(getattr(patient.channel, "value", patient.channel))
        channel = "email" if channel == "email" and patient.email else "sms"  # a call: SMS
        fallback = "sms" if channel == "email" else None
        send_at = next_allowed(max(due, now), channel, tz)
        status, reason = OutboxStatus.QUEUED, None
        if send_at >= meeting.meet_at:
            status, reason = OutboxStatus.SKIPPED, "it could only go out after the meeting"
        body = volunteer_text(
            language=language, first_name=meeting.first_name, place=meeting.place, meet_at=meeting.meet_at,
            tz=tz, same_day=send_at.astimezone(zone).date() == meeting.meet_at.astimezone(zone).date(),
        )[:2000]
        row = next((r for r in existing[visit_id] if r.due_at == due), None)
        if row is None:
            row = OutboxMessage(
                visit_id=visit_id, patient_id=patient.id, action=VOLUNTEER_ACTION, rule_id=VOLUNTEER_RULE_ID,
                due_at=due, language=Language(language), channel=Channel(channel), recipient="", body=body,
                next_attempt_at=send_at, status=status,
            )
            result.queued += status == OutboxStatus.QUEUED
            result.skipped += status == OutboxStatus.SKIPPED
        elif row.status not in REPLANNABLE:
            result.kept += 1  # sending, sent, delivered or failed: never sent again
            continue
        elif (row.status, row.body, row.channel.value) == (status, body, channel):
            result.kept += 1
            continue
        else:
            result.updated += 1
        row.status, row.body, row.channel, row.language = status, body, Channel(channel), Language(language)
        row.fallback_channel = Channel(fallback) if fallback else None
        row.recipient = recipient_for(patient, channel)[:254]
        row.next_attempt_at, row.essential, row.attempts, row.last_error = send_at, False, 0, reason
        session.add(row)
    return result
