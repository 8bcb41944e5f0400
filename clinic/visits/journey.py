"""Check-in and the journey through the day: arrival flags, step actions and re-planning the rest of the day.

Check-in records when the patient arrived, how late, and the day's arrangements (a coffee voucher code
for long-distance patients, transport booked, volunteer assigned, interpreter needed) next to the visit's
status change, in one audited transaction.

Re-planning has two halves so the clerk sees what moves before anything changes:
``propose_replan`` hands the running day to the engine (``scheduling.replan``: done and in-progress steps
stay at their actual times, not-started steps move as little as possible) and returns the moves with a
fingerprint of the day; ``apply_replan`` writes those moves in one transaction, and refuses when the day
changed in between (someone started a step, booked a visit ...) so a stale plan is never written.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import events, json_text, planning
from clinic.audit import record as audit
from clinic.columns import utcnow
from clinic.errors import Conflict, NotFound, ValidationError, get_or_raise
from clinic.messaging.texts import voucher_code
from clinic.patients import segments
from clinic.service.models import Volunteer
from clinic.unit.context import Unit
from clinic.unit.models import PathwayStep, Resource
from clinic.visits import dayrules, steps
from clinic.visits.models import StepStatus, Visit, VisitCheckin, VisitStatus, VisitStep
from scheduling import instance as engine
from scheduling.errors import InstanceFormatError
from scheduling.replan import replan

CHECKIN_FROM = frozenset({VisitStatus.BOOKED, VisitStatus.CONFIRMED})
REPLANNED = frozenset({VisitStatus.BOOKED, VisitStatus.CONFIRMED, VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS})
MAX_NOTES = 500


# --- check-in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckinFlags:
    """What the desk must know when the patient arrives (derived, nothing stored yet)."""

    coffee_voucher: bool
    interpreter: bool
    wheelchair: bool
    hearing: bool
    late_minutes: int
    segments: frozenset[str]


def _first_start(visit: Visit) -> dt.datetime | None:
    return visit.arrival_at


def checkin_flags(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime | None = None,
    unit: Unit,
) -> CheckinFlags:
    visit = _visit(session, visit_id)
    now = now or utcnow()
    labels = segments.segments_for(visit.patient, visit.date, unit=unit)
    first = _first_start(visit)
    late = max(0, int((now - first).total_seconds() // 60)) if first else 0
    return CheckinFlags(
        coffee_voucher=segments.Region.LONG_DISTANCE.value in labels,
        interpreter=visit.patient.needs_interpreter,
        wheelchair=visit.patient.needs_wheelchair,
        hearing=visit.patient.needs_hearing,
        late_minutes=late,
        segments=labels,
    )


def get_checkin(*, session: Session, visit_id: int) -> VisitCheckin | None:
    return session.exec(select(VisitCheckin).where(VisitCheckin.visit_id == visit_id)).first()


def _visit(session: Session, visit_id: int) -> Visit:
    return get_or_raise(session, Visit, visit_id, what="visit")


def check_in(
    *,
    session: Session,
    visit_id: int,
    actor_id: int | None,
    unit: Unit,
    now: dt.datetime | None = None,
    transport_booked: bool = False,
    volunteer_id: int | None = None,
    notes: str = "",
    override_reason: str | None = None,
) -> VisitCheckin:
    """Check the patient of a booked visit in today: status ``checked_in`` plus a ``VisitCheckin`` row
    (voucher code for long-distance patients), audited, committed together; ``Conflict`` when the visit
    is already checked in, or not booked for today (``not_visit_day``; a coordinator may override with
    ``override_reason``)."""
    now = now or utcnow()
    try:
        visit = _visit(session, visit_id)
        if get_checkin(session=session, visit_id=visit_id) is not None or visit.status in (
            VisitStatus.CHECKED_IN,
            VisitStatus.IN_PROGRESS,
        ):
            raise Conflict("the patient is already checked in", code="already_checked_in", field="visit_id")
        if visit.status not in CHECKIN_FROM:
            raise Conflict(
                f"a {visit.status.value} visit cannot be checked in", code="bad_transition", field="status"
            )
        dayrules.require_visit_day(
            session, visit=visit, now=now, tz=unit.tz, what="check-in", actor_id=actor_id,
            override_reason=override_reason,
        )
        notes = (notes or "").strip()
        if len(notes) > MAX_NOTES:
            raise ValidationError(f"notes are longer than {MAX_NOTES} characters", field="notes")
        if volunteer_id is not None:
            volunteer = session.get(Volunteer, volunteer_id)
            if volunteer is None or not volunteer.active:
                raise ValidationError("choose an active volunteer", field="volunteer_id")
        flags = checkin_flags(session=session, visit_id=visit_id, now=now, unit=unit)
        checkin = VisitCheckin(
            visit_id=visit.id,
            checked_in_at=now,
            checked_in_by=actor_id,
            late_minutes=flags.late_minutes,
            coffee_voucher=voucher_code(visit.id) if flags.coffee_voucher else None,  # the code the SMS announced
            transport_booked=bool(transport_booked),
            volunteer_id=volunteer_id,
            interpreter_needed=flags.interpreter,
            notes=notes,
        )
        previous = visit.status
        visit.status = VisitStatus.CHECKED_IN
        session.add_all([visit, checkin])
        session.flush()
        audit.record(
            session=session,
            actor_id=actor_id,
            action="visit.checked_in",
            entity="visit",
            entity_id=visit.id,
            details={
                "from": previous.value,
                "at": now.isoformat(),
                "late_minutes": flags.late_minutes,
                "coffee_voucher": checkin.coffee_voucher,
                "transport_booked": checkin.transport_booked,
                "volunteer_id": volunteer_id,
                "interpreter_needed": checkin.interpreter_needed,
            },
        )
        events.record(session, events.VisitCheckedIn(visit_id=visit.id, actor_id=actor_id))
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("the patient is already checked in", code="already_checked_in", field="visit_id") from None
    except BaseException:
        session.rollback()
        raise
    return checkin


def step_action(
    *,
    session: Session,
    visit_id: int,
    visit_step_id: int,
    action: str,
    actor_id: int | None,
    unit: Unit,
    at: dt.datetime | None = None,
    override_reason: str | None = None,
) -> VisitStep:
    """Start, finish or skip a step of this visit (``steps.record_step``, after checking it belongs here)."""
    step = session.get(VisitStep, visit_step_id)
    if step is None or step.visit_id != visit_id:
        raise NotFound(f"visit {visit_id} has no step {visit_step_id}", field="visit_step_id")
    try:
        return steps.record_step(
            session=session, visit_step_id=visit_step_id, action=action, actor_id=actor_id, unit=unit, at=at,
            override_reason=override_reason,
        )
    except BaseException:
        session.rollback()
        raise


# --- re-plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepMove:
    """A step's new time or place, in a re-plan or an optimisation of a day. ``step_name`` is the step type's
    ``Named`` name: screens show it in their reader's language."""

    visit_step_id: int
    visit_id: int
    patient_name: str
    step_name: str
    old_start: dt.datetime
    old_end: dt.datetime
    new_start: dt.datetime
    new_end: dt.datetime
    old_resource: str
    new_resource: str
    new_resource_id: int

    @property
    def shift_minutes(self) -> int:
        return int((self.new_start - self.old_start).total_seconds() // 60)


@dataclass(frozen=True)
class ReplanProposal:
    day: dt.date
    now: dt.datetime
    fingerprint: str
    moves: tuple[StepMove, ...] = ()
    dropped: tuple[tuple[int, str], ...] = ()
    conflicts: tuple[str, ...] = ()
    deviation_minutes: int = 0

    def encoded_moves(self) -> str:
        """The moves as compact JSON for a hidden form field (``decode_moves`` reads it back)."""
        return encode_moves(self.moves)


@dataclass(frozen=True)
class PlannedMove:
    visit_step_id: int
    new_start: dt.datetime
    new_end: dt.datetime
    new_resource_id: int


def moved_visit_ids(*, session: Session, moves: Sequence[PlannedMove]) -> list[int]:
    """The visits whose announced times a re-plan moved (their reminders must follow)."""
    step_ids = [move.visit_step_id for move in moves]
    if not step_ids:
        return []
    return sorted(set(session.exec(select(VisitStep.visit_id).where(col(VisitStep.id).in_(step_ids))).all()))


def encode_moves(moves: Sequence[Any]) -> str:
    """Moved steps (each with ``visit_step_id``, ``new_start``, ``new_end``, ``new_resource_id``) as compact JSON
    for a hidden form field; ``decode_moves`` reads it back."""
    return json.dumps(
        [[m.visit_step_id, m.new_start.isoformat(), m.new_end.isoformat(), m.new_resource_id] for m in moves],
        separators=(",", ":"),
    )


def decode_moves(text: str, *, what: str = "re-plan") -> list[PlannedMove]:
    """Parse ``encode_moves`` output (a re-plan's or an optimisation's); ``ValidationError`` on anything else."""
    try:
        raw = json_text.loads(text or "")
        if not isinstance(raw, list):
            raise ValueError("not a list")
        moves = []
        for item in raw:
            step_id, start, end, resource_id = item
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (step_id, resource_id)):
                raise ValueError("ids must be integers")
            new_start, new_end = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
            if new_start.tzinfo is None or new_end.tzinfo is None:
                raise ValueError("times must carry their offset")
            moves.append(PlannedMove(step_id, new_start, new_end, resource_id))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"the {what} could not be read ({exc})", field="moves") from None
    return moves


