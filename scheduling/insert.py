"""Place ONE request into a day whose other visits are fixed: a tiny CP-SAT model per call.

Everything already on the day (booked visits and visits placed by a solver) is turned into plain
free time per resource before the model is built. Because a patient is in one place at a time, the
inserted request never uses a resource twice at the same moment, so it needs only one unit of
capacity at any minute: a step fits on a resource exactly when it lies in a stretch where the
resource is open and its fixed load is below capacity. That holds for capacity-1 rooms and for
pools alike, so no cumulative constraint is needed and a model has a handful of variables (it builds
and solves in a few milliseconds).

Relaxations (``relax``) switch a constraint family off; ``scheduling.explain`` uses them to find which
family blocks a request. Tokens: ``arrival``, ``leave_by``, ``max_span``, ``restriction`` (a step's
``resources`` list), ``requires``, ``capacity`` / ``capacity:<resource id>`` (ignore the fixed visits),
``hours`` / ``hours:<resource id>`` (ignore opening hours).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduling.check import critical_path, earliest_starts, topological_order
from scheduling.instance import DAY_MINUTES, Instance, PlacedStep, Request, Resource, Step, Visit

#: Default wall-clock limit of one insertion solve; the models are tiny and usually prove optimality in milliseconds.
TIME_LIMIT = 0.5

#: Marks the "outside strict free time" twin of a resource option in ``insert_least_blocked``.
OVER = "\x00over"

#: Default minimum distance between the arrival times of alternative itineraries (``insert_options``).
SEPARATION = 30

Window = tuple[int, int]



class Model(cp_model.CpModel):
    """A ``CpModel`` without the pre-PEP8 method aliases it otherwise builds on every construction.

    Those aliases cost about 0.7 ms per model (measured with OR-Tools 9.15), a quarter of a whole
    insertion; only the snake_case API is used here.
    """

    def _add_pre_pep8_methods(self) -> None:
        pass


class FreeTime:
    """Fixed usage of a day's resources, and the stretches where each resource can still take one more step.

    Built once per day (booked visits plus placed visits) and shared by every insertion on that day.
    """

    def __init__(self, resources: Iterable[Resource], visits: Iterable[Visit] = ()):
        self.resources: dict[str, Resource] = {r.id: r for r in resources}
        used: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for visit in visits:
            for step in visit.steps:
                if step.resource in self.resources and step.end > step.start:
                    used[step.resource].append((step.start, step.end))
        self.used = dict(used)
        self._full = {rid: _full_stretches(self.resources[rid].capacity, spans) for rid, spans in used.items()}
        self._cache: dict[tuple[str, bool, bool], list[Window]] = {}

    @classmethod
    def for_day(cls, instance: Instance, fixed: Sequence[Visit] = (), exclude: str | None = None) -> FreeTime:
        """Free time of ``instance`` with its booked visits and ``fixed`` (minus the fixed visit of ``exclude``).

        Only ``fixed`` is filtered: booked visits and requests have separate id spaces.
        """
        return cls(instance.resources, [*instance.booked, *(v for v in fixed if v.request != exclude)])

    def full(self, rid: str) -> list[Window]:
        """Stretches where the fixed visits already use all of ``rid``'s capacity."""
        return self._full.get(rid, [])

    def windows(self, rid: str, *, ignore_capacity: bool = False, ignore_hours: bool = False) -> list[Window]:
        """Maximal stretches where ``rid`` is open (unless ``ignore_hours``) and has a unit of capacity left."""
        key = (rid, ignore_capacity, ignore_hours)
        if key not in self._cache:
            open_ = [(0, DAY_MINUTES)] if ignore_hours else list(self.resources[rid].available)
            self._cache[key] = open_ if ignore_capacity else subtract(open_, self.full(rid))
        return self._cache[key]


