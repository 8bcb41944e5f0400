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
from clinic.columns import Channel, Language, utcnow
from clinic.errors import NotFound, get_or_raise
from clinic.messaging.facts import patient_facts, visit_facts
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.rules_file import rules_in_force
from clinic.messaging.texts import render_text
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit, VisitStatus
from outreach.planning import PlannedMessage, plan_messages
from outreach.rules import RuleSet

PENDING = (OutboxStatus.QUEUED,)
SENDABLE_VISITS = frozenset({VisitStatus.REQUESTED, VisitStatus.BOOKED, VisitStatus.CONFIRMED})


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
    wanted_keys = {(p.action, p.due_at) for p in wanted}
    starts_at = vfacts.starts_at or (
        dt.datetime.combine(visit.date, dt.time(9), ZoneInfo(unit.tz)).astimezone(dt.UTC)
    )
    pathway_name = visit.pathway.name_in(pfacts.language) if visit.pathway else ""
    for row in existing:
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
        elif row.status in (OutboxStatus.QUEUED, OutboxStatus.WITHDRAWN, OutboxStatus.SKIPPED):
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


def withdraw_visit_outreach(
    *, session: Session, visit_id: int, now: dt.datetime | None = None, actor_id: int | None = None
) -> int:
    """Withdraw every message of the visit not sent yet (cancellation); committed and audited."""
    now = now or utcnow()
    get_or_raise(session, Visit, visit_id, what="visit")
    try:
        rows = list(
            session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.visit_id == visit_id, col(OutboxMessage.status).in_(list(PENDING))
                )
            )
        )
        for row in rows:
            row.status = OutboxStatus.WITHDRAWN
            row.last_error = "visit cancelled"
            session.add(row)
        if rows:
            audit.record(
                session=session,
                actor_id=actor_id,
                action="visit.outreach_withdrawn",
                entity="visit",
                entity_id=visit_id,
                details={"withdrawn": len(rows)},
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)
