"""Booking proposals: the best few itineraries for one request over a horizon of days.

Each day is an ``Instance`` holding that day's resources and its booked visits. The request's own
constraints (arrival window, leave-by, maximum visit, required attributes) carry the patient's
segment; the caller sets them.

The search is best-first over days so that only promising days are solved: every day starts with
the lower bound "waiting 0, its date, earliest time"; popping a bound solves that day's next
alternative (one tiny ``scheduling.insert`` model, arrival kept ``separation`` minutes away from the
ones already offered), and popping a real itinerary emits it and puts the day back with the found
itinerary as its new bound (the next alternative of a day is never better: each solve is
lexicographically optimal for waiting, then time). Days where some step has no free stretch at all
are dropped before any model is built.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from scheduling.insert import SEPARATION, TIME_LIMIT, FreeTime, arrival, insert_request, leave, wait_minutes
from scheduling.instance import Instance, Request, Visit


@dataclass(frozen=True)
class Itinerary:
    """One bookable visit: the day, every step's resource and times, and what the patient experiences."""

    date: dt.date
    visit: Visit
    arrival: int
    leave: int
    wait_minutes: int
    day: str = ""


@dataclass
class _Day:
    instance: Instance
    free: FreeTime
    found: list[int] = field(default_factory=list)


def propose(
    days: Sequence[Instance],
    request: Request,
    *,
    k: int = 5,
    per_day: int | None = None,
    separation: int = SEPARATION,
    prefer_start: int | None = None,
    time_limit: float = TIME_LIMIT,
) -> list[Itinerary]:
    """Up to ``k`` itineraries for ``request`` over ``days``, ranked by waiting, then date, then time.

    Itineraries of one day arrive at least ``separation`` minutes apart; ``per_day`` caps how many
    come from one day. With ``prefer_start`` the time rank is the distance to that arrival time.
    Full days and days the request cannot fit are simply absent from the answer. Every booked visit
    of a day counts, whatever its id (ids are only unique within a day).
    """
    if k <= 0:
        return []

    def tie(minutes: int) -> int:
        return minutes if prefer_start is None else abs(minutes - prefer_start)

    heap: list[tuple[int, dt.date, int, int, int, object]] = []
    seq = 0
    for day in days:
        state = _Day(day, FreeTime.for_day(day))
        heap.append((0, day.date, -1, 1, seq, state))
        seq += 1
    heapq.heapify(heap)
    out: list[Itinerary] = []
    while heap and len(out) < k:
        wait, date, when, is_bound, _, item = heapq.heappop(heap)
        if not is_bound:
            assert isinstance(item, tuple)
            itinerary, state = item
            out.append(itinerary)
            if per_day is None or len(state.found) < per_day:
                heapq.heappush(heap, (wait, date, when, 1, seq, state))
                seq += 1
            continue
        assert isinstance(item, _Day)
        visit = insert_request(
            item.instance,
            (),
            request,
            free=item.free,
            avoid=item.found,
            separation=separation,
            prefer_start=prefer_start,
            time_limit=time_limit,
        )
        if visit is None:
            continue
        item.found.append(arrival(visit))
        itinerary = Itinerary(
            item.instance.date, visit, arrival(visit), leave(visit), wait_minutes(request, visit), item.instance.name
        )
        heapq.heappush(heap, (itinerary.wait_minutes, date, tie(itinerary.arrival), 0, seq, (itinerary, item)))
        seq += 1
    return out