def _full_stretches(capacity: int, spans: list[tuple[int, int]]) -> list[Window]:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    out: list[Window] = []
    load = 0
    opened: int | None = None
    for t, delta in events:
        load += delta
        if load >= capacity and opened is None:
            opened = t
        elif load < capacity and opened is not None:
            if t > opened:
                if out and out[-1][1] == opened:
                    out[-1] = (out[-1][0], t)
                else:
                    out.append((opened, t))
            opened = None
    return out


def subtract(windows: Sequence[Window], holes: Sequence[Window]) -> list[Window]:
    """``windows`` minus ``holes`` (both sorted, non-overlapping lists of ``[from, to)``)."""
    out: list[Window] = []
    for a, b in windows:
        cur = a
        for h0, h1 in holes:
            if h1 <= cur or h0 >= b:
                continue
            if h0 > cur:
                out.append((cur, h0))
            cur = max(cur, h1)
            if cur >= b:
                break
        if cur < b:
            out.append((cur, b))
    return out


def eligible(resources: Iterable[Resource], request: Request, step: Step, relax: frozenset[str] = frozenset()) -> list[Resource]:
    """Resources that may serve ``step``: its kind, its ``resources`` list, the request's ``requires`` (unless relaxed)."""
    return [
        r
        for r in resources
        if r.kind == step.kind
        and (step.resources is None or "restriction" in relax or r.id in step.resources)
        and ("requires" in relax or request.requires <= r.attributes)
    ]


def start_domains(
    free: FreeTime, request: Request, relax: frozenset[str] = frozenset(), lo: int = 0, hi: int = DAY_MINUTES
) -> dict[str, list[tuple[str, list[Window]]]]:
    """Per step: each eligible resource with the start times (as windows) where the step fits in its free time.

    Hard: resource kind, restriction, attributes, opening hours and fixed capacity; a step outside them
    is not a valid placement. Only resources with at least one possible start are listed.
    """
    out: dict[str, list[tuple[str, list[Window]]]] = {}
    bounds = step_bounds(request, relax, None)
    for step in request.steps:
        options = []
        step_lo, step_hi = max(lo, bounds[step.id][0]), min(hi, bounds[step.id][1])
        for res in eligible(free.resources.values(), request, step, relax):
            wins = free.windows(
                res.id,
                ignore_capacity="capacity" in relax or f"capacity:{res.id}" in relax,
                ignore_hours="hours" in relax or f"hours:{res.id}" in relax,
            )
            starts = [(max(a, step_lo), min(b, step_hi) - step.duration) for a, b in wins]
            starts = [(a, b) for a, b in starts if a <= b]
            if starts:
                options.append((res.id, starts))
        out[step.id] = options
    return out


@dataclass
class RequestVars:
    """The CP-SAT variables of one request's visit."""

    start: dict[str, cp_model.IntVar]
    end: dict[str, cp_model.IntVar]
    interval: dict[str, cp_model.IntervalVar]
    choice: dict[str, dict[str, cp_model.IntVar]]
    first: cp_model.IntVar
    last: cp_model.IntVar
    #: ``(step id, resource id) -> optional interval`` for options whose capacity the caller models.
    optional: dict[tuple[str, str], cp_model.IntervalVar]


