"""Outreach: the rules in force, each visit's outbox rows, dispatching what is due, delivery status.

* ``plan_visit_outreach`` / ``withdraw_visit_outreach``: booking, rescheduling and cancelling a visit
  (re)plan its outbox rows (unique per visit, action and due time) in one transaction.
* ``dispatch_due``: claims due rows (status ``sending`` + owner, committed) before calling the
  channel, so two dispatchers never send the same row; re-checks the visit at send time, keeps quiet
  hours in the patient's time zone (from their phone number), retries with backoff, falls back to the
  other channel, then puts the patient on the front desk's call list. A row planned with its SMS wording
  goes by e-mail in the e-mail's own words, with a link to its answer page (``clinic.messaging.answers``;
  e-mail replies are not read).
* ``recover_stale``: after a dispatcher died between claiming a row and recording its outcome, asks
  the channel's provider whether the message went out (``lookup(SentLookup)``: Twilio's message and
  call lists, matched on number, sender, time since the claim, the text, and sids no other row holds):
  sent rows are marked sent with the provider's id, unsent ones are queued again. When the channel
  cannot look up or the provider does not answer, the row goes to the call list instead of risking a
  second message.
* ``record_delivery``: the provider's status callback, by provider id.
* ``preview_for_date`` / ``preview_for_patient``: which actions fire and why.
"""

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel import dates as babel_dates
from babel.support import NullTranslations, Translations
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.audit.models import AuditEvent
from clinic.columns import Channel, Language, utcnow
from clinic.errors import NotFound, ValidationError, get_or_raise
from clinic.messaging import answers as email_answers
from clinic.messaging import inbound
from clinic.messaging.links import NO_LINKS, Links
from clinic.messaging.models import DispatcherLease, OutboxMessage, OutboxStatus, OutreachRuleSet
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.settings import DEFAULT_TIMEZONE
from clinic.visits.models import Visit, VisitStatus
from outreach.channels.base import OutgoingMessage, SendResult, SentLookup
from outreach.planning import PlannedMessage, plan_messages
from outreach.quiet_hours import next_allowed
from outreach.rules import Evaluation, PatientFacts, Rule, RuleSet, RuleSetError, VisitFacts, parse_rules
from outreach.time_zones import zone_for_phone

DEFAULT_TZ = DEFAULT_TIMEZONE
RULES_PATH = Path(__file__).resolve().parents[2] / "seed_data" / "outreach_rules.yaml"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
LOCALES = {"en": "en_GB", "nl": "nl_NL", "fr": "fr_FR"}
LEASE_NAME = "dispatcher"
MAX_ATTEMPTS = 3
BACKOFF = dt.timedelta(minutes=5)
PENDING = (OutboxStatus.QUEUED,)
SENDABLE_VISITS = frozenset({VisitStatus.REQUESTED, VisitStatus.BOOKED, VisitStatus.CONFIRMED})


def N_(text: str) -> str:
    """Marks a message text for extraction (``pybabel extract`` knows ``N_``); translated when sent."""
    return text


TEMPLATES: dict[str, str] = {
    "confirmation": N_(
        "OneVisit: your visit (%(pathway)s) is booked for %(date)s at %(time)s. Every step of your "
        "day-care process takes place in this one visit. Reply STOP to stop non-essential messages."
    ),
    "reminder": N_(
        "OneVisit reminder: your visit (%(pathway)s) is on %(date)s at %(time)s. "
        "Reply YES to confirm or CANCEL to cancel."
    ),
    "coffee_voucher": N_(
        "OneVisit: you travel far to see us, so the coffee is on us. "
        "Show voucher %(voucher)s at check-in on %(date)s."
    ),
    "transport_offer": N_(
        "OneVisit can arrange transport and help at home for your visit on %(date)s. "
        "Reply YES if you would like this, or NO if not."
    ),
}


# --- texts --------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _translations(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def voucher_code(visit_id: int) -> str:
    """A short code the desk can recognise at check-in, stable for the visit."""
    digest = hashlib.sha256(f"onevisit-coffee-{visit_id}".encode()).hexdigest()[:5].upper()
    return f"C{visit_id}-{digest}"


