"""Visits for the front desk: the day board and the status changes a visit goes through.

The board shows each visit's *phase* as the desk sees it (expected, arrived, in a step, waiting, done),
a late marker (a patient not here although their first step should have started) and a predicted
delay (how late the next step will start if nothing changes), plus a timeline per resource in
clinic-local hour columns.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import events
from clinic.audit import record as audit
from clinic.billing.models import Invoice
from clinic.columns import utcnow
from clinic.errors import Conflict, get_or_raise
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.translatable import Named
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, PathwayStep, Resource, StepType
from clinic.visits import dayrules
from clinic.visits.models import StepStatus, Visit, VisitCheckin, VisitStatus, VisitStep

#: A patient not checked in this many minutes after their first planned start is marked late.
LATE_AFTER_MINUTES = 10
#: A next step predicted to start this many minutes (or more) after its plan is marked delayed.
DELAY_AFTER_MINUTES = 10

EXPECTED, ARRIVED, IN_STEP, WAITING, DONE, OFF = "expected", "arrived", "in_step", "waiting", "done", "off"
PHASES = (EXPECTED, ARRIVED, IN_STEP, WAITING, DONE)


@dataclass(frozen=True)
class BoardStep:
    id: int
    visit_id: int
    patient_name: str
    name: str
    resource_id: int
    planned_start: dt.datetime
    planned_end: dt.datetime
    actual_start: dt.datetime | None
    actual_end: dt.datetime | None
    status: StepStatus
    overrun: bool = False


@dataclass(frozen=True)
class DayBoardRow:
    visit_id: int
    patient_id: int
    patient_name: str
    pathway_name: str
    #: When the patient comes (the announced arrival, else the first planned step).
    first_start: dt.datetime | None
    last_end: dt.datetime | None
    status: VisitStatus
    current_step: str | None
    next_step: str | None
    segments: frozenset[str]
    phase: str = EXPECTED
    since: dt.datetime | None = None
    late_minutes: int = 0
    delay_minutes: int = 0
    overrun: bool = False
    flags: frozenset[str] = frozenset()
    steps: tuple[BoardStep, ...] = ()

    @property
    def sorted_segments(self) -> list[str]:
        return sorted(self.segments, key=str.lower)

    @property
    def late(self) -> bool:
        return self.late_minutes >= LATE_AFTER_MINUTES

    @property
    def delayed(self) -> bool:
        return self.delay_minutes >= DELAY_AFTER_MINUTES

    @property
    def needs_replan(self) -> bool:
        """A late arrival (or no-show so far), an overrunning step or a delay: the desk may re-plan."""
        return self.late or self.delayed or self.overrun


@dataclass(frozen=True)
class ResourceLane:
    """One resource's steps of the day, one list per clinic-local hour column of ``DayBoard.hours``."""

    resource_id: int
    code: str
    name: str
    cells: tuple[tuple[BoardStep, ...], ...]


