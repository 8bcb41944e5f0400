"""Re-plan a running day: late patients, overrunning steps, and everything after ``now``.

What is done or under way stays where it happened; what has not started moves as little as possible.
Lexicographically: first drop as few announced visits as possible, then minimise the total absolute
distance between new and announced start times, then waiting. Requests that were not announced
are not considered (refilling free room is ``scheduling.refill``'s job).

The day as it now stands is itself returned as an ``Instance`` (``Replan.instance``) so that the new
schedule can be checked with ``scheduling.check`` like any other:

- a step done or in progress is pinned to its resource and actual times; its duration becomes
  what it really took (an in-progress step ends at its planned end plus any reported overrun, and
  never before ``now``);
- a visit already started drops its arrival window, and also its ``leave_by`` and maximum span:
  a patient in the unit is not sent away, the clerk sees how late it runs in the moves;
- a visit not started arrives no earlier than ``now`` (or the late patient's arrival); if its
  arrival window has passed, it may start any time later rather than be dropped.

The search stops as soon as the plan is proven optimal: at once when every step can stay where it was
announced (or as near as the day now allows: ``_proven_optimal``), else after one CP-SAT model of the whole
rest of the day proves it (small days, ``WHOLE_DAY_REQUESTS``); otherwise the LNS runs out its budget.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduling.check import check_booked, hhmm, objective
from scheduling.errors import InstanceFormatError, Problem
from scheduling.greedy import CapacityProfile
from scheduling.instance import (
    DAY_MINUTES,
    FEASIBLE,
    Instance,
    PlacedStep,
    Request,
    Schedule,
    Step,
    Unscheduled,
    Visit,
)
from scheduling.lns import Search, plan_score
from scheduling.model import Day, Placement, Plan, RequestInfo, to_visits

#: Deterministic-time units per wall second assumed when turning ``time_limit`` into a budget.
DTIME_PER_SECOND = 0.04
ROUND_DTIME = 0.05
#: Up to this many requests left to place, the search first tries the rest of the day as one CP-SAT model
#: (the largest neighbourhood the LNS ever frees): a proof of optimality ends the search at once.
WHOLE_DAY_REQUESTS = 40


@dataclass(frozen=True)
class Move:
    request: str
    step: str
    old_start: int
    new_start: int
    old_resource: str
    new_resource: str

    def __str__(self) -> str:
        where = "" if self.old_resource == self.new_resource else f" on {self.new_resource} (was {self.old_resource})"
        return f"{self.request}/{self.step}: {hhmm(self.old_start)} -> {hhmm(self.new_start)}{where}"


@dataclass(frozen=True)
class Replan:
    instance: Instance
    schedule: Schedule
    dropped: tuple[str, ...]
    moves: tuple[Move, ...]
    deviation_minutes: int
    conflicts: tuple[str, ...] = ()
    stats: dict = dataclasses.field(default_factory=dict, compare=False)


def replan(
    instance: Instance,
    announced: Sequence[Visit],
    *,
    now: int,
    actual: Mapping[tuple[str, str], tuple[int, int | None]] | None = None,
    late_arrivals: Mapping[str, int] | None = None,
    overruns: Mapping[tuple[str, str], int] | None = None,
    time_limit: float = 2.0,
    workers: int = 2,
    seed: int = 0,
) -> Replan:
    """A new plan for the rest of the day (see module docstring).

    ``Replan.conflicts`` lists overloads the reported facts themselves cause (an overrun running into
    a booked visit): nothing can be moved to solve them, the clerk has to.

    ``actual[(request, step)]`` is ``(start, end)`` of a step done, or ``(start, None)`` of one under
    way; ``late_arrivals[request]`` the minute a late patient arrives (or is now expected);
    ``overruns[(request, step)]`` extra minutes an in-progress step is expected to take. Raises
    ``InstanceFormatError`` naming every reference to an unknown request or step.
    """
    began = time.perf_counter()
    actual, late_arrivals, overruns = dict(actual or {}), dict(late_arrivals or {}), dict(overruns or {})
    _validate(instance, announced, now, actual, late_arrivals, overruns)
    visits = {v.request: {s.id: s for s in v.steps} for v in announced}
    pinned = _pinned(instance, visits, now, actual, overruns)
    current = _current_instance(instance, visits, pinned, now, late_arrivals)
    day = Day(current, pinned=pinned, not_before=now, merge=False)
    started = {rid for rid, _ in pinned}
    value = {rid: (2 * len(visits) + 1 if rid in started else 1) for rid in visits}
    target = {
        (rid, sid): s.start for rid, steps in visits.items() for sid, s in steps.items() if (rid, sid) not in pinned
    }
    plan = _repair(day, visits)
    before = plan_score(day, plan, value, target)
    search = Search(day, plan, value=value, target=target, seed=seed, size=10)
    deadline = began + time_limit
    left = deadline - time.perf_counter()
    proven = _proven_optimal(day, plan, visits, target)
    dtime_budget = DTIME_PER_SECOND * left * max(1, min(workers, 2))
    if left > 0.05 and day.requests and not proven and len(search.ids) <= WHOLE_DAY_REQUESTS:
        search.step_whole(round_dtime=min(ROUND_DTIME, dtime_budget), wall_left=left)
        left = deadline - time.perf_counter()
    if left > 0.05 and day.requests and not proven and not search.stats.proven:
        search.run(
            dtime_budget=dtime_budget, deadline=deadline,
            round_dtime=ROUND_DTIME, threads=min(workers, 2),
        )
    plan = search.plan
    placed = to_visits(day, plan, best_fit=True)
    dropped = tuple(rid for rid in visits if rid not in plan)
    schedule = Schedule(
        instance=current.name,
        status=FEASIBLE,
        visits=tuple(placed),
        unscheduled=tuple(Unscheduled(rid, "no longer fits today after the delays") for rid in dropped),
        objective=objective(current, placed),
        solve_seconds=round(time.perf_counter() - began, 3),
    )
    moves = tuple(
        Move(v.request, s.id, old.start, s.start, old.resource, s.resource)
        for v in placed
        for s in v.steps
        for old in (visits[v.request][s.id],)
        if (old.start, old.resource) != (s.start, s.resource)
    )
    final = plan_score(day, plan, value, target)
    stats = {
        "repair": {"placed": before[0], "deviation": -before[1], "wait": -before[2]},
        "lns_rounds": search.stats.rounds,
        "lns_improved": search.stats.improved,
        "grid": day.grid,
        "proven_by_bound": proven,
        "whole_day_rounds": search.stats.by_kind.get("whole", [0, 0])[0],
        "proven": proven or search.stats.proven,
    }
    happened = tuple(
        Visit(rid, tuple(p for (r, _), p in pinned.items() if r == rid)) for rid in dict.fromkeys(r for r, _ in pinned)
    )
    conflicts = tuple(check_booked(dataclasses.replace(current, booked=current.booked + happened)))
    return Replan(current, schedule, dropped, moves, -final[1], conflicts, stats)


def _forced_start(domain: Sequence[tuple[int, int]], target: int) -> int | None:
    """The one allowed start nearest ``target``; ``None`` when two are equally near (or none is allowed)."""
    nearest: dict[int, int] = {}
    for a, b in domain:
        start = min(max(target, a), b)
        nearest[start] = abs(start - target)
    if not nearest:
        return None
    least = min(nearest.values())
    best = [start for start, distance in nearest.items() if distance == least]
    return best[0] if len(best) == 1 else None


def _proven_optimal(day: Day, plan: Plan, visits: Mapping[str, object], target: Mapping[tuple[str, str], int]) -> bool:
    """Whether no plan can beat ``plan``, so the search can be skipped: every visit is placed and every step
    not yet under way starts at the one allowed time nearest its announced start. The deviation is then the
    least possible, each start is forced by it, and so is the wait: the score (placed, deviation, wait) is
    the day's optimum. Typical when nothing is late."""
    if any(rid not in plan or rid not in day.requests for rid in visits):
        return False
    for rid, placement in plan.items():
        for info in day.requests[rid].steps:
            if info.pinned is not None:
                continue
            wanted = target.get((rid, info.step.id))
            if wanted is None or placement[info.step.id][1] != _forced_start(info.domain, wanted):
                return False
    return True


