"""Large-neighbourhood search: improve a complete plan by re-solving small parts of it.

Each round frees a handful of requests (a neighbourhood), holds every other request fixed as
constant load, and asks CP-SAT for the best placement of the free ones with the current placement
as a complete hint. The result is kept only when it is lexicographically better (value of placed
requests, then deviation from announced starts, then waiting). So a full feasible plan exists at
every moment and any stop returns the best one found.

Neighbourhoods: the requests left out plus placed ones competing with them for the same pools at
the same time (to place more, or more valuable, visits); all visits touching a time window; the
visits on one pool around a time; the worst waiters with their neighbours in time; and a plain
random group. Their size adapts: up after a sub-model is solved to optimality, down after one
runs out of budget without improving.

Determinism versus wall clock: each sub-model runs on one worker with a budget in CP-SAT's
deterministic time (``max_deterministic_time``), the neighbourhoods come from a seeded
``random.Random``, and the loop stops when a deterministic-time budget is spent. The same instance
and seed thus give the same plan on any machine load. A wall-clock deadline is kept only as a
safety stop; when it fires first (a slow or busy machine) the result depends on timing, which is
the trade-off for never overrunning the caller's time limit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduling.model import Day, Placement, Plan, build

Score = tuple[int, int, int]

#: CP-SAT parameters of every sub-model (measured on the example days: see ``Search.step``).
SUBMODEL_PARAMETERS: dict[str, object] = {}


def request_score(
    day: Day, rid: str, placement: Placement | None, value: Mapping[str, int], target: Mapping[tuple[str, str], int] | None
) -> Score:
    """(value placed, -deviation, -wait) of one request; larger is better."""
    if placement is None:
        return (0, 0, 0)
    info = day.requests[rid]
    starts = {}
    ends = {}
    for si in info.steps:
        start = si.pinned.start if si.pinned is not None else placement[si.step.id][1]
        starts[si.step.id], ends[si.step.id] = start, start + si.duration
    wait = max(ends.values()) - min(starts.values()) - info.critical_path
    dev = 0
    if target:
        dev = sum(abs(starts[sid] - t) for (r, sid), t in target.items() if r == rid and sid in starts)
    return (value.get(rid, 1), -dev, -wait)


def plan_score(day: Day, plan: Plan, value: Mapping[str, int], target: Mapping[tuple[str, str], int] | None = None) -> Score:
    total = [0, 0, 0]
    for rid, placement in plan.items():
        for i, x in enumerate(request_score(day, rid, placement, value, target)):
            total[i] += x
    return (total[0], total[1], total[2])


@dataclass
class SearchStats:
    rounds: int = 0
    improved: int = 0
    deterministic_time: float = 0.0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    #: Whether the wall-clock deadline, not the deterministic budget, ended ``run``.
    clock_stopped: bool = False
    #: Whether a round freed every request and CP-SAT proved its sub-model (then the whole day) optimal, and
    #: the plan has that optimum: ``run`` stops there, no later round could improve it.
    proven: bool = False


class Search:
    """The LNS state: the day, the objective's weights, the current plan and a seeded random source."""

    def __init__(
        self,
        day: Day,
        plan: Plan,
        *,
        value: Mapping[str, int],
        target: Mapping[tuple[str, str], int] | None = None,
        seed: int = 0,
        size: int = 16,
        min_size: int = 4,
        max_size: int = 40,
    ):
        self.day = day
        self.plan = dict(plan)
        self.value = value
        self.target = target
        self.rng = random.Random(seed)
        self.seed = seed
        self.size = size
        self.min_size = min_size
        self.max_size = max_size
        self.ids = sorted(rid for rid, info in day.requests.items() if info.feasible)
        self.stats = SearchStats()
        self.parameters: dict[str, object] = dict(SUBMODEL_PARAMETERS)
        self._target_of: dict[str, dict[tuple[str, str], int]] = {}
        if target:
            for (rid, sid), t in target.items():
                self._target_of.setdefault(rid, {})[(rid, sid)] = t

    # ------------------------------------------------------------ scoring helpers

    def score_of(self, rids: list[str], plan: Plan) -> Score:
        total = [0, 0, 0]
        for rid in rids:
            for i, x in enumerate(request_score(self.day, rid, plan.get(rid), self.value, self._target_of.get(rid))):
                total[i] += x
        return (total[0], total[1], total[2])

    def span_of(self, rid: str) -> tuple[int, int]:
        placement = self.plan[rid]
        info = self.day.requests[rid]
        starts = [placement[si.step.id][1] for si in info.steps]
        ends = [placement[si.step.id][1] + si.duration for si in info.steps]
        return min(starts), max(ends)

    def reach_of(self, rid: str) -> tuple[int, int]:
        """Where an unplaced request could be at all: earliest possible start to latest possible end."""
        info = self.day.requests[rid]
        return (
            min(si.domain[0][0] for si in info.steps),
            max(si.domain[-1][1] + si.duration for si in info.steps),
        )

    # ------------------------------------------------------------ neighbourhoods

    def _overlapping(self, lo: int, hi: int, pools: set[str] | None = None) -> list[str]:
        out = []
        for rid in self.ids:
            if rid not in self.plan:
                continue
            a, b = self.span_of(rid)
            if a < hi and lo < b and (pools is None or any(p in pools for p, _ in self.plan[rid].values())):
                out.append(rid)
        return out

    def _sample(self, first: list[str], rest: list[str]) -> list[str]:
        chosen = list(dict.fromkeys(first))[: self.size]
        rest = [r for r in rest if r not in chosen]
        self.rng.shuffle(rest)
        return chosen + rest[: max(0, self.size - len(chosen))]

    def unplaced(self) -> list[str]:
        return [rid for rid in self.ids if rid not in self.plan]

    def neighbourhood_insert(self) -> list[str]:
        out = self.unplaced()
        weights = [self.value.get(r, 1) for r in out]
        u = self.rng.choices(out, weights)[0]
        lo, hi = self.reach_of(u)
        pools = {p for si in self.day.requests[u].steps for p in si.pools}
        rivals = self._overlapping(lo, hi, pools)
        rivals.sort(key=lambda r: (self.value.get(r, 1), self.rng.random()))
        others = [r for r in out if r != u and self.rng.random() < 0.3]
        k = max(1, self.size // 4)
        return self._sample([u] + others[:k], rivals[: 2 * self.size])

    def neighbourhood_window(self) -> list[str]:
        placed = [r for r in self.ids if r in self.plan]
        anchor = self.rng.choice(placed)
        a, b = self.span_of(anchor)
        t = self.rng.randint(a, b)
        width = self.rng.choice((30, 60, 90, 120))
        near = self._overlapping(t - width // 2, t + width // 2)
        extra = [r for r in self.unplaced() if self.reach_of(r)[0] < t + width and t - width < self.reach_of(r)[1]]
        return self._sample([anchor], near + extra[:3])

    def neighbourhood_pool(self) -> list[str]:
        placed = [r for r in self.ids if r in self.plan]
        anchor = self.rng.choice(placed)
        pool, start = self.rng.choice(sorted(self.plan[anchor].values()))
        near = self._overlapping(start - 90, start + 90, {pool})
        near.sort(key=lambda r: abs(self.span_of(r)[0] - start))
        return self._sample([anchor], near[: 2 * self.size])

    def neighbourhood_waiters(self) -> list[str]:
        placed = [r for r in self.ids if r in self.plan]
        waits = sorted(placed, key=lambda r: (request_score(self.day, r, self.plan[r], self.value, None)[2], r))
        worst = waits[: max(1, len(waits) // 5)]
        anchor = self.rng.choice(worst)
        a, b = self.span_of(anchor)
        return self._sample([anchor], self._overlapping(a, b))

    def neighbourhood_random(self) -> list[str]:
        return self._sample([], list(self.ids))

    # ------------------------------------------------------------ the loop

    def _choose(self) -> tuple[str, list[str]]:
        kinds = ["window", "pool", "waiters", "random"]
        if self.unplaced():
            kinds += ["insert", "insert", "insert"]
        if not any(r in self.plan for r in self.ids):
            kinds = ["insert"]
        kind = self.rng.choice(kinds)
        return kind, sorted(set(getattr(self, f"neighbourhood_{kind}")()))

    def _solve(
        self, free: list[str], round_no: int, round_dtime: float, wall_left: float
    ) -> tuple[Plan | None, int, float, Score | None]:
        """Best placement of ``free`` around the current plan, if better; the status; deterministic time used;
        and, when ``free`` is every request and CP-SAT proved optimality, the day's optimal score."""
        before = self.score_of(free, self.plan)
        sub = build(self.day, free, self.plan, value=self.value, target=self.target, keep_value=before[0])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = (self.seed * 7919 + round_no) % (2**31)
        solver.parameters.max_deterministic_time = round_dtime
        solver.parameters.max_time_in_seconds = max(0.01, wall_left)
        for key, val in self.parameters.items():
            setattr(solver.parameters, key, val)
        status = solver.solve(sub.model)
        found = None
        optimum = None
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            candidate = sub.extract(solver)
            if self.score_of(free, candidate) > before:
                found = candidate
            if status == cp_model.OPTIMAL and set(free) >= set(self.ids):
                optimum = max(before, self.score_of(free, candidate))
        return found, status, solver.deterministic_time, optimum

    def _apply(self, free: list[str], found: Plan) -> None:
        for rid in free:
            self.plan.pop(rid, None)
        self.plan.update(found)

    def _record(self, kind: str, status: int, improved: bool, dtime: float) -> None:
        self.stats.rounds += 1
        self.stats.deterministic_time += dtime
        tally = self.stats.by_kind.setdefault(kind, [0, 0])
        tally[0] += 1
        if improved:
            tally[1] += 1
            self.stats.improved += 1
        if status == cp_model.OPTIMAL:
            self.size = min(self.max_size, self.size + 1)
        elif not improved:
            self.size = max(self.min_size, self.size - 1)

    def step(self, *, round_dtime: float, wall_left: float) -> bool:
        """One LNS round; returns whether the plan improved."""
        kind, free = self._choose()
        found, status, dtime, optimum = self._solve(free, self.stats.rounds, round_dtime, wall_left)
        if found is not None:
            self._apply(free, found)
        self._record(kind, status, found is not None, dtime)
        self._check_proof([optimum])
        return found is not None

    def step_whole(self, *, round_dtime: float, wall_left: float) -> bool:
        """One round that frees every request: on a small day CP-SAT often proves the whole day optimal at
        once (``stats.proven``), which no number of partial rounds can; returns whether the plan improved."""
        found, status, dtime, optimum = self._solve(list(self.ids), self.stats.rounds, round_dtime, wall_left)
        if found is not None:
            self._apply(list(self.ids), found)
        self._record("whole", status, found is not None, dtime)
        self._check_proof([optimum])
        return found is not None

    def _check_proof(self, optima: list[Score | None]) -> None:
        proven = [o for o in optima if o is not None]
        if proven and self.score_of(self.ids, self.plan) >= max(proven):
            self.stats.proven = True

    def step_pair(self, pool: ThreadPoolExecutor, *, round_dtime: float, wall_left: float) -> bool:
        """Two rounds solved at once on two threads (CP-SAT releases the GIL) from the same plan.

        Both neighbourhoods are drawn first, so the draw is deterministic. The first result is
        applied if better; the second too when its free requests are disjoint from the first's and
        the merged plan still respects every capacity (the only link between requests); otherwise the
        second is dropped. The outcome does not depend on which thread finishes first.
        """
        picks = [self._choose() for _ in range(2)]
        rounds = [self.stats.rounds, self.stats.rounds + 1]
        futures = [
            pool.submit(self._solve, free, r, round_dtime, wall_left) for (_, free), r in zip(picks, rounds, strict=True)
        ]
        results = [f.result() for f in futures]
        improved = False
        first_free: set[str] = set()
        for (kind, free), (found, status, dtime, _) in zip(picks, results, strict=True):
            ok = found is not None
            if ok and improved:
                merged = dict(self.plan)
                for rid in free:
                    merged.pop(rid, None)
                merged.update(found)
                ok = not (first_free & set(free)) and self.score_of(free, found) > self.score_of(free, self.plan) \
                    and capacity_ok(self.day, merged)
            if ok:
                self._apply(free, found)
                improved = True
                first_free = set(free)
            self._record(kind, status, ok, dtime)
        self._check_proof([optimum for *_, optimum in results])
        return improved

    def run(
        self, *, dtime_budget: float, deadline: float, round_dtime: float = 0.5, max_rounds: int | None = None,
        threads: int = 1,
    ) -> Plan:
        """Rounds until ``dtime_budget`` deterministic seconds are spent (or the wall-clock ``deadline``), or the
        plan is proven optimal (``stats.proven``)."""
        if not self.ids:
            return self.plan
        with ThreadPoolExecutor(max_workers=2) as pool:
            while (
                self.stats.deterministic_time < dtime_budget
                and (max_rounds is None or self.stats.rounds < max_rounds)
                and not self.stats.proven
            ):
                left = deadline - time.perf_counter()
                if left <= 0.02:
                    self.stats.clock_stopped = True
                    break
                budget = min(round_dtime, dtime_budget - self.stats.deterministic_time + 0.01)
                if threads >= 2:
                    self.step_pair(pool, round_dtime=budget, wall_left=left)
                else:
                    self.step(round_dtime=budget, wall_left=left)
        return self.plan


def capacity_ok(day: Day, plan: Plan) -> bool:
    """Whether no pool is over capacity anywhere under ``plan`` (booked and pinned steps included)."""
    events: dict[str, list[tuple[int, int]]] = {}
    for pid, load in day.fixed_load.items():
        events.setdefault(pid, []).extend(e for a, b, h in load for e in ((a, h), (b, -h)))
    for rid, placement in plan.items():
        for si in day.requests[rid].steps:
            if si.pinned is None:
                pool, start = placement[si.step.id]
                events.setdefault(pool, []).extend(((start, 1), (start + si.duration, -1)))
    for pid, evs in events.items():
        load = 0
        cap = day.pools[pid].capacity
        for _, delta in sorted(evs, key=lambda e: (e[0], e[1])):
            load += delta
            if load > cap:
                return False
    return True