def render_text(
    template: str, *, language: str, tz: str, visit_id: int, pathway: str, starts_at: dt.datetime
) -> str:
    """The message in the patient's language, with date and time formatted by Babel for their locale."""
    locale = LOCALES.get(language, "en_GB")
    zone = ZoneInfo(tz)
    text = _translations(language).gettext(TEMPLATES[template])
    return text % {
        "pathway": pathway,
        "date": babel_dates.format_date(starts_at.astimezone(zone).date(), "full", locale=locale),
        "time": babel_dates.format_time(starts_at, "short", tzinfo=zone, locale=locale),
        "voucher": voucher_code(visit_id),
    }


# --- the rules in force -------------------------------------------------------------------------


class RulesRejected(ValidationError):
    """An uploaded rule file has errors; ``problems`` names file, rule and field of each."""

    default_code = "rules_rejected"

    def __init__(self, error: RuleSetError):
        self.problems = [str(p) for p in error.problems]
        super().__init__("\n".join(self.problems), field="rules")


@dataclass(frozen=True)
class RulesInForce:
    rules: RuleSet
    text: str
    filename: str
    version: int | None  # None: the default file, nobody uploaded a version yet
    created_at: dt.datetime | None = None
    created_by: int | None = None


def parse(text: str, filename: str) -> RuleSet:
    return parse_rules(text, filename=filename, known_templates=TEMPLATES)


@lru_cache(maxsize=4)
def _default_rules(path: str, mtime: float) -> tuple[RuleSet, str]:
    text = Path(path).read_text(encoding="utf-8")
    return parse(text, Path(path).name), text


def rules_in_force(*, session: Session) -> RulesInForce:
    """The newest stored version, or the default ``seed_data/outreach_rules.yaml``."""
    latest = session.exec(
        select(OutreachRuleSet).order_by(col(OutreachRuleSet.version).desc()).limit(1)
    ).first()
    if latest is None:
        ruleset, text = _default_rules(str(RULES_PATH), RULES_PATH.stat().st_mtime)
        return RulesInForce(rules=ruleset, text=text, filename=RULES_PATH.name, version=None)
    return RulesInForce(
        rules=_parse_cached(latest.text, latest.filename),
        text=latest.text,
        filename=latest.filename,
        version=latest.version,
        created_at=latest.created_at,
        created_by=latest.created_by,
    )


@lru_cache(maxsize=16)
def _parse_cached(text: str, filename: str) -> RuleSet:
    return parse(text, filename)