def add_steps(
    model: cp_model.CpModel,
    request: Request,
    options: dict[str, list[tuple[str, list[Window] | None]]],
    lo: int,
    hi: int,
    bounds: dict[str, tuple[int, int]] | None = None,
) -> RequestVars | None:
    """Hard: every step placed once, on exactly one of its options, fully inside ``[lo, hi]`` (and ``bounds``).

    An option with a window list restricts the start to those windows when chosen; ``None`` means the
    caller models that resource's capacity and hours itself, and gets an optional interval for it in
    ``RequestVars.optional``. Returns ``None`` when some step has no option or no room at all.
    """
    start, end, interval, choice, optional = {}, {}, {}, {}, {}
    for step in request.steps:
        opts = options.get(step.id, [])
        step_lo, step_hi = lo, hi
        if bounds is not None:
            step_lo, step_hi = max(lo, bounds[step.id][0]), min(hi, bounds[step.id][1])
        if not opts or step_hi - step_lo < step.duration:
            return None
        s = model.new_int_var(step_lo, step_hi - step.duration, f"s[{step.id}]")
        start[step.id] = s
        end[step.id] = s + step.duration
        interval[step.id] = model.new_fixed_size_interval_var(s, step.duration, f"i[{step.id}]")
        lits = {}
        for rid, wins in opts:
            lit = model.new_constant(1) if len(opts) == 1 else model.new_bool_var(f"x[{step.id},{rid}]")
            lits[rid] = lit
            if wins is not None:
                domain = cp_model.Domain.from_intervals([[a, b] for a, b in wins])
                model.add_linear_expression_in_domain(s, domain).only_enforce_if(lit)
            else:
                optional[step.id, rid] = model.new_optional_fixed_size_interval_var(
                    s, step.duration, lit, f"o[{step.id},{rid}]"
                )
        if len(opts) > 1:
            model.add_exactly_one(lits.values())
        choice[step.id] = lits
    first = model.new_int_var(lo, hi, "first")
    last = model.new_int_var(lo, hi, "last")
    model.add_min_equality(first, list(start.values()))
    model.add_max_equality(last, [start[s.id] + s.duration for s in request.steps])
    return RequestVars(start, end, interval, choice, first, last, optional)


def add_precedence(model: cp_model.CpModel, request: Request, v: RequestVars) -> None:
    """Hard: each step starts ``min_gap`` after every predecessor and at most ``max_gap`` after the latest one.

    These are clinical orders (a lab result before the consult, treatment soon after it); breaking
    them makes the visit medically wrong, so they are never traded for a better objective.
    """
    for step in request.steps:
        preds = [p for p in step.after if p in v.start]
        for p in preds:
            model.add(v.start[step.id] >= v.end[p] + step.min_gap)
        if step.max_gap is not None and preds:
            if len(preds) == 1:
                latest = v.end[preds[0]]
            else:
                latest = model.new_int_var(0, DAY_MINUTES, f"latest[{step.id}]")
                model.add_max_equality(latest, [v.end[p] for p in preds])
            model.add(v.start[step.id] <= latest + step.max_gap)


def add_one_place(model: cp_model.CpModel, request: Request, v: RequestVars) -> None:
    """Hard: the patient is in one place at a time, so the request's steps never overlap."""
    if len(request.steps) > 1:
        model.add_no_overlap(list(v.interval.values()))


def add_patient_window(model: cp_model.CpModel, request: Request, v: RequestVars, relax: frozenset[str]) -> None:
    """Hard: arrival window for the first step and maximum visit span, unless relaxed.

    These come from the patient (transport, the over-70 rule for long days); the lower arrival bound
    and ``leave_by`` are already in the variable bounds (``request_bounds``).
    """
    if request.arrival is not None and "arrival" not in relax:
        model.add(v.first <= request.arrival[1])
    if request.max_visit_minutes is not None and "max_span" not in relax:
        model.add(v.last - v.first <= request.max_visit_minutes)


def add_separation(model: cp_model.CpModel, v: RequestVars, avoid: Sequence[int], separation: int) -> None:
    """Hard (by request of the caller): arrive at least ``separation`` minutes away from each time in ``avoid``.

    Used to enumerate alternative itineraries a clerk can choose between.
    """
    for t in avoid:
        earlier = model.new_bool_var(f"before[{t}]")
        model.add(v.first <= t - separation).only_enforce_if(earlier)
        model.add(v.first >= t + separation).only_enforce_if(~earlier)


