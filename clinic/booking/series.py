"""Treatment series: infusion cycles (e.g. 6 cycles every 21 days, each within 2 days) booked together.

Rules. Cycle 1 is placed like any visit, over the patient's availability. Cycle ``i``'s *nominal* date is
cycle 1's date plus ``(i - 1) * interval_days``; its actual date lies within ``tolerance_days`` of it, on a
weekday the patient can come, at the same part of the day. Tolerance windows never overlap
(``2 * tolerance < interval``), so the cycles stay in order. Each cycle is a whole one-visit day.

``propose_series`` asks the engine (``scheduling.propose``) for each candidate day of a cycle's window and
keeps the least waiting, then the day closest to the nominal date; the first cycle's few best days are
tried in turn. A cycle that fits nowhere in its window is reported (which one, its window and the engine's
reason) and nothing is proposed. ``book_series`` stores every cycle in one transaction, each re-checked under
its day's booking lock like ``book_proposal``; a clash on any cycle books nothing.

After a change. Moving a cycle anchors the later ones on its new date (cycle ``j`` nominal = new date +
``(j - i) * interval``); cancelling a cycle anchors them on the last cycle still held before it, so the
cycles after it move up and consecutive treatments stay an interval apart. Later cycles already inside
their new window keep their day; the others get a fresh proposal. ``propose_later_cycles`` shows them,
``move_cycle`` / ``cancel_cycle`` apply the change and the later moves in one transaction.
``cancel_series`` frees every future cycle through the ordinary cancel service, so refill follows.
"""

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import events, planning
from clinic.audit import record as audit
from clinic.booking.models import SeriesStatus, TreatmentSeries
from clinic.booking.moves import MOVABLE, Move, check_movable, movable, place_moves
from clinic.booking.services import (
    PROPOSE_TIME_LIMIT,
    Availability,
    Proposal,
    SlotTaken,
    WhyNot,
    _days_already_coming,
    _load,
    _proposal,
    _why,
    choice_bends,
    day_instance,
    decode_choice,
    lock_day,
    problems,
    visit_wish,
)
from clinic.errors import Conflict, NotFound, ValidationError, get_or_raise
from clinic.patients.models import Patient
from clinic.refill.services import cancel_visit, may_cancel
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, Resource
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit
from scheduling import instance as engine
from scheduling.explain import explain
from scheduling.propose import Itinerary, propose

MIN_CYCLES, MAX_CYCLES = 2, 24
MAX_INTERVAL_DAYS = 120
MAX_TOLERANCE_DAYS = 14
#: How many of the first cycle's best days are tried before the series is declared not to fit.
FIRST_TRIES = 3


@dataclass(frozen=True)
class SeriesShape:
    cycles: int
    interval_days: int
    tolerance_days: int

    def validate(self) -> None:
        if not MIN_CYCLES <= self.cycles <= MAX_CYCLES:
            raise ValidationError(
                f"a series has {MIN_CYCLES} to {MAX_CYCLES} cycles", code="cycles_range", field="cycles"
            )
        if not 1 <= self.interval_days <= MAX_INTERVAL_DAYS:
            raise ValidationError(
                f"cycles are 1 to {MAX_INTERVAL_DAYS} days apart", code="interval_range", field="interval_days"
            )
        if not 0 <= self.tolerance_days <= MAX_TOLERANCE_DAYS:
            raise ValidationError(
                f"the tolerance is 0 to {MAX_TOLERANCE_DAYS} days", code="tolerance_range", field="tolerance_days"
            )
        if 2 * self.tolerance_days >= self.interval_days:
            raise ValidationError(
                "the tolerance must be less than half the interval, so that cycles keep their order",
                code="tolerance_too_wide",
                field="tolerance_days",
            )

    def window(self, anchor: dt.date, steps: int) -> tuple[dt.date, dt.date, dt.date]:
        """``(nominal, earliest, latest)`` of the cycle ``steps`` intervals after ``anchor``."""
        try:
            nominal = anchor + dt.timedelta(days=steps * self.interval_days)
            tolerance = dt.timedelta(days=self.tolerance_days)
            return nominal, nominal - tolerance, nominal + tolerance
        except OverflowError:
            raise ValidationError("that date is too far ahead", code="too_far_ahead", field="earliest") from None