def save_rules(*, session: Session, text: str, filename: str, actor_id: int | None) -> OutreachRuleSet:
    """Validate the whole file; store it as the new version in force, or raise ``RulesRejected`` and
    change nothing."""
    filename = (filename or "outreach_rules.yaml").strip()[:200] or "outreach_rules.yaml"
    try:
        parse(text, filename)
    except RuleSetError as exc:
        raise RulesRejected(exc) from None
    newest = session.exec(select(sa.func.max(OutreachRuleSet.version))).one()
    version = int(newest or 0) + 1
    row = OutreachRuleSet(version=version, filename=filename, text=text, created_by=actor_id)
    session.add(row)
    try:
        session.flush()
        audit.record(
            session=session,
            actor_id=actor_id,
            action="outreach.rules_saved",
            entity="outreach_rule_set",
            entity_id=row.id,
            details={"version": version, "filename": filename},
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ValidationError("someone saved the rules at the same moment; try again", field="rules") from None
    return row


# --- facts --------------------------------------------------------------------------------------


def patient_facts(patient: Patient, *, local_km: float = 25, regional_km: float = 50) -> PatientFacts:
    needs = {
        name
        for name, flag in (
            ("wheelchair", patient.needs_wheelchair),
            ("interpreter", patient.needs_interpreter),
            ("hearing", patient.needs_hearing),
        )
        if flag
    }
    return PatientFacts(
        birth_date=patient.birth_date,
        region=segments.region_for(patient.distance_km, local_km=local_km, regional_km=regional_km).value,
        language=str(getattr(patient.language, "value", patient.language)),
        channel=str(getattr(patient.channel, "value", patient.channel)),
        needs=frozenset(needs),
        opted_out=patient.opted_out,
        has_email=bool(patient.email),
        patient_id=patient.id,
    )


def visit_facts(visit: Visit) -> VisitFacts:
    starts = [step.planned_start for step in visit.steps]
    return VisitFacts(
        date=visit.date,
        pathway=visit.pathway.code if visit.pathway else "",
        status=str(getattr(visit.status, "value", visit.status)),
        starts_at=min(starts) if starts else None,
        booked_at=visit.booked_at or visit.created_at,
        cancelled_at=visit.cancelled_at,
        visit_id=visit.id,
    )


# --- planning -----------------------------------------------------------------------------------


@dataclass
class PlanResult:
    visit_id: int
    queued: int = 0
    updated: int = 0
    withdrawn: int = 0
    skipped: int = 0
    kept: int = 0


#: What planning and previews read of a visit, loaded with it in one query each.
_VISIT_DETAILS = (
    selectinload(Visit.patient),  # type: ignore[arg-type]
    selectinload(Visit.pathway),  # type: ignore[arg-type]
    selectinload(Visit.steps),  # type: ignore[arg-type]
)


def _load_visit(session: Session, visit_id: int) -> Visit:
    visit = session.exec(
        select(Visit)
        .where(Visit.id == visit_id)
        .options(*_VISIT_DETAILS)
    ).first()
    if visit is None:
        raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
    return visit


def _recipient(patient: Patient, channel: str) -> str:
    return (patient.email or "") if channel == "email" else patient.phone


def _plan_one(
    session: Session,
    visit: Visit,
    ruleset: RuleSet,
    *,
    now: dt.datetime,
    tz: str,
    local_km: float,
    regional_km: float,
    existing: list[OutboxMessage],
) -> PlanResult:
    patient = visit.patient
    pfacts = patient_facts(patient, local_km=local_km, regional_km=regional_km)
    vfacts = visit_facts(visit)
    firings = ruleset.actions_for(pfacts, vfacts, now=now)
    wanted = plan_messages(firings, pfacts, vfacts, now=now, tz=tz)
    result = PlanResult(visit_id=visit.id)
    by_key = {(row.action, row.due_at): row for row in existing}
    wanted_keys = {(p.action, p.due_at) for p in wanted}
    starts_at = vfacts.starts_at or (
        dt.datetime.combine(visit.date, dt.time(9), ZoneInfo(tz)).astimezone(dt.UTC)
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
            tz=tz,
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
                row.recipient = _recipient(patient, planned.channel)[:254]
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
        recipient=_recipient(patient, planned.channel)[:254],
        body=body[:2000],
        last_error=None if status == OutboxStatus.QUEUED else planned.reason[:500],
    )


def plan_visit_outreach(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime | None = None,
    tz: str = DEFAULT_TZ,
    local_km: float = 25,
    regional_km: float = 50,
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
        tz=tz,
        local_km=local_km,
        regional_km=regional_km,
        actor_id=actor_id,
        rules=rules,
    )
    return results[0]


def plan_visits_outreach(
    *,
    session: Session,
    visit_ids: Iterable[int],
    now: dt.datetime | None = None,
    tz: str = DEFAULT_TZ,
    local_km: float = 25,
    regional_km: float = 50,
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
                tz=tz,
                local_km=local_km,
                regional_km=regional_km,
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
                if len(ids) == 1:
                    audit.record(
                        session=session,
                        actor_id=actor_id,
                        action="visit.outreach_planned",
                        entity="visit",
                        entity_id=visit_id,
                        details=details,
                    )
                else:  # the same event, without a flush per visit (bulk re-plans)
                    session.add(
                        AuditEvent(
                            actor_id=actor_id,
                            action="visit.outreach_planned",
                            entity="visit",
                            entity_id=visit_id,
                            details=details,
                        )
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
    tz: str = DEFAULT_TZ,
    local_km: float = 25,
    regional_km: float = 50,
    actor_id: int | None = None,
    chunk: int = 500,
) -> int:
    """Re-plan every visit still ahead (today on, not cancelled), e.g. after the rules changed or to
    plan a freshly loaded demo; one transaction per ``chunk`` visits. Returns how many were planned."""
    now = now or utcnow()
    today = now.astimezone(ZoneInfo(tz)).date()
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
            tz=tz,
            local_km=local_km,
            regional_km=regional_km,
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


# --- the dispatcher's lease ---------------------------------------------------------------------


def acquire_lease(
    *, session: Session, owner: str, now: dt.datetime, ttl: dt.timedelta, name: str = LEASE_NAME
) -> bool:
    """Take or renew the lease; ``False`` while another live dispatcher holds it."""
    table = DispatcherLease.__table__
    expires = now + ttl
    try:
        updated = session.execute(
            table.update()
            .where(table.c.name == name, sa.or_(table.c.owner == owner, table.c.expires_at < now))
            .values(owner=owner, expires_at=expires, heartbeat_at=now)
        ).rowcount
        if not updated:
            session.execute(table.insert().values(name=name, owner=owner, expires_at=expires, heartbeat_at=now))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def release_lease(*, session: Session, owner: str, name: str = LEASE_NAME) -> None:
    table = DispatcherLease.__table__
    session.execute(table.delete().where(table.c.name == name, table.c.owner == owner))
    session.commit()


def lease_holder(*, session: Session, now: dt.datetime, name: str = LEASE_NAME) -> str | None:
    lease = session.get(DispatcherLease, name)
    session.commit()
    return lease.owner if lease is not None and lease.expires_at >= now else None


# --- dispatching --------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    fell_back: int = 0
    failed: int = 0
    skipped: int = 0
    postponed: int = 0
    lost_claims: int = 0
    recovered: int = 0
    lease_lost: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.fell_back + self.failed + self.skipped + self.postponed


def message_key(row: OutboxMessage) -> str:
    """The outbox row's unique key as text, handed to the channel so a retry is recognisable."""
    return f"visit-{row.visit_id}-{row.action}-{row.due_at.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


def _outgoing(row: OutboxMessage, recipient: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=message_key(row),
        channel=row.channel.value,
        to=recipient,
        body=row.body,
        language=row.language.value,
        subject="OneVisit" if row.channel.value == "email" else None,
        metadata={"outbox_id": str(row.id), "visit_id": str(row.visit_id), "action": row.action},
    )


def _email(
    session: Session, row: OutboxMessage, visit: Visit, patient: Patient, recipient: str, *, links: Links, tz: str
) -> OutgoingMessage:
    """The e-mail that carries ``row``: its own words (the row holds the SMS wording) and its answer page's link."""
    subject, body = email_answers.email_words(
        patient=patient, action=row.action, day=visit.date, start=inbound.visit_start(session=session, visit=visit),
        pathway=visit.pathway.name_in(patient.language) if visit.pathway else "", voucher=voucher_code(visit.id),
        link=links.answer_url(row.id), tz=tz,
    )
    return replace(_outgoing(row, recipient), subject=subject, body=body)


def _quiet_zone(patient: Patient | None, tz: str) -> str:
    """Where quiet hours are kept for ``patient``: their phone number's zone, else the clinic's."""
    return zone_for_phone(patient.phone if patient is not None else None, tz)


def _claim(session: Session, row_ids: list[int], owner: str, now: dt.datetime) -> list[OutboxMessage]:
    """Claim the queued rows among ``row_ids`` for ``owner`` in one committed transaction; the rows won."""
    table = OutboxMessage.__table__
    session.execute(
        table.update()
        .where(table.c.id.in_(row_ids), table.c.status == OutboxStatus.QUEUED.value)
        .values(status=OutboxStatus.SENDING.value, claimed_by=owner, claimed_at=now, updated_at=now)
    )
    session.commit()
    won = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(row_ids),
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_by == owner,
        )
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .execution_options(populate_existing=True)
    ).all()
    return list(won)


