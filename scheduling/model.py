"""The CP-SAT model of a clinic day, or of a few of its requests with everything else held fixed.

``Day`` precomputes what every model of one instance shares: the time grid, resource pools, each
step's eligible pools and start bounds, and the load already fixed by booked (and pinned) steps.
``build`` makes a model in which the ``free`` requests may be placed (or left out) while every other
request of a ``Plan`` stays where it is and only takes capacity. Solvers call it with all requests
free (a full model) or with a small neighbourhood (large-neighbourhood search, insertion).

Time grid: when every time and duration of the instance is a multiple of ``g`` (5 in the examples)
the model counts in units of ``g``. This is exact, not a rounding: once the order of steps on the
resources is decided, all constraints are differences ``x - y >= c`` with ``c`` a multiple of ``g``,
so some optimal schedule has every start on the grid.

Identical resources (same kind, attributes, opening hours, never named in a step's ``resources``
and carrying no booked step) are merged into one pool whose capacity is their sum: the model then
has no symmetric choices between them, and ``to_visits`` deals the pool's steps out to its members
afterwards (interval colouring, always possible because the members are interchangeable all day).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduling.check import critical_path, earliest_starts, topological_order
from scheduling.greedy import eligible_resources
from scheduling.instance import DAY_MINUTES, Instance, PlacedStep, Request, Resource, Step, Visit

#: request id -> step id -> (pool id, start minute). A request not in a plan is unscheduled.
Placement = dict[str, tuple[str, int]]
Plan = dict[str, Placement]


@dataclass(frozen=True)
class Pool:
    """One or more interchangeable resources, modelled as a single capacity."""

    id: str
    kind: str
    capacity: int
    available: tuple[tuple[int, int], ...]
    members: tuple[Resource, ...]


@dataclass
class StepInfo:
    step: Step
    pools: list[str]
    duration: int
    domain: list[tuple[int, int]]  # allowed start intervals, minutes, closed
    pinned: PlacedStep | None = None


@dataclass
class RequestInfo:
    request: Request
    steps: list[StepInfo]
    critical_path: int
    sources: list[str]
    sinks: list[str]
    feasible: bool
    why_not: str = ""

    def step(self, sid: str) -> StepInfo:
        return next(s for s in self.steps if s.step.id == sid)


class Day:
    """Everything about one instance that does not depend on a particular plan.

    ``pinned`` fixes steps already done or under way (replanning) at their resource and times; their
    capacity is always taken, whether or not the rest of their request is placed. ``not_before``
    bars every other step from starting earlier. ``merge`` turns on pooling of identical resources.
    """

    def __init__(
        self,
        instance: Instance,
        *,
        pinned: Mapping[tuple[str, str], PlacedStep] | None = None,
        not_before: int = 0,
        merge: bool = True,
    ):
        self.instance = instance
        self.pinned = dict(pinned or {})
        self.not_before = not_before
        self.pools, self.pool_of = _pools(instance, merge and not self.pinned)
        self.grid = _grid(instance, self.pinned, not_before)
        self.requests: dict[str, RequestInfo] = {r.id: self._request_info(r) for r in instance.requests}
        self.fixed_load: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for visit in instance.booked:
            for s in visit.steps:
                if s.resource in self.pool_of:
                    self.fixed_load[self.pool_of[s.resource]].append((s.start, s.end, 1))
        for s in self.pinned.values():
            self.fixed_load[self.pool_of[s.resource]].append((s.start, s.end, 1))

    def _request_info(self, request: Request) -> RequestInfo:
        order = topological_order(request)
        es = earliest_starts(request)
        cp = critical_path(request)
        succ: dict[str, list[Step]] = defaultdict(list)
        for s in request.steps:
            for p in s.after:
                succ[p].append(s)
        tail: dict[str, int] = {}
        for s in reversed(order):
            tail[s.id] = s.duration + max((n.min_gap + tail[n.id] for n in succ[s.id]), default=0)
        sources = [s.id for s in order if not s.after]
        sinks = [s.id for s in order if not succ[s.id]]
        a0, a1 = request.arrival if request.arrival else (0, DAY_MINUTES)
        infos: list[StepInfo] = []
        why = ""
        for s in order:
            pools = list(dict.fromkeys(self.pool_of[r.id] for r in eligible_resources(self.instance.resources, request, s)))
            pin = self.pinned.get((request.id, s.id))
            if pin is not None:
                infos.append(StepInfo(s, [self.pool_of[pin.resource]], pin.end - pin.start, [(pin.start, pin.start)], pin))
                continue
            lo = max(a0 + es[s.id], self.not_before)
            hi = DAY_MINUTES - tail[s.id]
            if request.leave_by is not None:
                hi = min(hi, request.leave_by - tail[s.id])
            if request.max_visit_minutes is not None:
                hi = min(hi, a1 + request.max_visit_minutes - tail[s.id])
            if len(sources) == 1 and s.id == sources[0]:
                hi = min(hi, a1)
            domain = []
            for pid in pools:
                for w0, w1 in self.pools[pid].available:
                    a, b = max(w0, lo), min(w1 - s.duration, hi)
                    if a <= b:
                        domain.append((a, b))
            domain = _union(domain)
            if not pools:
                why = why or f"no resource can serve step {s.id} ({s.kind})"
            elif not domain:
                why = why or f"no opening time fits step {s.id} ({s.kind}, {s.duration} min) in the visit's window"
            infos.append(StepInfo(s, pools, s.duration, domain))
        return RequestInfo(request, infos, cp, sources, sinks, not why, why)

    def horizon(self) -> int:
        return DAY_MINUTES // self.grid


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _pools(instance: Instance, merge: bool) -> tuple[dict[str, Pool], dict[str, str]]:
    named = {r for req in instance.requests for s in req.steps for r in (s.resources or ())}
    booked = {s.resource for v in instance.booked for s in v.steps}
    groups: dict[tuple, list[Resource]] = defaultdict(list)
    for r in instance.resources:
        if merge and r.id not in named and r.id not in booked:
            groups[(r.kind, r.attributes, r.available)].append(r)
        else:
            groups[("single", r.id)].append(r)
    pools: dict[str, Pool] = {}
    pool_of: dict[str, str] = {}
    for members in groups.values():
        pid = "+".join(m.id for m in members)
        pools[pid] = Pool(pid, members[0].kind, sum(m.capacity for m in members), members[0].available, tuple(members))
        for m in members:
            pool_of[m.id] = pid
    return pools, pool_of


def _grid(instance: Instance, pinned: Mapping[tuple[str, str], PlacedStep], not_before: int) -> int:
    numbers: list[int] = [DAY_MINUTES, not_before]
    for r in instance.resources:
        numbers += [t for w in r.available for t in w]
    for v in instance.booked:
        numbers += [t for s in v.steps for t in (s.start, s.end)]
    numbers += [t for s in pinned.values() for t in (s.start, s.end)]
    for req in instance.requests:
        numbers += list(req.arrival or ())
        numbers += [x for x in (req.leave_by, req.max_visit_minutes) if x is not None]
        for s in req.steps:
            numbers += [s.duration, s.min_gap] + ([s.max_gap] if s.max_gap is not None else [])
    g = 0
    for n in numbers:
        g = math.gcd(g, n)
    return max(g, 1)


@dataclass
class RequestVars:
    present: cp_model.IntVar
    start: dict[str, cp_model.IntVar] = field(default_factory=dict)
    choice: dict[str, dict[str, cp_model.IntVar]] = field(default_factory=dict)
    intervals: dict[str, dict[str, cp_model.IntervalVar]] = field(default_factory=dict)
    main: dict[str, cp_model.IntervalVar] = field(default_factory=dict)
    first: cp_model.LinearExprT = 0
    last: cp_model.LinearExprT = 0
    span: cp_model.IntVar | None = None
    deviation: list[cp_model.IntVar] = field(default_factory=list)
    latest: dict[str, cp_model.IntVar] = field(default_factory=dict)


@dataclass
class Submodel:
    day: Day
    model: cp_model.CpModel
    vars: dict[str, RequestVars]

    def extract(self, solver: cp_model.CpSolver) -> Plan:
        """The placement of every free request the solver placed (call only after a solution was found)."""
        g = self.day.grid
        plan: Plan = {}
        for rid, rv in self.vars.items():
            if not solver.boolean_value(rv.present):
                continue
            placement: Placement = {}
            for sid, start in rv.start.items():
                pool = next(p for p, lit in rv.choice[sid].items() if solver.boolean_value(lit))
                placement[sid] = (pool, solver.value(start) * g)
            plan[rid] = placement
        return plan


# ---------------------------------------------------------------- constraint families


def add_step_intervals(
    model: cp_model.CpModel, day: Day, info: RequestInfo, rv: RequestVars, opens: Mapping[str, list[tuple[int, int]]]
) -> bool:
    """Hard: each step is one interval of its duration, starting where some eligible pool has room.

    Start domains come from the opening hours of the eligible pools intersected with the visit's
    arrival, leave-by and maximum span (shifted by the critical path before and after the step), and
    with the stretches where the fixed load leaves a pool room for the whole step (``opens``): most
    of the day is excluded before search starts. Pinned steps get a single start. Returns False when
    some step has no start left (the request cannot be placed around the fixed ones).
    """
    g = day.grid
    for si in info.steps:
        sid = si.step.id
        allowed = si.domain if si.pinned is not None else _fitting(si, si.pools, opens)
        if not allowed:
            return False
        dom = cp_model.Domain.from_intervals([[-(-a // g), b // g] for a, b in allowed])
        start = model.new_int_var_from_domain(dom, f"{info.request.id}.{sid}.start")
        rv.start[sid] = start
        rv.main[sid] = model.new_optional_fixed_size_interval_var(start, si.duration // g, rv.present, f"{sid}.iv")
    return True


def _fitting(si: StepInfo, pools: Sequence[str], opens: Mapping[str, list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """Starts in the step's domain at which it fits inside an open stretch of one of ``pools``."""
    fits = [(a, b - si.duration) for p in pools for a, b in opens[p] if b - a >= si.duration]
    out = []
    for a, b in _union(fits):
        for lo, hi in si.domain:
            if max(a, lo) <= min(b, hi):
                out.append((max(a, lo), min(b, hi)))
    return _union(out)


