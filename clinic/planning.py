"""The thin adapter between the clinic's rows and the scheduling engine's plain dataclasses.

Rows -> ``scheduling.instance``: a resource's availability on a day is that weekday's opening hours
minus closures (whole clinic or that resource); visits already holding capacity become ``booked``;
each visit to place becomes a ``Request`` built from its pathway and the patient's segments.
``Schedule`` -> rows: placed visits are stored as ``Visit`` + ``VisitStep`` with aware UTC times.

Engine times are local wall-clock minutes after midnight of the day in the clinic's time zone; the
conversion goes through wall-clock times, so days with a DST change come out right.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from sqlalchemy.orm import object_session, selectinload
from sqlmodel import Session, col, select

from clinic.booking.choices import decode_choice
from clinic.booking.models import BookingHold, HoldStatus
from clinic.columns import utcnow
from clinic.errors import ValidationError
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.unit import booking_rules as br
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, PathwayStep, Resource, ResourceClosure
from clinic.visits.models import (
    ACTIVE_VISIT_STATUSES,
    StepStatus,
    Visit,
    VisitCheckin,
    VisitStatus,
    VisitStep,
)
from scheduling import instance as engine
from scheduling.book import movable
from scheduling.check import Violation, check, critical_path, objective
from scheduling.greedy import greedy

Window = tuple[int, int]
Placer = Callable[[engine.Instance], engine.Schedule]


#: How patient segments restrict a visit is data: ``seed_data/booking_rules.yaml`` (``Unit.booking_rules``),
#: each rule hard or a preference; ``engine_request`` applies them, bent by ``Bends`` when a proposal bends
#: preferences. The unit's region thresholds (``Unit.local_km`` / ``Unit.regional_km``) decide who is
#: long-distance.


@dataclass(frozen=True)
class VisitWish:
    """A visit to place: who, which pathway, how important, and when the patient can come."""

    key: str
    patient: Patient
    pathway: Pathway
    priority: int = 1
    arrival: Window | None = None
    leave_by: int | None = None


@dataclass
class PlanResult:
    instance: engine.Instance
    schedule: engine.Schedule
    visits: dict[str, Visit] = field(default_factory=dict)
    unscheduled: list[engine.Unscheduled] = field(default_factory=list)


# --- time conversion ----------------------------------------------------------------------------


def minutes_of(value: dt.time) -> int:
    return value.hour * 60 + value.minute


def instant_at(day: dt.date, minutes: int, tz: str) -> dt.datetime:
    """The aware UTC instant of local wall-clock ``minutes`` after midnight on ``day``."""
    if not 0 <= minutes <= engine.DAY_MINUTES:
        raise ValidationError(f"{minutes} minutes is not a time of day", field="minutes")
    days, rest = divmod(minutes, engine.DAY_MINUTES)
    local = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(rest // 60, rest % 60), ZoneInfo(tz))
    return local.astimezone(dt.UTC)


def minutes_at(instant: dt.datetime, day: dt.date, tz: str) -> int:
    """Local wall-clock minutes after midnight of ``day``; ``ValidationError`` when on another local date."""
    local = instant.astimezone(ZoneInfo(tz))
    if local.date() == day:
        return local.hour * 60 + local.minute
    if local.date() == day + dt.timedelta(days=1) and local.time() == dt.time(0):
        return engine.DAY_MINUTES
    raise ValidationError(
        f"{local.isoformat()} is not on {day.isoformat()} in {tz}: a visit is one day",
        code="step_on_other_day",
        field="planned_start",
    )


# --- rows -> engine -----------------------------------------------------------------------------


def subtract(windows: Iterable[Window], cut: Window) -> list[Window]:
    """``windows`` with the interval ``cut`` removed."""
    out: list[Window] = []
    for start, end in windows:
        if cut[1] <= start or cut[0] >= end:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


def availability(resource: Resource, day: dt.date, closures: Sequence[ResourceClosure]) -> tuple[Window, ...]:
    """Opening windows of ``resource`` on ``day`` (its weekday's hours) minus the closures that apply."""
    windows = sorted(
        (minutes_of(h.opens), minutes_of(h.closes)) for h in resource.hours if h.weekday == day.weekday()
    )
    merged: list[Window] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    for closure in closures:
        if closure.date != day or closure.resource_id not in (None, resource.id):
            continue
        if closure.starts is None or closure.ends is None:
            return ()
        merged = subtract(merged, (minutes_of(closure.starts), minutes_of(closure.ends)))
    return tuple(merged)


def engine_resources(*, session: Session, day: dt.date) -> tuple[engine.Resource, ...]:
    resources = session.exec(
        select(Resource)
        .where(col(Resource.active).is_(True))
        .options(selectinload(Resource.hours))  # type: ignore[arg-type]
        .order_by(col(Resource.code))
    ).all()
    closures = session.exec(select(ResourceClosure).where(ResourceClosure.date == day)).all()
    return tuple(
        engine.Resource(
            id=r.code,
            kind=r.kind.value,
            capacity=r.capacity,
            available=availability(r, day, closures),
            attributes=frozenset(r.attributes or ()),
        )
        for r in resources
    )


@dataclass(frozen=True)
class Staff:
    """The active resources' kinds and skills: who may give a step that needs skills."""

    resources: tuple[tuple[str, str, frozenset[str]], ...] = ()

    def qualified(self, kind: str, skills: Iterable[str]) -> tuple[str, ...]:
        """Codes of the active resources of ``kind`` carrying every one of ``skills``."""
        needed = frozenset(skills)
        return tuple(code for code, of_kind, has in self.resources if of_kind == kind and needed <= has)


def load_staff(*, session: Session) -> Staff:
    resources = session.exec(
        select(Resource).where(col(Resource.active).is_(True)).order_by(col(Resource.code))
    ).all()
    return Staff(tuple((r.code, r.kind.value, frozenset(r.skills or ())) for r in resources))


def _staff_for(pathway: Pathway) -> Staff:
    """The staff as the pathway's own session sees it: a caller that does not pass ``staff`` still gets
    the skill restriction (one query), never an unrestricted step."""
    session = object_session(pathway)
    if session is None:
        raise ValueError(f"pathway {pathway.code} is not in a session: pass staff=load_staff(session=...)")
    return load_staff(session=session)  # type: ignore[arg-type]


def step_resources(step: PathwayStep, staff: Staff) -> tuple[str, ...] | None:
    """The engine's ``Step.resources`` for ``step``: the active resources of its kind having all its skills,
    intersected with its own ``resource`` if set (``None``: any resource of the kind; ``()``: nobody)."""
    own = (step.resource.code,) if step.resource is not None else None
    if not step.skills:
        return own
    qualified = staff.qualified(step.step_type.resource_kind.value, step.skills)
    return qualified if own is None else tuple(code for code in qualified if code in own)


@dataclass(frozen=True)
class Unqualified:
    """A step of a pathway that no active resource has the skills (and, if named, the identity) to give."""

    step: str
    step_name: str
    kind: str
    skills: tuple[str, ...]
    resource: str | None = None

    def describe(self) -> str:
        needed = ", ".join(self.skills)
        if self.resource is not None:
            return f"{self.resource} does not have the skills {needed} that step {self.step_name} needs"
        return f"no {self.kind} resource has the skills {needed} that step {self.step_name} needs"


def unqualified_steps(pathway: Pathway, staff: Staff) -> list[Unqualified]:
    """The steps of ``pathway`` nobody may give (their skills match no active resource)."""
    out = []
    for step in sorted(pathway.steps, key=lambda s: s.sequence):
        if step.skills and not step_resources(step, staff):
            out.append(
                Unqualified(
                    step=step.code,
                    step_name=step.step_type.named,
                    kind=step.step_type.resource_kind.value,
                    skills=tuple(step.skills),
                    resource=step.resource.code if step.resource is not None else None,
                )
            )
    return out


def engine_steps(pathway: Pathway, *, staff: Staff | None = None) -> tuple[engine.Step, ...]:
    """The pathway's steps; several predecessors share one gap rule (the tightest of their edges); a step
    needing skills is restricted to the resources having them (``step_resources``; ``staff`` from
    ``load_staff``, read through the pathway's session when not given)."""
    if staff is None and any(step.skills for step in pathway.steps):
        staff = _staff_for(pathway)
    steps = []
    for step in sorted(pathway.steps, key=lambda s: s.sequence):
        edges = step.dependencies
        max_gaps = [e.max_gap for e in edges if e.max_gap is not None]
        steps.append(
            engine.Step(
                id=step.code,
                kind=step.step_type.resource_kind.value,
                duration=step.duration,
                after=tuple(e.depends_on.code for e in edges),
                min_gap=max((e.min_gap for e in edges), default=0),
                max_gap=min(max_gaps) if max_gaps else None,
                resources=step_resources(step, staff or Staff()),
            )
        )
    return tuple(steps)


def applying_rules(labels: frozenset[str]) -> tuple[str, ...]:
    """The booking rules that apply to a patient with these segment labels, in the rule file's order."""
    out = []
    if segments.Region.LONG_DISTANCE.value in labels:
        out += [br.LONG_DISTANCE_EARLIEST, br.HOME_BEFORE_DARK]
    if f"{segments.SENIOR_AGE}+" in labels:
        out.append(br.SENIOR_MAX_WAIT)
    if "wheelchair" in labels:
        out.append(br.WHEELCHAIR)
    return tuple(out)


def preferred_earliest(labels: frozenset[str], unit: Unit) -> int | None:
    """The earliest arrival the long-distance rule prefers (minutes), or None when it does not apply."""
    if segments.Region.LONG_DISTANCE.value not in labels:
        return None
    return unit.booking_rules.rules.long_distance_earliest.earliest_minutes


def senior_cap(steps: Sequence[engine.Step], labels: frozenset[str], unit: Unit) -> int | None:
    """The visit span the over-70 rule prefers (shortest visit plus the maximum wait), or None."""
    if f"{segments.SENIOR_AGE}+" not in labels:
        return None
    probe = engine.Request(id="probe", patient="p", steps=tuple(steps))
    return critical_path(probe) + unit.booking_rules.rules.senior_max_wait.minutes


def engine_request(
    *,
    wish: VisitWish,
    day: dt.date,
    unit: Unit,
    staff: Staff | None = None,
    bends: br.Bends = br.NO_BENDS,
) -> engine.Request:
    """The engine request for ``wish``, with the patient's segment rules (``Unit.booking_rules``) applied,
    each preference bent by ``bends`` minutes (an earlier arrival, a longer wait; leaving after dark is
    the caller's ``wish.leave_by``), and its steps restricted to the resources with the skills they need
    (see ``engine_steps``)."""
    labels = segments.segments_for(wish.patient, day, unit=unit)
    steps = engine_steps(wish.pathway, staff=staff)
    arrival = wish.arrival
    earliest = preferred_earliest(labels, unit)
    if earliest is not None:
        earliest = max(0, earliest - bends.get(br.LONG_DISTANCE_EARLIEST))
        arrival = (
            (max(arrival[0], earliest), max(arrival[1], earliest))
            if arrival
            else (earliest, engine.DAY_MINUTES)
        )
    max_visit = wish.pathway.max_visit_minutes
    cap = senior_cap(steps, labels, unit)
    if cap is not None:
        cap += bends.get(br.SENIOR_MAX_WAIT)
        max_visit = min(max_visit, cap) if max_visit else cap
    wheelchair = unit.booking_rules.rules.wheelchair.attribute
    return engine.Request(
        id=wish.key,
        patient=f"p-{wish.patient.id}",
        steps=steps,
        priority=wish.priority,
        arrival=arrival,
        leave_by=wish.leave_by,
        max_visit_minutes=max_visit,
        requires=frozenset({wheelchair}) if wish.patient.needs_wheelchair else frozenset(),
    )


def _visits_query(day: dt.date, statuses: Iterable[VisitStatus]):
    return (
        select(Visit)
        .where(Visit.date == day, col(Visit.status).in_(list(statuses)))
        .order_by(col(Visit.id))
        .options(
            selectinload(Visit.steps).selectinload(VisitStep.pathway_step),  # type: ignore[arg-type]
            selectinload(Visit.steps).selectinload(VisitStep.resource),  # type: ignore[arg-type]
        )
    )


def request_key(visit: Visit) -> str:
    return f"v-{visit.id}"


def placed_visit(visit: Visit, tz: str) -> engine.Visit:
    return engine.Visit(
        request=request_key(visit),
        steps=tuple(
            engine.PlacedStep(
                id=s.pathway_step.code,
                resource=s.resource.code,
                start=minutes_at(s.planned_start, visit.date, tz),
                end=minutes_at(s.planned_end, visit.date, tz),
            )
            for s in sorted(visit.steps, key=lambda s: (s.planned_start, s.id))
        ),
    )


def hold_key(hold_id: int) -> str:
    return f"h-{hold_id}"


def held_placements(
    *, session: Session, days: Sequence[dt.date], ignore_hold: int | None = None
) -> dict[dt.date, tuple[engine.Visit, ...]]:
    """The live holds on ``days`` (``BookingHold``: held, not expired by now) as fixed busy time, by day:
    the one place where every reader of a day's capacity (``engine_booked``, ``build_instances``,
    ``booking_day``) learns of them; ``ignore_hold`` is the hold being booked, whose place is its own."""
    if not days:
        return {}
    statement = select(BookingHold.id, BookingHold.day, BookingHold.choice).where(
        col(BookingHold.day).in_(list(days)),
        BookingHold.status == HoldStatus.HELD,
        col(BookingHold.expires_at) > utcnow(),
    )
    if ignore_hold is not None:
        statement = statement.where(BookingHold.id != ignore_hold)
    out: dict[dt.date, list[engine.Visit]] = {}
    for hold_id, day, choice in session.exec(statement.order_by(col(BookingHold.id))).all():
        _day, steps = decode_choice(choice)
        out.setdefault(day, []).append(engine.Visit(request=hold_key(hold_id), steps=steps))
    return {day: tuple(held) for day, held in out.items()}


def engine_booked(
    *, session: Session, day: dt.date, tz: str, exclude: Iterable[int] = (), ignore_hold: int | None = None
) -> tuple[engine.Visit, ...]:
    """Visits on ``day`` whose steps hold capacity (booked ... completed), except ``exclude`` ids, and the
    day's live holds (except ``ignore_hold``)."""
    skip = set(exclude)
    visits = session.exec(_visits_query(day, ACTIVE_VISIT_STATUSES)).all()
    held = held_placements(session=session, days=[day], ignore_hold=ignore_hold).get(day, ())
    return (*(placed_visit(v, tz) for v in visits if v.id not in skip and v.steps), *held)


def build_instance(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    wishes: Sequence[VisitWish] = (),
    name: str | None = None,
) -> engine.Instance:
    staff = load_staff(session=session) if wishes else Staff()
    return engine.Instance(
        name=name or f"clinic-{day.isoformat()}",
        date=day,
        resources=engine_resources(session=session, day=day),
        requests=tuple(engine_request(wish=w, day=day, unit=unit, staff=staff) for w in wishes),
        booked=engine_booked(session=session, day=day, tz=unit.tz),
    )


#: Statuses of a booked visit the unit may still re-arrange (when it has not started either).
NOT_STARTED = frozenset({VisitStatus.BOOKED, VisitStatus.CONFIRMED})

LeaveBy = Callable[[Patient, dt.date], int | None]


@dataclass(frozen=True)
class BookingDay:
    """A day as a new booking sees it: ``instance.booked`` holds the visits that have started and the live
    holds (fixed),
    ``instance.requests`` the booked visits that have not (``must_place``, arrival narrowed to
    ``[announced, announced + tolerance]``), ``current`` their stored placement, ``visits`` the rows
    by request key and ``announced`` each movable visit's announced arrival (local minutes)."""

    instance: engine.Instance
    current: tuple[engine.Visit, ...]
    visits: dict[str, Visit]
    announced: dict[str, int]


def has_started(visit: Visit, checked_in: bool = False) -> bool:
    """Checked in, a step started or done, or a status past booked: the visit no longer moves."""
    return (
        checked_in
        or visit.status not in NOT_STARTED
        or any(s.status != StepStatus.PLANNED or s.actual_start is not None for s in visit.steps)
    )


def booking_day(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    tolerance: int,
    leave_by: LeaveBy | None = None,
    name: str | None = None,
    ignore_hold: int | None = None,
) -> BookingDay:
    """The day for booking one more visit, with every not-started visit movable (see ``BookingDay``).

    A movable visit keeps its pathway and segment rules (``engine_request``); ``leave_by`` (e.g. home
    before dark for long-distance patients) is applied, and it never leaves later than its current
    leave plus ``tolerance``: the patient heard when to arrive and roughly when they would be done.
    """
    visits = [
        v
        for v in session.exec(
            _visits_query(day, ACTIVE_VISIT_STATUSES).options(selectinload(Visit.patient))  # type: ignore[arg-type]
        ).all()
        if v.steps
    ]
    checked_in = (
        set(
            session.exec(
                select(VisitCheckin.visit_id).where(col(VisitCheckin.visit_id).in_([v.id for v in visits]))
            )
        )
        if visits
        else set()
    )
    pathways = {p.id: p for p in load_pathways(session=session).values()}
    staff = load_staff(session=session)
    booked: list[engine.Visit] = []
    requests: list[engine.Request] = []
    current: list[engine.Visit] = []
    rows: dict[str, Visit] = {}
    announced: dict[str, int] = {}
    for visit in visits:
        placed = placed_visit(visit, unit.tz)
        if has_started(visit, visit.id in checked_in):
            booked.append(placed)
            continue
        key = request_key(visit)
        first = min(s.start for s in placed.steps)
        arrives = minutes_at(visit.announced_at, day, unit.tz) if visit.announced_at is not None else first
        latest = max(s.end for s in placed.steps) + tolerance
        extra = leave_by(visit.patient, day) if leave_by is not None else None
        if extra is not None:
            latest = max(min(latest, extra), max(s.end for s in placed.steps))
        request = engine_request(
            wish=VisitWish(
                key=key,
                patient=visit.patient,
                pathway=pathways[visit.pathway_id],
                priority=visit.priority,
                leave_by=latest,
            ),
            day=day,
            unit=unit,
            staff=staff,
        )
        span = max(s.end for s in placed.steps) - first
        if request.max_visit_minutes is not None and span > request.max_visit_minutes:
            request = replace(
                request, max_visit_minutes=span
            )  # booked with that preference bent: it stays bent
        request = movable(request, arrives, tolerance)
        if request.arrival is not None and not request.arrival[0] <= first <= request.arrival[1]:
            # the board's re-plan moved the first step already: its placement stays allowed
            request = replace(request, arrival=(min(first, arrives), max(first, arrives + tolerance)))
        requests.append(request)
        current.append(placed)
        rows[key] = visit
        announced[key] = arrives
    return BookingDay(
        instance=engine.Instance(
            name=name or f"booking-{day.isoformat()}",
            date=day,
            resources=engine_resources(session=session, day=day),
            requests=tuple(requests),
            booked=(*booked, *held_placements(session=session, days=[day], ignore_hold=ignore_hold).get(day, ())),
        ),
        current=tuple(current),
        visits=rows,
        announced=announced,
    )


def build_instances(
    *, session: Session, days: Sequence[dt.date], unit: Unit, exclude: Iterable[int] = ()
) -> dict[dt.date, engine.Instance]:
    """``build_instance`` (no wishes) for many days at once, in four plain column queries whatever the
    number of days: what proposals over weeks need. Visits in ``exclude`` count as gone (a visit being
    moved frees its place)."""
    if not days:
        return {}
    resources = session.exec(
        select(Resource)
        .where(col(Resource.active).is_(True))
        .options(selectinload(Resource.hours))  # type: ignore[arg-type]
        .order_by(col(Resource.code))
    ).all()
    closures = session.exec(select(ResourceClosure).where(col(ResourceClosure.date).in_(list(days)))).all()
    rows = session.exec(
        select(
            Visit.id,
            Visit.date,
            PathwayStep.code,
            Resource.code,
            VisitStep.planned_start,
            VisitStep.planned_end,
        )
        .join(Visit, col(Visit.id) == VisitStep.visit_id)
        .join(PathwayStep, col(PathwayStep.id) == VisitStep.pathway_step_id)
        .join(Resource, col(Resource.id) == VisitStep.resource_id)
        .where(
            col(Visit.date).in_(list(days)),
            col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)),
            col(Visit.id).not_in(list(exclude)),
        )
        .order_by(col(Visit.id), col(VisitStep.planned_start), col(VisitStep.id))
    ).all()
    steps: dict[dt.date, dict[int, list[engine.PlacedStep]]] = {}
    for visit_id, day, code, resource, start, end in rows:
        steps.setdefault(day, {}).setdefault(visit_id, []).append(
            engine.PlacedStep(
                id=code,
                resource=resource,
                start=minutes_at(start, day, unit.tz),
                end=minutes_at(end, day, unit.tz),
            )
        )
    held = held_placements(session=session, days=days)
    out = {}
    plain: dict[int, tuple[engine.Resource, ...]] = {}  # by weekday, for days without closures
    for day in days:
        todays = [c for c in closures if c.date == day]
        opened = plain.get(day.weekday()) if not todays else None
        if opened is None:
            opened = tuple(
                engine.Resource(
                    id=r.code,
                    kind=r.kind.value,
                    capacity=r.capacity,
                    available=availability(r, day, todays),
                    attributes=frozenset(r.attributes or ()),
                )
                for r in resources
            )
            if not todays:
                plain[day.weekday()] = opened
        out[day] = engine.Instance(
            name=f"clinic-{day.isoformat()}",
            date=day,
            resources=opened,
            requests=(),
            booked=(
                *(
                    engine.Visit(request=f"v-{vid}", steps=tuple(placed))
                    for vid, placed in sorted(steps.get(day, {}).items())
                ),
                *held.get(day, ()),
            ),
        )
    return out