def _finish(row: OutboxMessage, status: OutboxStatus, now: dt.datetime, error: str | None = None) -> None:
    row.status = status
    row.claimed_by = None
    row.updated_at = now
    if error is not None:
        row.last_error = error[:500]


def _after_failure(
    row: OutboxMessage, result: SendResult, *, now: dt.datetime, tz: str, report: DispatchReport
) -> None:
    error = (result.error or "refused")[:500]
    if result.retryable and row.attempts < MAX_ATTEMPTS:
        delay = BACKOFF * (2 ** (row.attempts - 1))
        row.next_attempt_at = next_allowed(now + delay, row.channel.value, tz)
        _finish(row, OutboxStatus.QUEUED, now, error)
        report.retried += 1
    elif row.fallback_channel is not None:
        row.channel = row.fallback_channel
        row.fallback_channel = None
        row.attempts = 0
        row.next_attempt_at = next_allowed(now, row.channel.value, tz)
        _finish(row, OutboxStatus.QUEUED, now, f"{error}; falling back to {row.channel.value}")
        report.fell_back += 1
    else:
        row.on_call_list = True
        _finish(row, OutboxStatus.FAILED, now, f"{error}; on the front desk's call list")
        report.failed += 1


def _send_one(
    session: Session,
    row: OutboxMessage,
    channels: Mapping[str, Any],
    *,
    now: dt.datetime,
    tz: str,
    report: DispatchReport,
    links: Links = NO_LINKS,
) -> None:
    visit = session.get(Visit, row.visit_id)
    patient = session.get(Patient, row.patient_id)
    if visit is None or visit.status not in SENDABLE_VISITS:
        status = visit.status.value if visit is not None else "gone"
        _finish(row, OutboxStatus.WITHDRAWN, now, f"not sent: the visit is {status}")
        report.skipped += 1
        return
    if patient.opted_out and not row.essential:
        _finish(row, OutboxStatus.SKIPPED, now, "not sent: the patient opted out")
        report.skipped += 1
        return
    clinic_tz, tz = tz, _quiet_zone(patient, tz)
    allowed = next_allowed(now, row.channel.value, tz)
    if allowed > now:
        row.next_attempt_at = allowed
        _finish(row, OutboxStatus.QUEUED, now)
        report.postponed += 1
        return
    recipient = _recipient(patient, row.channel.value)
    if not recipient:
        _after_failure(row, SendResult(ok=False, error="no address for this channel"), now=now, tz=tz, report=report)
        return
    if row.channel == Channel.EMAIL:
        message = _email(session, row, visit, patient, recipient, links=links, tz=clinic_tz)
    else:
        message = _outgoing(row, recipient)
    row.recipient = recipient[:254]
    channel = channels.get(row.channel.value)
    row.attempts += 1
    if channel is None:
        result = SendResult(ok=False, error=f"no {row.channel.value} channel configured")
    else:
        try:
            result = channel.send(message)
        except Exception as exc:  # noqa: BLE001 - a broken channel must not stop the batch
            result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)
    if result.ok:
        row.provider_id = (result.provider_id or "")[:80] or None
        row.sent_at = now
        row.last_error = None
        _finish(row, OutboxStatus.SENT, now)
        report.sent += 1
    else:
        _after_failure(row, result, now=now, tz=tz, report=report)