def _validate(
    instance: Instance,
    announced: Sequence[Visit],
    now: int,
    actual: Mapping[tuple[str, str], tuple[int, int | None]],
    late_arrivals: Mapping[str, int],
    overruns: Mapping[tuple[str, str], int],
) -> None:
    requests = {r.id: r for r in instance.requests}
    resources = {r.id for r in instance.resources}
    problems: list[Problem] = []
    if not 0 <= now <= DAY_MINUTES:
        problems.append(Problem("now", f"{now} is not a minute of the day (0..{DAY_MINUTES})"))
    steps_of: dict[str, set[str]] = {}
    for i, visit in enumerate(announced):
        request = requests.get(visit.request)
        if request is None:
            problems.append(Problem(f"announced[{i}].request", f"unknown request {visit.request!r}"))
            continue
        ids = {s.id for s in request.steps}
        placed = {s.id for s in visit.steps}
        if placed != ids:
            problems.append(Problem(f"announced[{i}]", f"{visit.request} must place exactly its steps {sorted(ids)}"))
        for s in visit.steps:
            if s.resource not in resources:
                problems.append(Problem(f"announced[{i}].{s.id}.resource", f"unknown resource {s.resource!r}"))
        steps_of[visit.request] = placed
    for (rid, sid), (start, end) in actual.items():
        where = f"actual[{rid}/{sid}]"
        if sid not in steps_of.get(rid, ()):
            problems.append(Problem(where, "no such step in the announced visits"))
        elif start > now or (end is not None and not start < end <= now):
            problems.append(Problem(where, f"start {start} and end {end} must satisfy start < end <= now ({now})"))
    for (rid, sid), extra in overruns.items():
        where = f"overruns[{rid}/{sid}]"
        if (rid, sid) not in actual or actual[(rid, sid)][1] is not None:
            problems.append(Problem(where, "only a step under way (in actual with end None) can overrun"))
        elif extra < 0:
            problems.append(Problem(where, f"{extra} is negative"))
    for rid, t in late_arrivals.items():
        if rid not in steps_of:
            problems.append(Problem(f"late_arrivals[{rid}]", "not an announced visit"))
        elif not 0 <= t < DAY_MINUTES:
            problems.append(Problem(f"late_arrivals[{rid}]", f"{t} is not a minute of the day"))
    if problems:
        raise InstanceFormatError(problems)