# --- engine -> rows -----------------------------------------------------------------------------


def store_visit(
    *,
    session: Session,
    wish: VisitWish,
    placed: engine.Visit,
    day: dt.date,
    tz: str,
    status: VisitStatus = VisitStatus.BOOKED,
) -> Visit:
    """Add the placed visit and its steps to the session (flushed, not committed)."""
    by_code = {s.code: s for s in wish.pathway.steps}
    codes = {s.resource for s in placed.steps}
    resources = {r.code: r for r in session.exec(select(Resource).where(col(Resource.code).in_(codes)))}
    if set(by_code) != {s.id for s in placed.steps}:
        raise ValidationError(
            f"placement of {placed.request} does not cover the steps of pathway {wish.pathway.code}",
            field="steps",
        )
    visit = Visit(
        patient_id=wish.patient.id,
        pathway_id=wish.pathway.id,
        date=day,
        status=status,
        priority=min(max(wish.priority, 1), 5),
        booked_at=utcnow() if status != VisitStatus.REQUESTED else None,
        announced_at=(
            instant_at(day, min(s.start for s in placed.steps), tz)
            if status != VisitStatus.REQUESTED
            else None
        ),
    )
    for step in placed.steps:
        if step.resource not in resources:
            raise ValidationError(f"unknown resource {step.resource!r}", field="resource")
        visit.steps.append(
            VisitStep(
                pathway_step_id=by_code[step.id].id,
                resource_id=resources[step.resource].id,
                planned_start=instant_at(day, step.start, tz),
                planned_end=instant_at(day, step.end, tz),
                status=StepStatus.PLANNED,
            )
        )
    check_one_day(visit, tz)
    session.add(visit)
    session.flush()
    return visit


