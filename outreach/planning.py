"""Due times of outreach actions, relative to the booking, the visit or the cancellation (pure).

``plan_messages`` turns the rules that fire for one visit into the messages its outbox should hold:
one per message action (one reminder per visit, never per step), each with its due time (the
outbox's unique key), the time it may first be sent (quiet hours applied), its channel and the
channel to fall back to.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from outreach.quiet_hours import next_allowed
from outreach.rules import Firing, PatientFacts, Timing, VisitFacts

LATE_GRACE = dt.timedelta(minutes=15)
"""A visit-relative action whose due time passed more than this long ago is skipped, not sent late."""
DEFAULT_VISIT_TIME = dt.time(9, 0)
"""The visit's start when it has no planned steps yet (local)."""
FALLBACK = {"sms": "voice", "voice": "sms", "email": "sms"}


@dataclass(frozen=True)
class PlannedMessage:
    action: str
    rule_id: str
    template: str
    channel: str
    fallback_channel: str | None
    essential: bool
    due_at: dt.datetime
    send_at: dt.datetime
    status: str  # "queued" | "skipped"
    reason: str


def visit_start(visit: VisitFacts, tz: str) -> dt.datetime:
    if visit.starts_at is not None:
        return visit.starts_at
    return dt.datetime.combine(visit.date, DEFAULT_VISIT_TIME, ZoneInfo(tz)).astimezone(dt.UTC)


def due_time(timing: Timing, visit: VisitFacts, *, tz: str, now: dt.datetime) -> dt.datetime:
    """When an action with ``timing`` is due for ``visit`` (UTC); a missing booking or cancellation
    time counts as ``now``."""
    if timing.relative_to == "booking":
        base = visit.booked_at or now
    elif timing.relative_to == "cancellation":
        base = visit.cancelled_at or now
    else:
        base = visit_start(visit, tz)
    if timing.at is None:
        return (base + timing.offset).astimezone(dt.UTC)
    zone = ZoneInfo(tz)
    local_day = base.astimezone(zone).date() + dt.timedelta(days=timing.offset.days)
    return dt.datetime.combine(local_day, timing.at, zone).astimezone(dt.UTC)


def resolve_channel(rule_channel: str, patient: PatientFacts) -> tuple[str, str | None]:
    """The channel to use and the one to fall back to; e-mail needs an address, else SMS."""
    channel = patient.channel if rule_channel == "patient" else rule_channel
    if channel == "email" and not patient.has_email:
        channel = "sms"
    return channel, FALLBACK.get(channel)


def plan_messages(
    firings: Iterable[Firing],
    patient: PatientFacts,
    visit: VisitFacts,
    *,
    now: dt.datetime,
    tz: str,
) -> list[PlannedMessage]:
    """The outbox rows ``firings`` call for (message rules only; service rules are for staff)."""
    if now.tzinfo is None:
        raise ValueError("give an aware 'now'")
    start = visit_start(visit, tz)
    planned: list[PlannedMessage] = []
    for firing in firings:
        rule = firing.rule
        if rule.kind != "message" or not rule.template:
            continue
        due = due_time(rule.timing, visit, tz=tz, now=now)
        channel, fallback = resolve_channel(rule.channel, patient)
        send_at = next_allowed(max(due, now), channel, tz)
        status, reason = "queued", firing.why
        if patient.opted_out and not rule.essential:
            status, reason = "skipped", "the patient opted out of non-essential messages"
        elif rule.timing.relative_to == "visit" and due < now - LATE_GRACE:
            status, reason = "skipped", "booked too late for this message"
        elif send_at >= start and rule.timing.relative_to != "cancellation":
            status, reason = "skipped", "it could only go out after the visit has started"
        planned.append(
            PlannedMessage(
                action=rule.action,
                rule_id=rule.id,
                template=rule.template,
                channel=channel,
                fallback_channel=fallback,
                essential=rule.essential,
                due_at=due,
                send_at=send_at,
                status=status,
                reason=reason,
            )
        )
    return planned