def add_objective(model: cp_model.CpModel, request: Request, v: RequestVars, prefer_start: int | None) -> None:
    """Soft: minimise waiting (span minus critical path), then arrive as early as possible or near ``prefer_start``."""
    wait = v.last - v.first - critical_path(request)
    if prefer_start is None:
        tie = v.first
    else:
        tie = model.new_int_var(0, DAY_MINUTES, "distance")
        model.add_abs_equality(tie, v.first - prefer_start)
    model.minimize(wait * (DAY_MINUTES + 1) + tie)


def request_bounds(request: Request, relax: frozenset[str] = frozenset(), not_before: int | None = None) -> Window:
    """The stretch ``[lo, hi]`` every step must lie in: arrival start (or ``not_before``) to ``leave_by``."""
    lo = request.arrival[0] if request.arrival is not None and "arrival" not in relax else 0
    if not_before is not None:
        lo = max(lo, not_before)
    hi = request.leave_by if request.leave_by is not None and "leave_by" not in relax else DAY_MINUTES
    return lo, hi


def step_bounds(
    request: Request, relax: frozenset[str] = frozenset(), not_before: int | None = None
) -> dict[str, tuple[int, int]]:
    """Per step, its earliest start and latest end from the request's own windows, durations and gaps.

    Plain longest-path arithmetic on the ``after`` DAG (no resources); used to prune start domains.
    """
    lo, hi = request_bounds(request, relax, not_before)
    offsets = earliest_starts(request)
    tail: dict[str, int] = {}
    for s in reversed(topological_order(request)):
        successors = [t for t in request.steps if s.id in t.after]
        tail[s.id] = s.duration + max((t.min_gap + tail[t.id] for t in successors), default=0)
    arrival_open = request.arrival is not None and "arrival" not in relax
    reach = request.max_visit_minutes if request.max_visit_minutes is not None and "max_span" not in relax else None
    single_source = sum(1 for s in request.steps if not s.after) == 1
    out = {}
    for step in request.steps:
        latest_start = hi - tail[step.id]
        if arrival_open and reach is not None:
            latest_start = min(latest_start, request.arrival[1] + reach - tail[step.id])
        if arrival_open and single_source and not step.after:
            latest_start = min(latest_start, request.arrival[1])
        out[step.id] = (lo + offsets[step.id], latest_start + step.duration)
    return out