def move_step(
    *, session: Session, step: VisitStep, resource_id: int, start: dt.datetime, end: dt.datetime, day: dt.date, tz: str
) -> dict:
    """Put ``step`` on resource ``resource_id`` from ``start`` to ``end`` (aware) on ``day``; the change, as audited.

    ``ValidationError`` (field ``moves``) for an unknown or inactive resource or a step that would not end after
    it starts; ``minutes_at``'s for a time off the day."""
    resource = session.get(Resource, resource_id)
    if resource is None or not resource.active:
        raise ValidationError(f"unknown resource {resource_id}", field="moves")
    new_start, new_end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if new_end <= new_start:
        raise ValidationError("a step must end after it starts", field="moves")
    minutes_at(new_start, day, tz)
    minutes_at(new_end, day, tz)
    change = {
        "step": step.pathway_step.code,
        "from": step.planned_start.isoformat(),
        "to": new_start.isoformat(),
        "resource_from": step.resource_id,
        "resource_to": resource.id,
    }
    step.planned_start, step.planned_end, step.resource_id = new_start, new_end, resource.id
    session.add(step)
    return change


def check_one_day(visit: Visit, tz: str) -> None:
    """A visit is one day: every planned step lies on the visit's local date (``ValidationError`` if not)."""
    for step in visit.steps:
        minutes_at(step.planned_start, visit.date, tz)
        minutes_at(step.planned_end, visit.date, tz)
        if step.planned_end <= step.planned_start:
            raise ValidationError("a step must end after it starts", field="planned_end")