def _day_visits(session: Session, day: dt.date) -> list[Visit]:
    statement = (
        select(Visit)
        .where(Visit.date == day, col(Visit.status).in_(list(REPLANNED)))
        .order_by(col(Visit.id))
        .options(
            selectinload(Visit.patient),  # type: ignore[arg-type]
            selectinload(Visit.steps).selectinload(VisitStep.pathway_step).selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
            selectinload(Visit.steps).selectinload(VisitStep.resource),  # type: ignore[arg-type]
        )
    )
    return list(session.exec(statement))


def day_fingerprint(*, session: Session, day: dt.date) -> str:
    """A hash of everything the re-plan depends on: each visit's status and each step's state and plan."""
    parts = []
    for visit in _day_visits(session, day):
        parts.append(f"v{visit.id}:{visit.status.value}")
        for s in sorted(visit.steps, key=lambda s: s.id):
            parts.append(
                f"s{s.id}:{s.status.value}:{s.resource_id}:{s.planned_start.isoformat()}:{s.planned_end.isoformat()}:"
                f"{s.actual_start.isoformat() if s.actual_start else ''}:{s.actual_end.isoformat() if s.actual_end else ''}"
            )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _resolve_after(step: engine.Step, by_id: Mapping[str, engine.Step], skipped: set[str]) -> tuple[str, ...]:
    """Predecessors of ``step`` with skipped steps replaced by their own predecessors."""
    out: list[str] = []
    todo = list(step.after)
    seen: set[str] = set()
    while todo:
        pid = todo.pop(0)
        if pid in seen:
            continue
        seen.add(pid)
        if pid in skipped:
            todo.extend(by_id[pid].after)
        elif pid not in out:
            out.append(pid)
    return tuple(out)


