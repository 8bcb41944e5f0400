"""Independent validator of schedules against their instance (the spec's "Feasibility" and "Objective").

Written from the spec alone and sharing nothing with any CP-SAT model, so that a bug in a model
cannot hide behind the same bug in its checker. Every rule is checked on plain integers; capacity
is checked by a sweep over start/end events per resource (booked steps included).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scheduling.instance import (
    FEASIBLE,
    INFEASIBLE,
    OPTIMAL,
    Instance,
    Objective,
    PlacedStep,
    Request,
    Resource,
    Schedule,
    Step,
    Visit,
)

#: Every ``Violation.kind``. ``missing-step`` with ``step=None`` means the whole request is absent from
#: both ``visits`` and ``unscheduled``; ``partly-placed`` means it is in both; ``must-place`` is a request
#: marked ``must_place`` (a booked visit that may still move) that the schedule does not place.
KINDS = frozenset(
    {
        "unknown-request",
        "duplicate",
        "missing-step",
        "unknown-step",
        "duration",
        "unknown-resource",
        "wrong-kind",
        "not-allowed-resource",
        "missing-attribute",
        "outside-availability",
        "capacity",
        "precedence-min-gap",
        "precedence-max-gap",
        "patient-overlap",
        "arrival",
        "leave-by",
        "max-visit",
        "partly-placed",
        "must-place",
        "objective-mismatch",
        "status",
    }
)


@dataclass(frozen=True)
class Violation:
    request: str | None
    step: str | None
    kind: str
    message: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown violation kind {self.kind!r}")

    def __str__(self) -> str:
        where = "/".join(x for x in (self.request, self.step) if x) or "schedule"
        return f"{where}: {self.kind}: {self.message}"


def hhmm(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def topological_order(request: Request) -> list[Step]:
    """The request's steps with every step after all of its ``after`` steps; ties keep the listed order."""
    by_id = {s.id: s for s in request.steps}
    done: set[str] = set()
    order: list[Step] = []
    pending = list(request.steps)
    while pending:
        rest = []
        for step in pending:
            if all(p in done for p in step.after if p in by_id):
                order.append(step)
                done.add(step.id)
            else:
                rest.append(step)
        if len(rest) == len(pending):
            raise ValueError(f"request {request.id!r}: the after edges form a cycle")
        pending = rest
    return order


def earliest_starts(request: Request) -> dict[str, int]:
    """Earliest start of each step relative to the visit's start with unlimited resources."""
    start: dict[str, int] = {}
    duration = {s.id: s.duration for s in request.steps}
    for step in topological_order(request):
        start[step.id] = max((start[p] + duration[p] + step.min_gap for p in step.after), default=0)
    return start


def critical_path(request: Request) -> int:
    """The shortest possible span of the visit: the longest chain of durations and ``min_gap``s (DAG longest path)."""
    starts = earliest_starts(request)
    return max(starts[s.id] + s.duration for s in request.steps)


def objective(instance: Instance, visits: Sequence[Visit]) -> Objective:
    """The spec's objective of placing ``visits`` (visits naming no request of the instance are ignored)."""
    requests = {r.id: r for r in instance.requests}
    priority = wait = 0
    for visit in visits:
        request = requests.get(visit.request)
        if request is None or not visit.steps:
            continue
        priority += request.priority
        span = max(s.end for s in visit.steps) - min(s.start for s in visit.steps)
        wait += span - critical_path(request)
    return Objective(scheduled_priority=priority, total_wait_minutes=wait)


def _overloads(
    resource: Resource, placed: Iterable[tuple[str | None, PlacedStep]]
) -> list[tuple[int, int, int, list[str | None]]]:
    """Stretches ``(from, to, load, requests)`` where more steps than ``capacity`` share the resource.

    A sweep over start (+1) and end (-1) events; ends sort first so that back-to-back steps do not count
    as overlapping. ``requests`` are those with a step on the resource during the stretch.
    """
    events: list[tuple[int, int, str | None]] = []
    for request, step in placed:
        if step.end > step.start:
            events.append((step.start, 1, request))
            events.append((step.end, -1, request))
    events.sort(key=lambda e: (e[0], e[1]))
    stretches: list[tuple[int, int, int, list[str | None]]] = []
    active: dict[str | None, int] = defaultdict(int)
    load = 0
    open_at: int | None = None
    peak = 0
    involved: list[str | None] = []
    for time, delta, request in events:
        load += delta
        active[request] += delta
        if load > resource.capacity:
            if open_at is None:
                open_at, peak, involved = time, load, [r for r, n in active.items() if n > 0]
            elif delta > 0 and request not in involved:
                involved.append(request)
            peak = max(peak, load)
        elif open_at is not None:
            if time > open_at:
                stretches.append((open_at, time, peak, involved))
            open_at = None
    return stretches


def _inside(step: PlacedStep, resource: Resource) -> bool:
    return any(a <= step.start and step.end <= b for a, b in resource.available)


