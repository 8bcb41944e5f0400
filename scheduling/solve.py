"""Optimise a clinic day: place as much priority as possible, then cut waiting (see ``day-instance.md``).

Phases, each keeping a complete feasible plan so that any stop returns the best so far:

1. construct: the first-come-first-served ``greedy`` (also the baseline reported in ``stats``), the
   same placement taken in priority order (most valuable and least flexible first), the priority
   order placed where each visit waits least, and the caller's ``hint`` when it is feasible; the
   lexicographically best is kept, then a quick CP-SAT-free ``descent``;
2. recreate: ruin and recreate without CP-SAT (``scheduling.recreate``): a few related visits out,
   back in one by one where each waits least, or a waiting visit put where it would wait least and
   the visits in its way moved (ejection). On this 2-core machine a CP-SAT sub-model of 16 visits
   costs about half a second and a move here about 2 ms, so on large days (more than
   ``FULL_MODEL_MAX_REQUESTS``) this phase gets most of the time and removes most of the waiting;
3. lns: large-neighbourhood search over small CP-SAT sub-models (``scheduling.lns``); most of the
   time on small days; on large days it mostly finds room for more valuable requests. A round that
   frees every request and is proven optimal proves the plan optimal: the search stops there and the
   day is ``OPTIMAL`` (a day of a few requests takes milliseconds instead of its whole time limit);
4. recreate again (``1 - RECREATE_FIRST`` of the moves), for the waiting the LNS added (not after a proof);
5. bound: the relaxation of ``scheduling.bound`` (each request's least wait alone, energetic capacity
   cuts) in the time the phases leave, for a bound on priority (``priority_bound``) and on waiting at
   the plan's priority (``best_bound_wait``, ``gap``); a plan that meets both is proven optimal. On
   small days, unless that already proves it, the full model with the plan as a complete hint may
   still improve the plan or prove it optimal (on large days it did neither within its share).

The time limit, less an estimate of what explaining the requests left out will cost, is split between
the phases (``stats["budget_seconds"]``). Determinism: the CP-SAT phases are budgeted in CP-SAT's
deterministic time, ruin and recreate in a number of moves, and phase 5 runs as deterministic
single-threaded solves (see ``_full_model``), so the same instance, seed and worker count give the
same schedule. The wall-clock ``time_limit`` is only a safety net: on a machine so loaded that it binds
before the deterministic budget (``stats["clock_stopped"]`` names the phases it ended), the result is
still the best found so far, but may differ; explaining the requests left out then falls back to a
plain reason for those it has no time left for.

Booked but movable visits (``must_place`` requests, see the spec): every phase compares plans by the
placed *value* of ``must_place_value``, in which each ``must_place`` request is worth more than all other
requests together, so no phase ever trades one away (the construction, descent, ruin and recreate and
the LNS only accept plans that lose no value), and CP-SAT sub-models additionally hold every
``must_place`` request the current plan places as present (``scheduling.model.build``). A feasible
``hint`` placing all of them therefore always yields a schedule placing all of them. When no schedule
placing them all was found, the schedule is still returned (``FEASIBLE``, never ``OPTIMAL``), the
missing ones are in ``unscheduled`` with a reason starting ``MUST_PLACE_REASON``, ``stats["must_place_missing"]``
lists them and ``check`` reports the schedule as breaking the contract (``must-place``); when a full
model proved that the best value leaves some out, ``stats["must_place_impossible"]`` is True.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ortools.sat.python import cp_model

from scheduling.bound import DayBounds, day_bounds
from scheduling.check import check, check_booked, objective
from scheduling.errors import InstanceContradiction
from scheduling.explain import explain_unscheduled
from scheduling.greedy import CapacityProfile, greedy
from scheduling.instance import (
    FEASIBLE,
    OPTIMAL,
    Instance,
    Request,
    Resource,
    Schedule,
    Unscheduled,
    Visit,
)
from scheduling.lns import Search, plan_score, request_score
from scheduling.model import Day, Plan, build, plan_from_visits, to_visits
from scheduling.placement import least_wait_placement, place_in_order, priority_order
from scheduling.recreate import Recreate

#: Share of the time limit kept for the final full-model phase (bound / proof), and its minimum in seconds.
BOUND_SHARE = 0.2
BOUND_MIN_SECONDS = 0.5
#: Deterministic-time units CP-SAT spends per wall-clock second and thread, used to turn the caller's
#: time limit into a deterministic budget for the LNS and bound phases: the same instance, seed and
#: workers then give the same schedule. On a faster machine the phases end early; on a busier one the
#: wall clock ends them (``stats["clock_stopped"]``), and the result may differ between runs. How the
#: figure was measured, and on what, is in docs/performance.md.
DTIME_PER_SECOND = 0.025
ROUND_DTIME = 0.03
#: At most this share of the time limit goes to the CP-SAT-free descent after construction.
DESCENT_SHARE = 0.1
#: Share of the time limit given to ruin and recreate, and the moves it is worth per second (measured
#: figures in docs/performance.md): when the machine makes fewer, the wall clock ends the phase first.
#: On small days (those the full model runs on) CP-SAT's sub-models are cheap and prove optimality,
#: so ruin and recreate gets a small share; on large days it gets most of the time: per wall second
#: its moves cut more waiting than CP-SAT's sub-models there, which mainly place more priority.
RECREATE_SHARE = 0.2
RECREATE_SHARE_LARGE = 0.75
RECREATE_MOVES_PER_SECOND = 300
#: Share of the moves made before the LNS phase (the rest after it).
RECREATE_FIRST = 0.7
#: The full model (bound phase) runs only on days with at most this many placeable requests: on larger
#: ones it neither improves the plan nor proves a bound above 0 within its share, so its
#: share goes to ruin and recreate (their ``gap`` is then reported against the trivial bound 0).
FULL_MODEL_MAX_REQUESTS = 50
#: Explaining each request left out costs about this much (an insertion solve per relaxation); that
#: much of the time limit (at most ``EXPLAIN_MAX_SHARE``) is kept back for it.
EXPLAIN_SECONDS_PER_REQUEST = 0.04
#: Kept back in any case: a solver's overrun of its time limit, turning the plan into visits.
FINISH_SECONDS = 0.15
EXPLAIN_MAX_SHARE = 0.3
#: Start of the ``unscheduled`` reason of a ``must_place`` request no schedule found could keep.
MUST_PLACE_REASON = "booked visit that must stay on the day could not be placed"


def must_place_value(requests: Sequence[Request]) -> dict[str, int]:
    """Lexicographic tier above priority: each ``must_place`` request is worth its priority plus more than
    the priority of every request of the day together, so placing one more of them always beats any
    mix of other requests, and among plans placing the same ones priority decides as before."""
    top = sum(r.priority for r in requests) + 1
    return {r.id: r.priority + (top if r.must_place else 0) for r in requests}


def descent(day: Day, plan: Plan, value: dict[str, int], *, deadline: float, passes: int = 3) -> Plan:
    """Fast local improvement without CP-SAT: insert left-out requests (most valuable first) where they
    fit, then take each placed visit out in turn, worst waiter first, and put it back where it waits
    least given all the others. Deterministic; stops after ``passes`` passes without change or at
    ``deadline``."""
    pool_resources = [
        Resource(p.id, p.kind, p.capacity, p.available, p.members[0].attributes) for p in day.pools.values()
    ]
    profile = CapacityProfile(pool_resources)
    for pid, load in day.fixed_load.items():
        for a, b, h in load:
            profile.add(pid, a, b, h)
    plan = {rid: dict(pl) for rid, pl in plan.items()}
    durations = {rid: {si.step.id: si.duration for si in info.steps} for rid, info in day.requests.items()}

    def book(rid: str, amount: int) -> None:
        for sid, (pool, start) in plan[rid].items():
            profile.add(pool, start, start + durations[rid][sid], amount)

    for rid in plan:
        book(rid, 1)
    for _ in range(passes):
        changed = False
        left_out = [rid for rid, info in day.requests.items() if info.feasible and rid not in plan]
        for rid in sorted(left_out, key=lambda r: (-value.get(r, 1), r)):
            if time.perf_counter() > deadline:
                return plan
            steps = least_wait_placement(profile, day.requests[rid].request)
            if steps is not None:
                plan[rid] = {s.id: (s.resource, s.start) for s in steps}
                book(rid, 1)
                changed = True
        waits = {rid: -request_score(day, rid, pl, value, None)[2] for rid, pl in plan.items()}
        for rid in sorted(plan, key=lambda r: (-waits[r], r)):
            if waits[rid] == 0 or time.perf_counter() > deadline:
                continue
            book(rid, -1)
            steps = least_wait_placement(profile, day.requests[rid].request, below=waits[rid])
            if steps is not None:
                plan[rid] = {s.id: (s.resource, s.start) for s in steps}
                changed = True
            book(rid, 1)
        if not changed:
            break
    return plan


def _valid_hint(instance: Instance, hint: Sequence[Visit]) -> list[Visit] | None:
    ids = {r.id for r in instance.requests}
    visits = [v for v in hint if v.request in ids]
    placed = {v.request for v in visits}
    trial = Schedule(
        instance.name, FEASIBLE, tuple(visits),
        tuple(Unscheduled(r.id, "") for r in instance.requests if r.id not in placed),
        objective(instance, visits),
    )
    # A hint may leave requests out, must_place ones too (the search then looks for room for them).
    return visits if not [v for v in check(instance, trial) if v.kind != "must-place"] else None


def _reasons(
    instance: Instance, visits: Sequence[Visit], day: Day, missing: Sequence[str], *, deadline: float | None = None
) -> list[Unscheduled]:
    """A reason for each request left out, found by ``scheduling.explain``; past ``deadline`` (a machine
    too busy for the time kept back for this) the remaining ones get the plain reason instead."""
    out = []
    for rid in missing:
        info = day.requests[rid]
        if deadline is None or time.perf_counter() < deadline:
            reason = explain_unscheduled(instance, visits, info.request)
        elif not info.feasible:
            reason = info.why_not
        else:
            reason = "no room for the whole visit on this day around the visits already planned"
        out.append(Unscheduled(rid, reason))
    return out


def solve(
    instance: Instance,
    *,
    time_limit: float = 10.0,
    workers: int = 2,
    seed: int = 0,
    hint: Sequence[Visit] | None = None,
    wall_limit: float | None = None,
) -> Schedule:
    """The best schedule found for ``instance`` within ``time_limit`` seconds (see module docstring).

    ``time_limit`` sizes the deterministic budgets and is also the wall-clock safety net, unless
    ``wall_limit`` (seconds, at least ``time_limit``) gives the net more room: a caller who needs the
    same schedule on a busy machine more than a quick answer (a test, an audit) passes a larger one;
    on a machine that keeps up with the budgets the result is the same either way.

    Raises ``InstanceContradiction`` when the booked visits alone already break the day.
    """
    began = time.perf_counter()
    stretch = max(1.0, (wall_limit or time_limit) / time_limit) if time_limit > 0 else 1.0
    problems = check_booked(instance)
    if problems:
        raise InstanceContradiction(problems)
    day = Day(instance)
    value = must_place_value(instance.requests)
    stats: dict = {"grid": day.grid, "pools": len(day.pools), "phases": []}

    base = greedy(instance)
    stats["greedy_priority"] = base.objective.scheduled_priority
    stats["greedy_wait"] = base.objective.total_wait_minutes
    candidates: list[tuple[str, Plan]] = [("greedy", plan_from_visits(day, base.visits))]
    by_priority = priority_order(instance.requests)
    candidates.append(("priority", plan_from_visits(day, place_in_order(instance, by_priority))))
    candidates.append(("priority-least-wait", plan_from_visits(day, place_in_order(instance, by_priority, least_wait=True))))
    if hint:
        valid = _valid_hint(instance, hint)
        stats["hint"] = "used" if valid is not None else "rejected: not feasible"
        if valid is not None:
            candidates.append(("hint", plan_from_visits(day, valid)))
    name, plan = max(candidates, key=lambda c: plan_score(day, c[1], value))
    _phase(stats, "construct:" + name, day, plan, value, began)

    # The budget of the optimising phases: the time limit less what explaining the requests left out
    # will take (estimated from the construction, so the split is deterministic).
    feasible = [rid for rid, info in day.requests.items() if info.feasible]
    left_out = len(instance.requests) - len(plan)
    limit = time_limit - min(EXPLAIN_MAX_SHARE * time_limit, FINISH_SECONDS + EXPLAIN_SECONDS_PER_REQUEST * left_out)
    full_model = len(feasible) <= FULL_MODEL_MAX_REQUESTS
    bound_time = max(BOUND_MIN_SECONDS, BOUND_SHARE * limit) if full_model else 0.0
    recreate_time = (RECREATE_SHARE if full_model else RECREATE_SHARE_LARGE) * limit
    lns_time = max(0.0, limit - bound_time - recreate_time - DESCENT_SHARE * limit)

    def wall(reserve: float = 0.0) -> float:
        """The wall-clock moment that leaves ``reserve`` budget seconds for the phases after."""
        return began + stretch * (limit - reserve)

    stats["budget_seconds"] = {
        "descent": round(DESCENT_SHARE * limit, 3), "recreate": round(recreate_time, 3),
        "lns": round(lns_time, 3), "bound": round(bound_time, 3), "explain": round(time_limit - limit, 3),
    }

    plan = descent(day, plan, value, deadline=began + stretch * DESCENT_SHARE * limit)
    _phase(stats, "descent", day, plan, value, began)

    # Ruin and recreate before and after the LNS: the LNS mostly finds room for more valuable requests
    # (priority first), which can add waiting that only a later ruin and recreate takes away.
    moves = int(RECREATE_MOVES_PER_SECOND * recreate_time)
    first_moves = int(RECREATE_FIRST * moves)
    after_time = (1 - RECREATE_FIRST) * recreate_time
    # Wall-clock safety stops: a phase slower than its budget may run into a quarter of the time of
    # the phases after it, which then end by the clock too (``stats["clock_stopped"]``).
    recreate = Recreate(day, plan, value=value, seed=seed)
    plan = recreate.run(moves=first_moves, deadline=wall(bound_time + 0.25 * (lns_time + after_time)))
    _phase(stats, "recreate", day, plan, value, began)

    threads = 2 if workers >= 2 else 1
    search = Search(day, plan, value=value, seed=seed)
    plan = search.run(
        dtime_budget=DTIME_PER_SECOND * threads * lns_time,
        deadline=wall(bound_time + 0.25 * after_time),
        round_dtime=ROUND_DTIME,
        threads=threads,
    )
    stats["lns_rounds"] = search.stats.rounds
    stats["lns_improved"] = search.stats.improved
    stats["lns_deterministic_time"] = round(search.stats.deterministic_time, 3)
    stats["lns_by_kind"] = search.stats.by_kind
    _phase(stats, "lns", day, plan, value, began)

    again = Recreate(day, plan, value=value, seed=seed + 1)
    if not search.stats.proven:  # an optimal plan cannot get better
        plan = again.run(moves=moves - first_moves, deadline=wall(bound_time))
    stats["recreate_moves"] = recreate.stats.moves + again.stats.moves
    stats["recreate_improved"] = recreate.stats.improved + again.stats.improved
    # Phases the wall clock ended before their deterministic budget (on a machine busier than the
    # calibration): only then can the same input give a different schedule.
    stats["clock_stopped"] = [
        name for name, stopped in (
            ("recreate", recreate.stats.clock_stopped or again.stats.clock_stopped),
            ("lns", search.stats.clock_stopped),
        ) if stopped
    ]
    _phase(stats, "recreate", day, plan, value, began)

    # Bounds from the relaxation of ``scheduling.bound`` (floors and energy) first: when the plan meets
    # them it is proven optimal and the full model is not needed; it cannot change the plan.
    relaxed = day_bounds(instance, priority=_priority(day, plan), deadline=wall())
    status = OPTIMAL if search.stats.proven or _meets(day, plan, value, relaxed) else FEASIBLE
    full_bound = 0
    left = wall() - time.perf_counter()
    if full_model and status != OPTIMAL and left > 0.1:
        plan, status, full_bound = _full_model(
            day, plan, value, workers=workers, seed=seed, seconds=left, dtime=DTIME_PER_SECOND * bound_time
        )
        _phase(stats, "bound", day, plan, value, began)
        priority = _priority(day, plan)
        if priority != relaxed.at_priority:
            relaxed = day_bounds(instance, priority=priority, floors=relaxed.floors, deadline=wall())
        if status != OPTIMAL and _meets(day, plan, value, relaxed):
            status = OPTIMAL

    visits = to_visits(day, plan, best_fit=True)
    missing = [r.id for r in instance.requests if r.id not in plan]
    must_missing = [r.id for r in instance.requests if r.must_place and r.id not in plan]
    if must_missing:
        stats["must_place_missing"] = must_missing
        stats["must_place_impossible"] = status == OPTIMAL
        status = FEASIBLE
    obj = objective(instance, visits)
    wait = obj.total_wait_minutes
    stats["priority_bound"] = relaxed.priority
    stats["best_bound_wait"] = wait if status == OPTIMAL else max(full_bound, relaxed.wait or 0)
    stats["bound_proven"] = relaxed.proven
    stats["gap"] = round((wait - stats["best_bound_wait"]) / wait, 4) if wait else 0.0
    solve_seconds = time.perf_counter() - began
    unscheduled = _reasons(instance, visits, day, missing, deadline=began + stretch * time_limit - FINISH_SECONDS)
    unscheduled = [
        Unscheduled(u.request, f"{MUST_PLACE_REASON}: {u.reason}") if u.request in must_missing else u
        for u in unscheduled
    ]
    stats["explain_seconds"] = round(time.perf_counter() - began - solve_seconds, 3)
    return Schedule(
        instance=instance.name,
        status=status,
        visits=tuple(visits),
        unscheduled=tuple(unscheduled),
        objective=obj,
        solve_seconds=round(solve_seconds, 3),
        stats=stats,
    )


def _priority(day: Day, plan: Plan) -> int:
    """The spec's scheduled priority of ``plan`` (without the ``must_place`` tier of the search's value)."""
    return sum(day.requests[rid].request.priority for rid in plan)


def _meets(day: Day, plan: Plan, value: dict[str, int], bounds: DayBounds) -> bool:
    """Whether ``plan`` meets the relaxation's bounds. The relaxation ignores ``must_place``; a plan placing
    every such request that is optimal without that rule is optimal with it too, one that does not is not
    a valid schedule at all."""
    if any(info.request.must_place and rid not in plan for rid, info in day.requests.items()):
        return False
    _, _, wait = plan_score(day, plan, value)
    return bounds.proves_optimal(_priority(day, plan), -wait)


def _phase(stats: dict, name: str, day: Day, plan: Plan, value: dict[str, int], began: float) -> None:
    _, _, wait = plan_score(day, plan, value)
    stats["phases"].append(
        {"phase": name, "priority": _priority(day, plan), "wait": -wait, "seconds": round(time.perf_counter() - began, 3)}
    )


def _full_model(
    day: Day, plan: Plan, value: dict[str, int], *, workers: int, seed: int, seconds: float, dtime: float
) -> tuple[Plan, str, int]:
    """Every request free, the plan as hint: a better plan if found, the status, and a bound on waiting.

    With two workers, two single-threaded solves with different seeds run side by side and the better
    plan wins (ties: the first seed's). Each is deterministic under its deterministic-time budget, so the
    pair is too; CP-SAT's own multi-threaded portfolio is not, and its interleaved mode proved far slower
    here (day-20: 11 s to optimality instead of 0.4 s).

    The bound is valid for schedules placing at least the plan's priority; it is 0 unless the solver
    proves no higher priority is possible (then its objective bound converts back to minutes of wait).
    """
    ids = [rid for rid, info in day.requests.items() if info.feasible]
    runs = min(2, max(1, workers))
    subs = [build(day, ids, plan, value=value) for _ in range(runs)]

    def run(k: int) -> tuple[cp_model.CpSolver, int]:
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = (seed + 7919 * k) % (2**31)
        solver.parameters.max_time_in_seconds = seconds
        solver.parameters.max_deterministic_time = dtime
        return solver, solver.solve(subs[k].model)

    if runs == 1:
        results = [run(0)]
    else:
        with ThreadPoolExecutor(max_workers=runs) as pool:  # CP-SAT releases the GIL while it solves
            results = list(pool.map(run, range(runs)))
    best_bound: float | None = None
    proven = False
    before = plan
    for k, (solver, status) in enumerate(results):
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            continue
        found = subs[k].extract(solver)
        if plan_score(day, found, value) > plan_score(day, plan, value):
            plan = found
        bound = solver.best_objective_bound
        best_bound = bound if best_bound is None else min(best_bound, bound)
        proven = proven or status == cp_model.OPTIMAL
    if best_bound is None:
        return before, FEASIBLE, 0
    priority, _, wait = plan_score(day, plan, value)
    # Objective = w_val * priority + sum(cp) - sum(span) = w_val * priority - wait (per model, in grid units).
    h = day.horizon()
    w_val = len(subs[0].vars) * h + 1
    bound_units = math.floor(best_bound)
    proven_status = OPTIMAL if proven else FEASIBLE
    if bound_units < w_val * (priority + 1) - len(subs[0].vars) * h:
        bound = max(0, (w_val * priority - bound_units) * day.grid)
        return plan, proven_status, min(bound, -wait)
    return plan, FEASIBLE, 0