def due_ids(*, session: Session, now: dt.datetime, limit: int) -> list[int]:
    return [row_id for row_id, _channel in _due(session, now, limit)]


def _due(session: Session, now: dt.datetime, limit: int) -> list[tuple[int, str]]:
    statement = (
        select(OutboxMessage.id, OutboxMessage.channel)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, col(OutboxMessage.next_attempt_at) <= now)
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    due = [(row_id, str(getattr(channel, "value", channel))) for row_id, channel in session.exec(statement)]
    session.commit()
    return due


def _claim_chunks(due: list[tuple[int, str]], channels: Mapping[str, Any], size: int) -> list[list[int]]:
    """Due rows in claiming order, grouped up to ``size`` while every row's channel can ``lookup`` what
    it sent; a row whose channel cannot is claimed alone, so a crash leaves at most that one row with
    an unknown outcome (the call list)."""
    chunks: list[list[int]] = []
    batching = False  # the last chunk holds rows whose channels can tell
    for row_id, channel in due:
        can_tell = callable(getattr(channels.get(channel), "lookup", None))
        if can_tell and batching and len(chunks[-1]) < size:
            chunks[-1].append(row_id)
        else:
            chunks.append([row_id])
        batching = can_tell
    return chunks


def dispatch_due(
    *,
    session: Session,
    channels: Mapping[str, Any],
    owner: str,
    now: dt.datetime | None = None,
    tz: str = DEFAULT_TZ,
    limit: int = 100,
    claim_batch: int = 10,
    clock: Callable[[], dt.datetime] | None = None,
    lease_ttl: dt.timedelta | None = None,
    links: Links = NO_LINKS,
) -> DispatchReport:
    """Send what is due: claim up to ``claim_batch`` rows at a time (committed), then send each and
    commit its outcome before the next. With ``lease_ttl`` the lease is renewed as it goes (checked
    before every send, renewed once a third of it has passed) and the batch stops when it is lost,
    handing its unsent claims back: a dispatcher that stalled past its lease never sends a row the new
    lease holder may already have recovered. A crash leaves at most ``claim_batch`` rows in
    ``sending`` for ``recover_stale`` (one, when its channel cannot ``lookup`` what it sent). ``links``:
    where e-mails' answer pages are (``PUBLIC_BASE_URL``) and the key that signs them."""
    report = DispatchReport()
    current = (lambda: now) if now is not None else (clock or utcnow)
    renewed: dt.datetime | None = None  # the lease is confirmed before the first claim

    def leased(moment: dt.datetime) -> bool:
        nonlocal renewed
        if lease_ttl is None or (renewed is not None and moment - renewed <= lease_ttl / 3):
            return True
        if not acquire_lease(session=session, owner=owner, now=moment, ttl=lease_ttl):
            report.lease_lost = True
            return False
        renewed = moment
        return True

    due = _due(session, current(), limit)
    for chunk in _claim_chunks(due, channels, max(1, claim_batch)):
        moment = current()
        if not leased(moment):
            break
        won = _claim(session, chunk, owner, moment)
        report.lost_claims += len(chunk) - len(won)
        for index, row in enumerate(won):
            moment = current()
            if not leased(moment):
                _unclaim(session, [r.id for r in won[index:]], owner, moment)
                return report
            try:
                _send_one(session, row, channels, now=moment, tz=tz, report=report, links=links)
                session.add(row)
                session.commit()
            except Exception as exc:
                session.rollback()
                report.errors.append(f"outbox {row.id}: {type(exc).__name__}: {exc}")
                raise
    return report


