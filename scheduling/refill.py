"""Refill after a cancellation: which waiting patients fit the freed capacity, best first.

``instance`` is the day after the cancellation: its ``booked`` visits are the ones that remain, so the
freed capacity is implicit. Each candidate is placed on its own with every booked visit fixed (one
tiny ``scheduling.insert`` model each); offers are alternatives — the clinic makes one, and calls
``rank_refill`` again after it is accepted.

Ranking, most important first (``Offer.score`` encodes the first three, higher is better):

1. ``priority`` — clinical urgency, higher first;
2. ``days_waited`` — longer on the waiting list first;
3. ``accepts_short_notice`` — patients who said they can come at short notice first;
4. fewer booked visits shifted (only with ``shift_minutes``) or re-arranged (``rank_refill_booked``), then
   less waiting in the visit, then id.

``score = priority * 10_000_000 + min(days_waited, 999_999) * 10 + accepts_short_notice``.

Hard for every offer: the candidate's own request constraints, and its first step starts no earlier
than ``now + min_notice_minutes``.

With ``shift_minutes = N > 0``, a candidate that does not fit as things stand may still be offered
if unconfirmed booked visits (``movable``, by request id) make room by shifting. A shifted visit moves
AS A WHOLE by at most N minutes earlier or later: its internal order and gaps stay as booked, and the
patient only hears "come N minutes earlier/later". It must stay inside opening hours and capacity,
and may not start before ``now``. The offer lists every shift; the model shifts as few visits as it
can, then as few minutes as it can.

``rank_refill_booked`` is what the clinic's refill uses: the same ranking, but each candidate is placed
by the booking function (``scheduling.book.book``) beside the day's bookings, whose not-started visits
may be re-arranged inside their announced arrival (``must_place`` requests of the booking day) instead
of shifted as a whole: no other patient's arrival time changes. The offer lists the visits it
re-arranges (``rearranged``, their new placement).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from scheduling.book import book
from scheduling.check import hhmm
from scheduling.insert import (
    TIME_LIMIT,
    FreeTime,
    Model,
    add_one_place,
    add_patient_window,
    add_precedence,
    add_steps,
    eligible,
    insert_request,
    read_visit,
    request_bounds,
    solve_model,
    start_domains,
    step_bounds,
    subtract,
    wait_minutes,
)
from scheduling.instance import DAY_MINUTES, Instance, PlacedStep, Request, Visit

SCORE_PRIORITY = 10_000_000
SCORE_DAYS = 10
MAX_DAYS = 999_999


@dataclass(frozen=True)
class Candidate:
    """A waiting patient's request with what ranks it; ``min_notice_minutes`` is hard, the rest rank."""

    request: Request
    priority: int = 1
    days_waited: int = 0
    min_notice_minutes: int = 0
    accepts_short_notice: bool = False


@dataclass(frozen=True)
class Shift:
    """A booked visit moved by ``minutes`` (negative: earlier) to make room; ``visit`` is its new placement."""

    request: str
    minutes: int
    visit: Visit


@dataclass(frozen=True)
class Offer:
    request: str
    visit: Visit
    score: int
    rank: int
    explanation: str
    shifts: tuple[Shift, ...] = ()
    wait_minutes: int = 0
    #: The must_place visits of the booking day this offer re-arranges (their new placement).
    rearranged: tuple[Visit, ...] = ()


def score(candidate: Candidate) -> int:
    """The documented ranking score of the first three keys (higher is better)."""
    return (
        candidate.priority * SCORE_PRIORITY
        + min(max(candidate.days_waited, 0), MAX_DAYS) * SCORE_DAYS
        + int(candidate.accepts_short_notice)
    )


