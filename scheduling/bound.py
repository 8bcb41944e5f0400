"""Bounds that hold for every feasible schedule of a day, found without solving the day.

- ``priority``: no schedule places more priority.
- ``wait``: no schedule placing at least ``at_priority`` waits less in total.

On 100-200-request days the full model proves nothing within seconds (its bound stays at 0), so these
come from a relaxation that keeps two facts about the day and drops the rest:

1. **Floors.** A request waits at least what it would wait alone around the booked visits: the least
   span of its visit on the day's free time (``scheduling.insert``'s one-request model, solved to
   proven optimality, or its proven bound when a time limit cuts it), less its critical path. Other
   patients only take capacity away, so the floor holds in every schedule. A request that does not
   fit even alone can never be placed.
2. **Energy.** The steps placed on a group of resources inside a stretch of the day cannot need more
   capacity-minutes than the group has free there (booked visits and opening hours subtracted). Each
   step only counts the minutes it must spend inside the stretch whatever its start in its own window
   (arrival, leave-by and maximum span, the chain of durations and gaps, the resources' hours): the
   classic energetic reasoning of cumulative scheduling. A group is a kind and the resources one
   step may use; every step whose resources lie within the group counts against it.

What is left is a 0/1 program over "which requests are placed" that CP-SAT solves to optimality in
milliseconds: maximise the priority (the bound on priority), then, with the priority held at least at
a schedule's, minimise the sum of the floors (the bound on waiting). Both are relaxations, so the
bounds are valid; when the priority and waiting of a schedule meet them, the schedule is proven
optimal. Every solve is single-threaded with a deterministic budget, so the bounds are reproducible.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduling.check import critical_path
from scheduling.insert import (
    FreeTime,
    Model,
    add_one_place,
    add_patient_window,
    add_precedence,
    add_steps,
    eligible,
    request_bounds,
    start_domains,
    step_bounds,
)
from scheduling.instance import Instance, Request

#: Wall-clock cap of one request's floor solve (the models prove optimality in a few milliseconds).
FLOOR_SECONDS = 0.5
#: Deterministic-time budget of each of the two 0/1 solves (they prove optimality far below it).
PROGRAM_DTIME = 2.0


@dataclass(frozen=True)
class DayBounds:
    """Bounds of one day; ``wait`` holds for schedules placing at least ``at_priority`` (``None``: not asked,
    or more than ``priority``, which no schedule reaches)."""

    priority: int
    wait: int | None
    at_priority: int | None
    #: Each request's least wait alone around the booked visits; ``None``: it fits nowhere even alone.
    floors: Mapping[str, int | None]
    #: ``False`` when a time limit cut a solve: the numbers are still valid bounds, only weaker.
    proven: bool

    def holds_for(self, priority: int, wait: int) -> bool:
        """Whether a feasible schedule placing ``priority`` and waiting ``wait`` minutes respects the bounds
        (always, unless the relaxation is wrong)."""
        below = self.wait is None or self.at_priority is None or priority < self.at_priority or wait >= self.wait
        return priority <= self.priority and below

    def proves_optimal(self, priority: int, wait: int) -> bool:
        """Whether such a schedule is optimal: it places the most priority any schedule can, and waits no
        more than any schedule placing as much."""
        return priority == self.priority == self.at_priority and self.wait is not None and wait <= self.wait


def request_floor(free: FreeTime, request: Request, *, time_limit: float = FLOOR_SECONDS) -> tuple[int | None, bool]:
    """The least wait of ``request`` alone on ``free`` (``None`` when it fits nowhere), and whether it is proven.

    Unproven (a time limit cut the solve), the answer is the solver's bound on the span, still a floor."""
    lo, hi = request_bounds(request)
    model = Model()
    v = add_steps(model, request, start_domains(free, request, frozenset(), lo, hi), lo, hi)
    if v is None:
        return None, True
    add_precedence(model, request, v)
    add_one_place(model, request, v)
    add_patient_window(model, request, v, frozenset())
    model.minimize(v.last - v.first)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return None, True
    cp = critical_path(request)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value) - cp, True
    return max(0, math.ceil(solver.best_objective_bound - 1e-6) - cp), False


@dataclass(frozen=True)
class _Demand:
    request: str
    lo: int
    hi: int
    duration: int


def _step_windows(free: FreeTime, instance: Instance, request: Request) -> Iterable[tuple[str, frozenset[str], _Demand]]:
    """Each step's kind, eligible resources and window: ``step_bounds`` narrowed to the hours in which one
    of its resources has room."""
    bounds = step_bounds(request)
    for step in request.steps:
        resources = eligible(instance.resources, request, step)
        room = [w for r in resources for w in free.windows(r.id) if w[1] - w[0] >= step.duration]
        lo, hi = bounds[step.id]
        if room:
            lo, hi = max(lo, min(a for a, _ in room)), min(hi, max(b for _, b in room))
        yield step.kind, frozenset(r.id for r in resources), _Demand(request.id, lo, hi, step.duration)