def _minute(instant: dt.datetime, day: dt.date, tz: str) -> int:
    return planning.minutes_at(instant, day, tz)


def propose_replan(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    now: dt.datetime | None = None,
    late_arrivals: Mapping[int, dt.datetime] | None = None,
    time_limit: float = 2.0,
    workers: int = 1,
) -> ReplanProposal:
    """The engine's new plan for the rest of ``day`` from ``now`` (nothing is written).

    ``late_arrivals`` maps a visit id to when its (late) patient is now expected.
    """
    now = now or utcnow()
    try:
        now_min = _minute(now, day, unit.tz)
    except ValidationError:
        raise ValidationError("only today can be re-planned", code="not_today", field="day") from None
    if now_min < 1:
        raise ValidationError("the day has not started yet", code="not_today", field="day")
    fingerprint = day_fingerprint(session=session, day=day)
    visits = [v for v in _day_visits(session, day) if any(s.status == StepStatus.PLANNED for s in v.steps)]
    if not visits:
        return ReplanProposal(day=day, now=now, fingerprint=fingerprint)
    pathways = planning.load_pathways(session=session)
    by_pathway_id = {p.id: p for p in pathways.values()}
    staff = planning.load_staff(session=session)
    requests: list[engine.Request] = []
    announced: list[engine.Visit] = []
    actual: dict[tuple[str, str], tuple[int, int | None]] = {}
    late: dict[str, int] = {}
    rows: dict[tuple[str, str], VisitStep] = {}
    names: dict[str, tuple[int, str]] = {}
    for visit in visits:
        key = planning.request_key(visit)
        names[key] = (visit.id, visit.patient.display_name)
        pathway = by_pathway_id[visit.pathway_id]
        request = planning.engine_request(
            wish=planning.VisitWish(key=key, patient=visit.patient, pathway=pathway, priority=visit.priority),
            day=day,
            unit=unit,
            staff=staff,
        )
        skipped = {s.pathway_step.code for s in visit.steps if s.status == StepStatus.SKIPPED}
        by_id = {st.id: st for st in request.steps}
        kept = tuple(
            replace(st, after=_resolve_after(st, by_id, skipped)) for st in request.steps if st.id not in skipped
        )
        request = replace(request, steps=kept)
        placed = []
        for s in sorted(visit.steps, key=lambda s: (s.planned_start, s.id)):
            code = s.pathway_step.code
            if code in skipped:
                continue
            rows[(key, code)] = s
            placed.append(
                engine.PlacedStep(
                    code, s.resource.code, _minute(s.planned_start, day, unit.tz), _minute(s.planned_end, day, unit.tz)
                )
            )
            if s.status in (StepStatus.DONE, StepStatus.IN_PROGRESS) and s.actual_start is not None:
                start = min(_minute(s.actual_start, day, unit.tz), now_min - 1)
                if s.status == StepStatus.DONE and s.actual_end is not None:
                    end = max(start + 1, min(_minute(s.actual_end, day, unit.tz), now_min))
                    actual[(key, code)] = (start, end)
                else:
                    actual[(key, code)] = (start, None)
        if visit.id in (late_arrivals or {}):
            late[key] = min(max(_minute(late_arrivals[visit.id], day, unit.tz), 0), engine.DAY_MINUTES - 1)
        requests.append(request)
        announced.append(engine.Visit(key, tuple(placed)))
    instance = engine.Instance(
        name=f"replan-{day.isoformat()}",
        date=day,
        resources=planning.engine_resources(session=session, day=day),
        requests=tuple(requests),
    )
    try:
        result = replan(
            instance, announced, now=now_min, actual=actual, late_arrivals=late, time_limit=time_limit, workers=workers
        )
    except InstanceFormatError as exc:
        raise ValidationError(f"the day cannot be re-planned: {exc}", code="replan_failed") from None
    resources = {r.code: r for r in session.exec(select(Resource))}
    placed_now = {(v.request, s.id): s for v in result.schedule.visits for s in v.steps}
    moves = []
    for move in result.moves:
        row = rows.get((move.request, move.step))
        if row is None or row.status != StepStatus.PLANNED:
            continue  # done or under way: pinned at its actual times, not a move
        new = placed_now[(move.request, move.step)]
        moves.append(
            StepMove(
                visit_step_id=row.id,
                visit_id=row.visit_id,
                patient_name=names[move.request][1],
                step_name=row.pathway_step.step_type.named,
                old_start=row.planned_start,
                old_end=row.planned_end,
                new_start=planning.instant_at(day, new.start, unit.tz),
                new_end=planning.instant_at(day, new.end, unit.tz),
                old_resource=row.resource.name,
                new_resource=resources[new.resource].name,
                new_resource_id=resources[new.resource].id,
            )
        )
    moves.sort(key=lambda m: (m.new_start, m.patient_name, m.visit_step_id))
    return ReplanProposal(
        day=day,
        now=now,
        fingerprint=fingerprint,
        moves=tuple(moves),
        dropped=tuple(names[rid] for rid in result.dropped),
        conflicts=tuple(str(c) for c in result.conflicts),
        deviation_minutes=result.deviation_minutes,
    )