def minutes_of(instance: Instance, now: dt.datetime | int) -> int:
    """``now`` as minutes after midnight of the instance's date (negative on an earlier day).

    A datetime is read as wall-clock time in the clinic's zone (its tzinfo is not converted).
    """
    if isinstance(now, int):
        return now
    midnight = dt.datetime.combine(instance.date, dt.time())
    delta = now.replace(tzinfo=None) - midnight
    return -(-int(delta.total_seconds()) // 60)


def rank_refill(
    instance: Instance,
    candidates: Sequence[Candidate],
    *,
    now: dt.datetime | int = 0,
    shift_minutes: int = 0,
    movable: frozenset[str] = frozenset(),
    limit: int = 10,
    time_limit: float = TIME_LIMIT,
) -> list[Offer]:
    """Offers for the candidates that fit ``instance`` (best first, at most ``limit``); see the module doc."""
    if shift_minutes < 0:
        raise ValueError(f"shift_minutes must be 0 or more, got {shift_minutes}")
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}")
    now_min = minutes_of(instance, now)
    free = FreeTime.for_day(instance)
    found: list[tuple[tuple, Offer]] = []
    misfits: list[Candidate] = []
    # Best score first, so that once ``limit`` offers are found every candidate of a lower score can be
    # skipped: it could not make the list (equal scores still can, on fewer shifts or less waiting).
    for cand in sorted(candidates, key=lambda c: (-score(c), c.request.id)):
        if _full(found, limit, cand):
            break
        not_before = max(now_min + cand.min_notice_minutes, 0)
        if not_before >= DAY_MINUTES:
            continue
        visit = insert_request(instance, (), cand.request, free=free, not_before=not_before, time_limit=time_limit)
        if visit is None:
            misfits.append(cand)
            continue
        found.append(_ranked(cand, visit, ()))
    if shift_minutes > 0 and movable:
        for cand in misfits:  # already best score first
            if _full(found, limit, cand):
                break
            not_before = max(now_min + cand.min_notice_minutes, 0)
            placed = insert_with_shifts(
                instance, cand.request, shift_minutes=shift_minutes, movable=movable,
                not_before=not_before, now=now_min, time_limit=time_limit, free=free,
            )
            if placed is not None:
                found.append(_ranked(cand, *placed))
    found.sort(key=lambda x: x[0])
    return [
        Offer(o.request, o.visit, o.score, rank, o.explanation, o.shifts, o.wait_minutes)
        for rank, (_, o) in enumerate(found[:limit], start=1)
    ]


def rank_refill_booked(
    day: Instance,
    candidates: Sequence[Candidate],
    *,
    current: Sequence[Visit],
    now: dt.datetime | int = 0,
    limit: int = 10,
    time_limit: float = 1.0,
) -> list[Offer]:
    """Offers for the candidates ``book`` can place on the booking ``day`` (best first, at most ``limit``).

    ``day``: ``booked`` the visits that may not move, ``requests`` the ``must_place`` bookings that may be
    re-arranged inside their own (narrowed) arrival, ``current`` their stored placement. The caller fixes
    (puts in ``booked``) any visit that should not move before ``now``. Each candidate's first step starts
    no earlier than ``now + min_notice_minutes``; ``time_limit`` is the budget of one candidate's booking.
    Ranked as ``rank_refill`` (module doc), with fewer re-arranged visits in place of fewer shifts.
    """
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}")
    now_min = minutes_of(day, now)
    found: list[tuple[tuple, Offer]] = []
    for cand in sorted(candidates, key=lambda c: (-score(c), c.request.id)):
        if _full(found, limit, cand):
            break
        not_before = max(now_min + cand.min_notice_minutes, 0)
        window = cand.request.arrival or (0, DAY_MINUTES)
        if max(not_before, window[0]) > window[1] or not_before >= DAY_MINUTES:
            continue
        request = replace(cand.request, arrival=(max(not_before, window[0]), window[1]))
        booking = book(day, request, current=current, time_limit=time_limit)
        if booking is None:
            continue
        moved = set(booking.moved)
        rearranged = tuple(v for v in booking.others if v.request in moved)
        key, offer = _ranked(cand, booking.visit, ())
        if rearranged:
            offer = replace(
                offer,
                rearranged=rearranged,
                explanation=offer.explanation + "; re-arranges " + ", ".join(v.request for v in rearranged),
            )
        found.append(((key[0], len(rearranged), *key[2:]), offer))
    found.sort(key=lambda x: x[0])
    return [replace(o, rank=rank) for rank, (_, o) in enumerate(found[:limit], start=1)]


def _full(found: Sequence[tuple[tuple, Offer]], limit: int, cand: Candidate) -> bool:
    """Whether ``limit`` offers already found all score higher than ``cand`` can."""
    return len(found) >= limit and sorted(k for k, _ in found)[limit - 1][0] < -score(cand)


