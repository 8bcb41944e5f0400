"""Book one request on a day whose earlier bookings may still move: the engine in the booking path.

A patient who has booked is told one thing, when to arrive; which chair, which consult room and when each
later step happens stay the unit's to arrange until the step starts (``day-instance.md``, ``must_place``).
So a booking may re-arrange the not-started bookings of the day when that lets the new request fit, or
wait less, as long as every booked patient still arrives inside the window they were told.

``book`` works in three steps:

1. fast path: the least-waiting placement of the new request with every booking held where it is
   (``scheduling.insert.insert_request``, a few milliseconds), moved flush against its first resource's
   neighbours when it would leave a gap there too short for any first step (``_aligned``). A placement
   without waiting is kept as it is;
2. neighbourhood: when the fast path finds nothing or the new request would wait, a CP-SAT sub-model
   (``scheduling.model.build``) frees the new request and the bookings that compete with it most for the
   same resources in the time it could take (``NEIGHBOURHOOD`` of them, then ``NEIGHBOURHOOD_LARGE`` when
   the first finds no placement), everything else fixed, each freed booking held present inside its
   narrowed arrival window, the current placement as a complete hint. It minimises the total waiting of
   the freed visits (so of the day); its answer is kept only when it places a request the fast path
   could not, or waits strictly less in total;
3. polish: when the day waits at all, ``solve``'s CP-SAT-free descent and ruin-and-recreate moves
   (``POLISH_MOVES_PER_SECOND``) over every booking, inside the windows, on the day with identical
   resources pooled as ``solve`` sees it (a move may hand a chair or a desk to another visit), seeded
   by the number of bookings so that successive bookings try different moves; kept when it waits less.

Every answer is run through ``scheduling.check`` on the day with the new request; one it rejects is
dropped (the previous candidate stands).

Determinism: the sub-models run on one worker with a fixed seed and a budget in CP-SAT's deterministic
time (``DTIME_PER_SECOND`` times ``time_limit``), and the neighbourhood is chosen by sorting, so the same
input gives the same ``Booking`` (a replay of the first *m* requests announces the same times as the full
replay). The wall clock (``time_limit``) is only a safety net: when a machine is so loaded that it binds
first, the answer is still valid but may differ.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduling.check import check, objective
from scheduling.insert import SEPARATION, insert_request, wait_minutes
from scheduling.instance import DAY_MINUTES, FEASIBLE, Instance, PlacedStep, Request, Schedule, Visit
from scheduling.model import Day, Plan, build, plan_from_visits, to_visits
from scheduling.recreate import Recreate

#: How many bookings a first neighbourhood frees, and a second one when the first finds no placement.
NEIGHBOURHOOD = 12
NEIGHBOURHOOD_LARGE = 30
#: CP-SAT deterministic-time units granted to each sub-model per second of ``time_limit``; the budget, not the
#: wall clock, ends a sub-model. book's sub-models run at about 0.08 units per CPU second of their one worker,
#: and a 1-second booking's CPU time is about 0.25 s at the 95th percentile with 0.008 (about what an idle
#: 2-core machine takes), 0.45 s with 0.024, 0.7-1.1 s with 0.045 (about 0.03 would fill 0.6-0.8 s); the
#: larger budgets did not cut the replayed days' waiting (docs/performance.md, "Replay").
DTIME_PER_SECOND = 0.008
#: Ruin-and-recreate moves of the polish per second of ``time_limit`` (a move costs about 0.8 ms of CPU on the
#: replayed days; 450 put a booking's CPU time at 0.45-0.55 s at the 95th percentile, docs/performance.md).
POLISH_MOVES_PER_SECOND = 450
#: Minutes of extra wait ``_aligned`` accepts to leave no unusable gap before or after a first step.
ALIGN_SLACK = 5
#: Share of the wall-clock safety net the fast path may use; the neighbourhoods get the rest.
FAST_SHARE = 0.2


@dataclass(frozen=True)
class Booking:
    """The day after booking one request."""

    visit: Visit  # the new request, placed
    others: tuple[Visit, ...]  # every request of day.requests (the must_place bookings), placed, moved or not
    moved: tuple[str, ...]  # ids of day.requests whose steps changed against ``current``
    wait_minutes: int  # the new request's wait (span - critical path)
    total_wait_minutes: int  # over the new request and all others


def movable(request: Request, announced: int, tolerance: int) -> Request:
    """The booked request as must_place with arrival narrowed to [announced, announced + tolerance] (other fields kept).

    The window never reaches past the request's own latest arrival (the patient's transport window
    stays a bound), unless ``announced`` itself lies beyond it."""
    hi = announced + tolerance
    if request.arrival is not None:
        hi = max(announced, min(hi, request.arrival[1]))
    return dataclasses.replace(request, must_place=True, arrival=(announced, hi))


def book(
    day: Instance,
    request: Request,
    *,
    current: Sequence[Visit],
    time_limit: float = 1.0,
    avoid: Sequence[int] = (),
    separation: int = SEPARATION,
    wall_limit: float | None = None,
) -> Booking | None:
    """Place `request` beside the day's bookings, re-arranging not-started ones when that lets it fit or wait less.

    day.booked: visits that may not move; day.requests: the must_place bookings (arrival already narrowed by the
    caller); current: a feasible placement of every day.requests entry (what is stored now). `avoid`/`separation`:
    the new request's arrival stays `separation` minutes away from these arrivals (to produce alternative
    proposals on one day). None when it cannot be placed. Deterministic: same input -> same Booking (the replay
    prefix property depends on it).

    ``time_limit`` sizes the deterministic budgets and is the wall-clock safety net, unless ``wall_limit``
    (seconds, at least ``time_limit``) gives the net more room: a caller who needs the same booking on a busy
    machine more than a quick one (a test, an audit of a replay) passes a larger one.

    Raises ``ValueError`` when ``current`` does not place every request of ``day`` or ``request`` is one of them.
    """
    began = time.perf_counter()
    wall = max(time_limit, wall_limit or time_limit)
    others = _current_of(day, request, current)
    full = dataclasses.replace(day, requests=(*day.requests, request))
    fast = insert_request(
        day, others, request, time_limit=max(0.05, FAST_SHARE * wall), avoid=avoid, separation=separation
    )
    if fast is not None:
        fast = _aligned(day, others, request, fast, avoid=avoid, separation=separation, limit=max(0.2, FAST_SHARE * wall))
    best = None if fast is None else _booking(full, request, fast, others, others)
    d = Day(full, merge=False)
    if (best is not None and best.wait_minutes == 0) or not d.requests[request.id].feasible:
        return _polish_or_not(full, request, best, others, time_limit, began + wall)
    plan = plan_from_visits(d, [*others, *([fast] if fast is not None else [])])
    for size in (NEIGHBOURHOOD, NEIGHBOURHOOD_LARGE):
        left = wall - (time.perf_counter() - began)
        if left <= 0.02:
            break
        free = [request.id, *neighbourhood(d, request.id, plan, others, size)]
        found = _solve(d, free, plan, request.id, avoid, separation, dtime=DTIME_PER_SECOND * time_limit, wall=left)
        if found is not None:
            placed = {rid: _visit(d, rid, placement) for rid, placement in found.items()}
            moved_others = [placed.get(v.request, v) for v in others]
            candidate = _booking(full, request, placed[request.id], moved_others, others)
            if candidate is not None and (best is None or candidate.total_wait_minutes < best.total_wait_minutes):
                best = candidate
        if best is not None or len(free) - 1 < size:
            break  # a placement exists, or the first neighbourhood already held every competitor
    return _polish_or_not(full, request, best, others, time_limit, began + wall)


def _polish_or_not(
    full: Instance, request: Request, best: Booking | None, others: Sequence[Visit], time_limit: float,
    deadline: float,
) -> Booking | None:
    if best is None or best.total_wait_minutes == 0 or time.perf_counter() >= deadline:
        return best
    return _polish(full, request, best, others, moves=int(POLISH_MOVES_PER_SECOND * time_limit),
                   deadline=deadline)


def _polish(
    full: Instance, request: Request, booking: Booking, current: Sequence[Visit], *, moves: int, deadline: float
) -> Booking:
    """The booking with the day's waiting cut where moving bookings inside their windows allows: ``solve``'s
    CP-SAT-free ``descent`` (each visit, worst waiter first, put back where it waits least) and ``moves``
    ruin-and-recreate moves (``scheduling.recreate``), which never take a visit out of the day. Kept only
    when it waits less in total and ``check`` accepts it."""
    from scheduling.solve import descent

    pooled = Day(full)
    plan = plan_from_visits(pooled, [*booking.others, booking.visit])
    value = {rid: 1 for rid in plan}
    plan = descent(pooled, plan, value, deadline=deadline)
    plan = Recreate(pooled, plan, value=value, seed=len(full.requests)).run(moves=moves, deadline=deadline)
    if set(plan) != set(value):
        return booking
    visits = {v.request: v for v in to_visits(pooled, plan)}
    polished = _booking(full, request, visits[request.id], [visits[v.request] for v in current], current)
    if polished is None or polished.total_wait_minutes >= booking.total_wait_minutes:
        return booking
    return polished


def _aligned(
    day: Instance, others: Sequence[Visit], request: Request, visit: Visit, *, avoid: Sequence[int], separation: int,
    limit: float = 0.2,
) -> Visit:
    """``visit``, or one starting flush against its first resource's previous or next use when ``visit``
    would leave a gap there shorter than its own first step, for at most ``ALIGN_SLACK`` more minutes of wait.

    Such gaps are lost for good: no later first step fits in them. On the generated days registration (one
    patient per desk) is the bottleneck, and these 5-minute gaps cost about one visit in twenty. ``limit``:
    the wall-clock net of each pinned insertion (they are tiny and end on their own long before it)."""
    first = min(visit.steps, key=lambda s: (s.start, s.id))
    resource = next((r for r in day.resources if r.id == first.resource), None)
    if resource is None or resource.capacity != 1:
        return visit
    busy = [(s.start, s.end) for v in (*day.booked, *others) for s in v.steps if s.resource == resource.id]
    window = next(((a, b) for a, b in resource.available if a <= first.start and first.end <= b), None)
    if window is None:
        return visit
    before = max([e for _, e in busy if e <= first.start] + [window[0]])
    after = min([a for a, _ in busy if a >= first.end] + [window[1]])
    duration = first.end - first.start
    candidates = []
    if 0 < first.start - before < duration:
        candidates.append(before)
    if 0 < after - first.end < duration:
        candidates.append(after - duration)
    lo, hi = request.arrival if request.arrival is not None else (0, DAY_MINUTES)
    best, best_wait = visit, wait_minutes(request, visit) + ALIGN_SLACK
    for t in candidates:
        if not lo <= t <= hi:
            continue
        pinned = dataclasses.replace(request, arrival=(t, t))
        found = insert_request(day, others, pinned, time_limit=limit, avoid=avoid, separation=separation)
        if found is not None and wait_minutes(request, found) <= best_wait:
            best, best_wait = found, wait_minutes(request, found)
    return best


def _current_of(day: Instance, request: Request, current: Sequence[Visit]) -> list[Visit]:
    by_id = {v.request: v for v in current}
    missing = [r.id for r in day.requests if r.id not in by_id]
    if missing:
        raise ValueError(f"current does not place the day's bookings {', '.join(missing)}")
    if any(r.id == request.id for r in day.requests):
        raise ValueError(f"request {request.id!r} is already one of the day's bookings")
    return [by_id[r.id] for r in day.requests]


def neighbourhood(d: Day, new: str, plan: Plan, others: Sequence[Visit], size: int) -> list[str]:
    """Up to ``size`` bookings that compete most with request ``new`` (ties: by id).

    A booking competes with each step of ``new`` for the minutes its own steps spend on that step's
    resources inside the stretch that step could occupy (its start domain plus its duration), divided by
    the resource's capacity: ten minutes at one of two registration desks inside a three-hour arrival
    window weigh more than an hour in a room of eighteen chairs."""
    info = d.requests[new]
    windows: dict[str, list[tuple[int, int]]] = {}
    for si in info.steps:
        span = (si.domain[0][0], si.domain[-1][1] + si.duration)
        for p in si.pools:
            windows.setdefault(p, []).append(span)
    scored = []
    for visit in others:
        score = 0.0
        for s in visit.steps:
            pool = d.pool_of.get(s.resource)
            for lo, hi in windows.get(pool, ()):
                score += max(0, min(s.end, hi) - max(s.start, lo)) / d.pools[pool].capacity
        if score > 0:
            scored.append((-score, visit.request))
    return [rid for _, rid in sorted(scored)[:size]]


def _solve(
    d: Day, free: list[str], plan: Plan, new: str, avoid: Sequence[int], separation: int, *, dtime: float, wall: float
) -> Plan | None:
    """The least total waiting placement of ``free`` (``new`` and some bookings, all present) around the rest."""
    sub = build(d, free, plan, value={rid: 1 for rid in free})
    rv = sub.vars.get(new)
    if rv is None:
        return None
    sub.model.add(rv.present == 1)
    for rid in free:
        if rid != new and rid in sub.vars:
            sub.model.add(sub.vars[rid].present == 1)
    g = d.grid
    for t in avoid:
        earlier = sub.model.new_bool_var(f"before[{t}]")
        sub.model.add(rv.first * g <= t - separation).only_enforce_if(earlier)
        sub.model.add(rv.first * g >= t + separation).only_enforce_if(~earlier)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = dtime
    solver.parameters.max_time_in_seconds = wall
    # Measured on the sub-models of replayed 100-request days: without presolve CP-SAT finds a placement
    # in about twice as many of them within the same time (docs/performance.md).
    solver.parameters.cp_model_presolve = False
    status = solver.solve(sub.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    found = sub.extract(solver)
    return found if all(rid in found for rid in free if rid in sub.vars) else None


def _visit(d: Day, rid: str, placement: dict[str, tuple[str, int]]) -> Visit:
    """A visit on real resources (pools are single resources: the day is built without merging)."""
    steps = []
    for si in d.requests[rid].steps:
        pool, start = placement[si.step.id]
        (member,) = d.pools[pool].members
        steps.append((si.step.id, PlacedStep(si.step.id, member.id, start, start + si.duration)))
    order = [s.id for s in d.requests[rid].request.steps]
    by_id = dict(steps)
    return Visit(rid, tuple(by_id[sid] for sid in order))


def _booking(
    full: Instance, request: Request, visit: Visit, others: Sequence[Visit], current: Sequence[Visit]
) -> Booking | None:
    """The booking of ``visit`` beside ``others``, or None when ``scheduling.check`` finds the day infeasible."""
    visits = (*others, visit)
    schedule = Schedule(full.name, FEASIBLE, visits, (), objective(full, visits))
    if check(full, schedule):
        return None
    moved = tuple(o.request for o, c in zip(others, current, strict=True) if o.steps != c.steps)
    return Booking(
        visit=visit,
        others=tuple(others),
        moved=moved,
        wait_minutes=wait_minutes(request, visit),
        total_wait_minutes=schedule.objective.total_wait_minutes,
    )