@dataclass(frozen=True)
class CyclePlan:
    """One cycle of a proposal: its window and what it gets (``proposal``), or, for a later cycle that
    stays where it is, the visit it keeps (``keeps``)."""

    cycle: int
    nominal: dt.date
    earliest: dt.date
    latest: dt.date
    proposal: Proposal | None = None
    visit_id: int | None = None
    keeps: dt.date | None = None
    was: dt.date | None = None

    @property
    def day(self) -> dt.date | None:
        return self.proposal.day if self.proposal else self.keeps

    @property
    def off_by(self) -> int | None:
        """Days from the nominal date (negative: earlier)."""
        return (self.day - self.nominal).days if self.day else None


@dataclass
class SeriesProposal:
    """The cycles of a proposed series (or, after a change, the later cycles); ``failed_cycle`` is set
    (with the window, the engine's reason and its code) when a cycle fits nowhere in its window."""

    cycles: list[CyclePlan] = field(default_factory=list)
    failed_cycle: int | None = None
    failed_window: tuple[dt.date, dt.date] | None = None
    reason: str | None = None
    reason_code: str | None = None
    #: Why the failed cycle fits nowhere, for the clerk's sentence (``reason`` is the engine's, for logs).
    why: WhyNot | None = None

    @property
    def ok(self) -> bool:
        return self.failed_cycle is None

    @property
    def changes(self) -> list[CyclePlan]:
        return [c for c in self.cycles if c.proposal is not None]


class _Days:
    """The engine's best itinerary per day for one patient and pathway, each day solved at most once."""

    def __init__(
        self,
        session: Session,
        patient: Patient,
        pathway: Pathway,
        unit: Unit,
        availability: Availability,
        ignore: Sequence[int] = (),
    ) -> None:
        self.session, self.patient, self.pathway, self.unit = session, patient, pathway, unit
        self.availability, self.ignore = availability, list(ignore)
        self.staff = planning.load_staff(session=session)
        self.instances: dict[dt.date, engine.Instance] = {}
        self.requests: dict[dt.date, engine.Request] = {}
        self.best: dict[dt.date, Itinerary | None] = {}
        self.resources = {r.code: r for r in session.exec(select(Resource))}
        self.rules = planning.engine_steps(pathway, staff=self.staff)

    def request(self, day: dt.date) -> engine.Request:
        if day not in self.requests:
            wish = visit_wish(
                patient=self.patient,
                pathway=self.pathway,
                day=day,
                unit=self.unit,
                availability=self.availability,
            )
            self.requests[day] = planning.engine_request(wish=wish, day=day, unit=self.unit, staff=self.staff)
        return self.requests[day]

    def instance(self, day: dt.date) -> engine.Instance:
        if day not in self.instances:
            self.instances[day] = day_instance(session=self.session, day=day, unit=self.unit, ignore=self.ignore)
        return self.instances[day]

    def itinerary(self, day: dt.date) -> Itinerary | None:
        if day not in self.best:
            found = propose([self.instance(day)], self.request(day), k=1, time_limit=PROPOSE_TIME_LIMIT)
            self.best[day] = found[0] if found else None
        return self.best[day]

    def proposal(self, itinerary: Itinerary) -> Proposal:
        return _proposal(itinerary, self.pathway, self.rules, self.resources, self.unit.tz)

    def why_not(self, day: dt.date) -> tuple[str, str, WhyNot]:
        """The engine's sentence (for logs), its code and the clerk's data (``WhyNot``) for ``day``."""
        try:
            reason = explain(self.instance(day), (), self.request(day))
        except Exception:  # noqa: BLE001 - an explanation is a courtesy; never fail the page over it
            return "no free itinerary on any day of the window", "unexplained", WhyNot(code="unexplained")
        return f"{day.isoformat()}: {reason.text}", reason.code, _why(reason, day, self.pathway, self.resources)