def _ranked(cand: Candidate, visit: Visit, shifts: tuple[Shift, ...]) -> tuple[tuple, Offer]:
    wait = wait_minutes(cand.request, visit)
    parts = [
        f"priority {cand.priority}",
        f"waited {cand.days_waited} day{'s' if cand.days_waited != 1 else ''}",
        "accepts short notice" if cand.accepts_short_notice else "needs notice",
        f"arrives {hhmm(min(s.start for s in visit.steps))}, waits {wait} min",
    ]
    if shifts:
        parts.append(
            "needs shifts: " + ", ".join(f"{s.request} {'+' if s.minutes > 0 else ''}{s.minutes} min" for s in shifts)
        )
    offer = Offer(cand.request.id, visit, score(cand), 0, "; ".join(parts), shifts, wait)
    return (-offer.score, len(shifts), wait, cand.request.id), offer


def insert_with_shifts(
    instance: Instance,
    request: Request,
    *,
    shift_minutes: int,
    movable: frozenset[str],
    not_before: int | None = None,
    now: int = 0,
    time_limit: float = TIME_LIMIT,
    free: FreeTime | None = None,
) -> tuple[Visit, tuple[Shift, ...]] | None:
    """Place ``request`` letting movable booked visits shift as a whole by at most ``shift_minutes``.

    Movable visits with a step on a resource the request may use, within ``shift_minutes`` of the
    request's possible times, may shift; the others stay fixed (so a rescue that needs a chain of
    shifts through unrelated resources is not found, but every answer is valid). If the request does
    not fit even with those visits set aside, no model is built.

    Hard: capacity and opening hours of every resource a shifted visit touches (one cumulative or
    no-overlap per resource: fixed load as constant demand, closed hours as full demand), free time
    elsewhere, the request's own constraints, shifted visits not starting before ``now``. Soft, in
    this order: fewest shifted visits, fewest shifted minutes, least waiting for the candidate.
    """
    free = free or FreeTime.for_day(instance)
    bounds = step_bounds(request, frozenset(), not_before)
    reach: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for step in request.steps:
        for res in eligible(instance.resources, request, step):
            reach[res.id].append((bounds[step.id][0] - shift_minutes, bounds[step.id][1] + shift_minutes))
    shiftable = [
        v for v in instance.booked
        if v.request in movable
        and v.request != request.id
        and v.steps
        and min(s.start for s in v.steps) >= now
        and any(a < s.end and s.start < b for s in v.steps for a, b in reach.get(s.resource, ()))
    ]
    if not shiftable:
        return None
    moving = {v.request for v in shiftable}
    loose = FreeTime(instance.resources, [v for v in instance.booked if v.request not in moving])
    if insert_request(instance, (), request, free=loose, not_before=not_before, time_limit=time_limit) is None:
        return None
    return _shift_model(instance, request, shiftable, free, shift_minutes, not_before, now, time_limit)


