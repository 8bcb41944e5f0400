"""Benchmark: first-come-first-served greedy against the CP-SAT optimiser on generated days.

For each size, seed and booked share it generates a day (``scheduling.generate``), places it with
``greedy`` and with ``scheduling.solve.solve``, runs every schedule through ``check`` (any violation
is printed loudly and counted), and prints the per-size table first, one row per size and method over every
day of that size (with and without booked visits), then the same split by booked share, with means over
the seeds and waits pooled over every placed request, and CP-SAT's mean wait as a share of greedy's for
each. It also times booking proposals and refill ranking (``scheduling.propose`` / ``scheduling.refill``)
when those exist.

``--replay`` compares instead the day booked one request at a time (``scheduling.replay``, each booking
through ``scheduling.book``) with ``solve`` knowing the whole day at once (``replay_rows``, ``replay_table``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scheduling.bound import DayBounds, day_bounds
from scheduling.check import check, critical_path, objective
from scheduling.generate import generate_day
from scheduling.greedy import greedy
from scheduling.insert import arrival
from scheduling.instance import FEASIBLE, OPTIMAL, Instance, Request, Schedule, Step, Visit

DEFAULT_SIZES = (50, 100, 150, 200)
DEFAULT_SEEDS = 3
DEFAULT_BOOKED = (0.0, 0.3)
LATENCY_SAMPLES = 10
REFILL_CANDIDATES = 10


@dataclass
class Row:
    """Measurements of one method on one (size, booked share), one entry per seed; ``booked`` is ``None``
    for a row pooled over every booked share of its size (``per_size``)."""

    size: int
    booked: float | None
    method: str
    placed: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    priority: list[int] = field(default_factory=list)
    priority_total: list[int] = field(default_factory=list)
    total_wait: list[int] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    violations: int = 0
    failures: list[str] = field(default_factory=list)
    propose_ms: list[float] = field(default_factory=list)
    refill_ms: list[float] = field(default_factory=list)
    latency_note: str = ""
    #: Days on which this method placed less priority than greedy (the target: never, for CP-SAT).
    below_greedy: int = 0
    #: Days on which the wall clock, not the deterministic budget, ended a phase of the solver.
    clock_stopped: int = 0
    #: The solver's bound on the priority any schedule of the day can place (``scheduling.bound``).
    priority_bound: list[int] = field(default_factory=list)
    #: Days whose schedule places the bound's priority (proven the most), and days proven optimal.
    priority_proven: int = 0
    optimal: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def visit_waits(instance: Instance, schedule: Schedule) -> list[int]:
    """Wait of each placed request: its span minus its critical path."""
    requests = {r.id: r for r in instance.requests}
    return [
        max(s.end for s in v.steps) - min(s.start for s in v.steps) - critical_path(requests[v.request])
        for v in schedule.visits
        if v.request in requests and v.steps
    ]


def record(row: Row, instance: Instance, schedule: Schedule, seconds: float) -> None:
    violations = check(instance, schedule)
    if violations:
        row.violations += len(violations)
        print(
            f"!!! {row.method} schedule of {instance.name} has {len(violations)} violations, e.g.:",
            file=sys.stderr,
        )
        for v in violations[:5]:
            print(f"!!!   {v}", file=sys.stderr)
    waits = visit_waits(instance, schedule)
    row.placed.append(len(schedule.visits))
    row.requests.append(len(instance.requests))
    row.priority.append(schedule.objective.scheduled_priority)
    row.priority_total.append(sum(r.priority for r in instance.requests))
    row.total_wait.append(schedule.objective.total_wait_minutes)
    row.waits.extend(waits)
    row.seconds.append(seconds)


def record_bound(row: Row, instance: Instance, schedule: Schedule) -> DayBounds:
    """The schedule against the day's bounds (``scheduling.bound``, computed here untimed and in full, since
    ``solve`` only computes them in the time its phases leave), and the full model's bound when it ran."""
    got = schedule.objective
    priority, wait = got.scheduled_priority, got.total_wait_minutes
    bounds = day_bounds(instance, priority=priority)
    if not bounds.holds_for(priority, wait):
        row.violations += 1
        print(f"!!! {instance.name}: priority {priority}, wait {wait} beats the bound (priority <= {bounds.priority},"
              f" wait >= {bounds.wait} at priority {bounds.at_priority})", file=sys.stderr)
    least = max(bounds.wait or 0, (schedule.stats or {}).get("best_bound_wait", 0))
    row.priority_bound.append(bounds.priority)
    row.priority_proven += priority == bounds.priority
    optimal = schedule.status == OPTIMAL or bounds.proves_optimal(priority, wait)
    row.optimal += optimal
    row.gaps.append(0.0 if optimal or not wait else (wait - least) / wait)
    return bounds


