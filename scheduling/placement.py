"""Placing one request at a time on a capacity profile: the construction moves ``solve`` starts from
and ``scheduling.recreate`` rebuilds with.

``place_in_order`` places a whole order of requests (plainly at each step's earliest fit, or where each
waits least); ``least_wait_placement`` finds the visit of one request that waits least, trying every
first start in its arrival window and every order the patient could take its steps in.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduling.check import critical_path, topological_order
from scheduling.greedy import CapacityProfile, attempt, eligible_resources, greedy_place
from scheduling.instance import DAY_MINUTES, Instance, PlacedStep, Request, Resource, Step, Visit


def priority_order(requests: Sequence[Request]) -> list[Request]:
    """Booked ones (``must_place``) first, then most valuable first; among equals the least flexible
    (earliest latest arrival, longest visit)."""
    return sorted(
        requests,
        key=lambda r: (not r.must_place, -r.priority, r.arrival[1] if r.arrival else 24 * 60, -critical_path(r), r.id),
    )


def place_in_order(instance: Instance, order: Sequence[Request], *, least_wait: bool = False) -> list[Visit]:
    """Greedy placement of ``order`` around the booked visits.

    Plain: each step at its earliest fit. ``least_wait``: every first-step start in the arrival
    window (on the grid of ``LEAST_WAIT_STEP`` minutes) is tried and the visit that waits least is
    kept (the earliest among equals), so the construction already avoids most idle gaps.
    """
    profile = CapacityProfile.for_instance(instance)
    visits = []
    for request in order:
        if least_wait:
            steps = least_wait_placement(profile, request)
            visit = None if steps is None else Visit(request.id, tuple(steps))
            for s in steps or ():
                profile.add(s.resource, s.start, s.end)
        else:
            visit = greedy_place(profile, request)[0]
        if visit is not None:
            visits.append(visit)
    return visits


LEAST_WAIT_STEP = 5


def least_wait_placement(
    profile: CapacityProfile,
    request: Request,
    *,
    below: int | None = None,
    prepared: Prepared | None = None,
) -> list[PlacedStep] | None:
    """The visit that waits least on ``profile`` (earliest among equals), found by trying every first
    start in the arrival window and, for steps with no order between them (ECG and echo after
    registration), each order the patient could take them in; only one waiting less than ``below``
    when given. Does not book it. ``prepared`` is ``prepare_placement(profile, request)`` when the
    caller keeps it between calls."""
    eligible, orders, cp = prepared if prepared is not None else prepare_placement(profile, request)
    if any(not e for e in eligible.values()):
        return None
    lo, hi = request.arrival if request.arrival else (0, DAY_MINUTES)
    best: tuple[int, int, list[PlacedStep]] | None = None
    live = list(orders)
    t = lo
    while t <= hi and live:
        earliest: int | None = None
        for order in list(live):
            # Attempts that can no longer beat the best found (or ``below``) give up early.
            beat = (best[0], best[1], cp) if best is not None else None
            if beat is None and below is not None:
                beat = (below - 1, DAY_MINUTES + 1, cp)
            steps, _, first = attempt(profile, request, eligible, order, t, why=False, beat=beat)
            if first is None:
                live.remove(order)  # its first step fits nowhere from ``t`` on
                continue
            # A later ``t`` up to ``first`` would make the same attempt.
            earliest = first if earliest is None else min(earliest, first)
            if steps is None:
                continue
            wait = max(s.end for s in steps) - first - cp
            if (best is None or wait < best[0] or (wait == best[0] and first < best[1])) and (
                below is None or wait < below
            ):
                best = (wait, first, steps)
            if wait == 0:
                return None if best is None else best[2]
        t = t + LEAST_WAIT_STEP if earliest is None else max(t + LEAST_WAIT_STEP, earliest + LEAST_WAIT_STEP)
    return None if best is None else best[2]


#: At most this many step orders are tried per request (the examples' pathways have one or two).
MAX_ORDERS = 6

Prepared = tuple[dict[str, list[Resource]], list[list[Step]], int]


def step_orders(request: Request, limit: int = MAX_ORDERS) -> list[list[Step]]:
    """Orders in which the patient can take the steps (each after all of its ``after`` steps), the
    plain ``topological_order`` first; at most ``limit``."""
    default = topological_order(request)
    out = [default]
    ids = {s.id for s in request.steps}

    def extend(prefix: list[Step], done: set[str]) -> None:
        if len(out) >= limit:
            return
        if len(prefix) == len(request.steps):
            if [s.id for s in prefix] != [s.id for s in default]:
                out.append(list(prefix))
            return
        for step in request.steps:
            if step.id not in done and all(p in done for p in step.after if p in ids):
                prefix.append(step)
                done.add(step.id)
                extend(prefix, done)
                prefix.pop()
                done.discard(step.id)

    extend([], set())
    return out


def prepare_placement(profile: CapacityProfile, request: Request) -> Prepared:
    """What ``least_wait_placement`` needs of ``request`` beyond the profile's load: eligible
    resources per step, the step orders to try, the critical path."""
    resources = list(profile.resources.values())
    eligible = {s.id: eligible_resources(resources, request, s) for s in request.steps}
    return eligible, step_orders(request), critical_path(request)