def _pinned(
    instance: Instance,
    visits: Mapping[str, Mapping[str, PlacedStep]],
    now: int,
    actual: Mapping[tuple[str, str], tuple[int, int | None]],
    overruns: Mapping[tuple[str, str], int],
) -> dict[tuple[str, str], PlacedStep]:
    durations = {(r.id, s.id): s.duration for r in instance.requests for s in r.steps}
    pinned = {}
    for (rid, sid), (start, end) in actual.items():
        if end is None:
            end = max(start + durations[(rid, sid)] + overruns.get((rid, sid), 0), now, start + 1)
        pinned[(rid, sid)] = PlacedStep(sid, visits[rid][sid].resource, start, end)
    return pinned


def _current_instance(
    instance: Instance,
    visits: Mapping[str, Mapping[str, PlacedStep]],
    pinned: Mapping[tuple[str, str], PlacedStep],
    now: int,
    late_arrivals: Mapping[str, int],
) -> Instance:
    requests: list[Request] = []
    for request in instance.requests:
        if request.id not in visits:
            continue
        steps = tuple(_current_step(request, s, pinned, now) for s in request.steps)
        if any(rid == request.id for rid, _ in pinned):
            request = dataclasses.replace(request, steps=steps, arrival=None, leave_by=None, max_visit_minutes=None)
        else:
            a0, a1 = request.arrival or (0, DAY_MINUTES)
            lo = max(a0, now, late_arrivals.get(request.id, 0))
            request = dataclasses.replace(request, steps=steps, arrival=(lo, a1 if a1 >= lo else DAY_MINUTES))
        requests.append(request)
    return dataclasses.replace(instance, name=instance.name, requests=tuple(requests))