def solve_model(model: cp_model.CpModel, time_limit: float) -> tuple[cp_model.CpSolver, bool]:
    """Solve deterministically on one worker; ``True`` when a solution was found."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.random_seed = 0
    # One-request models are tiny: presolve and the LP relaxation cost more than they save here.
    solver.parameters.cp_model_presolve = False
    solver.parameters.linearization_level = 0
    status = solver.solve(model)
    return solver, status in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def read_visit(solver: cp_model.CpSolver, request: Request, v: RequestVars) -> Visit:
    steps = []
    for step in request.steps:
        rid = next(r for r, lit in v.choice[step.id].items() if solver.boolean_value(lit))
        start = solver.value(v.start[step.id])
        steps.append(PlacedStep(step.id, rid, start, start + step.duration))
    return Visit(request.id, tuple(steps))


def insert_request(
    instance: Instance,
    fixed: Sequence[Visit],
    request: Request,
    *,
    time_limit: float = TIME_LIMIT,
    relax: frozenset[str] = frozenset(),
    not_before: int | None = None,
    prefer_start: int | None = None,
    avoid: Sequence[int] = (),
    separation: int = SEPARATION,
    free: FreeTime | None = None,
) -> Visit | None:
    """The least-waiting placement of ``request`` around the booked and ``fixed`` visits, or ``None``.

    Nothing else moves. Ties on waiting go to the earliest arrival (or the arrival nearest
    ``prefer_start``). ``not_before`` forbids starting earlier (e.g. now plus notice); ``avoid`` lists
    arrival times the answer must stay ``separation`` minutes away from. Pass ``free`` (a ``FreeTime``
    of the same day and fixed visits) to share its computation between calls. A visit of ``request``
    itself among ``fixed`` is ignored, so a placed request can be re-inserted.
    """
    if free is None:
        free = FreeTime.for_day(instance, fixed, exclude=request.id)
    lo, hi = request_bounds(request, relax, not_before)
    domains = start_domains(free, request, relax, lo, hi)
    model = Model()
    v = add_steps(model, request, domains, lo, hi)
    if v is None:
        return None
    add_precedence(model, request, v)
    add_one_place(model, request, v)
    add_patient_window(model, request, v, relax)
    add_separation(model, v, avoid, separation)
    add_objective(model, request, v, prefer_start)
    solver, found = solve_model(model, time_limit)
    return read_visit(solver, request, v) if found else None


def insert_least_blocked(
    instance: Instance,
    request: Request,
    *,
    strict: FreeTime,
    loose: FreeTime,
    not_before: int | None = None,
    time_limit: float = TIME_LIMIT,
    tie_break: bool = True,
) -> tuple[Visit, int] | None:
    """A placement inside ``loose`` free time with the fewest steps outside ``strict`` free time, and that count.

    With ``tie_break`` the placement is then the least waiting, earliest one; without, any placement
    with the fewest such steps (faster, for callers that only need the count and a guide).

    Soft: each step outside ``strict`` costs more than any waiting, so the answer names the least set of
    steps that would need room made (``explain``: the fixed visits; refill: the movable ones). Each
    eligible resource is offered twice, once per free time, the ``loose`` twin at a cost.
    """
    lo, hi = request_bounds(request, frozenset(), not_before)
    strict_starts = start_domains(strict, request, frozenset(), lo, hi)
    loose_starts = start_domains(loose, request, frozenset(), lo, hi)
    options = {
        step.id: strict_starts[step.id] + [(f"{rid}{OVER}", wins) for rid, wins in loose_starts[step.id]]
        for step in request.steps
    }
    model = Model()
    v = add_steps(model, request, options, lo, hi)
    if v is None:
        return None
    add_precedence(model, request, v)
    add_one_place(model, request, v)
    add_patient_window(model, request, v, frozenset())
    over = [lit for lits in v.choice.values() for key, lit in lits.items() if key.endswith(OVER)]
    if tie_break:
        model.minimize(sum(over) * 2 * DAY_MINUTES * DAY_MINUTES + (v.last - v.first) * (DAY_MINUTES + 1) + v.first)
    else:
        model.minimize(sum(over))
    solver, found = solve_model(model, time_limit)
    if not found:
        return None
    visit = read_visit(solver, request, v)
    blocked = sum(p.resource.endswith(OVER) for p in visit.steps)
    steps = tuple(PlacedStep(p.id, p.resource.removesuffix(OVER), p.start, p.end) for p in visit.steps)
    return Visit(visit.request, steps), blocked


def insert_options(
    instance: Instance,
    fixed: Sequence[Visit],
    request: Request,
    *,
    k: int = 5,
    separation: int = SEPARATION,
    free: FreeTime | None = None,
    **kwargs,
) -> list[Visit]:
    """Up to ``k`` placements with arrival times at least ``separation`` minutes apart, best first.

    Each is the least-waiting placement that keeps away from the arrivals already chosen, so the list
    is ordered by waiting, then by arrival.
    """
    if free is None:
        free = FreeTime.for_day(instance, fixed, exclude=request.id)
    out: list[Visit] = []
    while len(out) < k:
        visit = insert_request(
            instance, fixed, request, avoid=[arrival(v) for v in out], separation=separation, free=free, **kwargs
        )
        if visit is None:
            break
        out.append(visit)
    return out


def arrival(visit: Visit) -> int:
    return min(s.start for s in visit.steps)


def leave(visit: Visit) -> int:
    return max(s.end for s in visit.steps)


def wait_minutes(request: Request, visit: Visit) -> int:
    """Span minus critical path: the minutes the patient spends waiting beyond the unavoidable."""
    return leave(visit) - arrival(visit) - critical_path(request)