def apply_replan(
    *,
    session: Session,
    day: dt.date,
    tz: str,
    moves: Sequence[PlannedMove],
    fingerprint: str,
    actor_id: int | None,
) -> int:
    """Write the proposed moves in one transaction (one audit event per visit); returns the steps moved.

    ``Conflict`` (code ``day_changed``) when the day is no longer the one the proposal was made for.
    """
    try:
        if not moves:
            raise ValidationError("there is nothing to move", code="nothing_to_move", field="moves")
        if day_fingerprint(session=session, day=day) != fingerprint:
            raise Conflict(
                "the day changed since this re-plan was made; make a new one", code="day_changed", field="moves"
            )
        per_visit: dict[int, list[dict]] = {}
        seen: set[int] = set()
        for move in moves:
            step = session.get(VisitStep, move.visit_step_id)
            if step is None or move.visit_step_id in seen:
                raise ValidationError(f"unknown or repeated step {move.visit_step_id}", field="moves")
            seen.add(step.id)
            visit = step.visit
            if visit.date != day or visit.status not in REPLANNED:
                raise Conflict(f"step {step.id} is not on an open visit of this day", code="day_changed", field="moves")
            if step.status != StepStatus.PLANNED:
                raise Conflict(f"step {step.id} is already {step.status.value}", code="day_changed", field="moves")
            per_visit.setdefault(visit.id, []).append(
                planning.move_step(session=session, step=step, resource_id=move.new_resource_id,
                                   start=move.new_start, end=move.new_end, day=day, tz=tz)
            )
        session.flush()
        for visit_id, changes in per_visit.items():
            audit.record(
                session=session,
                actor_id=actor_id,
                action="visit.replanned",
                entity="visit",
                entity_id=visit_id,
                details={"moves": changes},
            )
            events.record(session, events.VisitMoved(visit_id=visit_id, actor_id=actor_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(seen)
