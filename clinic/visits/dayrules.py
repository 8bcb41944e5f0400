"""The rules of the visit's day, which every service of the journey applies (not only the screens).

- Check-in, steps and checkout happen only on the visit's own day: the unit's local date of ``now``.
- Steps happen only after check-in.
- A no-show is recorded only once the arrival window has passed (``ARRIVAL_WINDOW_MINUTES`` after the
  arrival the patient was told).

A coordinator may break one of these rules by giving a reason (``override_reason``); the override is
audited as ``visit.rule_overridden`` next to the change. Anyone else giving a reason is refused: a clerk
asks a coordinator.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from clinic.audit import record as audit
from clinic.errors import Conflict, ValidationError
from clinic.users.models import Role, User
from clinic.visits.models import Visit, VisitStatus

ARRIVAL_WINDOW_MINUTES = 30
"""A patient not here this long after their first planned step may be recorded as a no-show."""
OVERRIDE_ROLES = frozenset({Role.COORDINATOR})
MAX_OVERRIDE_REASON = 300
CHECKED_IN = frozenset({VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS})
"""Visits whose patient has arrived and whose steps may be recorded."""

NOT_VISIT_DAY = "not_visit_day"
NOT_CHECKED_IN = "not_checked_in"
ARRIVAL_NOT_PASSED = "arrival_not_passed"


def local_date(now: dt.datetime, tz: str) -> dt.date:
    """The unit's calendar date at instant ``now``."""
    return now.astimezone(ZoneInfo(tz)).date()


def arrival_window_end(visit: Visit, tz: str) -> dt.datetime:
    """When a patient not yet here becomes a no-show: ``ARRIVAL_WINDOW_MINUTES`` after the arrival they were
    told (``Visit.arrival_at``: else the first planned step), or the end of the visit's day for a visit
    without planned steps."""
    first = visit.arrival_at
    if first is None:
        next_day = dt.datetime.combine(visit.date + dt.timedelta(days=1), dt.time(0), ZoneInfo(tz))
        return next_day.astimezone(dt.UTC)
    return first + dt.timedelta(minutes=ARRIVAL_WINDOW_MINUTES)


def _override(
    session: Session, *, visit: Visit, rule: str, actor_id: int | None, reason: str | None, error: Conflict
) -> None:
    """Let a coordinator's reasoned override through (audited), or raise ``error``."""
    reason = (reason or "").strip()
    if not reason:
        raise error
    if len(reason) > MAX_OVERRIDE_REASON:
        raise ValidationError(
            f"the override reason is longer than {MAX_OVERRIDE_REASON} characters",
            code="too_long",
            field="override_reason",
        )
    actor = session.get(User, actor_id) if actor_id is not None else None
    if actor is None or actor.role not in OVERRIDE_ROLES:
        raise Conflict(
            "only a coordinator may override the rules of the day", code="override_not_allowed", field="override_reason"
        )
    audit.record(
        session=session,
        actor_id=actor_id,
        action="visit.rule_overridden",
        entity="visit",
        entity_id=visit.id,
        details={"rule": rule, "reason": reason},
    )


def require_visit_day(
    session: Session,
    *,
    visit: Visit,
    now: dt.datetime,
    tz: str,
    what: str,
    actor_id: int | None,
    override_reason: str | None = None,
) -> None:
    """``Conflict(not_visit_day)`` unless ``now`` falls on the visit's own day (or a coordinator overrides)."""
    today = local_date(now, tz)
    if visit.date == today:
        return
    error = Conflict(
        f"{what} happens on the visit's day ({visit.date.isoformat()}), not on {today.isoformat()}",
        code=NOT_VISIT_DAY,
        field="visit_id",
        day=visit.date.isoformat(),
        today=today.isoformat(),
    )
    _override(session, visit=visit, rule=NOT_VISIT_DAY, actor_id=actor_id, reason=override_reason, error=error)


def require_checked_in(
    session: Session, *, visit: Visit, actor_id: int | None, override_reason: str | None = None
) -> None:
    """``Conflict(not_checked_in)`` unless the patient has been checked in (or a coordinator overrides)."""
    if visit.status in CHECKED_IN:
        return
    error = Conflict(
        f"check the patient in first; the visit is {visit.status.value}",
        code=NOT_CHECKED_IN,
        field="status",
        status=visit.status.value,
    )
    _override(session, visit=visit, rule=NOT_CHECKED_IN, actor_id=actor_id, reason=override_reason, error=error)


def require_arrival_passed(
    session: Session,
    *,
    visit: Visit,
    now: dt.datetime,
    tz: str,
    actor_id: int | None,
    override_reason: str | None = None,
) -> None:
    """``Conflict(arrival_not_passed)`` while the patient may still arrive (or a coordinator overrides)."""
    until = arrival_window_end(visit, tz)
    if now >= until:
        return
    error = Conflict(
        f"the patient may still arrive until {until.isoformat()}: no no-show before then",
        code=ARRIVAL_NOT_PASSED,
        field="action",
        until=until.isoformat(),
    )
    _override(session, visit=visit, rule=ARRIVAL_NOT_PASSED, actor_id=actor_id, reason=override_reason, error=error)