def _window_days(
    earliest: dt.date, latest: dt.date, nominal: dt.date, weekdays: frozenset[int], today: dt.date, taken: set[dt.date]
) -> list[dt.date]:
    days = []
    day = earliest
    while day <= latest:
        if day > today and day.weekday() in weekdays and day not in taken:
            days.append(day)
        day += dt.timedelta(days=1)
    return sorted(days, key=lambda d: (abs((d - nominal).days), d))


def _place_cycle(
    days: _Days, cycle: int, window: tuple[dt.date, dt.date, dt.date], today: dt.date, taken: set[dt.date]
) -> tuple[CyclePlan | None, str, str, WhyNot | None]:
    """The cycle's best placement in its window (least waiting, then closest to nominal), or the reason."""
    nominal, earliest, latest = window
    candidates = _window_days(earliest, latest, nominal, days.availability.weekdays, today, taken)
    if not candidates:
        return None, "no day the patient can come lies in the window", "no-days", WhyNot(code="no-days")
    found = [(it, d) for d in candidates if (it := days.itinerary(d)) is not None]
    if not found:
        return None, *days.why_not(candidates[0])
    best, day = min(found, key=lambda f: (f[0].wait_minutes, abs((f[1] - nominal).days), f[1], f[0].arrival))
    return CyclePlan(cycle, nominal, earliest, latest, proposal=days.proposal(best)), "", "", None


def _coming(session: Session, patient_id: int, first: dt.date, last: dt.date, ignore: Sequence[int] = ()) -> set[dt.date]:
    return _days_already_coming(session, patient_id, [first, last], ignore)


def propose_series(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    unit: Unit,
    availability: Availability,
    today: dt.date,
    cycles: int,
    interval_days: int,
    tolerance_days: int,
) -> SeriesProposal:
    """Every cycle of a series placed by the engine (reads only); see the module's rules.

    When a cycle cannot be placed inside its tolerance, ``failed_cycle`` says which (for the best first
    day tried), with its window and the engine's reason, and ``cycles`` holds only those placed before it.
    """
    availability.validate()
    shape = SeriesShape(cycles, interval_days, tolerance_days)
    shape.validate()
    patient, pathway = _load(session, patient_id, pathway_id)
    days = _Days(session, patient, pathway, unit, availability)
    first_days = availability.days(today)
    if first_days:
        shape.window(first_days[-1], cycles)
    span = dt.timedelta(days=(cycles - 1) * interval_days + tolerance_days)
    taken = _coming(session, patient.id, min(first_days, default=today), max(first_days, default=today) + span)  # type: ignore[arg-type]
    first_days = [d for d in first_days if d not in taken]
    if not first_days:
        return SeriesProposal(
            failed_cycle=1, reason="no day in the chosen period and weekdays is left", reason_code="no-days",
            why=WhyNot(code="no-days"),
        )
    instances = [days.instance(d) for d in first_days]
    firsts: list[Itinerary] = []
    groups: dict[engine.Request, list[engine.Instance]] = {}
    for instance in instances:
        groups.setdefault(days.request(instance.date), []).append(instance)
    for request, group in groups.items():
        firsts += propose(group, request, k=FIRST_TRIES, per_day=1, time_limit=PROPOSE_TIME_LIMIT)
    firsts.sort(key=lambda it: (it.wait_minutes, it.date, it.arrival))
    firsts = firsts[:FIRST_TRIES]
    if not firsts:
        reason, code, why = days.why_not(first_days[0])
        return SeriesProposal(
            failed_cycle=1, failed_window=(first_days[0], first_days[-1]), reason=reason, reason_code=code, why=why
        )
    attempt: SeriesProposal | None = None
    for first in firsts:
        for it in firsts:
            days.best.setdefault(it.date, it)
        plan = SeriesProposal(cycles=[CyclePlan(1, first.date, first.date, first.date, proposal=days.proposal(first))])
        for cycle in range(2, cycles + 1):
            window = shape.window(first.date, cycle - 1)
            placed, reason, code, why = _place_cycle(days, cycle, window, today, taken)
            if placed is None:
                plan.failed_cycle, plan.failed_window = cycle, (window[1], window[2])
                plan.reason, plan.reason_code, plan.why = reason, code, why
                break
            plan.cycles.append(placed)
        if plan.ok:
            return plan
        attempt = attempt or plan
    assert attempt is not None
    return attempt


