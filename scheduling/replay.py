"""Replay a day's bookings one at a time, in file order, the way the front desk books them (``replay`` in
``day-instance.md``).

The booking of request *k* sees the resources, ``booked[]``, the requests booked before it (each as
``must_place`` with its arrival narrowed by ``scheduling.book.movable`` to ``[announced, announced +
tolerance]``) and request *k*; nothing of the requests after it. It goes through ``scheduling.book.book``,
which may re-arrange earlier bookings inside their narrowed windows. Request *k*'s announced arrival is
the start of its first step in that booking, and never changes afterwards. ``book`` is deterministic, so
replaying only the first *m* requests announces the same times for them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from scheduling.book import book, movable
from scheduling.check import check_booked, objective
from scheduling.errors import InstanceContradiction
from scheduling.explain import explain_unscheduled
from scheduling.insert import arrival
from scheduling.instance import FEASIBLE, Instance, Request, Schedule, Unscheduled, Visit

TOLERANCE = 15
BOOKING_SECONDS = 1.0


def replay(
    instance: Instance, *, tolerance: int = TOLERANCE, booking_seconds: float = BOOKING_SECONDS,
    wall_seconds: float | None = None, arrivals: Mapping[str, int] | None = None,
) -> Schedule:
    """The final day after booking ``instance.requests`` one by one; every visit carries ``announced``.

    ``arrivals`` is an arrival oracle for analysis (``bench --replay --oracle``), not part of the spec's
    replay: a request it lists is booked with its arrival pinned to that minute when the minute lies in its
    arrival window and it fits there, else as usual; ``stats["pinned"]`` counts the requests booked at their
    pin. Nothing else of the later requests reaches a booking.

    ``wall_seconds`` (at least ``booking_seconds``) widens each booking's wall-clock safety net (``book``'s
    ``wall_limit``): on a busy machine only that keeps a replay reproducible.

    ``stats["booking_seconds"]`` holds the wall time of each booking (one per request, in file order),
    ``stats["booking_cpu_seconds"]`` its CPU time (this process; close to the wall time on an idle machine),
    ``stats["moved"]`` how many earlier bookings each booking re-arranged. Raises ``InstanceContradiction``
    when the booked visits alone already break the day.
    """
    if tolerance < 0 or booking_seconds <= 0:
        raise ValueError("tolerance must be >= 0 and booking_seconds > 0")
    problems = check_booked(instance)
    if problems:
        raise InstanceContradiction(problems)
    began = time.perf_counter()
    announced: dict[str, int] = {}
    placed: dict[str, Visit] = {}
    booked: list[Request] = []  # as must_place, in booking order
    unscheduled: list[Unscheduled] = []
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    moved: list[int] = []
    pinned = 0
    for request in instance.requests:
        day = Instance(instance.name, instance.date, instance.resources, tuple(booked), instance.booked)
        t0, c0 = time.perf_counter(), time.process_time()
        current = [placed[r.id] for r in booked]
        booking = None
        at = (arrivals or {}).get(request.id)
        lo, hi = request.arrival or (at, at)
        if at is not None and lo <= at <= hi:
            booking = book(day, dataclasses.replace(request, arrival=(at, at)), current=current,
                           time_limit=booking_seconds, wall_limit=wall_seconds)
            pinned += booking is not None
        if booking is None:
            booking = book(day, request, current=current, time_limit=booking_seconds, wall_limit=wall_seconds)
        seconds.append(round(time.perf_counter() - t0, 4))
        cpu_seconds.append(round(time.process_time() - c0, 4))
        if booking is None:
            moved.append(0)
            unscheduled.append(
                Unscheduled(request.id, explain_unscheduled(day, list(placed.values()), request))
            )
            continue
        moved.append(len(booking.moved))
        for visit in booking.others:
            placed[visit.request] = visit
        placed[request.id] = booking.visit
        announced[request.id] = arrival(booking.visit)
        booked.append(movable(request, announced[request.id], tolerance))
    visits = tuple(
        Visit(r.id, placed[r.id].steps, announced=announced[r.id]) for r in instance.requests if r.id in placed
    )
    return Schedule(
        instance=instance.name,
        status=FEASIBLE,
        visits=visits,
        unscheduled=tuple(unscheduled),
        objective=objective(instance, visits),
        solve_seconds=round(time.perf_counter() - began, 3),
        stats={"tolerance": tolerance, "booking_seconds": seconds, "booking_cpu_seconds": cpu_seconds,
               "moved": moved, **({"pinned": pinned} if arrivals is not None else {})},
    )
