"""First-come-first-served baseline placement, and the capacity profile it is built on.

``greedy`` takes requests in arrival order (earliest arrival window start, then id) and puts each
step, in topological order, at its earliest feasible time on any eligible resource. It never moves
anything already placed, so it is fast (a 200-request day in a few tens of milliseconds) and gives
solvers a complete starting schedule and benchmarks a baseline.

A visit is placed one step after another: each step starts after every earlier step of the visit
has ended, which keeps the patient in one place at a time even for steps with no ``after`` edge
between them.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from scheduling.check import critical_path, hhmm, objective, topological_order
from scheduling.instance import (
    DAY_MINUTES,
    FEASIBLE,
    Instance,
    PlacedStep,
    Request,
    Resource,
    Schedule,
    Step,
    Unscheduled,
    Visit,
)

#: How far the first step of a request is pushed on each retry when a later step cannot be placed.
RETRY_STEP = 5


class CapacityProfile:
    """Usage of every resource over the day, as a step function, against its capacity and opening hours.

    Per resource, ``_times`` holds sorted breakpoints (the first is 0) and ``_load[i]`` the number of
    steps in use on ``[_times[i], _times[i+1])``. ``add`` books a step; ``earliest_fit`` finds the
    earliest start at which a step of some duration fits inside one opening window without going over
    capacity. Booked visits are usually added first (``CapacityProfile.for_instance``).
    """

    def __init__(self, resources: Iterable[Resource]):
        self.resources: dict[str, Resource] = {r.id: r for r in resources}
        self._times: dict[str, list[int]] = {rid: [0] for rid in self.resources}
        self._load: dict[str, list[int]] = {rid: [0] for rid in self.resources}

    @classmethod
    def for_instance(cls, instance: Instance) -> CapacityProfile:
        """A profile of the instance's resources with its booked visits already added."""
        profile = cls(instance.resources)
        for visit in instance.booked:
            for step in visit.steps:
                if step.resource in profile.resources:
                    profile.add(step.resource, step.start, step.end)
        return profile

    def copy(self) -> CapacityProfile:
        other = CapacityProfile(())
        other.resources = self.resources
        other._times = {k: list(v) for k, v in self._times.items()}
        other._load = {k: list(v) for k, v in self._load.items()}
        return other

    def _split(self, rid: str, t: int) -> int:
        """Index of the segment starting exactly at ``t``, creating the breakpoint if needed."""
        times, load = self._times[rid], self._load[rid]
        i = bisect_right(times, t) - 1
        if times[i] == t:
            return i
        times.insert(i + 1, t)
        load.insert(i + 1, load[i])
        return i + 1

    def add(self, resource: str, start: int, end: int, amount: int = 1) -> None:
        """Use one unit (or ``amount``; negative to release) of ``resource`` on ``[start, end)``."""
        if end <= start:
            return
        i = self._split(resource, start)
        j = self._split(resource, end)
        load = self._load[resource]
        for k in range(i, j):
            load[k] += amount

    def remove(self, resource: str, start: int, end: int) -> None:
        self.add(resource, start, end, -1)

    def usage(self, resource: str, t: int) -> int:
        """Number of steps using ``resource`` at minute ``t``."""
        times = self._times[resource]
        return self._load[resource][bisect_right(times, t) - 1]

    def fits(self, resource: str, start: int, duration: int) -> bool:
        """Whether a step of ``duration`` can start at ``start`` on ``resource``."""
        return self.earliest_fit(resource, start, duration, latest_start=start) == start

    def earliest_fit(
        self, resource: str, not_before: int, duration: int, latest_start: int | None = None
    ) -> int | None:
        """Earliest start ``>= not_before`` (and ``<= latest_start``) where the step fits, or ``None``."""
        res = self.resources[resource]
        times, load = self._times[resource], self._load[resource]
        n = len(times)
        capacity = res.capacity
        limit = DAY_MINUTES if latest_start is None else latest_start
        t = max(not_before, 0)
        for win_start, win_end in res.available:
            if win_end - duration < t:
                continue
            if t < win_start:
                t = win_start
            i = bisect_right(times, t) - 1  # segment holding t; a blocked segment's end starts segment i + 1
            while t <= limit and t + duration <= win_end:
                end = t + duration
                j = i
                while j < n and times[j] < end:
                    if load[j] >= capacity:
                        break
                    j += 1
                else:
                    return t
                if j + 1 >= n:
                    t = DAY_MINUTES
                    break
                i = j + 1
                t = times[i]
            if t > limit:
                return None
        return None


def eligible_resources(instance_resources: Sequence[Resource], request: Request, step: Step) -> list[Resource]:
    """Resources that may serve ``step``: its kind, its ``resources`` list if any, the request's ``requires``."""
    return [
        r
        for r in instance_resources
        if r.kind == step.kind
        and (step.resources is None or r.id in step.resources)
        and request.requires <= r.attributes
    ]


def arrival_order(requests: Iterable[Request]) -> list[Request]:
    """First come, first served: earliest arrival window start, then id."""
    return sorted(requests, key=lambda r: (r.arrival[0] if r.arrival else 0, r.id))


def place_request(
    profile: CapacityProfile,
    request: Request,
    eligible: dict[str, list[Resource]],
    order: list[Step],
    first_not_before: int,
    *,
    why: bool = True,
    beat: tuple[int, int, int] | None = None,
) -> tuple[list[PlacedStep] | None, str]:
    """One attempt: steps in ``order`` at their earliest fits, the first not before ``first_not_before``.

    Returns the placed steps, or ``None`` and why the attempt failed (an empty reason when ``why`` is
    false: searches that only need the placement skip the wording). Does not change ``profile``.

    ``beat = (wait, first, critical path)``: give up (``None``) as soon as the visit can no longer wait
    less than ``wait`` minutes, or as little but start before ``first``. Every later step starts after
    the one before it ends, so the end of the last placed step plus the durations still to place is a
    lower bound of the visit's end.
    """
    steps, reason, _ = attempt(profile, request, eligible, order, first_not_before, why=why, beat=beat)
    return steps, reason