def _availability_of(series: TreatmentSeries, day: dt.date) -> Availability:
    return Availability(earliest=day, weekdays=series.weekday_set or frozenset(range(7)), part_of_day=series.part_of_day)


def book_series(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    choices: Sequence[str],
    unit: Unit,
    actor_id: int | None,
    availability: Availability,
    today: dt.date,
    cycles: int,
    interval_days: int,
    tolerance_days: int,
) -> TreatmentSeries:
    """Store a proposed series (``choices``: each cycle's ``Proposal.choice``, in order) in one transaction:
    every day's lock first, every cycle re-checked like ``book_proposal``, a ``VisitBooked`` per cycle (so
    outreach is planned per cycle) and audit rows. ``SlotTaken`` / ``Conflict`` / ``ValidationError`` name
    the cycle (``params["cycle"]``) and nothing is booked."""
    shape = SeriesShape(cycles, interval_days, tolerance_days)
    try:
        shape.validate()
        availability.validate()
        if len(choices) != cycles:
            raise ValidationError(f"expected {cycles} cycles, got {len(choices)}", code="bad_choice", field="choice")
        decoded = [decode_choice(c) for c in choices]
        first = decoded[0][0]
        shape.window(first, cycles - 1)
        for n, (day, _steps) in enumerate(decoded, start=1):
            _nominal, earliest, latest = shape.window(first, n - 1)
            if not earliest <= day <= latest:
                raise ValidationError(
                    f"cycle {n} is not within {tolerance_days} days of its nominal date",
                    code="outside_tolerance",
                    field="choice",
                    cycle=n,
                )
            if day <= today:
                raise ValidationError(f"cycle {n}: the chosen day has passed", code="day_passed", field="choice", cycle=n)
        patient, pathway = _load(session, patient_id, pathway_id)
        staff = planning.load_staff(session=session)
        for day in sorted({d for d, _ in decoded}):
            lock_day(session=session, day=day)
        series = TreatmentSeries(
            patient_id=patient.id,  # type: ignore[arg-type]
            pathway_id=pathway.id,  # type: ignore[arg-type]
            cycles=cycles,
            interval_days=interval_days,
            tolerance_days=tolerance_days,
            part_of_day=availability.part_of_day,
            weekdays=",".join(str(d) for d in sorted(availability.weekdays)),
            created_by=actor_id,
        )
        session.add(series)
        session.flush()
        visits = []
        for n, (day, steps) in enumerate(decoded, start=1):
            visits.append(_book_cycle(session, series, patient, pathway, n, day, steps, unit, availability, staff, actor_id))
        audit.record(
            session=session,
            actor_id=actor_id,
            action="series.booked",
            entity="treatment_series",
            entity_id=series.id,  # type: ignore[arg-type]
            details={
                "pathway": pathway.code,
                "cycles": cycles,
                "interval_days": interval_days,
                "tolerance_days": tolerance_days,
                "days": [v.date.isoformat() for v in visits],
                "visits": [v.id for v in visits],
            },
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return series


def _book_cycle(
    session: Session,
    series: TreatmentSeries,
    patient: Patient,
    pathway: Pathway,
    cycle: int,
    day: dt.date,
    steps: tuple[engine.PlacedStep, ...],
    unit: Unit,
    availability: Availability,
    staff: "planning.Staff",
    actor_id: int | None,
) -> Visit:
    wish = visit_wish(patient=patient, pathway=pathway, day=day, unit=unit, availability=availability)
    request = planning.engine_request(wish=wish, day=day, unit=unit, staff=staff)
    placed = engine.Visit(request=request.id, steps=steps)
    alone = engine.Instance(
        name=f"series-{day.isoformat()}", date=day, resources=planning.engine_resources(session=session, day=day),
        requests=(request,),
    )
    own = problems(alone, placed)
    if own:
        raise ValidationError(
            f"cycle {cycle}: the chosen itinerary does not fit the pathway or the patient: " + "; ".join(own[:3]),
            code="bad_choice", field="choice", cycle=cycle,
        )
    if day in _days_already_coming(session, patient.id, [day]):  # type: ignore[arg-type]
        raise Conflict(
            f"cycle {cycle}: the patient already has a visit on that day", code="already_booked", field="choice", cycle=cycle
        )
    booked = planning.engine_booked(session=session, day=day, tz=unit.tz)
    clash = problems(dataclasses.replace(alone, booked=booked), placed)
    if clash:
        raise SlotTaken(
            f"cycle {cycle}: just taken: another booking got this slot first",
            field="choice", details="; ".join(clash[:3]), cycle=cycle,
        )
    visit = planning.store_visit(session=session, wish=wish, placed=placed, day=day, tz=unit.tz)
    visit.series_id, visit.cycle = series.id, cycle
    session.add(visit)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor_id,
        action="visit.booked",
        entity="visit",
        entity_id=visit.id,  # type: ignore[arg-type]
        details={
            "day": day.isoformat(),
            "pathway": pathway.code,
            "series": series.id,
            "cycle": cycle,
            "steps": [f"{s.id}@{s.resource}@{s.start}-{s.end}" for s in steps],
        },
    )
    events.record(session, events.VisitBooked(visit_id=visit.id, actor_id=actor_id))  # type: ignore[arg-type]
    return visit


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesView:
    series: TreatmentSeries
    pathway: Pathway | None
    visits: list[Visit]
    movable: frozenset[int]
    cancellable: frozenset[int]

    @property
    def future(self) -> list[Visit]:
        return [v for v in self.visits if v.id in self.cancellable]


