"""Optimise a coming day: every not-started visit re-arranged inside its announced arrival.

A patient is told one thing: when to arrive. Which chair, which consult room and when each later step
happens are the unit's to arrange until the step starts. ``preview_optimisation`` hands the day to the
engine with every not-started visit as a ``must_place`` request whose arrival is narrowed to
``[announced, announced + tolerance]`` and every started one fixed (``booked``), with the stored plan as
the solver's hint; the result is re-checked by ``scheduling.check`` and shown as before/after figures
and the steps that move. ``apply_optimisation`` writes exactly those moves in one transaction under the
day's booking lock, and refuses when the day changed since the preview (its ``version``).
"""

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import events, planning
from clinic.audit import record as audit
from clinic.booking.services import home_before_dark_rule, lock_day
from clinic.columns import utcnow
from clinic.errors import Conflict, Forbidden, ValidationError
from clinic.unit.context import Unit
from clinic.unit.models import PathwayStep, Resource, ResourceKind
from clinic.users.models import Role, User
from clinic.visits.journey import PlannedMove, StepMove, encode_moves
from clinic.visits.journey import decode_moves as journey_moves
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitCheckin, VisitStep
from scheduling import instance as engine
from scheduling.check import check, critical_path
from scheduling.errors import InstanceContradiction
from scheduling.solve import solve

#: Who may optimise a day (the service refuses anyone else, whatever screen they came from).
OPTIMISERS = frozenset({Role.COORDINATOR, Role.ADMIN})
DEFAULT_TOLERANCE_MINUTES = 15
DEFAULT_SECONDS = 20.0
#: The audit action of an applied optimisation; its entity is ``"day"`` with ``day_entity_id(day)``.
DAY_OPTIMISED = "day.optimised"


def day_entity_id(day: dt.date) -> int:
    """A day as an audit entity id: 2026-12-14 -> 20261214."""
    return day.year * 10000 + day.month * 100 + day.day


@dataclass(frozen=True)
class VisitPlan:
    """One visit of the day before and after: its announced arrival (never changes), waits, moved steps."""

    visit_id: int
    patient_name: str
    announced: dt.datetime
    wait_before: int
    wait_after: int
    moves: tuple[StepMove, ...] = ()


@dataclass(frozen=True)
class OptimisationPreview:
    day: dt.date
    #: The day's fingerprint when the preview was made; ``apply_optimisation`` refuses any other.
    version: str
    wait_before: int = 0
    wait_after: int = 0
    idle_chair_before: int = 0
    idle_chair_after: int = 0
    visits: tuple[VisitPlan, ...] = ()
    fixed: int = 0
    status: str = ""
    solve_seconds: float = 0.0
    tolerance_minutes: int = DEFAULT_TOLERANCE_MINUTES

    @property
    def moves(self) -> tuple[StepMove, ...]:
        return tuple(m for v in self.visits for m in v.moves)

    @property
    def moved_visits(self) -> tuple[VisitPlan, ...]:
        return tuple(v for v in self.visits if v.moves)

    def encoded_moves(self) -> str:
        """The moves as compact JSON for a hidden form field (``decode_moves`` reads it back)."""
        return encode_moves(self.moves)


def decode_moves(text: str) -> list[PlannedMove]:
    """Parse ``OptimisationPreview.encoded_moves()``; ``ValidationError`` on anything else."""
    return journey_moves(text, what="optimisation")


def require_optimiser(*, session: Session, actor_id: int | None) -> None:
    """``Forbidden`` unless ``actor_id`` is an active coordinator or administrator (``None``: the system)."""
    if actor_id is None:
        return
    user = session.get(User, actor_id)
    if user is None or not user.active or user.role not in OPTIMISERS:
        raise Forbidden("only a coordinator may optimise a day", code="not_coordinator", field="actor_id")


def _due(visit: Visit, now: dt.datetime) -> bool:
    return min(s.planned_start for s in visit.steps) <= now


def _day_visits(session: Session, day: dt.date) -> list[Visit]:
    statement = (
        select(Visit)
        .where(Visit.date == day, col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)))
        .order_by(col(Visit.id))
        .options(
            selectinload(Visit.patient),  # type: ignore[arg-type]
            selectinload(Visit.steps).selectinload(VisitStep.pathway_step).selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
            selectinload(Visit.steps).selectinload(VisitStep.resource),  # type: ignore[arg-type]
        )
    )
    return [v for v in session.exec(statement) if v.steps]