def _free_minutes(free: FreeTime, resource_ids: Iterable[str], t1: int, t2: int) -> int:
    """Capacity-minutes of ``resource_ids`` left in ``[t1, t2)`` by their hours and the booked visits."""
    total = 0
    for rid in resource_ids:
        resource = free.resources[rid]
        used = free.used.get(rid, [])
        cuts = {t1, t2}
        cuts.update(t for w in resource.available for t in w if t1 < t < t2)
        cuts.update(t for w in used for t in w if t1 < t < t2)
        points = sorted(cuts)
        for a, b in zip(points, points[1:], strict=False):
            if any(x <= a and b <= y for x, y in resource.available):
                load = sum(1 for x, y in used if x <= a and b <= y)
                total += max(0, resource.capacity - load) * (b - a)
    return total


def _must_overlap(d: _Demand, t1: int, t2: int) -> int:
    """Minutes a step of window ``[lo, hi]`` spends inside ``[t1, t2)`` wherever it starts."""
    return max(0, min(d.duration, t2 - t1, d.lo + d.duration - t1, t2 - (d.hi - d.duration)))


def energy_cuts(
    free: FreeTime, instance: Instance, requests: Sequence[Request]
) -> list[tuple[list[tuple[int, str]], int]]:
    """Energetic constraints ``sum(minutes * placed[request]) <= free minutes`` that can bind.

    Stretches run from a window start to a window end of the group's steps; only those whose demand
    could exceed the free minutes are kept."""
    groups: dict[tuple[str, frozenset[str]], list[_Demand]] = defaultdict(list)
    for request in requests:
        for kind, resources, demand in _step_windows(free, instance, request):
            if resources:
                groups[kind, resources].append(demand)
    cuts = []
    for (kind, resources), _ in sorted(groups.items(), key=lambda g: (g[0][0], sorted(g[0][1]))):
        members = [d for (k, rs), ds in groups.items() if k == kind and rs <= resources for d in ds]
        for t1 in sorted({d.lo for d in members}):
            for t2 in sorted({d.hi for d in members}):
                if t2 <= t1:
                    continue
                terms: dict[str, int] = defaultdict(int)
                for d in members:
                    m = _must_overlap(d, t1, t2)
                    if m:
                        terms[d.request] += m
                if not terms:
                    continue
                room = _free_minutes(free, resources, t1, t2)
                if sum(terms.values()) > room:
                    cuts.append((sorted((m, r) for r, m in terms.items()), room))
    return cuts


def day_bounds(
    instance: Instance,
    *,
    priority: int | None = None,
    deadline: float | None = None,
    floors: Mapping[str, int | None] | None = None,
) -> DayBounds:
    """Bounds of ``instance`` (see the module docstring); with ``priority``, the waiting bound at it.

    ``deadline`` (a ``time.perf_counter()`` moment) stops the floors early: the requests not reached
    count as waiting at least 0, so the bounds stay valid. ``floors`` reuses those of an earlier call.
    """
    free = FreeTime.for_day(instance)
    proven = True
    if floors is None:
        computed: dict[str, int | None] = {}
        for request in instance.requests:
            if deadline is not None and time.perf_counter() > deadline:
                computed[request.id] = 0
                proven = False
                continue
            left = FLOOR_SECONDS if deadline is None else max(0.01, min(FLOOR_SECONDS, deadline - time.perf_counter()))
            computed[request.id], ok = request_floor(free, request, time_limit=left)
            proven = proven and ok
        floors = computed
    placeable = [r for r in instance.requests if floors.get(r.id) is not None]
    model = cp_model.CpModel()
    placed = {r.id: model.new_bool_var(r.id) for r in placeable}
    for terms, room in energy_cuts(free, instance, placeable):
        model.add(sum(m * placed[r] for m, r in terms) <= room)
    value = sum(r.priority * placed[r.id] for r in placeable)

    model.maximize(value)
    top, ok = _solve(model, deadline, maximise=True, trivial=sum(r.priority for r in placeable))
    assert top is not None, "placing nothing always fits"
    proven = proven and ok
    if priority is None or priority > top:
        return DayBounds(top, None, priority, dict(floors), proven)
    model.add(value >= priority)
    model.minimize(sum(floors[r.id] * placed[r.id] for r in placeable))
    least, ok = _solve(model, deadline, maximise=False, trivial=0)
    return DayBounds(top, least, priority, dict(floors), proven and ok)


def _solve(model: cp_model.CpModel, deadline: float | None, *, maximise: bool, trivial: int) -> tuple[int | None, bool]:
    """The proven optimum of ``model``, or its proven bound when the budget ends after a first solution,
    or ``trivial`` when it ends before one (CP-SAT's bound means nothing then); ``None`` when it has no
    solution (the priority asked for is out of the relaxation's reach, so no schedule has it)."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = PROGRAM_DTIME
    if deadline is not None:
        solver.parameters.max_time_in_seconds = max(0.05, deadline - time.perf_counter())
    status = solver.solve(model)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value), True
    if status == cp_model.INFEASIBLE:
        return None, True
    if status != cp_model.FEASIBLE:
        return trivial, False
    bound = solver.best_objective_bound
    return (math.floor(bound + 1e-6) if maximise else max(0, math.ceil(bound - 1e-6))), False