def series_of_patient(*, session: Session, patient_id: int, today: dt.date) -> list[SeriesView]:
    """The patient's series, newest first, each with its cycles' visits in cycle order."""
    rows = list(
        session.exec(
            select(TreatmentSeries)
            .where(TreatmentSeries.patient_id == patient_id)
            .order_by(col(TreatmentSeries.created_at).desc(), col(TreatmentSeries.id).desc())
        )
    )
    if not rows:
        return []
    visits = list(
        session.exec(
            select(Visit)
            .where(col(Visit.series_id).in_([s.id for s in rows]))
            .options(selectinload(Visit.steps))  # type: ignore[arg-type]
            .order_by(col(Visit.cycle), col(Visit.id))
        )
    )
    pathways = {p.id: p for p in session.exec(select(Pathway).where(col(Pathway.id).in_({s.pathway_id for s in rows})))}
    out = []
    for series in rows:
        own = [v for v in visits if v.series_id == series.id]
        out.append(
            SeriesView(
                series=series,
                pathway=pathways.get(series.pathway_id),
                visits=own,
                movable=frozenset(v.id for v in own if movable(v, today)),  # type: ignore[misc]
                cancellable=frozenset(v.id for v in own if _future(v, today)),  # type: ignore[misc]
            )
        )
    return out


def _future(visit: Visit, today: dt.date) -> bool:
    return visit.status in MOVABLE and visit.date >= today and may_cancel(visit.status)


def get_series(*, session: Session, series_id: int) -> TreatmentSeries:
    return get_or_raise(session, TreatmentSeries, series_id, what="series")


# --- after a change -----------------------------------------------------------------------------


def _cycle_visit(session: Session, visit_id: int) -> tuple[Visit, TreatmentSeries]:
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.series_id is None or visit.cycle is None:
        raise ValidationError("the visit is not a cycle of a series", code="not_in_series", field="visit_id")
    series = get_series(session=session, series_id=visit.series_id)
    if series.status != SeriesStatus.ACTIVE:
        raise Conflict("the series is cancelled", code="series_cancelled", field="series_id")
    return visit, series


def _later(session: Session, series: TreatmentSeries, cycle: int) -> list[Visit]:
    return list(
        session.exec(
            select(Visit)
            .where(Visit.series_id == series.id, col(Visit.cycle) > cycle, col(Visit.status).in_(list(MOVABLE)))
            .order_by(col(Visit.cycle))
        )
    )