def _utc(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat() if value is not None else ""


def day_version(*, session: Session, day: dt.date) -> str:
    """A hash of everything an optimisation of ``day`` depends on: each active visit's status and each
    step's state, plan and actual times (instants compared in UTC, however they were loaded)."""
    parts = []
    for visit in _day_visits(session, day):
        parts.append(f"v{visit.id}:{visit.status.value}:{_utc(getattr(visit, 'announced_at', None))}")
        for s in sorted(visit.steps, key=lambda s: s.id):
            parts.append(
                f"s{s.id}:{s.status.value}:{s.resource_id}:{_utc(s.planned_start)}:{_utc(s.planned_end)}:"
                f"{_utc(s.actual_start)}:{_utc(s.actual_end)}"
            )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _check_day(day: dt.date, unit: Unit, now: dt.datetime) -> None:
    today = now.astimezone(unit.zone).date()
    if day < today:
        raise ValidationError("a past day cannot be optimised", code="past_day", field="day")


def _engine_day(*, session: Session, day: dt.date, unit: Unit, now: dt.datetime, tolerance: int) -> planning.BookingDay:
    """The day as a booking sees it (``planning.booking_day``: started visits fixed, the others
    ``must_place`` within their announced arrival + ``tolerance``), today's visits due by ``now`` fixed too."""
    bday = planning.booking_day(
        session=session, day=day, unit=unit, tolerance=tolerance, leave_by=home_before_dark_rule(unit),
        name=f"optimise-{day.isoformat()}",
    )
    return planning.fix_due(bday, now, unit.tz)


def visit_wait(request: engine.Request, visit: engine.Visit, announced: int | None = None) -> int:
    """Minutes the patient waits in the visit: from the arrival they were told (or the first step, when that is
    earlier or nothing was told) to the last step's end, less the shortest span the pathway allows.

    The engine's waiting starts at the first step, so a first step started 15 minutes after the announced
    arrival (the tolerance allows it) would look like 15 minutes saved while the patient stands in the hall."""
    first = min(s.start for s in visit.steps)
    if announced is not None:
        first = min(first, announced)
    return max(0, max(s.end for s in visit.steps) - first - critical_path(request))


def idle_chair_minutes(instance: engine.Instance, visits: Sequence[engine.Visit]) -> int:
    """Chair-minutes left idle between each chair's first and last treatment of the day (capacity counted)."""
    chairs = {r.id: r for r in instance.resources if r.kind == ResourceKind.CHAIR.value}
    used: dict[str, list[tuple[int, int]]] = {}
    for visit in (*instance.booked, *visits):
        for step in visit.steps:
            if step.resource in chairs:
                used.setdefault(step.resource, []).append((step.start, step.end))
    idle = 0
    for rid, spans in used.items():
        first, last = min(a for a, _ in spans), max(b for _, b in spans)
        idle += (last - first) * chairs[rid].capacity - sum(b - a for a, b in spans)
    return idle


def preview_optimisation(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    now: dt.datetime | None = None,
    tolerance: int | None = None,
    time_limit: float = DEFAULT_SECONDS,
    actor_id: int | None = None,
) -> OptimisationPreview:
    """What optimising ``day`` would change (nothing is written).

    ``Forbidden`` for an actor who is not a coordinator; ``ValidationError`` for a past day; ``Conflict``
    (``plan_infeasible``) when the engine's result fails the independent check (never shown, never applied).
    ``tolerance`` defaults to the unit's ``arrival_tolerance_minutes``. A result that does not cut the day's
    waiting is not proposed (no moves): re-running the optimisation on an optimised day changes nothing.
    """
    now = now or utcnow()
    tolerance = unit.arrival_tolerance_minutes if tolerance is None else tolerance
    require_optimiser(session=session, actor_id=actor_id)
    _check_day(day, unit, now)
    if not 0 <= tolerance <= 240:
        raise ValidationError("the arrival tolerance is 0 to 240 minutes", field="tolerance")
    version = day_version(session=session, day=day)
    built = _engine_day(session=session, day=day, unit=unit, now=now, tolerance=tolerance)
    instance = built.instance
    fixed = len(instance.booked)
    if not instance.requests:
        return OptimisationPreview(day=day, version=version, fixed=fixed, tolerance_minutes=tolerance)
    try:
        schedule = solve(instance, time_limit=time_limit, hint=built.current, workers=2)
    except InstanceContradiction as exc:
        raise Conflict(f"the day's fixed visits contradict each other: {exc}", code="plan_infeasible") from None
    problems = check(instance, schedule)
    if problems or schedule.unscheduled:
        reason = str(problems[0]) if problems else schedule.unscheduled[0].reason
        raise Conflict(f"the optimised day does not pass the check: {reason}", code="plan_infeasible")
    by_request = {r.id: r for r in instance.requests}
    before = {v.request: v for v in built.current}
    solved = {v.request: v for v in schedule.visits}

    def waited(visits: dict[str, engine.Visit]) -> int:
        return sum(visit_wait(by_request[k], visits[k], built.announced.get(k)) for k in by_request)

    wait_before, wait_solved = waited(before), waited(solved)
    improved = wait_solved < wait_before
    result = schedule.visits if improved else built.current
    after = solved if improved else before
    resources = {r.code: r for r in session.exec(select(Resource))}
    plans = []
    for key, visit in built.visits.items():
        new = after[key]
        window = by_request[key].arrival
        assert window is not None and window[0] <= min(s.start for s in new.steps) <= window[1], (
            f"{key} would no longer arrive when its patient was told"
        )
        announced = built.announced[key]
        rows = {s.pathway_step.code: s for s in visit.steps}
        moves = []
        for step in sorted(new.steps, key=lambda s: (s.start, s.id)):
            row = rows[step.id]
            new_start = planning.instant_at(day, step.start, unit.tz)
            new_end = planning.instant_at(day, step.end, unit.tz)
            target = resources[step.resource]
            if (new_start, new_end, target.id) == (row.planned_start, row.planned_end, row.resource_id):
                continue
            moves.append(
                StepMove(
                    visit_step_id=row.id,
                    visit_id=visit.id,
                    patient_name=visit.patient.display_name,
                    step_name=row.pathway_step.step_type.named,
                    old_start=row.planned_start,
                    old_end=row.planned_end,
                    new_start=new_start,
                    new_end=new_end,
                    old_resource=row.resource.name,
                    new_resource=target.name,
                    new_resource_id=target.id,
                )
            )
        plans.append(
            VisitPlan(
                visit_id=visit.id,
                patient_name=visit.patient.display_name,
                announced=planning.instant_at(day, announced, unit.tz),
                wait_before=visit_wait(by_request[key], before[key], announced),
                wait_after=visit_wait(by_request[key], new, announced),
                moves=tuple(moves),
            )
        )
    plans.sort(key=lambda p: (p.announced, p.patient_name, p.visit_id))
    return OptimisationPreview(
        day=day,
        version=version,
        wait_before=wait_before,
        wait_after=wait_solved if improved else wait_before,
        idle_chair_before=idle_chair_minutes(instance, built.current),
        idle_chair_after=idle_chair_minutes(instance, result),
        visits=tuple(plans),
        fixed=fixed,
        status=schedule.status,
        solve_seconds=schedule.solve_seconds,
        tolerance_minutes=tolerance,
    )


def apply_optimisation(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    moves: Sequence[PlannedMove],
    version: str,
    actor_id: int | None,
    now: dt.datetime | None = None,
    tolerance: int | None = None,
) -> int:
    """Store the preview's moves in ONE transaction under the day's booking lock; the steps moved.

    Refused with ``Conflict`` (``day_changed``) when the day is not the one the preview was made for, and
    when a move would start a step that began, or change when a patient was told to arrive; the day is
    then re-checked as stored (``planning.check_day``) before the commit. One audit row per visit and one
    for the day, a ``VisitRearranged`` event per visit (the announced arrival stands: nothing is said to
    the patient) and a ``DayOptimised`` event.
    """
    now = now or utcnow()
    tolerance = unit.arrival_tolerance_minutes if tolerance is None else tolerance
    require_optimiser(session=session, actor_id=actor_id)
    _check_day(day, unit, now)
    if not moves:
        raise ValidationError("there is nothing to move", code="nothing_to_move", field="moves")
    try:
        lock_day(session=session, day=day)
        session.expire_all()
        if day_version(session=session, day=day) != version:
            raise Conflict(
                "the day changed since this preview was made; make a new one", code="day_changed", field="version"
            )
        per_visit: dict[int, list[dict]] = {}
        visits: dict[int, tuple[Visit, dt.datetime, dt.datetime]] = {}
        seen: set[int] = set()
        for move in moves:
            step = session.get(VisitStep, move.visit_step_id)
            if step is None or move.visit_step_id in seen:
                raise ValidationError(f"unknown or repeated step {move.visit_step_id}", field="moves")
            seen.add(step.id)
            visit = step.visit
            checked_in = session.exec(select(VisitCheckin.id).where(VisitCheckin.visit_id == visit.id)).first()
            if visit.date != day or planning.has_started(visit, checked_in is not None) or _due(visit, now):
                raise Conflict(f"step {step.id} is not on a not-started visit of this day", code="day_changed")
            if visit.id not in visits:
                first = min(s.planned_start for s in visit.steps)
                visits[visit.id] = (visit, first, visit.announced_at or first)
            per_visit.setdefault(visit.id, []).append(
                planning.move_step(session=session, step=step, resource_id=move.new_resource_id,
                                   start=move.new_start, end=move.new_end, day=day, tz=unit.tz)
            )
        session.flush()
        for visit, was_first, announced in visits.values():
            session.refresh(visit)
            first = min(s.planned_start for s in visit.steps)
            earliest = min(was_first, announced)
            latest = max(was_first, announced + dt.timedelta(minutes=tolerance))
            if not earliest <= first <= latest:
                raise Conflict(
                    f"visit {visit.id} would no longer start when its patient was told to arrive",
                    code="announced_changed",
                )
            if visit.announced_at is None:
                visit.announced_at = announced
                session.add(visit)
        problems = planning.check_day(session=session, day=day, unit=unit)
        if problems:
            raise Conflict(f"the optimised day does not pass the check: {problems[0]}", code="plan_infeasible")
        for visit_id, changes in per_visit.items():
            audit.record(
                session=session,
                actor_id=actor_id,
                action="visit.optimised",
                entity="visit",
                entity_id=visit_id,
                details={"day": day.isoformat(), "moves": changes},
            )
            events.record(session, events.VisitRearranged(visit_id=visit_id, actor_id=actor_id))
        audit.record(
            session=session,
            actor_id=actor_id,
            action=DAY_OPTIMISED,
            entity="day",
            entity_id=day_entity_id(day),
            details={"day": day.isoformat(), "visits": len(per_visit), "steps": len(seen)},
        )
        events.record(session, events.DayOptimised(day=day, visits=len(per_visit), actor_id=actor_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(seen)


@dataclass(frozen=True)
class DayResult:
    """What optimising one day did: ``applied`` steps moved (0: nothing to gain), or why it was skipped."""

    day: dt.date
    wait_before: int = 0
    wait_after: int = 0
    applied: int = 0
    skipped: str = ""


def optimise_day(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    now: dt.datetime | None = None,
    tolerance: int | None = None,
    time_limit: float = DEFAULT_SECONDS,
    actor_id: int | None = None,
) -> DayResult:
    """Preview ``day`` and apply the preview when it moves something (the nightly job and ``flask optimise``).

    Idempotent: a day already optimised gives a preview without moves, and nothing is written. A day that
    changes between preview and apply, or cannot be optimised, is reported in ``skipped``, not raised.
    """
    now = now or utcnow()
    try:
        preview = preview_optimisation(
            session=session, day=day, unit=unit, now=now, tolerance=tolerance, time_limit=time_limit, actor_id=actor_id
        )
        session.rollback()  # end the read transaction: the solve must not hold it
        if not preview.moves:
            return DayResult(day, preview.wait_before, preview.wait_after)
        applied = apply_optimisation(
            session=session, day=day, unit=unit, moves=decode_moves(preview.encoded_moves()),
            version=preview.version, actor_id=actor_id, now=now, tolerance=tolerance,
        )
    except (Conflict, ValidationError) as error:
        session.rollback()
        return DayResult(day, skipped=f"{error.code}: {error.message}")
    return DayResult(day, preview.wait_before, preview.wait_after, applied)


def optimise_coming_days(
    *,
    session: Session,
    unit: Unit,
    days: int,
    now: dt.datetime | None = None,
    tolerance: int | None = None,
    time_limit: float = DEFAULT_SECONDS,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[DayResult]:
    """Optimise the ``days`` days from tomorrow (clinic time), one ``optimise_day`` each, as the system.

    ``keep_going`` is asked before each day (the nightly job renews its lease there); ``False`` stops.
    """
    now = now or utcnow()
    tomorrow = now.astimezone(unit.zone).date() + dt.timedelta(days=1)
    results = []
    for offset in range(days):
        if not keep_going():
            break
        results.append(
            optimise_day(
                session=session, day=tomorrow + dt.timedelta(days=offset), unit=unit, now=now,
                tolerance=tolerance, time_limit=time_limit,
            )
        )
    return results