def _load_solve() -> tuple[Callable | None, str]:
    try:
        from scheduling.solve import solve
    except ImportError as error:
        return None, f"scheduling.solve not importable: {error}"
    return solve, ""


#: A timed call and the validation of its result (run untimed), returning violations as text.
Probe = tuple[Callable[[], object], Callable[[object], list[str]]]


def _time_calls(calls: Sequence[Probe]) -> tuple[list[float], list[str]]:
    """Milliseconds of each call, and the violations found in what the calls returned."""
    times, problems = [], []
    for call, validate in calls:
        began = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - began) * 1000)
        problems += validate(result)
    return times, problems


def booked_day(instance: Instance, schedule: Schedule) -> Instance:
    """The day after ``schedule`` is confirmed: every placed visit becomes booked, nothing is left to place."""
    return dataclasses.replace(instance, requests=(), booked=instance.booked + schedule.visits)


def newcomers(instance: Instance, count: int, seed: int) -> list[Request]:
    """``count`` new patients shaped like the day's own requests, free to arrive at any time."""
    rng = random.Random(seed)
    pool = list(instance.requests) or [Request("x", "x", (Step("reg", "registration", 10),))]
    return [
        dataclasses.replace(rng.choice(pool), id=f"new-{i}", patient=f"new-p-{i}", arrival=None)
        for i in range(count)
    ]


def propose_calls(instance: Instance, schedule: Schedule) -> list[Probe] | None:
    """Proposal calls (3 proposals over the solved day and two more days) for new patients, or ``None``."""
    try:
        from scheduling.propose import propose
    except ImportError:
        return None
    size = len(instance.requests) + len(instance.booked)
    others = []
    for offset in (1, 2):
        other = generate_day(size, seed=10_000 + offset, date=instance.date + dt.timedelta(days=offset))
        others.append(booked_day(other, greedy(other)))
    horizon = [booked_day(instance, schedule), *others]
    by_name = {day.name: day for day in horizon}

    def validate(request: Request, itineraries: list) -> list[str]:
        return [
            f"proposal for {request.id} on {it.day}: {v}"
            for it in itineraries
            for v in _check_insert(by_name[it.day], request, it.visit)
        ]

    return [
        (functools.partial(propose, horizon, request, k=3), functools.partial(validate, request))
        for request in newcomers(instance, LATENCY_SAMPLES, seed=size)
    ]


def _check_insert(day: Instance, request: Request, visit: Visit) -> list:
    """Violations of placing ``visit`` for ``request`` into ``day`` (whose booked visits stay put)."""
    with_request = dataclasses.replace(day, requests=(request,))
    placed = Schedule(day.name, FEASIBLE, (visit,), (), objective(with_request, [visit]))
    return check(with_request, placed)


def refill_calls(instance: Instance, schedule: Schedule) -> list[Probe] | None:
    """Refill rankings after one cancellation each on the solved day, or ``None`` without C's module.

    The waiting list is the day's unscheduled requests topped up with newcomers to ``REFILL_CANDIDATES``.
    """
    try:
        from scheduling.refill import Candidate, rank_refill
    except ImportError:
        return None
    day = booked_day(instance, schedule)
    if not schedule.visits:
        return []
    unplaced = {u.request for u in schedule.unscheduled}
    waiting = [r for r in instance.requests if r.id in unplaced][:REFILL_CANDIDATES]
    waiting += newcomers(instance, REFILL_CANDIDATES - len(waiting), seed=len(waiting))
    rng = random.Random(len(day.booked))
    candidates = [
        Candidate(r, priority=r.priority, days_waited=rng.randint(0, 60), accepts_short_notice=rng.random() < 0.5)
        for r in waiting
    ]
    calls = []
    for cancelled in rng.sample(list(schedule.visits), min(LATENCY_SAMPLES, len(schedule.visits))):
        after = dataclasses.replace(day, booked=tuple(v for v in day.booked if v.request != cancelled.request))
        calls.append(
            (functools.partial(rank_refill, after, candidates, now=420, limit=5),
             functools.partial(_validate_offers, after, {c.request.id: c.request for c in candidates}))
        )
    return calls