def _anchor(session: Session, series: TreatmentSeries, visit: Visit, new_day: dt.date | None) -> tuple[dt.date, int] | None:
    """The date later cycles count from after ``visit`` moves to ``new_day`` (or is cancelled: ``None``),
    and that cycle's number; ``None`` when no cycle is held before a cancelled one."""
    if new_day is not None:
        return new_day, visit.cycle  # type: ignore[return-value]
    before = session.exec(
        select(Visit)
        .where(
            Visit.series_id == series.id,
            col(Visit.cycle) < visit.cycle,
            col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)),
        )
        .order_by(col(Visit.cycle).desc())
    ).first()
    return (before.date, before.cycle) if before is not None else None  # type: ignore[return-value]


def propose_later_cycles(
    *,
    session: Session,
    visit_id: int,
    unit: Unit,
    today: dt.date,
    new_day: dt.date | None,
) -> SeriesProposal:
    """The later cycles after cycle ``visit_id`` moves to ``new_day`` (``None``: is cancelled), re-proposed
    inside their windows counted from the anchor (see the module); reads only."""
    visit, series = _cycle_visit(session, visit_id)
    later = _later(session, series, visit.cycle)  # type: ignore[arg-type]
    anchor = _anchor(session, series, visit, new_day)
    result = SeriesProposal()
    if anchor is None or not later:
        return result
    shape = SeriesShape(series.cycles, series.interval_days, series.tolerance_days)
    patient = get_or_raise(session, Patient, series.patient_id, what="patient")
    pathway = planning.load_pathway(session=session, pathway_id=series.pathway_id)
    if pathway is None:
        raise NotFound(f"pathway {series.pathway_id} does not exist", field="pathway_id")
    ignore = [visit.id, *(v.id for v in later)]
    availability = _availability_of(series, today + dt.timedelta(days=1))
    days = _Days(session, patient, pathway, unit, availability, ignore=ignore)  # type: ignore[arg-type]
    anchor_day, _anchor_cycle = anchor
    last = shape.window(anchor_day, len(later))[2]
    taken = _coming(session, patient.id, min(anchor_day, today), last, ignore)  # type: ignore[arg-type]
    if new_day is not None:
        taken.add(new_day)
    for k, other in enumerate(later, start=1):
        window = shape.window(anchor_day, k)
        nominal, earliest, latest = window
        if earliest <= other.date <= latest and other.date.weekday() in availability.weekdays and other.date > today:
            result.cycles.append(CyclePlan(
                other.cycle, nominal, earliest, latest, visit_id=other.id, keeps=other.date, was=other.date  # type: ignore[arg-type]
            ))
            taken.add(other.date)
            continue
        placed, reason, code, why = _place_cycle(days, other.cycle, window, today, taken)  # type: ignore[arg-type]
        if placed is None:
            result.failed_cycle, result.failed_window = other.cycle, (earliest, latest)
            result.reason, result.reason_code, result.why = reason, code, why
            return result
        result.cycles.append(CyclePlan(
            placed.cycle, nominal, earliest, latest, proposal=placed.proposal, visit_id=other.id, was=other.date
        ))
        taken.add(placed.day)  # type: ignore[arg-type]
    return result