def attempt(
    profile: CapacityProfile,
    request: Request,
    eligible: dict[str, list[Resource]],
    order: list[Step],
    first_not_before: int,
    *,
    why: bool = True,
    beat: tuple[int, int, int] | None = None,
) -> tuple[list[PlacedStep] | None, str, int | None]:
    """``place_request``, also returning where the first step went (``None`` when it fits nowhere)."""
    placed: dict[str, PlacedStep] = {}
    first_start: int | None = None
    busy_until = 0
    to_place = sum(step.duration for step in order) if beat is not None else 0
    for step in order:
        preds = [placed[p] for p in step.after]
        latest_pred = max((p.end for p in preds), default=None)
        lo = max(busy_until, latest_pred + step.min_gap if latest_pred is not None else 0)
        hi = DAY_MINUTES - step.duration
        if first_start is None:
            lo = max(lo, first_not_before)
            if request.arrival is not None:
                lo = max(lo, request.arrival[0])
                hi = min(hi, request.arrival[1])
        if latest_pred is not None and step.max_gap is not None:
            hi = min(hi, latest_pred + step.max_gap)
        if request.leave_by is not None:
            hi = min(hi, request.leave_by - step.duration)
        if request.max_visit_minutes is not None and first_start is not None:
            hi = min(hi, first_start + request.max_visit_minutes - step.duration)
        best: tuple[int, str] | None = None
        for res in eligible[step.id]:
            t = profile.earliest_fit(res.id, lo, step.duration, latest_start=hi if best is None else min(hi, best[0] - 1))
            if t is not None and (best is None or t < best[0]):
                best = (t, res.id)
        if best is None:
            if not why:
                return None, "", first_start
            if lo > hi:
                reason = f"no time left for {step.id} ({step.kind}, {step.duration} min) after {hhmm(lo)}"
            else:
                reason = f"no {step.kind} free for {step.duration} min between {hhmm(lo)} and {hhmm(hi + step.duration)}"
            return None, reason, first_start
        start, rid = best
        placed[step.id] = PlacedStep(step.id, rid, start, start + step.duration)
        busy_until = start + step.duration
        if first_start is None:
            first_start = start
        if beat is not None:
            to_place -= step.duration
            least = busy_until + to_place - first_start - beat[2]
            if least > beat[0] or (least == beat[0] and first_start >= beat[1]):
                return None, "", first_start
    return list(placed.values()), "", first_start


def greedy_place(profile: CapacityProfile, request: Request) -> tuple[Visit | None, str]:
    """Place one request on ``profile`` (and add it there) or say plainly why it fits nowhere.

    Tries the earliest start first; when a later step cannot follow (a ``max_gap``, ``leave_by`` or
    ``max_visit_minutes`` is hit) it pushes the first step ``RETRY_STEP`` minutes later and tries again.
    """
    resources = list(profile.resources.values())
    eligible = {s.id: eligible_resources(resources, request, s) for s in request.steps}
    for step in request.steps:
        if not eligible[step.id]:
            needs = f" with {', '.join(sorted(request.requires))}" if request.requires else ""
            among = f" among {', '.join(step.resources)}" if step.resources else ""
            return None, f"no {step.kind} resource{needs}{among} for step {step.id}"
    shortest = critical_path(request)
    if request.max_visit_minutes is not None and shortest > request.max_visit_minutes:
        return None, f"needs at least {shortest} min, longer than its maximum visit of {request.max_visit_minutes} min"
    order = topological_order(request)
    first_reason = ""
    not_before = request.arrival[0] if request.arrival else 0
    latest_first = request.arrival[1] if request.arrival else DAY_MINUTES
    while not_before <= latest_first:
        steps, reason = place_request(profile, request, eligible, order, not_before)
        if steps is not None:
            for s in steps:
                profile.add(s.resource, s.start, s.end)
            return Visit(request.id, tuple(steps)), ""
        first_reason = first_reason or reason
        first = profile_first_fit(profile, eligible[order[0].id], not_before, order[0].duration, latest_first)
        if first is None:
            break
        not_before = max(not_before, first) + RETRY_STEP
    return None, first_reason or "no room on this day"


def profile_first_fit(
    profile: CapacityProfile, resources: list[Resource], not_before: int, duration: int, latest: int
) -> int | None:
    fits = [profile.earliest_fit(r.id, not_before, duration, latest) for r in resources]
    return min((f for f in fits if f is not None), default=None)


def greedy(instance: Instance) -> Schedule:
    """First-come-first-served baseline schedule of ``instance`` (status ``FEASIBLE``)."""
    began = time.perf_counter()
    profile = CapacityProfile.for_instance(instance)
    visits: list[Visit] = []
    unscheduled: list[Unscheduled] = []
    for request in arrival_order(instance.requests):
        visit, reason = greedy_place(profile, request)
        if visit is None:
            unscheduled.append(Unscheduled(request.id, reason))
        else:
            visits.append(visit)
    return Schedule(
        instance=instance.name,
        status=FEASIBLE,
        visits=tuple(visits),
        unscheduled=tuple(unscheduled),
        objective=objective(instance, visits),
        solve_seconds=time.perf_counter() - began,
        stats={"solver": "greedy"},
    )