def _validate_offers(day: Instance, requests: dict[str, Request], offers: list) -> list[str]:
    return [
        f"refill offer for {offer.request}: {v}"
        for offer in offers
        for v in _check_insert(day, requests[offer.request], offer.visit)
    ]


def measure_latency(row: Row, instance: Instance, schedule: Schedule) -> None:
    """Time booking proposals and refill ranking against the solved day, if C's modules are there."""
    notes = []
    for maker, target in ((propose_calls, row.propose_ms), (refill_calls, row.refill_ms)):
        try:
            calls = maker(instance, schedule)
        except Exception as error:  # a failure to set up the calls makes the figure n/a, not the bench
            notes.append(f"{maker.__name__}: {type(error).__name__}: {error}")
            continue
        if calls is None:
            continue
        try:
            times, problems = _time_calls(calls)
            target.extend(times)
            if problems:
                row.violations += len(problems)
                for problem in problems[:5]:
                    print(f"!!! {problem}", file=sys.stderr)
        except Exception as error:
            notes.append(f"{maker.__name__} failed: {type(error).__name__}: {error}")
    if notes:
        row.latency_note = "; ".join(notes)
        for note in notes:
            print(f"latency: {note}", file=sys.stderr)


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    seeds: int = DEFAULT_SEEDS,
    time_limit: float = 10.0,
    booked: Sequence[float] = DEFAULT_BOOKED,
    workers: int = 2,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
) -> list[Row]:
    """Measure every (size, booked share) over ``seeds`` seeds; returns greedy and CP-SAT rows in order."""
    solve, why = _load_solve()
    if solve is None:
        log(why)
    rows: list[Row] = []
    for size in sizes:
        for share in booked:
            g_row = Row(size, share, "greedy")
            s_row = Row(size, share, "cp-sat")
            for seed in range(1, seeds + 1):
                instance = generate_day(size, seed=seed, booked_share=share)
                began = time.perf_counter()
                base = greedy(instance)
                record(g_row, instance, base, time.perf_counter() - began)
                if solve is None:
                    continue
                began = time.perf_counter()
                try:
                    best = solve(instance, time_limit=time_limit, workers=workers, seed=seed)
                except Exception as error:
                    s_row.failures.append(f"{instance.name}: {type(error).__name__}: {error}")
                    log(f"!!! solve failed on {instance.name}: {type(error).__name__}: {error}")
                    continue
                record(s_row, instance, best, time.perf_counter() - began)
                bounds = record_bound(s_row, instance, best)
                if best.objective.scheduled_priority < base.objective.scheduled_priority:
                    s_row.below_greedy += 1
                if best.stats.get("clock_stopped"):
                    s_row.clock_stopped += 1
                    log(f"{instance.name}: the wall clock ended {', '.join(best.stats['clock_stopped'])} before its budget")
                measure_latency(s_row, instance, best)
                log(
                    f"{instance.name}: greedy {len(base.visits)} placed, priority {base.objective.scheduled_priority},"
                    f" wait {base.objective.total_wait_minutes} | cp-sat {len(best.visits)} placed, priority"
                    f" {best.objective.scheduled_priority}, wait {best.objective.total_wait_minutes}"
                    f" in {s_row.seconds[-1]:.1f}s | bound: priority <= {bounds.priority},"
                    f" wait >= {bounds.wait} at priority {bounds.at_priority}"
                )
            rows.append(g_row)
            if solve is not None:
                rows.append(s_row)
    return rows


def per_size(rows: Sequence[Row]) -> list[Row]:
    """``rows`` pooled over their booked shares: one row per size and method, over every day of that size."""
    pooled: dict[tuple[int, str], Row] = {}
    for row in rows:
        into = pooled.setdefault((row.size, row.method), Row(row.size, None, row.method))
        for f in dataclasses.fields(Row):
            if f.name in ("size", "booked", "method"):
                continue
            mine, theirs = getattr(into, f.name), getattr(row, f.name)
            if f.name == "latency_note":
                setattr(into, f.name, "; ".join(n for n in (mine, theirs) if n))
            else:
                setattr(into, f.name, mine + theirs)
    return list(pooled.values())


