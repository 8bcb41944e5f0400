"""Due times of outreach actions, relative to the booking, the visit or the cancellation (pure).

``plan_messages`` turns the rules that fire for one visit into the messages its outbox should hold:
one per message rule that fires (never one per step), each with its due time (the
outbox's unique key), the time it may first be sent (quiet hours applied), its channel and the
channel to fall back to.

A visit booked too late for every message of an action (the call a week before and the SMS two days
before, for a visit booked the evening before last) still gets one when it is more than
``LATE_LEAD`` ahead: the least specific of them, at the earliest moment outside the quiet hours. It
keeps its own due time, the outbox's key, so a later re-plan finds the same row.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from outreach.quiet_hours import next_allowed
from outreach.rules import Firing, PatientFacts, Timing, VisitFacts

LATE_GRACE = dt.timedelta(minutes=15)
"""A visit-relative action whose due time passed more than this long ago is skipped, not sent late."""
LATE_LEAD = dt.timedelta(days=1)
"""A visit further ahead than this still gets a late reminder when every planned one is too late."""
TOO_LATE = "booked too late for this message"
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
    ranks: list[int] = []
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
            status, reason = "skipped", TOO_LATE
        elif send_at >= start and rule.timing.relative_to != "cancellation":
            status, reason = "skipped", "it could only go out after the visit has started"
        if any((p.action, p.due_at) == (rule.action, due) for p in planned):
            continue  # the outbox holds one row per action and due time; the first rule in the file has it
        ranks.append(rule.rank)
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
    return _send_one_late(planned, ranks, now=now, start=start, tz=tz)


def _send_one_late(
    planned: list[PlannedMessage], ranks: list[int], *, now: dt.datetime, start: dt.datetime, tz: str
) -> list[PlannedMessage]:
    """``planned`` with, for each action none of whose messages can go and some only because they are
    too late, the least specific too-late one queued at the earliest allowed moment (visit far enough ahead)."""
    if start - now <= LATE_LEAD:
        return planned
    result = list(planned)
    for action in dict.fromkeys(p.action for p in planned):
        mine = [i for i, p in enumerate(planned) if p.action == action]
        late = [i for i in mine if planned[i].reason == TOO_LATE]
        if not late or any(planned[i].status == "queued" for i in mine):
            continue
        chosen = min(late, key=lambda i: ranks[i])  # min() keeps the first of equal rank: file order
        message = planned[chosen]
        send_at = next_allowed(now, message.channel, tz)
        if send_at < start:
            result[chosen] = replace(
                message,
                send_at=send_at,
                status="queued",
                reason="booked too late for the planned time: sent at the earliest allowed moment",
            )
    return result