@dataclass(frozen=True)
class DayBoard:
    day: dt.date
    tz: str
    counts: dict[VisitStatus, int] = field(default_factory=dict)
    rows: list[DayBoardRow] = field(default_factory=list)
    now: dt.datetime | None = None
    is_today: bool = False
    phases: dict[str, int] = field(default_factory=dict)
    hours: tuple[dt.datetime, ...] = ()
    lanes: tuple[ResourceLane, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def late(self) -> int:
        return sum(1 for r in self.rows if r.late)

    @property
    def delayed(self) -> int:
        return sum(1 for r in self.rows if r.delayed or r.overrun)

    @property
    def needs_replan(self) -> bool:
        return self.is_today and any(r.needs_replan for r in self.rows)


def local_day_bounds(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants at which local ``day`` starts and ends (23 or 25 hours around DST changes)."""
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(0), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _minutes(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


@dataclass(frozen=True)
class _BoardPatient:
    """The patient facts the segments need (``clinic.patients.segments.SegmentedPatient``)."""

    birth_date: dt.date
    distance_km: float
    needs_wheelchair: bool
    needs_interpreter: bool
    needs_hearing: bool


def _phase(status: VisitStatus, steps: list[BoardStep], checkin: VisitCheckin | None) -> tuple[str, dt.datetime | None]:
    """The desk's view of where the patient is, and since when they wait (if they do)."""
    if status in (VisitStatus.CANCELLED, VisitStatus.NO_SHOW, VisitStatus.REQUESTED):
        return OFF, None
    if status == VisitStatus.COMPLETED:
        return DONE, None
    if any(s.status == StepStatus.IN_PROGRESS for s in steps):
        return IN_STEP, None
    ended = [s.actual_end for s in steps if s.actual_end is not None]
    if ended:
        return WAITING, max(ended)
    if status == VisitStatus.CHECKED_IN or checkin is not None:
        return ARRIVED, checkin.checked_in_at if checkin else None
    return EXPECTED, None


def _delays(
    steps: list[BoardStep], phase: str, now: dt.datetime, checkin: VisitCheckin | None,
    arrival: dt.datetime | None = None,
) -> tuple[int, int, bool]:
    """``(late minutes, predicted delay of the next step in minutes, a step overruns)`` at ``now``;
    late counts from the announced ``arrival`` (else the first planned step)."""
    if phase in (OFF, DONE) or not steps:
        return 0, 0, False
    first = arrival or steps[0].planned_start
    late = max(0, _minutes(now - first)) if phase == EXPECTED else (checkin.late_minutes if checkin else 0)
    current = next((s for s in steps if s.status == StepStatus.IN_PROGRESS), None)
    upcoming = next((s for s in steps if s.status == StepStatus.PLANNED), None)
    ready = now
    overrun = False
    if current is not None and current.actual_start is not None:
        expected_end = current.actual_start + (current.planned_end - current.planned_start)
        overrun = now > expected_end + dt.timedelta(minutes=DELAY_AFTER_MINUTES // 2)
        ready = max(now, expected_end)
    delay = max(0, _minutes(ready - upcoming.planned_start)) if upcoming is not None else 0
    return late, delay, overrun


def day_board(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    now: dt.datetime | None = None,
) -> DayBoard:
    """Every visit on local ``day`` with counts per status and phase, ordered by first planned start,
    plus the timeline per resource; late and delay markers are only set when ``day`` is today (at ``now``).

    Read with plain column queries (no ORM objects): the board is the desk's most frequent page.
    """
    now = now or utcnow()
    day_start, day_end = local_day_bounds(day, unit.tz)
    is_today = day_start <= now < day_end
    visits = session.exec(
        select(
            Visit.id, Visit.patient_id, Visit.status, Visit.announced_at, Pathway.name, Pathway.names, Patient.given_name,
            Patient.family_name,
            Patient.birth_date, Patient.distance_km, Patient.needs_wheelchair, Patient.needs_interpreter,
            Patient.needs_hearing,
        )
        .join(Patient, Patient.id == Visit.patient_id)
        .join(Pathway, Pathway.id == Visit.pathway_id)
        .where(Visit.date == day)
    ).all()
    step_rows = session.exec(
        select(
            VisitStep.id, VisitStep.visit_id, StepType.name, StepType.names, VisitStep.resource_id, VisitStep.planned_start,
            VisitStep.planned_end, VisitStep.actual_start, VisitStep.actual_end, VisitStep.status,
        )
        .join(Visit, Visit.id == VisitStep.visit_id)
        .join(PathwayStep, PathwayStep.id == VisitStep.pathway_step_id)
        .join(StepType, StepType.id == PathwayStep.step_type_id)
        .where(Visit.date == day)
    ).all() if visits else []
    checkins = {
        c.visit_id: c
        for c in session.exec(
            select(VisitCheckin).join(Visit, Visit.id == VisitCheckin.visit_id).where(Visit.date == day)
        )
    } if visits else {}
    names = {v[0]: f"{v[6]} {v[7]}" for v in visits}
    steps_of: dict[int, list[BoardStep]] = {}
    for sid, vid, step_name, step_names, resource_id, p_start, p_end, a_start, a_end, status in step_rows:
        steps_of.setdefault(vid, []).append(
            BoardStep(sid, vid, names[vid], Named(step_name, step_names), resource_id, p_start, p_end, a_start, a_end, StepStatus(status))
        )
    counts = {status: 0 for status in VisitStatus}
    phases = {phase: 0 for phase in PHASES}
    segment_cache: dict[tuple, frozenset[str]] = {}
    rows: list[DayBoardRow] = []
    for visit_id, patient_id, status, announced_at, pathway_name, pathway_names, *facts in visits:
        status = VisitStatus(status)
        counts[status] += 1
        steps = sorted(steps_of.get(visit_id, ()), key=lambda s: (s.planned_start, s.id))
        checkin = checkins.get(visit_id)
        phase, since = _phase(status, steps, checkin)
        if phase in phases:
            phases[phase] += 1
        arrival = announced_at or (steps[0].planned_start if steps else None)
        late, delay, overrun = _delays(steps, phase, now, checkin, arrival) if is_today else (0, 0, False)
        if overrun:
            steps = [
                dataclasses.replace(s, overrun=True) if s.status == StepStatus.IN_PROGRESS else s for s in steps
            ]
        current = next((s.name for s in steps if s.status == StepStatus.IN_PROGRESS), None)
        upcoming = next((s.name for s in steps if s.status == StepStatus.PLANNED), None)
        key = tuple(facts[2:])
        if key not in segment_cache:
            segment_cache[key] = segments.segments_for(
                _BoardPatient(*facts[2:]), day, unit=unit
            )
        flags = set()
        if checkin is not None:
            if checkin.coffee_voucher:
                flags.add("coffee")
            if checkin.transport_booked:
                flags.add("transport")
            if checkin.volunteer_id is not None:
                flags.add("volunteer")
        rows.append(
            DayBoardRow(
                visit_id=visit_id,
                patient_id=patient_id,
                patient_name=names[visit_id],
                pathway_name=Named(pathway_name, pathway_names),
                first_start=arrival,
                last_end=max(s.planned_end for s in steps) if steps else None,
                status=status,
                current_step=current,
                next_step=upcoming,
                segments=segment_cache[key],
                phase=phase,
                since=since,
                late_minutes=late,
                delay_minutes=delay,
                overrun=overrun,
                flags=frozenset(flags),
                steps=tuple(steps) if phase != OFF else (),
            )
        )
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (r.first_start or far_future, r.patient_name, r.visit_id))
    hours, lanes = _timeline(session, rows, unit.tz)
    return DayBoard(
        day=day,
        tz=unit.tz,
        counts=counts,
        rows=rows,
        now=now,
        is_today=is_today,
        phases=phases,
        hours=hours,
        lanes=lanes,
    )


def _timeline(
    session: Session, rows: list[DayBoardRow], tz: str
) -> tuple[tuple[dt.datetime, ...], tuple[ResourceLane, ...]]:
    """Clinic-local hour columns spanning the day's steps, and each used resource's steps per column."""
    steps = [s for r in rows for s in r.steps]
    if not steps:
        return (), ()
    zone = ZoneInfo(tz)
    first = min(s.planned_start for s in steps).astimezone(zone).replace(minute=0, second=0, microsecond=0)
    last = max(s.planned_end for s in steps).astimezone(zone)
    hours: list[dt.datetime] = []
    cursor = first
    while cursor < last:
        hours.append(cursor.astimezone(dt.UTC))
        cursor = (cursor.astimezone(dt.UTC) + dt.timedelta(hours=1)).astimezone(zone)
    by_resource: dict[int, list[list[BoardStep]]] = {}
    for step in sorted(steps, key=lambda s: (s.planned_start, s.id)):
        column = max(0, min(len(hours) - 1, int((step.planned_start - hours[0]).total_seconds() // 3600)))
        cells = by_resource.get(step.resource_id)
        if cells is None:
            cells = by_resource[step.resource_id] = [[] for _ in hours]
        cells[column].append(step)
    resources = session.exec(select(Resource).where(col(Resource.id).in_(list(by_resource)))).all()
    lanes = tuple(
        ResourceLane(resource_id=r.id, code=r.code, name=r.name, cells=tuple(tuple(c) for c in by_resource[r.id]))
        for r in sorted(resources, key=lambda r: (r.kind.value, r.code))
    )
    return tuple(hours), lanes


def get_visit(*, session: Session, visit_id: int) -> Visit:
    return get_or_raise(session, Visit, visit_id, what="visit")


_ALLOWED: dict[VisitStatus, set[VisitStatus]] = {
    VisitStatus.REQUESTED: {VisitStatus.BOOKED, VisitStatus.CANCELLED},
    VisitStatus.BOOKED: {
        VisitStatus.CONFIRMED,
        VisitStatus.CHECKED_IN,
        VisitStatus.CANCELLED,
        VisitStatus.NO_SHOW,
    },
    VisitStatus.CONFIRMED: {VisitStatus.CHECKED_IN, VisitStatus.CANCELLED, VisitStatus.NO_SHOW},
    VisitStatus.CHECKED_IN: {VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED, VisitStatus.CANCELLED},
    VisitStatus.IN_PROGRESS: {VisitStatus.COMPLETED},
    VisitStatus.COMPLETED: set(),
    VisitStatus.CANCELLED: set(),
    VisitStatus.NO_SHOW: set(),
}


JOURNEY_STATUSES = frozenset({VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED})
"""Statuses only the day's journey sets (check-in, steps, checkout), never ``change_status``."""


def can_become(current: VisitStatus, target: VisitStatus) -> bool:
    """Whether a visit in ``current`` may move to ``target`` (what ``change_status`` accepts)."""
    return target in _ALLOWED[current]


def change_status(
    *,
    session: Session,
    visit_id: int,
    status: VisitStatus | str,
    actor_id: int | None,
    reason: str | None = None,
    now: dt.datetime | None = None,
    unit: Unit | None = None,
    override_reason: str | None = None,
    commit: bool = True,
) -> Visit:
    """Move a visit along the part of its life cycle outside the day's journey (confirmed, cancelled,
    no-show); ``Conflict`` otherwise. Check-in, steps and checkout go through ``clinic.visits.journey``
    and ``clinic.billing.checkout``, which apply the rules of the day (``Conflict(use_journey)`` here).

    A cancellation or no-show records when (``now``, default the clock) and why: the moment capacity
    was freed, from which refill measures its time to the first offer. A no-show only once the arrival
    window has passed (``dayrules.require_arrival_passed``; a coordinator may override with a reason).
    With ``commit=False`` the change is flushed and left to the caller's transaction (cancelling a
    treatment series' cycles together)."""
    visit = get_visit(session=session, visit_id=visit_id)
    target = VisitStatus(status)
    if not can_become(visit.status, target):
        raise Conflict(
            f"a {visit.status.value} visit cannot become {target.value}",
            code="bad_transition",
            field="status",
            current=visit.status.value,
            target=target.value,
        )
    if target in JOURNEY_STATUSES:
        raise Conflict(
            f"a visit becomes {target.value} through check-in, its steps or checkout",
            code="use_journey",
            field="status",
            target=target.value,
        )
    now = now or utcnow()
    if target == VisitStatus.NO_SHOW:
        if unit is None:
            raise TypeError("a no-show needs the unit: its arrival window is judged in the unit's time zone")
        dayrules.require_arrival_passed(
            session, visit=visit, now=now, tz=unit.tz, actor_id=actor_id, override_reason=override_reason,
        )
    previous = visit.status
    visit.status = target
    if target in (VisitStatus.CANCELLED, VisitStatus.NO_SHOW):
        visit.cancelled_at = now
        visit.cancelled_reason = (reason or "").strip() or None
    session.add(visit)
    audit.record(
        session=session,
        actor_id=actor_id,
        action=f"visit.{target.value}",
        entity="visit",
        entity_id=visit.id,
        details={"from": previous.value, "reason": reason} if reason else {"from": previous.value},
    )
    if target in (VisitStatus.CANCELLED, VisitStatus.NO_SHOW):
        events.record(
            session,
            events.VisitCancelled(visit_id=visit.id, actor_id=actor_id, no_show=target == VisitStatus.NO_SHOW),
        )
    if commit:
        session.commit()
    else:
        session.flush()
    return visit


def visits_on(
    *, session: Session, day: dt.date, statuses: frozenset[VisitStatus] | None = None
) -> list[Visit]:
    statement = select(Visit).where(Visit.date == day).order_by(col(Visit.id))
    if statuses is not None:
        statement = statement.where(col(Visit.status).in_(list(statuses)))
    return list(session.exec(statement))


@dataclass(frozen=True)
class VisitDay:
    """A visit's day, its pathway (None when the pathway is gone) and when the patient was told to arrive
    (the announced arrival, else its first step's planned start)."""

    day: dt.date
    pathway: Pathway | None
    #: When the patient comes (the announced arrival, else the first planned step).
    first_start: dt.datetime | None


def visit_days(*, session: Session, visit_ids: Iterable[int]) -> dict[int, VisitDay]:
    """``VisitDay`` of each existing visit in ``visit_ids``: two queries for all of them, not two per visit."""
    ids = set(visit_ids)
    if not ids:
        return {}
    starts = dict(
        session.exec(
            select(VisitStep.visit_id, sa.func.min(VisitStep.planned_start))
            .where(col(VisitStep.visit_id).in_(ids))
            .group_by(VisitStep.visit_id)
        ).all()
    )
    return {
        visit_id: VisitDay(day=day, pathway=pathway, first_start=announced or starts.get(visit_id))
        for visit_id, day, announced, pathway in session.exec(
            select(Visit.id, Visit.date, Visit.announced_at, Pathway)
            .join(Pathway, col(Pathway.id) == Visit.pathway_id, isouter=True)
            .where(col(Visit.id).in_(ids))
        ).all()
    }


def latest_visits(*, session: Session, patient_id: int, limit: int = 12) -> list[Visit]:
    """The patient's ``limit`` most recent visits, newest first."""
    return list(
        session.exec(
            select(Visit)
            .where(Visit.patient_id == patient_id)
            .order_by(col(Visit.date).desc(), col(Visit.id).desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class PatientOverview:
    patient: Patient
    segments: frozenset[str]
    coming: list[Visit]
    past: list[Visit]
    invoices: list[Invoice]


def patient_overview(
    *, session: Session, patient_id: int, today: dt.date, unit: Unit
) -> PatientOverview:
    """A patient with their derived segments, visits from ``today`` on and before it, and invoices."""
    patient = get_or_raise(session, Patient, patient_id, what="patient")
    visits = list(
        session.exec(
            select(Visit)
            .where(Visit.patient_id == patient_id)
            .options(selectinload(Visit.pathway), selectinload(Visit.steps))  # type: ignore[arg-type]
            .order_by(col(Visit.date), col(Visit.id))
        )
    )
    invoices = list(
        session.exec(
            select(Invoice)
            .where(Invoice.patient_id == patient_id)
            .order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc())
        )
    )
    return PatientOverview(
        patient=patient,
        segments=segments.segments_for(patient, today, unit=unit),
        coming=[v for v in visits if v.date >= today],
        past=[v for v in reversed(visits) if v.date < today],
        invoices=invoices,
    )