def _unclaim(session: Session, row_ids: list[int], owner: str, now: dt.datetime) -> None:
    """Hand claimed rows that were never sent back to the queue (committed)."""
    table = OutboxMessage.__table__
    session.execute(
        table.update()
        .where(table.c.id.in_(row_ids), table.c.status == OutboxStatus.SENDING.value, table.c.claimed_by == owner)
        .values(status=OutboxStatus.QUEUED.value, claimed_by=None, updated_at=now)
    )
    session.commit()


def recover_stale(
    *,
    session: Session,
    channels: Mapping[str, Any],
    owner: str,
    now: dt.datetime,
    stale_after: dt.timedelta = dt.timedelta(minutes=2),
    tz: str = DEFAULT_TZ,
) -> int:
    """Rows another (dead) dispatcher claimed and never finished: sent after all (the channel's
    ``lookup`` finds the message at the provider), queued again (it does not), or put on the call
    list (the channel has no ``lookup`` or the provider does not answer).

    A message the provider has but reports failed goes the retry / fall-back way of a refused send."""
    table = OutboxMessage.__table__
    stale = list(
        session.exec(
            select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.SENDING,
                col(OutboxMessage.claimed_by) != owner,
                col(OutboxMessage.claimed_at) < now - stale_after,
            ).order_by(col(OutboxMessage.claimed_at), col(OutboxMessage.id))
        )
    )
    session.commit()
    recovered = 0
    for row in stale:
        claimed_at = row.claimed_at or now - stale_after
        # take the row over atomically from the dead owner first
        taken = session.execute(
            table.update()
            .where(table.c.id == row.id, table.c.status == "sending", table.c.claimed_by == row.claimed_by)
            .values(claimed_by=owner, claimed_at=now)
        ).rowcount
        session.commit()
        if taken != 1:
            continue
        session.refresh(row)
        lookup = getattr(channels.get(row.channel.value), "lookup", None)
        found: SendResult | None = None
        why = "the channel cannot say what it sent"
        known = False
        if callable(lookup):
            patient = session.get(Patient, row.patient_id)
            recipient = _recipient(patient, row.channel.value) if patient is not None else row.recipient
            query = SentLookup(
                message=_outgoing(row, recipient),
                claimed_at=claimed_at,
                known_ids=_known_provider_ids(session, row, recipient),
            )
            session.commit()  # no transaction held open while the provider answers
            try:
                found = lookup(query)
                known = True
            except Exception as exc:  # noqa: BLE001 - no answer is treated as "cannot tell"
                why = f"no answer from the provider ({type(exc).__name__}: {exc})"
        if known and found is not None and found.ok:
            row.provider_id = (found.provider_id or "")[:80] or None
            row.sent_at = now
            row.attempts += 1
            row.last_error = None
            _finish(row, OutboxStatus.SENT, now, "sent before the dispatcher stopped")
        elif known and found is not None and found.provider_id:
            row.provider_id = found.provider_id[:80]
            row.attempts += 1
            zone = _quiet_zone(session.get(Patient, row.patient_id), tz)
            _after_failure(row, found, now=now, tz=zone, report=DispatchReport())
        elif known:
            row.next_attempt_at = now
            _finish(row, OutboxStatus.QUEUED, now, "dispatcher stopped before sending; queued again")
        else:
            row.on_call_list = True
            error = f"dispatcher stopped while sending; outcome unknown ({why}), please call"
            _finish(row, OutboxStatus.FAILED, now, error)
        session.add(row)
        session.commit()
        recovered += 1
    return recovered