def plan_day(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    wishes: Sequence[VisitWish],
    status: VisitStatus = VisitStatus.BOOKED,
    placer: Placer = greedy,
) -> PlanResult:
    """Place ``wishes`` around the visits already on ``day`` and store the placed ones (not committed)."""
    instance = build_instance(session=session, day=day, unit=unit, wishes=wishes)
    schedule = placer(instance)
    if schedule.status == engine.INFEASIBLE:
        raise ValidationError(
            "the day's existing bookings contradict each other: "
            + "; ".join(u.reason for u in schedule.unscheduled),
            code="day_infeasible",
        )
    by_key = {w.key: w for w in wishes}
    result = PlanResult(instance=instance, schedule=schedule, unscheduled=list(schedule.unscheduled))
    for placed in schedule.visits:
        if placed.request in by_key:
            result.visits[placed.request] = store_visit(
                session=session,
                wish=by_key[placed.request],
                placed=placed,
                day=day,
                tz=unit.tz,
                status=status,
            )
    return result


# --- verification -------------------------------------------------------------------------------


def check_day(*, session: Session, day: dt.date, unit: Unit) -> list[Violation]:
    """What the engine's validator finds wrong with the stored plan of ``day`` (empty: feasible).

    Every capacity-holding visit becomes a request (pathway + segment rules, no arrival wish) and its
    stored steps the placement, so capacity, opening hours, closures, gaps and segment rules are all checked.
    """
    visits = session.exec(
        _visits_query(day, ACTIVE_VISIT_STATUSES).options(selectinload(Visit.patient))
    ).all()  # type: ignore[arg-type]
    visits = [v for v in visits if v.steps]
    staff = load_staff(session=session)
    requests = tuple(
        engine_request(
            wish=VisitWish(key=request_key(v), patient=v.patient, pathway=v.pathway, priority=v.priority),
            day=day,
            unit=unit,
            staff=staff,
        )
        for v in visits
    )
    instance = engine.Instance(
        name=f"stored-{day.isoformat()}",
        date=day,
        resources=engine_resources(session=session, day=day),
        requests=requests,
    )
    placed = tuple(placed_visit(v, unit.tz) for v in visits)
    schedule = engine.Schedule(
        instance=instance.name,
        status=engine.FEASIBLE,
        visits=placed,
        unscheduled=(),
        objective=objective(instance, placed),
    )
    return check(instance, schedule)