def open_stretches(day: Day, fixed: Mapping[str, list[tuple[int, int, int]]]) -> dict[str, list[tuple[int, int]]]:
    """Per pool, the maximal stretches where it is open and the fixed load leaves at least one unit free."""
    out: dict[str, list[tuple[int, int]]] = {}
    for pid, pool in day.pools.items():
        load = list(fixed.get(pid, ()))
        edges = [0] + [t for w in pool.available for t in w] + [DAY_MINUTES]
        load += [(a, b, pool.capacity) for a, b in zip(edges[::2], edges[1::2], strict=True) if b > a]
        stretches: list[tuple[int, int]] = []
        t = 0
        for a, b, h in _profile(load, pool.capacity):
            if h >= pool.capacity:
                if a > t:
                    stretches.append((t, a))
                t = max(t, b)
        if t < DAY_MINUTES:
            stretches.append((t, DAY_MINUTES))
        out[pid] = stretches
    return out


def add_resource_choice(
    model: cp_model.CpModel, day: Day, info: RequestInfo, rv: RequestVars, opens: Mapping[str, list[tuple[int, int]]]
) -> None:
    """Hard: a placed step uses exactly one eligible pool (requires-attributes and ``resources`` lists
    were applied when the pools were filtered). A step with a single eligible pool needs no choice
    literal: its presence is the request's."""
    g = day.grid
    for si in info.steps:
        sid = si.step.id
        if len(si.pools) == 1:
            rv.choice[sid] = {si.pools[0]: rv.present}
            rv.intervals[sid] = {si.pools[0]: rv.main[sid]}
            continue
        lits = {p: model.new_bool_var(f"{info.request.id}.{sid}@{p}") for p in si.pools}
        model.add(sum(lits.values()) == rv.present)
        rv.choice[sid] = lits
        rv.intervals[sid] = {}
        for p, lit in lits.items():
            rv.intervals[sid][p] = model.new_optional_fixed_size_interval_var(rv.start[sid], si.duration // g, lit, f"{sid}@{p}")
            fits = _fitting(si, [p], opens)
            if not fits:
                model.add(lit == 0)
                continue
            windows = [[-(-a // g), b // g] for a, b in fits]
            model.add_linear_expression_in_domain(rv.start[sid], cp_model.Domain.from_intervals(windows)).only_enforce_if(lit)


def add_capacity(
    model: cp_model.CpModel, day: Day, vars: Mapping[str, RequestVars], fixed: Mapping[str, list[tuple[int, int, int]]]
) -> None:
    """Hard: at every moment a pool serves at most its capacity. Capacity 1 is a NoOverlap, larger pools
    a cumulative. Everything not free in this model (booked, pinned and fixed requests' steps, closed
    hours) enters as constant intervals of the load profile it makes, clipped to the capacity."""
    g = day.grid
    per_pool: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
    for rid, rv in vars.items():
        info = day.requests[rid]
        for si in info.steps:
            if si.pinned is None:
                for p, iv in rv.intervals[si.step.id].items():
                    per_pool[p].append(iv)
    for pid, intervals in per_pool.items():
        pool = day.pools[pid]
        load = list(fixed.get(pid, ()))
        edges = [0] + [t for w in pool.available for t in w] + [DAY_MINUTES]
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if b > a:
                load.append((a, b, pool.capacity))
        segments = _profile(load, pool.capacity)
        const = [model.new_fixed_size_interval_var(a // g, (b - a) // g, f"{pid}.fixed") for a, b, _ in segments]
        if pool.capacity == 1:
            model.add_no_overlap(intervals + const)
        else:
            model.add_cumulative(intervals + const, [1] * len(intervals) + [h for _, _, h in segments], pool.capacity)


def _profile(load: Iterable[tuple[int, int, int]], capacity: int) -> list[tuple[int, int, int]]:
    """Merge weighted intervals into maximal constant stretches ``(from, to, height)`` of height > 0."""
    delta: dict[int, int] = defaultdict(int)
    for a, b, h in load:
        if b > a:
            delta[a] += h
            delta[b] -= h
    out: list[tuple[int, int, int]] = []
    height = 0
    times = sorted(delta)
    for t, nxt in zip(times, times[1:], strict=False):
        height += delta[t]
        h = min(height, capacity)
        if h <= 0:
            continue
        if out and out[-1][1] == t and out[-1][2] == h:
            out[-1] = (out[-1][0], nxt, h)
        else:
            out.append((t, nxt, h))
    return out


def add_precedence(model: cp_model.CpModel, day: Day, info: RequestInfo, rv: RequestVars) -> None:
    """Hard: a step starts at least ``min_gap`` after each predecessor ends and, with ``max_gap``, at most
    ``max_gap`` after the latest of them ends (clinical protocol: a drug must follow its lab result)."""
    g = day.grid
    for si in info.steps:
        step = si.step
        if not step.after:
            continue
        ends = {p: rv.start[p] + info.step(p).duration // g for p in step.after}
        for end in ends.values():
            model.add(rv.start[step.id] >= end + step.min_gap // g).only_enforce_if(rv.present)
        if step.max_gap is None:
            continue
        if len(ends) == 1:
            latest = next(iter(ends.values()))
        else:
            latest = model.new_int_var(0, day.horizon(), f"{info.request.id}.{step.id}.latest")
            model.add_max_equality(latest, list(ends.values()))
            rv.latest[step.id] = latest
        model.add(rv.start[step.id] <= latest + step.max_gap // g).only_enforce_if(rv.present)


def add_patient_no_overlap(model: cp_model.CpModel, day: Day, info: RequestInfo, rv: RequestVars) -> None:
    """Hard: a patient is in one place at a time, even between steps not linked by ``after``."""
    if len(info.steps) > 1:
        model.add_no_overlap(list(rv.main.values()))


def add_visit_window(model: cp_model.CpModel, day: Day, info: RequestInfo, rv: RequestVars) -> None:
    """Hard: the first step starts inside the arrival window, the last ends by ``leave_by`` and the visit
    spans at most ``max_visit_minutes``. Also defines the span the objective charges as waiting."""
    g = day.grid
    req = info.request
    if len(info.sources) == 1:
        rv.first = rv.start[info.sources[0]]
    else:
        first = model.new_int_var(0, day.horizon(), f"{req.id}.first")
        model.add_min_equality(first, [rv.start[s] for s in info.sources])
        rv.first = first
    ends = [rv.start[s] + info.step(s).duration // g for s in info.sinks]
    if len(ends) == 1:
        rv.last = ends[0]
    else:
        last = model.new_int_var(0, day.horizon(), f"{req.id}.last")
        model.add_max_equality(last, ends)
        rv.last = last
    started = any(si.pinned is not None for si in info.steps)
    if req.arrival is not None and not started:
        model.add(rv.first >= -(-req.arrival[0] // g)).only_enforce_if(rv.present)
        model.add(rv.first <= req.arrival[1] // g).only_enforce_if(rv.present)
    if req.leave_by is not None:
        model.add(rv.last <= req.leave_by // g).only_enforce_if(rv.present)
    if req.max_visit_minutes is not None:
        model.add(rv.last - rv.first <= req.max_visit_minutes // g).only_enforce_if(rv.present)
    rv.span = model.new_int_var(0, day.horizon(), f"{req.id}.span")
    model.add(rv.span >= rv.last - rv.first).only_enforce_if(rv.present)
    model.add(rv.span == 0).only_enforce_if(~rv.present)


def add_must_place(model: cp_model.CpModel, info: RequestInfo, rv: RequestVars, *, placed: bool) -> None:
    """Hard: a booked visit that may still move (``must_place``) and is placed in the current plan stays
    placed. One the plan does not place stays optional (the sub-model could not be solved otherwise);
    the objective's value tier (``scheduling.solve.must_place_value``) then pulls it in when it fits."""
    if info.request.must_place and placed:
        model.add(rv.present == 1)


def add_deviation(
    model: cp_model.CpModel, day: Day, info: RequestInfo, rv: RequestVars, target: Mapping[tuple[str, str], int]
) -> None:
    """Soft (replanning): each step's distance from the start announced to the patient, so that a
    re-plan moves as little as it can. Zero when the request is left out (dropping is charged apart)."""
    g = day.grid
    for si in info.steps:
        t = target.get((info.request.id, si.step.id))
        if t is None or si.pinned is not None:
            continue
        dev = model.new_int_var(0, day.horizon(), f"{info.request.id}.{si.step.id}.dev")
        model.add(dev >= rv.start[si.step.id] - t // g).only_enforce_if(rv.present)
        model.add(dev >= t // g - rv.start[si.step.id]).only_enforce_if(rv.present)
        rv.deviation.append(dev)


def add_objective(
    model: cp_model.CpModel, day: Day, vars: Mapping[str, RequestVars], value: Mapping[str, int]
) -> None:
    """Soft, lexicographic by weights: first the value of placed requests (priority), then deviation
    from announced starts (when present), then waiting (span beyond the critical path). Each weight
    exceeds the largest total the levels below it can reach in this model, so no trade is possible."""
    h = day.horizon()
    n = len(vars)
    wait_max = n * h
    dev_terms = [d for rv in vars.values() for d in rv.deviation]
    w_dev = wait_max + 1
    w_val = (len(dev_terms) * h) * w_dev + wait_max + 1
    g = day.grid
    obj = []
    for rid, rv in vars.items():
        cp = day.requests[rid].critical_path // g
        obj.append((w_val * value.get(rid, 1) + cp) * rv.present)
        obj.append(-rv.span)
    obj += [-w_dev * d for d in dev_terms]
    model.maximize(sum(obj))


# ---------------------------------------------------------------- building and hints


def build(
    day: Day,
    free: Sequence[str],
    plan: Plan,
    *,
    value: Mapping[str, int],
    target: Mapping[tuple[str, str], int] | None = None,
    keep_value: int | None = None,
) -> Submodel:
    """A model placing the ``free`` requests around everything else in ``plan`` (held fixed).

    ``value`` weighs each placed request (priority in ``solve``). ``keep_value``, when given, forbids
    solutions whose placed value is lower (the current one's), which prunes the search early.
    A ``must_place`` request that ``plan`` places stays placed (``add_must_place``).
    The current placement of the free requests is added as a complete hint.
    """
    model = cp_model.CpModel()
    free_set = set(free)
    fixed: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for pid, load in day.fixed_load.items():
        fixed[pid].extend(load)
    for rid, placement in plan.items():
        if rid in free_set:
            continue
        info = day.requests[rid]
        for si in info.steps:
            if si.pinned is None:
                pool, start = placement[si.step.id]
                fixed[pool].append((start, start + si.duration, 1))
    opens = open_stretches(day, fixed)
    vars: dict[str, RequestVars] = {}
    for rid in free:
        info = day.requests[rid]
        if not info.feasible:
            continue
        rv = RequestVars(present=model.new_bool_var(f"{rid}.present"))
        if not add_step_intervals(model, day, info, rv, opens):
            model.add(rv.present == 0)
            continue
        add_resource_choice(model, day, info, rv, opens)
        add_precedence(model, day, info, rv)
        add_patient_no_overlap(model, day, info, rv)
        add_visit_window(model, day, info, rv)
        add_must_place(model, info, rv, placed=rid in plan)
        if target:
            add_deviation(model, day, info, rv, target)
        vars[rid] = rv
    add_capacity(model, day, vars, fixed)
    add_objective(model, day, vars, value)
    if keep_value is not None:
        model.add(sum(value.get(rid, 1) * rv.present for rid, rv in vars.items()) >= keep_value)
    _hint(model, day, vars, plan, target or {})
    return Submodel(day, model, vars)


def _hint(
    model: cp_model.CpModel, day: Day, vars: Mapping[str, RequestVars], plan: Plan, target: Mapping[tuple[str, str], int]
) -> None:
    """A complete hint: every variable of the model gets the value the current plan implies."""
    g = day.grid
    for rid, rv in vars.items():
        info = day.requests[rid]
        placement = plan.get(rid)
        model.add_hint(rv.present, placement is not None)
        starts: dict[str, int] = {}
        for si in info.steps:
            sid = si.step.id
            if placement is not None:
                pool, start = placement[sid]
                starts[sid] = start // g
            else:
                pool, starts[sid] = si.pools[0], -(-si.domain[0][0] // g)
            model.add_hint(rv.start[sid], starts[sid])
            if len(si.pools) > 1:
                for p, lit in rv.choice[sid].items():
                    model.add_hint(lit, placement is not None and p == pool)
        _hint_aux(model, info, rv, starts, g, placement is not None, target)


def _hint_aux(
    model: cp_model.CpModel, info: RequestInfo, rv: RequestVars, starts: Mapping[str, int], g: int, present: bool,
    target: Mapping[tuple[str, str], int],
) -> None:
    ends = {si.step.id: starts[si.step.id] + si.duration // g for si in info.steps}
    first = min(starts[s] for s in info.sources)
    last = max(ends[s] for s in info.sinks)
    if isinstance(rv.first, cp_model.IntVar) and len(info.sources) > 1:
        model.add_hint(rv.first, first)
    if isinstance(rv.last, cp_model.IntVar) and len(info.sinks) > 1:
        model.add_hint(rv.last, last)
    for sid, var in rv.latest.items():
        step = info.step(sid).step
        model.add_hint(var, max(ends[p] for p in step.after))
    assert rv.span is not None
    model.add_hint(rv.span, last - first if present else 0)
    devs = iter(rv.deviation)
    for si in info.steps:
        t = target.get((info.request.id, si.step.id))
        if t is None or si.pinned is not None:
            continue
        model.add_hint(next(devs), abs(starts[si.step.id] - t // g) if present else 0)


# ---------------------------------------------------------------- plans <-> visits


def plan_from_visits(day: Day, visits: Iterable[Visit]) -> Plan:
    """The plan (on pools) of placed visits given on real resources."""
    plan: Plan = {}
    for v in visits:
        plan[v.request] = {s.id: (day.pool_of[s.resource], s.start) for s in v.steps}
    return plan


def to_visits(day: Day, plan: Plan, *, best_fit: bool = False) -> list[Visit]:
    """Placed visits on real resources: each merged pool's steps dealt to its members by start time.

    Any free member would do for feasibility. By default a step goes to the first free member. ``best_fit``:
    to the member whose previous step ended last before it starts, so a chair or a desk works in runs instead
    of every member carrying gaps (what ``solve`` and ``replan`` hand to the unit). ``book`` keeps the first
    free member: with best fit the replayed 100-request days waited more on two of three
    (docs/performance.md, "Replay", fourth round)."""
    placed: dict[str, dict[str, PlacedStep]] = defaultdict(dict)
    by_pool: dict[str, list[tuple[int, int, str, str]]] = defaultdict(list)
    for rid, placement in plan.items():
        info = day.requests[rid]
        for si in info.steps:
            if si.pinned is not None:
                placed[rid][si.step.id] = si.pinned
                continue
            pool, start = placement[si.step.id]
            by_pool[pool].append((start, start + si.duration, rid, si.step.id))
    for pid, steps in by_pool.items():
        members = day.pools[pid].members
        slots = [(m.id, []) for m in members for _ in range(m.capacity)]
        slot_end = [0] * len(slots)
        for start, end, rid, sid in sorted(steps):
            free = (i for i, e in enumerate(slot_end) if e <= start)
            k = max(free, key=lambda i: (slot_end[i], -i), default=None) if best_fit else next(free, None)
            if k is None:
                raise AssertionError(f"pool {pid} over capacity at {start}")
            slot_end[k] = end
            placed[rid][sid] = PlacedStep(sid, slots[k][0], start, end)
    out = []
    for rid in plan:
        out.append(Visit(rid, tuple(placed[rid][s.id] for s in day.requests[rid].request.steps)))
    return out