def _known_provider_ids(session: Session, row: OutboxMessage, recipient: str) -> frozenset[str]:
    """Provider ids the outbox holds for this patient or number (this row's own earlier attempt
    included): a message the provider has under one of them is another row's, not this one's."""
    ids = session.exec(
        select(OutboxMessage.provider_id).where(
            col(OutboxMessage.provider_id).is_not(None),
            sa.or_(OutboxMessage.patient_id == row.patient_id, OutboxMessage.recipient == recipient),
        )
    ).all()
    return frozenset(provider_id for provider_id in ids if provider_id)


# --- delivery status ----------------------------------------------------------------------------

_DELIVERED = {"delivered", "read", "completed", "answered"}
_FAILED = {"failed", "undelivered", "busy", "no-answer", "canceled", "cancelled"}


def record_delivery(
    *, session: Session, provider_id: str, status: str, now: dt.datetime | None = None, tz: str = DEFAULT_TZ
) -> OutboxMessage | None:
    """Apply a provider's status callback; ``None`` when no outbox row has that provider id.

    Delivered (or a completed call) marks the row delivered; a failed delivery (or no answer) goes the
    retry / fall-back / call-list way like a refused send. Interim statuses (queued, ringing) change nothing.
    """
    now = now or utcnow()
    row = session.exec(select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)).first()
    if row is None:
        session.rollback()
        return None
    value = (status or "").strip().lower()
    if row.status not in (OutboxStatus.SENT, OutboxStatus.DELIVERED):
        session.rollback()
        return row
    if value in _DELIVERED:
        row.status = OutboxStatus.DELIVERED
        row.updated_at = now
    elif value in _FAILED and row.status == OutboxStatus.SENT:
        _after_failure(
            row, SendResult(ok=False, error=f"provider reported {value}", retryable=True), now=now,
            tz=_quiet_zone(session.get(Patient, row.patient_id), tz), report=DispatchReport(),
        )
    else:
        session.rollback()
        return row
    session.add(row)
    session.commit()
    return row


# --- screens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxFilter:
    status: str | None = None
    channel: str | None = None
    day: dt.date | None = None
    patient_id: int | None = None
    call_list: bool = False


def list_outbox(
    *, session: Session, filters: OutboxFilter = OutboxFilter(), tz: str = DEFAULT_TZ, limit: int = 500
) -> list[tuple[OutboxMessage, Patient]]:
    statement = select(OutboxMessage, Patient).join(Patient, col(Patient.id) == OutboxMessage.patient_id)
    if filters.status:
        statement = statement.where(OutboxMessage.status == OutboxStatus(filters.status))
    if filters.channel:
        statement = statement.where(OutboxMessage.channel == filters.channel)
    if filters.patient_id:
        statement = statement.where(OutboxMessage.patient_id == filters.patient_id)
    if filters.call_list:
        statement = statement.where(col(OutboxMessage.on_call_list).is_(True))
    if filters.day:
        zone = ZoneInfo(tz)
        start = dt.datetime.combine(filters.day, dt.time(0), zone).astimezone(dt.UTC)
        end = dt.datetime.combine(filters.day + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
        statement = statement.where(col(OutboxMessage.due_at) >= start, col(OutboxMessage.due_at) < end)
    statement = statement.order_by(col(OutboxMessage.next_attempt_at).desc(), col(OutboxMessage.id).desc())
    return [(row, patient) for row, patient in session.exec(statement.limit(limit))]


def outbox_counts(*, session: Session) -> dict[str, int]:
    rows = session.exec(select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))
    return {str(getattr(status, "value", status)): count for status, count in rows}