def check_booked(instance: Instance) -> list[str]:
    """Contradictions among the booked visits alone: unknown resources, steps outside availability, overloads.

    A non-empty answer means no schedule of this instance can be feasible (the solver reports INFEASIBLE).
    """
    resources = {r.id: r for r in instance.resources}
    problems: list[str] = []
    per_resource: dict[str, list[tuple[str | None, PlacedStep]]] = defaultdict(list)
    for visit in instance.booked:
        for step in visit.steps:
            resource = resources.get(step.resource)
            if resource is None:
                problems.append(f"booked {visit.request}/{step.id} uses unknown resource {step.resource!r}")
                continue
            if not _inside(step, resource):
                problems.append(
                    f"booked {visit.request}/{step.id} on {resource.id} at {hhmm(step.start)}-{hhmm(step.end)} "
                    "is outside its opening hours"
                )
            per_resource[resource.id].append((visit.request, step))
    for rid, placed in per_resource.items():
        for start, end, load, who in _overloads(resources[rid], placed):
            problems.append(
                f"booked visits put {load} steps on {rid} (capacity {resources[rid].capacity}) "
                f"at {hhmm(start)}-{hhmm(end)}: {', '.join(sorted({w for w in who if w}))}"
            )
    return problems


def check(instance: Instance, schedule: Schedule) -> list[Violation]:
    """Every way ``schedule`` breaks the spec for ``instance``; an empty list means feasible and consistent."""
    out: list[Violation] = []
    requests = {r.id: r for r in instance.requests}
    booked_ids = {v.request for v in instance.booked}
    resources = {r.id: r for r in instance.resources}

    if schedule.instance != instance.name:
        out.append(Violation(None, None, "status", f"schedule is for instance {schedule.instance!r}, not {instance.name!r}"))
    if schedule.status not in (OPTIMAL, FEASIBLE, INFEASIBLE):
        out.append(Violation(None, None, "status", f"unknown status {schedule.status!r}"))
    elif schedule.status == INFEASIBLE:
        if schedule.visits:
            out.append(Violation(None, None, "status", "INFEASIBLE schedule places visits"))
        if not check_booked(instance):
            out.append(Violation(None, None, "status", "INFEASIBLE, but the booked visits are not contradictory"))

    out += _coverage(schedule, requests, booked_ids)
    if schedule.status != INFEASIBLE:
        placed_ids = {v.request for v in schedule.visits}
        out += [
            Violation(r.id, None, "must-place", "a booked visit (must_place) is not placed")
            for r in instance.requests
            if r.must_place and r.id not in placed_ids
        ]

    placed: dict[str, list[tuple[str | None, PlacedStep]]] = defaultdict(list)
    for visit in instance.booked:
        for step in visit.steps:
            placed[step.resource].append((None, step))
    seen_visit: set[str] = set()
    for visit in schedule.visits:
        request = requests.get(visit.request)
        if request is None or visit.request in seen_visit:
            continue
        seen_visit.add(visit.request)
        out += _check_visit(request, visit, resources)
        for step in visit.steps:
            if step.resource in resources:
                placed[step.resource].append((visit.request, step))

    if schedule.status != INFEASIBLE:
        for rid, steps in placed.items():
            resource = resources.get(rid)
            if resource is None:
                continue
            for start, end, load, who in _overloads(resource, steps):
                names = sorted({w for w in who if w})
                out.append(
                    Violation(
                        names[0] if names else None,
                        None,
                        "capacity",
                        f"{load} steps on {rid} (capacity {resource.capacity}) at {hhmm(start)}-{hhmm(end)}"
                        + (f", involving {', '.join(names)}" if names else " (booked visits only)"),
                    )
                )

    expected = objective(instance, [v for v in _first_visits(schedule.visits) if v.request in requests])
    if schedule.objective != expected:
        got = schedule.objective
        out.append(
            Violation(
                None,
                None,
                "objective-mismatch",
                f"schedule claims priority {got.scheduled_priority} / wait {got.total_wait_minutes}, "
                f"recomputed {expected.scheduled_priority} / {expected.total_wait_minutes}",
            )
        )
    return out


def _first_visits(visits: Sequence[Visit]) -> list[Visit]:
    seen: set[str] = set()
    first = []
    for visit in visits:
        if visit.request not in seen:
            seen.add(visit.request)
            first.append(visit)
    return first


def _coverage(schedule: Schedule, requests: dict[str, Request], booked_ids: set[str]) -> list[Violation]:
    """Each request exactly once in ``visits`` or ``unscheduled``; nothing else named."""
    out: list[Violation] = []
    placed_count: dict[str, int] = defaultdict(int)
    unplaced_count: dict[str, int] = defaultdict(int)
    for name, counts in (("visits", placed_count), ("unscheduled", unplaced_count)):
        entries = schedule.visits if name == "visits" else schedule.unscheduled
        for entry in entries:
            rid = entry.request
            if rid not in requests:
                what = "a booked visit, not a request" if rid in booked_ids else "not a request of the instance"
                out.append(Violation(rid, None, "unknown-request", f"{name} names {rid!r}: {what}"))
                continue
            counts[rid] += 1
            if counts[rid] == 2:
                out.append(Violation(rid, None, "duplicate", f"appears more than once in {name}"))
    for rid in requests:
        if placed_count[rid] and unplaced_count[rid]:
            out.append(Violation(rid, None, "partly-placed", "appears both in visits and in unscheduled"))
        elif not placed_count[rid] and not unplaced_count[rid]:
            out.append(Violation(rid, None, "missing-step", "neither placed nor listed as unscheduled"))
    return out