def _pathway_query():
    return select(Pathway).options(
        selectinload(Pathway.steps).selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
        selectinload(Pathway.steps).selectinload(PathwayStep.resource),  # type: ignore[arg-type]
        selectinload(Pathway.steps).selectinload(PathwayStep.dependencies),  # type: ignore[arg-type]
    )


def load_pathways(*, session: Session, codes: Iterable[str] | None = None) -> dict[str, Pathway]:
    statement = _pathway_query()
    if codes is not None:
        statement = statement.where(col(Pathway.code).in_(list(codes)))
    return {p.code: p for p in session.exec(statement)}


def load_pathway(*, session: Session, pathway_id: int) -> Pathway | None:
    return session.exec(_pathway_query().where(Pathway.id == pathway_id)).first()


def fix_due(bday: BookingDay, now: dt.datetime, tz: str) -> BookingDay:
    """``bday`` with every movable visit whose first step was due by ``now`` fixed (moved to ``booked``):
    a patient expected already (late, or about to be checked in) is not re-arranged any more."""
    current = {v.request: v for v in bday.current}
    due = {
        key for key, visit in current.items()
        if instant_at(bday.instance.date, min(s.start for s in visit.steps), tz) <= now
    }
    if not due:
        return bday
    instance = bday.instance
    return BookingDay(
        instance=replace(
            instance,
            requests=tuple(r for r in instance.requests if r.id not in due),
            booked=(*instance.booked, *(current[key] for key in sorted(due))),
        ),
        current=tuple(v for v in bday.current if v.request not in due),
        visits={k: v for k, v in bday.visits.items() if k not in due},
        announced={k: a for k, a in bday.announced.items() if k not in due},
    )