def _later_moves(
    session: Session,
    series: TreatmentSeries,
    visit: Visit,
    new_day: dt.date | None,
    later_choices: Mapping[int, str],
    today: dt.date,
) -> list[Move]:
    """The later cycles' moves, checked against their windows from the anchor; ``Conflict``
    (``series_changed``) when a cycle that was to stay no longer fits (re-propose)."""
    later = _later(session, series, visit.cycle)  # type: ignore[arg-type]
    anchor = _anchor(session, series, visit, new_day)
    ids = {v.id for v in later}
    unknown = set(later_choices) - ids
    if unknown:
        raise ValidationError("a re-proposed cycle is not a later cycle of this series", code="bad_choice", field="choice")
    if anchor is None:
        if later_choices:
            raise Conflict("the series changed: look at the later cycles again", code="series_changed", field="choice")
        return []
    shape = SeriesShape(series.cycles, series.interval_days, series.tolerance_days)
    moves = []
    for k, other in enumerate(later, start=1):
        _nominal, earliest, latest = shape.window(anchor[0], k)
        if other.id in later_choices:
            day, steps = decode_choice(later_choices[other.id])  # type: ignore[index]
            if not earliest <= day <= latest:
                raise ValidationError(
                    f"cycle {other.cycle} is not within {series.tolerance_days} days of its nominal date",
                    code="outside_tolerance", field="choice", cycle=other.cycle,
                )
            moves.append(Move(
                visit_id=other.id, day=day, steps=steps,  # type: ignore[arg-type]
                availability=_availability_of(series, day), cycle=other.cycle,
            ))
        elif not earliest <= other.date <= latest:
            raise Conflict(
                f"cycle {other.cycle} no longer fits its window: look at the later cycles again",
                code="series_changed", field="choice", cycle=other.cycle,
            )
    return moves


def move_cycle(
    *,
    session: Session,
    visit_id: int,
    choice: str,
    later_choices: Mapping[int, str],
    unit: Unit,
    actor_id: int | None,
    today: dt.date,
) -> list[Visit]:
    """Move cycle ``visit_id`` to ``choice`` and the later cycles to ``later_choices`` (visit id -> choice,
    from ``propose_later_cycles``), in one transaction; the moved visits."""
    try:
        visit, series = _cycle_visit(session, visit_id)
        check_movable(visit, today)
        day, steps = decode_choice(choice)
        moves = [Move(
            visit_id=visit.id, day=day, steps=steps, availability=_availability_of(series, day),  # type: ignore[arg-type]
            cycle=visit.cycle, bends=choice_bends(choice),
        )]
        moves += _later_moves(session, series, visit, day, later_choices, today)
        moved = place_moves(session=session, moves=moves, unit=unit, actor_id=actor_id, today=today)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return moved


def cancel_cycle(
    *,
    session: Session,
    visit_id: int,
    reason: str,
    now: dt.datetime,
    later_choices: Mapping[int, str],
    unit: Unit,
    actor_id: int | None,
    today: dt.date,
) -> list[Visit]:
    """Cancel cycle ``visit_id`` through the cancel service (refill follows) and move the later cycles to
    ``later_choices``, in one transaction; the moved visits."""
    try:
        visit, series = _cycle_visit(session, visit_id)
        moves = _later_moves(session, series, visit, None, later_choices, today)
        cancel_visit(session=session, visit_id=visit.id, reason=reason, now=now, actor_id=actor_id, commit=False)  # type: ignore[arg-type]
        moved = place_moves(session=session, moves=moves, unit=unit, actor_id=actor_id, today=today)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return moved


def cancel_series(
    *,
    session: Session,
    series_id: int,
    reason: str,
    now: dt.datetime,
    actor_id: int | None,
    today: dt.date,
) -> list[Visit]:
    """Cancel the series and every future cycle (booked or confirmed, from ``today`` on) through the cancel
    service, so each freed place is offered like any cancellation; one transaction. The cancelled visits."""
    try:
        if not (reason or "").strip():
            raise ValidationError("give a reason", code="reason_required", field="reason")
        series = get_series(session=session, series_id=series_id)
        if series.status == SeriesStatus.CANCELLED:
            raise Conflict("the series is already cancelled", code="series_cancelled", field="series_id")
        future = [
            v for v in session.exec(select(Visit).where(Visit.series_id == series.id).order_by(col(Visit.cycle)))
            if _future(v, today)
        ]
        cancelled = [
            cancel_visit(session=session, visit_id=v.id, reason=reason, now=now, actor_id=actor_id, commit=False)  # type: ignore[arg-type]
            for v in future
        ]
        series.status = SeriesStatus.CANCELLED
        series.cancelled_at = now
        session.add(series)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="series.cancelled",
            entity="treatment_series",
            entity_id=series.id,  # type: ignore[arg-type]
            details={"reason": reason, "visits": [v.id for v in cancelled]},
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return cancelled