def _check_visit(request: Request, visit: Visit, resources: dict[str, Resource]) -> list[Violation]:
    out: list[Violation] = []
    rid = request.id
    steps = {s.id: s for s in request.steps}
    at: dict[str, PlacedStep] = {}
    for placed in visit.steps:
        if placed.id not in steps:
            out.append(Violation(rid, placed.id, "unknown-step", f"request has no step {placed.id!r}"))
            continue
        if placed.id in at:
            out.append(Violation(rid, placed.id, "duplicate", "step placed more than once"))
            continue
        at[placed.id] = placed
        out += _check_step(request, steps[placed.id], placed, resources)
    for step in request.steps:
        if step.id not in at:
            out.append(Violation(rid, step.id, "missing-step", "step of a placed visit is not placed"))

    for step in request.steps:
        if step.id not in at or not step.after:
            continue
        preds = [at[p] for p in step.after if p in at]
        if not preds:
            continue
        start = at[step.id].start
        for pred in preds:
            if start - pred.end < step.min_gap:
                out.append(
                    Violation(
                        rid, step.id, "precedence-min-gap",
                        f"starts {start - pred.end} min after {pred.id} ends, needs at least {step.min_gap}",
                    )
                )
        latest = max(p.end for p in preds)
        if step.max_gap is not None and start - latest > step.max_gap:
            out.append(
                Violation(
                    rid, step.id, "precedence-max-gap",
                    f"starts {start - latest} min after its latest predecessor ends, at most {step.max_gap} allowed",
                )
            )

    ordered = sorted(at.values(), key=lambda s: (s.start, s.end))
    latest_end: PlacedStep | None = None
    for placed in ordered:
        if latest_end is not None and placed.start < latest_end.end:
            out.append(
                Violation(
                    rid, placed.id, "patient-overlap",
                    f"{hhmm(placed.start)}-{hhmm(placed.end)} overlaps {latest_end.id} "
                    f"({hhmm(latest_end.start)}-{hhmm(latest_end.end)})",
                )
            )
        if latest_end is None or placed.end > latest_end.end:
            latest_end = placed

    if ordered:
        first = min(s.start for s in ordered)
        last = max(s.end for s in ordered)
        if request.arrival is not None and not request.arrival[0] <= first <= request.arrival[1]:
            out.append(
                Violation(
                    rid, None, "arrival",
                    f"first step starts {hhmm(first)}, outside arrival {hhmm(request.arrival[0])}-{hhmm(request.arrival[1])}",
                )
            )
        if request.leave_by is not None and last > request.leave_by:
            out.append(Violation(rid, None, "leave-by", f"last step ends {hhmm(last)}, after {hhmm(request.leave_by)}"))
        if request.max_visit_minutes is not None and last - first > request.max_visit_minutes:
            out.append(
                Violation(
                    rid, None, "max-visit",
                    f"visit spans {last - first} min, at most {request.max_visit_minutes} allowed",
                )
            )
    return out


def _check_step(request: Request, step: Step, placed: PlacedStep, resources: dict[str, Resource]) -> list[Violation]:
    out: list[Violation] = []
    rid, sid = request.id, step.id
    if placed.end - placed.start != step.duration:
        out.append(
            Violation(rid, sid, "duration", f"placed for {placed.end - placed.start} min, needs {step.duration}")
        )
    resource = resources.get(placed.resource)
    if resource is None:
        out.append(Violation(rid, sid, "unknown-resource", f"unknown resource {placed.resource!r}"))
        return out
    if resource.kind != step.kind:
        out.append(Violation(rid, sid, "wrong-kind", f"{resource.id} is a {resource.kind}, the step needs a {step.kind}"))
    if step.resources is not None and resource.id not in step.resources:
        out.append(
            Violation(rid, sid, "not-allowed-resource", f"{resource.id} is not one of {', '.join(step.resources)}")
        )
    missing = request.requires - resource.attributes
    if missing:
        out.append(Violation(rid, sid, "missing-attribute", f"{resource.id} lacks {', '.join(sorted(missing))}"))
    if not _inside(placed, resource):
        windows = ", ".join(f"{hhmm(a)}-{hhmm(b)}" for a, b in resource.available)
        out.append(
            Violation(
                rid, sid, "outside-availability",
                f"{hhmm(placed.start)}-{hhmm(placed.end)} is outside {resource.id}'s hours {windows}",
            )
        )
    return out