def mean_wait(row: Row) -> float:
    """Total wait over total placed requests: the mean wait per placed request, pooled over the seeds."""
    return sum(row.total_wait) / sum(row.placed) if sum(row.placed) else 0.0


def wait_shares(rows: Sequence[Row]) -> list[tuple[int, float | None, float]]:
    """``(size, booked share, CP-SAT's mean wait / greedy's)`` for each size and share both methods measured."""
    greedy_rows = {(r.size, r.booked): r for r in rows if r.method == "greedy"}
    shares = []
    for r in rows:
        base = greedy_rows.get((r.size, r.booked))
        if r.method == "cp-sat" and r.placed and base is not None and mean_wait(base) > 0:
            shares.append((r.size, r.booked, mean_wait(r) / mean_wait(base)))
    return shares


def _booked(share: float | None) -> str:
    return "all" if share is None else f"{share:.0%}"


def _mean(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    return fmt.format(statistics.fmean(values)) if values else "n/a"


def _p(values: Sequence[float], q: float, fmt: str = "{:.0f}") -> str:
    return fmt.format(percentile(values, q)) if values else "n/a"


def table(rows: Sequence[Row]) -> str:
    """The Markdown table of ``rows`` (means over seeds; waits pooled over every placed request)."""
    head = (
        "| requests | booked | method | placed | sched. priority | priority bound | share of total | total wait (min) "
        "| mean wait (min) | p90 wait (min) | seconds | gap to bound | propose p50/p95 (ms) "
        "| refill p50/p95 (ms) | violations |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        if not r.placed:
            lines.append(
                f"| {r.size} | {_booked(r.booked)} | {r.method} | failed: {'; '.join(r.failures)[:80]} "
                + "| " * 11 + "|"
            )
            continue
        share = sum(r.priority) / sum(r.priority_total) if sum(r.priority_total) else 0.0
        latency = {
            "propose": f"{_p(r.propose_ms, 50, '{:.1f}')}/{_p(r.propose_ms, 95, '{:.1f}')}" if r.propose_ms else "n/a",
            "refill": f"{_p(r.refill_ms, 50, '{:.1f}')}/{_p(r.refill_ms, 95, '{:.1f}')}" if r.refill_ms else "n/a",
        }
        if r.method == "greedy":
            latency = {"propose": "", "refill": ""}
        failed = f" ({len(r.failures)} failed)" if r.failures else ""
        lines.append(
            f"| {r.size} | {_booked(r.booked)} | {r.method}{failed} "
            f"| {_mean(r.placed, '{:.1f}')}/{_mean(r.requests, '{:.1f}')} "
            f"| {_mean(r.priority, '{:.1f}')} | {_mean(r.priority_bound, '{:.1f}') if r.priority_bound else ''} "
            f"| {share:.1%} | {_mean(r.total_wait)} | {mean_wait(r):.1f} "
            f"| {_p(r.waits, 90)} | {_mean(r.seconds, '{:.2f}')} | {_mean(r.gaps, '{:.1%}')} "
            f"| {latency['propose']} | {latency['refill']} | {r.violations} |"
        )
    return "\n".join(lines)


#: The replay benchmark's days: (requests, booked share); 120 with a quarter booked has about 30 booked.
REPLAY_DAYS = ((100, 0.0), (120, 0.25), (150, 0.0), (200, 0.0))
REPLAY_SEEDS = 1


@dataclass
class ReplayRow:
    """Replay against ``solve`` on the days of one size and booked share, one entry per seed."""

    size: int
    booked: float
    requests: list[int] = field(default_factory=list)
    solve_placed: list[int] = field(default_factory=list)
    replay_placed: list[int] = field(default_factory=list)
    solve_wait: list[int] = field(default_factory=list)
    replay_wait: list[int] = field(default_factory=list)
    hindsight_wait: list[int] = field(default_factory=list)
    #: ``--oracle``: the replay with every request pinned to its arrival in the same patients known at once.
    oracle_placed: list[int] = field(default_factory=list)
    oracle_wait: list[int] = field(default_factory=list)
    oracle_pinned: list[int] = field(default_factory=list)
    booking_seconds: list[float] = field(default_factory=list)
    booking_cpu_seconds: list[float] = field(default_factory=list)
    announced: int = 0
    announced_kept: int = 0
    lobby_minutes: int = 0  # over replayed visits: first step's start minus the announced arrival
    moved: int = 0
    violations: int = 0

    def placed_share(self) -> float:
        return sum(self.replay_placed) / max(1, sum(self.solve_placed))

    def mean_waits(self) -> tuple[float, float]:
        """Mean wait per placed request: replay's, then solve's."""
        return (sum(self.replay_wait) / max(1, sum(self.replay_placed)),
                sum(self.solve_wait) / max(1, sum(self.solve_placed)))

    def wait_ratio(self) -> float:
        replay, solved = self.mean_waits()
        return _ratio(replay, solved)

    def hindsight_mean(self) -> float:
        """Mean wait of ``solve`` placing exactly the replay's requests, the whole day known at once."""
        return sum(self.hindsight_wait) / max(1, sum(self.replay_placed))

    def hindsight_ratio(self) -> float:
        return _ratio(self.mean_waits()[0], self.hindsight_mean())

    def oracle_mean(self) -> float:
        return sum(self.oracle_wait) / max(1, sum(self.oracle_placed))


def _ratio(replay: float, reference: float) -> float:
    """``replay`` over ``reference``; 1 when both are 0, infinite when only the reference is."""
    return replay / reference if reference else (1.0 if replay == 0 else math.inf)


def same_patients(instance: Instance, schedule: Schedule) -> Instance:
    """``instance`` reduced to the requests ``schedule`` places, each ``must_place`` with its own arrival window.

    ``solve`` on it answers: knowing the whole day at once, how little could these same patients have
    waited? A replay must book request *k* whenever it fits beside the earlier bookings, so it cannot choose
    its patients as ``solve`` does; this separates which patients it takes from how well it arranges them."""
    placed = {v.request for v in schedule.visits}
    kept = tuple(dataclasses.replace(r, must_place=True) for r in instance.requests if r.id in placed)
    return dataclasses.replace(instance, requests=kept)


def known_at_once(instance: Instance, schedule: Schedule, *, time_limit: float, workers: int) -> tuple[Instance, Schedule]:
    """``same_patients(instance, schedule)`` and ``solve``'s schedule of it, started from ``schedule``'s visits
    (so it never waits more than they do); ``check`` the second against the first."""
    from scheduling.solve import solve

    reduced = same_patients(instance, schedule)
    return reduced, solve(reduced, time_limit=time_limit, workers=workers, seed=0, hint=schedule.visits)


def replay_rows(
    days: Sequence[tuple[int, float]], seeds: int, time_limit: float, workers: int, *, tolerance: int = 15,
    booking_seconds: float = 1.0, wall_seconds: float | None = None, progress: Callable[[str], None] | None = None,
    oracle: bool = False,
) -> list[ReplayRow]:
    """Replay and ``solve`` (``time_limit``, ``workers``) on generated days; both schedules go through
    ``check`` and every replayed visit's arrival is compared with its announced window. ``wall_seconds``:
    replay's wider wall-clock safety net per booking (a reproducible replay on a busy machine). ``oracle``:
    also the replay given hindsight: each request pinned to its arrival in the same patients known at once,
    which no booking can know when it is made."""
    from scheduling.replay import replay
    from scheduling.solve import solve

    rows = []
    for size, share in days:
        row = ReplayRow(size, share)
        for seed in range(seeds):
            instance = generate_day(size, seed=seed, booked_share=share)
            solved = solve(instance, time_limit=time_limit, workers=workers, seed=0)
            replayed = replay(instance, tolerance=tolerance, booking_seconds=booking_seconds,
                              wall_seconds=wall_seconds)
            reduced, known = known_at_once(instance, replayed, time_limit=time_limit, workers=workers)
            checked = [("solve", instance, solved), ("replay", instance, replayed), ("same patients", reduced, known)]
            if oracle:
                hindsight = replay(instance, tolerance=tolerance, booking_seconds=booking_seconds,
                                   wall_seconds=wall_seconds, arrivals={v.request: arrival(v) for v in known.visits})
                checked.append(("replay with hindsight arrivals", instance, hindsight))
                row.oracle_placed.append(len(hindsight.visits))
                row.oracle_wait.append(hindsight.objective.total_wait_minutes)
                row.oracle_pinned.append(hindsight.stats["pinned"])
            for name, day, schedule in checked:
                problems = check(day, schedule)
                row.violations += len(problems)
                for v in problems[:5]:
                    print(f"!!! {name} {instance.name}: {v}", file=sys.stderr)
            row.requests.append(len(instance.requests))
            row.solve_placed.append(len(solved.visits))
            row.replay_placed.append(len(replayed.visits))
            row.solve_wait.append(solved.objective.total_wait_minutes)
            row.replay_wait.append(replayed.objective.total_wait_minutes)
            row.hindsight_wait.append(known.objective.total_wait_minutes)
            row.booking_seconds += replayed.stats["booking_seconds"]
            row.booking_cpu_seconds += replayed.stats["booking_cpu_seconds"]
            row.moved += sum(replayed.stats["moved"])
            for visit in replayed.visits:
                first = min(s.start for s in visit.steps)
                row.announced += 1
                row.announced_kept += visit.announced is not None and visit.announced <= first <= visit.announced + tolerance
                row.lobby_minutes += max(0, first - visit.announced) if visit.announced is not None else 0
            if progress:
                progress(f"{instance.name}: solve {len(solved.visits)} placed / {solved.objective.total_wait_minutes} min, "
                         f"replay {len(replayed.visits)} / {replayed.objective.total_wait_minutes} min, "
                         f"same patients known at once {known.objective.total_wait_minutes} min"
                         + (f", replay with their arrivals {row.oracle_placed[-1]} / {row.oracle_wait[-1]} min"
                            if oracle else ""))
        rows.append(row)
    return rows


def replay_table(rows: Sequence[ReplayRow]) -> str:
    """Markdown: per day size, placed and mean wait of both, replay's share of solve's placed and its wait
    ratio, the mean wait of ``solve`` placing the replay's own patients (``same_patients``) and the replay's ratio to
    it, booking seconds (max, p95; and the CPU p95, what an idle machine would take), announced arrivals kept, the
    minutes a patient stands between the announced arrival and the first step (the tolerance lets a booking
    start a visit up to 15 minutes late; that time is not in the contract's waiting) and check violations."""
    lines = [
        "| requests | booked share | solve placed | replay placed | share of solve's placed | mean wait solve | "
        "mean wait replay | wait ratio | mean wait, same patients known at once | ratio to it | booking s max | booking s p95 | booking CPU s p95 | earlier bookings moved | "
        "announced arrivals kept | announced arrival to first step, mean min | violations |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        replay_wait, solve_wait = r.mean_waits()
        secs = r.booking_seconds or [0.0]
        kept = r.announced_kept / r.announced if r.announced else 1.0
        lines.append(
            f"| {r.size} | {r.booked:.0%} | {sum(r.solve_placed)} | {sum(r.replay_placed)} | {r.placed_share():.1%} | "
            f"{solve_wait:.1f} | {replay_wait:.1f} | {r.wait_ratio():.2f}x | {r.hindsight_mean():.1f} | "
            f"{r.hindsight_ratio():.2f}x | {max(secs):.2f} | "
            f"{percentile(secs, 95):.2f} | {percentile(r.booking_cpu_seconds or [0.0], 95):.2f} | {r.moved} | {kept:.0%} | "
            f"{r.lobby_minutes / max(1, r.announced):.1f} | {r.violations} |"
        )
    return "\n".join(lines)


def oracle_table(rows: Sequence[ReplayRow]) -> str:
    """Markdown: per day size, the replay given hindsight arrivals (``replay_rows(..., oracle=True)``) against
    ``solve`` and the same patients known at once."""
    lines = [
        "| requests | booked share | placed | requests booked at their hindsight arrival | mean wait | "
        "ratio to solve's | ratio to the same patients known at once |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mean = r.oracle_mean()
        lines.append(
            f"| {r.size} | {r.booked:.0%} | {sum(r.oracle_placed)} | {sum(r.oracle_pinned)} | {mean:.1f} | "
            f"{_ratio(mean, r.mean_waits()[1]):.2f}x | {_ratio(mean, r.hindsight_mean()):.2f}x |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated request counts (default 50,100,150,200)")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds per size (default {DEFAULT_SEEDS}; with --replay {REPLAY_SEEDS})")
    parser.add_argument("--time-limit", type=float, default=10.0, help="CP-SAT seconds per day (default 10)")
    parser.add_argument("--booked", default="0,0.3", help="comma-separated booked shares (default 0,0.3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="sizes 20,50, one seed, 2 s limit")
    parser.add_argument("--replay", action="store_true",
                        help="replay (one booking at a time) against solve on days of 100, 120 (30 booked), 150, 200")
    parser.add_argument("--tolerance", type=int, default=15, help="replay: minutes an announced arrival may slip")
    parser.add_argument("--booking-seconds", type=float, default=1.0, help="replay: budget of one booking")
    parser.add_argument("--wall-seconds", type=float, default=None,
                        help="replay: wider wall-clock safety net per booking, so a busy machine gives the same day")
    parser.add_argument("--oracle", action="store_true",
                        help="replay: also replay with hindsight arrivals (those of the same patients known at once)")


def _run_replay(args: argparse.Namespace, sizes: list[int]) -> int:
    """``bench --replay``: the default days unless ``--sizes`` names others (then with ``--booked``'s first share)."""
    days: Sequence[tuple[int, float]] = REPLAY_DAYS
    share = float(args.booked.split(",")[0]) if args.booked.strip() else 0.0
    if args.sizes != ",".join(map(str, DEFAULT_SIZES)):
        days = [(size, share) for size in sizes]
    if args.quick:
        days = [(20, 0.0), (40, 0.3)]
    seeds = args.seeds or REPLAY_SEEDS
    if args.tolerance < 0 or args.booking_seconds <= 0:
        print("--tolerance must be >= 0 and --booking-seconds above 0", file=sys.stderr)
        return 2
    rows = replay_rows(days, seeds, args.time_limit, args.workers, tolerance=args.tolerance,
                       booking_seconds=args.booking_seconds, wall_seconds=args.wall_seconds,
                       progress=lambda line: print(line, file=sys.stderr), oracle=args.oracle)
    print(replay_table(rows))
    if args.oracle:
        print("\nThe replay with hindsight arrivals:\n")
        print(oracle_table(rows))
    bad = sum(r.violations for r in rows)
    if bad:
        print(f"\n!!! {bad} VIOLATIONS in benchmark schedules (see stderr)")
    return 1 if bad else 0


def run_from_args(args: argparse.Namespace) -> int:
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        booked = [float(x) for x in args.booked.split(",") if x.strip()]
    except ValueError:
        print("--sizes takes whole numbers and --booked shares between 0 and 1, comma-separated", file=sys.stderr)
        return 2
    if any(s < 1 for s in sizes) or any(not 0 <= b <= 1 for b in booked) or (args.seeds is not None and args.seeds < 1):
        print("sizes and --seeds must be >= 1, --booked shares between 0 and 1", file=sys.stderr)
        return 2
    seeds, limit = args.seeds or DEFAULT_SEEDS, args.time_limit
    if args.replay:
        return _run_replay(args, sizes)
    if args.quick:
        sizes, seeds, limit = [20, 50], 1, min(limit, 2.0)
    rows = run(sizes, seeds, limit, booked, args.workers)
    print("Per size, every day of the size (with and without booked visits):\n")
    print(table(per_size(rows)))
    if len(booked) > 1:
        print("\nBy booked share:\n")
        print(table(rows))
    shares = wait_shares(per_size(rows)) + (wait_shares(rows) if len(booked) > 1 else [])
    if shares:
        print("\nCP-SAT's mean wait per placed request as a share of greedy's: " + "; ".join(
            f"{size} requests, {'every day' if share is None else f'{share:.0%} booked'}: {ratio:.1%}"
            for size, share, ratio in shares))
    solved = [r for r in rows if r.method == "cp-sat"]
    if solved:
        below = sum(r.below_greedy for r in solved)
        days = sum(len(r.placed) for r in solved)
        print(f"\nCP-SAT placed less priority than greedy on {below} of {days} days.")
        stopped = sum(r.clock_stopped for r in solved)
        print(f"The wall clock, not the deterministic budget, ended a solver phase on {stopped} of {days} days.")
        reached = sum(r.priority_proven for r in solved)
        optimal = sum(r.optimal for r in solved)
        print(f"CP-SAT placed the bound's priority (proven the most possible) on {reached} of {days} days;"
              f" {optimal} of {days} schedules are proven optimal.")
    bad = sum(r.violations for r in rows)
    if bad:
        print(f"\n!!! {bad} VIOLATIONS in benchmark schedules (see stderr)")
    return 1 if bad else 0