@dataclass(frozen=True)
class PreviewRow:
    visit_id: int | None
    patient_id: int
    patient_name: str
    date: dt.date
    status: str
    segments: frozenset[str]
    evaluation: Evaluation
    messages: tuple[PlannedMessage, ...]


def _preview(visit_like: VisitFacts, patient: Patient, ruleset: RuleSet, *, now, tz, local_km, regional_km):
    pfacts = patient_facts(patient, local_km=local_km, regional_km=regional_km)
    evaluation = ruleset.evaluate(pfacts, visit_like, now=now)
    messages = tuple(plan_messages(evaluation.fired, pfacts, visit_like, now=now, tz=tz))
    return PreviewRow(
        visit_id=visit_like.visit_id,
        patient_id=patient.id,
        patient_name=patient.display_name,
        date=visit_like.date,
        status=visit_like.status,
        segments=segments.segments_for(patient, visit_like.date, local_km=local_km, regional_km=regional_km),
        evaluation=evaluation,
        messages=messages,
    )


def preview_for_date(
    *,
    session: Session,
    day: dt.date,
    now: dt.datetime | None = None,
    tz: str = DEFAULT_TZ,
    local_km: float = 25,
    regional_km: float = 50,
    rules: RuleSet | None = None,
) -> list[PreviewRow]:
    """For every visit on ``day``: which actions fire and why, and the messages they would plan."""
    now = now or utcnow()
    ruleset = rules or rules_in_force(session=session).rules
    visits = session.exec(
        select(Visit)
        .where(Visit.date == day)
        .options(*_VISIT_DETAILS)
        .order_by(col(Visit.id))
    )
    rows = [
        _preview(visit_facts(v), v.patient, ruleset, now=now, tz=tz, local_km=local_km, regional_km=regional_km)
        for v in visits
    ]
    session.rollback()
    return sorted(rows, key=lambda r: (r.patient_name, r.visit_id or 0))


def preview_for_patient(
    *,
    session: Session,
    patient_id: int,
    day: dt.date | None = None,
    now: dt.datetime | None = None,
    tz: str = DEFAULT_TZ,
    local_km: float = 25,
    regional_km: float = 50,
    rules: RuleSet | None = None,
) -> list[PreviewRow]:
    """The patient's visits from today on (or on ``day``); with ``day`` and no visit that day, what
    would fire if they were booked then."""
    now = now or utcnow()
    patient = get_or_raise(session, Patient, patient_id, what="patient", field="patient")
    ruleset = rules or rules_in_force(session=session).rules
    today = now.astimezone(ZoneInfo(tz)).date()
    statement = (
        select(Visit)
        .where(Visit.patient_id == patient_id)
        .options(selectinload(Visit.pathway), selectinload(Visit.steps))  # type: ignore[arg-type]
        .order_by(col(Visit.date), col(Visit.id))
    )
    statement = statement.where(Visit.date == day) if day else statement.where(col(Visit.date) >= today)
    visits = list(session.exec(statement))
    kwargs = {"now": now, "tz": tz, "local_km": local_km, "regional_km": regional_km}
    rows = [_preview(visit_facts(v), patient, ruleset, **kwargs) for v in visits]
    if not rows and day is not None:
        hypothetical = VisitFacts(date=day, pathway="", status="booked", booked_at=now)
        rows.append(_preview(hypothetical, patient, ruleset, **kwargs))
    session.rollback()
    return rows


def find_patient(*, session: Session, query: str) -> Patient | None:
    """A patient by record number (exact, case-insensitive) or id."""
    text = (query or "").strip()
    if not text:
        return None
    patient = session.exec(select(Patient).where(sa.func.upper(Patient.mrn) == text.upper())).first()
    if patient is None and text.isdigit() and len(text) < 10:
        patient = session.get(Patient, int(text))
    return patient


def rule_by_id(ruleset: RuleSet, rule_id: str) -> Rule | None:
    return next((rule for rule in ruleset.rules if rule.id == rule_id), None)