def _shift_model(
    instance: Instance,
    request: Request,
    shiftable: list[Visit],
    free: FreeTime,
    shift_minutes: int,
    not_before: int | None,
    now: int,
    time_limit: float,
) -> tuple[Visit, tuple[Shift, ...]] | None:
    lo, hi = request_bounds(request, frozenset(), not_before)
    bounds = step_bounds(request, frozenset(), not_before)
    resources = {r.id: r for r in instance.resources}
    moving = {v.request for v in shiftable}
    touched = {s.resource for v in shiftable for s in v.steps}
    reach: dict[str, list[tuple[int, int]]] = defaultdict(list)
    options: dict[str, list[tuple[str, list[tuple[int, int]] | None]]] = {}
    strict_domains = start_domains(free, request, frozenset(), lo, hi)
    for step in request.steps:
        strict = dict(strict_domains[step.id])
        options[step.id] = []
        for res in eligible(instance.resources, request, step):
            if res.id in touched:
                options[step.id].append((res.id, None))
                reach[res.id].append(bounds[step.id])
            elif res.id in strict:
                options[step.id].append((res.id, strict[res.id]))
    for v in shiftable:
        for s in v.steps:
            reach[s.resource].append((s.start - shift_minutes, s.end + shift_minutes))
    fixed_use: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for v in instance.booked:
        if v.request in moving:
            continue
        for s in v.steps:
            if s.resource in touched and any(a < s.end and s.start < b for a, b in reach[s.resource]):
                fixed_use[s.resource].append((s.start, s.end))

    model = Model()
    rv = add_steps(model, request, options, lo, hi, bounds=bounds)
    if rv is None:
        return None
    add_precedence(model, request, rv)
    add_one_place(model, request, rv)
    add_patient_window(model, request, rv, frozenset())

    per_resource: dict[str, list[cp_model.IntervalVar]] = defaultdict(list)
    for (_sid, rid), iv in rv.optional.items():
        per_resource[rid].append(iv)
    delta = {}
    moved = {}
    for v in shiftable:
        first = min(s.start for s in v.steps)
        last = max(s.end for s in v.steps)
        d = model.new_int_var(max(-shift_minutes, now - first, -first), min(shift_minutes, DAY_MINUTES - last), f"d[{v.request}]")
        delta[v.request] = d
        moved[v.request] = model.new_bool_var(f"m[{v.request}]")
        model.add(d == 0).only_enforce_if(~moved[v.request])
        for s in v.steps:
            per_resource[s.resource].append(
                model.new_fixed_size_interval_var(d + s.start, s.end - s.start, f"b[{v.request},{s.id}]")
            )
    for rid in touched:
        _add_capacity(model, resources[rid], fixed_use.get(rid, []), per_resource.get(rid, []))

    abs_shift = []
    for rq, d in delta.items():
        a = model.new_int_var(0, shift_minutes, f"a[{rq}]")
        model.add_abs_equality(a, d)
        abs_shift.append(a)
    wait = rv.last - rv.first
    minute_weight = DAY_MINUTES + 1
    visit_weight = minute_weight * (shift_minutes * len(delta) + 1)
    model.minimize(visit_weight * sum(moved.values()) + minute_weight * sum(abs_shift) + wait)
    solver, ok = solve_model(model, time_limit)
    if not ok:
        return None
    visit = read_visit(solver, request, rv)
    shifts = []
    for v in shiftable:
        minutes = solver.value(delta[v.request])
        if minutes:
            steps = tuple(PlacedStep(s.id, s.resource, s.start + minutes, s.end + minutes) for s in v.steps)
            shifts.append(Shift(v.request, minutes, Visit(v.request, steps)))
    return visit, tuple(shifts)


def _add_capacity(
    model: cp_model.CpModel, resource, fixed: list[tuple[int, int]], intervals: list[cp_model.IntervalVar]
) -> None:
    """Hard: at every minute the steps on ``resource`` number at most its capacity, and none lies in closed hours.

    Fixed steps are constant demand; closed hours are constant intervals taking the full capacity.
    """
    if not intervals:
        return
    closed = [(a, b, resource.capacity) for a, b in subtract([(0, DAY_MINUTES)], list(resource.available))]
    # A stretch whose load leaves room for every variable step at once can never overload: left out.
    harmless = resource.capacity - len(intervals)
    constant = sorted(closed + [(a, b, load) for a, b, load in load_profile(fixed) if load > harmless])
    if resource.capacity == 1:
        merged: list[list[int]] = []
        for a, b, _ in constant:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        ivs = [model.new_fixed_size_interval_var(a, b - a, "fixed") for a, b in merged]
        model.add_no_overlap(ivs + intervals)
        return
    ivs = [model.new_fixed_size_interval_var(a, b - a, "fixed") for a, b, _ in constant]
    demands = [min(load, resource.capacity) for _, _, load in constant]
    model.add_cumulative(ivs + intervals, demands + [1] * len(intervals), resource.capacity)


def load_profile(spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``spans`` as maximal stretches ``(from, to, load)`` of constant positive load."""
    events = sorted([(a, 1) for a, b in spans if b > a] + [(b, -1) for a, b in spans if b > a])
    out: list[tuple[int, int, int]] = []
    load, since = 0, 0
    for t, delta in events:
        if t > since and load > 0:
            out.append((since, t, load))
        load += delta
        since = t
    return out
