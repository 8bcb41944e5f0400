"""Book one request into a day whose not-yet-started visits may be re-arranged (``must_place``).

Interim version written beside the Book screen until the engine's own ``book`` lands (same API): it
first inserts the request around the day as it stands (nothing moves); when that fails or makes the
patient wait, it tries a simple re-arrangement: place the request with only ``day.booked`` fixed, then
put every ``must_place`` visit back, keeping its current placement where it still fits and otherwise
re-inserting it inside its own (narrowed) arrival window. The better of the two answers is returned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scheduling.insert import SEPARATION, FreeTime, arrival, insert_request, wait_minutes
from scheduling.instance import Instance, Request, Visit


@dataclass(frozen=True)
class Booking:
    """The booked ``visit``, the placement of every ``must_place`` request (``others``, moved or not),
    the ids of those whose placement changed (``moved``), the new visit's waiting and the day's total."""

    visit: Visit
    others: tuple[Visit, ...]
    moved: tuple[str, ...]
    wait_minutes: int
    total_wait_minutes: int


def movable(request: Request, announced: int, tolerance: int) -> Request:
    """``request`` as a booked visit that may still move: it must be placed, arriving in
    ``[announced, announced + tolerance]``."""
    return replace(request, must_place=True, arrival=(announced, announced + max(0, tolerance)))


def _fits(free: FreeTime, request: Request, visit: Visit) -> bool:
    """``visit`` (a valid placement of ``request`` on its own) still fits the day's free time and its arrival."""
    if request.arrival is not None and not request.arrival[0] <= arrival(visit) <= request.arrival[1]:
        return False
    for step in visit.steps:
        if step.resource not in free.resources:
            return False
        if not any(a <= step.start and step.end <= b for a, b in free.windows(step.resource)):
            return False
    return True


def _booking(
    day: Instance, request: Request, visit: Visit, others: dict[str, Visit], current: dict[str, Visit]
) -> Booking:
    by_id = {r.id: r for r in day.requests}
    placed = tuple(others[r.id] for r in day.requests if r.id in others)
    moved = tuple(
        rid
        for rid, v in others.items()
        if current.get(rid) is None or set(v.steps) != set(current[rid].steps)
    )
    own = wait_minutes(request, visit)
    return Booking(
        visit=visit,
        others=placed,
        moved=moved,
        wait_minutes=own,
        total_wait_minutes=own + sum(wait_minutes(by_id[v.request], v) for v in placed),
    )


def _rearranged(
    day: Instance,
    request: Request,
    current: dict[str, Visit],
    deadline: float,
    avoid: list[int],
    separation: int,
) -> Booking | None:
    base = Instance(day.name, day.date, day.resources, (), day.booked)
    tried: list[int] = list(avoid)
    while time.monotonic() < deadline:
        visit = insert_request(
            base,
            (),
            request,
            avoid=tried,
            separation=separation,
            time_limit=max(0.05, deadline - time.monotonic()),
        )
        if visit is None:
            return None
        tried.append(arrival(visit))
        fixed: list[Visit] = [visit]
        others: dict[str, Visit] = {}
        order = sorted(day.requests, key=lambda r: (r.arrival[0] if r.arrival else 0, r.id))
        ok = True
        for other in order:
            free = FreeTime.for_day(day, fixed)
            keep = current.get(other.id)
            if keep is not None and _fits(free, other, keep):
                placed = keep
            else:
                placed = insert_request(
                    day, fixed, other, free=free, time_limit=max(0.05, deadline - time.monotonic())
                )
            if placed is None:
                ok = False
                break
            others[other.id] = placed
            fixed.append(placed)
        if ok:
            return _booking(day, request, visit, others, current)
    return None


def book(
    day: Instance,
    request: Request,
    *,
    current: Sequence[Visit],
    time_limit: float = 1.0,
    avoid: Sequence[int] = (),
    separation: int = SEPARATION,
) -> Booking | None:
    """Place ``request`` on ``day``: ``day.booked`` stays, ``day.requests`` (the ``must_place`` bookings,
    ``current`` their stored placement) may move inside their own rules. ``None`` when no arrangement
    found within ``time_limit`` places them all. Arrival times in ``avoid`` are kept ``separation`` apart."""
    deadline = time.monotonic() + time_limit
    now = {v.request: v for v in current}
    fixed = [now[r.id] for r in day.requests if r.id in now]
    frozen_visit = (
        insert_request(day, fixed, request, avoid=avoid, separation=separation, time_limit=time_limit)
        if len(fixed) == len(day.requests)
        else None
    )
    frozen = (
        _booking(day, request, frozen_visit, {v.request: v for v in fixed}, now) if frozen_visit else None
    )
    if frozen is not None and (frozen.wait_minutes == 0 or not day.requests):
        return frozen
    other = _rearranged(day, request, now, deadline, list(avoid), separation)
    if other is None:
        return frozen
    if frozen is None or (other.wait_minutes, other.total_wait_minutes, len(other.moved)) < (
        frozen.wait_minutes,
        frozen.total_wait_minutes,
        0,
    ):
        return other
    return frozen