def _current_step(request: Request, step: Step, pinned: Mapping[tuple[str, str], PlacedStep], now: int) -> Step:
    """The step with its real duration if pinned, and with gaps that history has already broken (between
    pinned steps, or a ``max_gap`` that ran out before ``now``) relaxed: the past cannot be re-planned."""
    me = pinned.get((request.id, step.id))
    if me is not None:
        step = dataclasses.replace(step, duration=me.end - me.start)
    preds = [pinned.get((request.id, p)) for p in step.after]
    if not step.after or any(p is None for p in preds):
        return step
    latest = max(p.end for p in preds if p is not None)
    earliest_pred_end = max(p.end for p in preds if p is not None)
    if me is not None:
        if any(me.start - p.end < step.min_gap for p in preds if p is not None):
            step = dataclasses.replace(step, min_gap=0)
        if step.max_gap is not None and me.start - latest > step.max_gap:
            step = dataclasses.replace(step, max_gap=None)
    elif step.max_gap is not None and max(now, earliest_pred_end + step.min_gap) > latest + step.max_gap:
        step = dataclasses.replace(step, max_gap=None)
    return step


def _repair(day: Day, visits: Mapping[str, Mapping[str, PlacedStep]]) -> Plan:
    """A first feasible plan: visits in announced order, each remaining step at its announced time or
    the earliest fit after it (after ``now``), on its announced resource if possible."""
    profile = CapacityProfile(day.instance.resources)
    for pid, load in day.fixed_load.items():
        for a, b, h in load:
            profile.add(pid, a, b, h)
    plan: Plan = {}
    order = sorted(visits, key=lambda rid: (min(s.start for s in visits[rid].values()), rid))
    for rid in order:
        info = day.requests[rid]
        placement = _place(profile, info, visits[rid], prefer_announced=True)
        if placement is None:
            placement = _place(profile, info, visits[rid], prefer_announced=False)
        if placement is None:
            continue
        for si in info.steps:
            if si.pinned is None:
                pool, start = placement[si.step.id]
                profile.add(pool, start, start + si.duration)
        plan[rid] = placement
    return plan


def _place(
    profile: CapacityProfile, info: RequestInfo, announced: Mapping[str, PlacedStep], *, prefer_announced: bool
) -> Placement | None:
    request = info.request
    times: dict[str, tuple[int, int]] = {}
    placement: Placement = {}
    busy = max((si.pinned.end for si in info.steps if si.pinned is not None), default=0)
    for si in info.steps:
        step = si.step
        if si.pinned is not None:
            times[step.id] = (si.pinned.start, si.pinned.end)
            placement[step.id] = (si.pinned.resource, si.pinned.start)
            busy = max(busy, si.pinned.end)
            continue
        if not si.domain:
            return None
        ends = [times[p][1] for p in step.after]
        lo = max([si.domain[0][0], busy] + [e + step.min_gap for e in ends])
        hi = si.domain[-1][1]
        if ends and step.max_gap is not None:
            hi = min(hi, max(ends) + step.max_gap)
        want = max(lo, announced[step.id].start) if prefer_announced else lo
        old = announced[step.id].resource
        best: tuple[int, int, str] | None = None
        for pool in si.pools:
            t = profile.earliest_fit(pool, want, si.duration, hi)
            if t is not None and (best is None or (t, pool != old) < best[:2]):
                best = (t, pool != old, pool)
        if best is None:
            return None
        times[step.id] = (best[0], best[0] + si.duration)
        placement[step.id] = (best[2], best[0])
        busy = max(busy, best[0] + si.duration)
    first = min(a for a, _ in times.values())
    last = max(b for _, b in times.values())
    if request.arrival is not None and not request.arrival[0] <= first <= request.arrival[1]:
        return None
    if request.leave_by is not None and last > request.leave_by:
        return None
    if request.max_visit_minutes is not None and last - first > request.max_visit_minutes:
        return None
    return placement
