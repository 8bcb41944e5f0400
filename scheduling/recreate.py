"""Ruin and recreate: a CP-SAT-free local search that cuts waiting on large days quickly.

Each move takes a handful of related visits out of the plan (a worst waiter, or a random visit, with
the visits that share its pools at the same time), then puts them back one at a time, each where it
waits least given all the others (``least_wait_placement``: every first start in its arrival window is
tried), most valuable first. Requests left out of the plan that compete for the same pools are
offered the freed room too. The move is kept when the plan is lexicographically no worse (placed
value, then waiting), so priority never drops; equal plans are accepted to drift across plateaus.

On this 2-core machine a CP-SAT sub-model of 16 visits costs about half a second of wall time, while a
move here costs a few milliseconds, so most of the waiting on 100-200-request days is removed here
and CP-SAT (``scheduling.lns``, then the full model) polishes what is left.

Determinism: the moves come from a seeded ``random.Random`` and the budget is a number of moves,
never the clock; the wall-clock ``deadline`` is only a safety stop on a machine far slower than the
budget assumes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from scheduling.greedy import CapacityProfile
from scheduling.instance import PlacedStep, Resource
from scheduling.model import Day, Placement, Plan


@dataclass
class RecreateStats:
    moves: int = 0
    improved: int = 0
    placements: int = 0


class Recreate:
    """The ruin-and-recreate state on the day's pools: the plan, its capacity profile and a seeded rng."""

    #: Move sizes cycle through ``SIZES``; a worst waiter anchors a move with probability ``WORST``.
    SIZES = (3, 5, 7, 9, 11, 13)
    WORST = 0.6
    #: A move may add up to this many minutes of waiting at the start of a run, falling linearly to 0
    #: at its end (threshold accepting); the best plan seen is what ``run`` returns.
    THRESHOLD = 10
    #: How many left-out requests competing for the freed pools are offered the room in each move.
    OUTSIDE = 2

    def __init__(self, day: Day, plan: Plan, *, value: Mapping[str, int], seed: int = 0):
        from scheduling.solve import least_wait_placement, prepare_placement  # solve imports this module

        self._place = least_wait_placement
        self.day = day
        self.value = value
        self.rng = random.Random(seed * 104_729 + 17)
        self.stats = RecreateStats()
        pools = [Resource(p.id, p.kind, p.capacity, p.available, p.members[0].attributes) for p in day.pools.values()]
        self.profile = CapacityProfile(pools)
        for pid, load in day.fixed_load.items():
            for a, b, h in load:
                self.profile.add(pid, a, b, h)
        self.duration = {rid: {si.step.id: si.duration for si in info.steps} for rid, info in day.requests.items()}
        self.ids = sorted(rid for rid, info in day.requests.items() if info.feasible and info.request.steps)
        self.prepared = {rid: prepare_placement(self.profile, day.requests[rid].request) for rid in self.ids}
        self.plan: Plan = {}
        self.wait: dict[str, int] = {}
        self.spans: dict[str, tuple[int, int]] = {}
        for rid, placement in plan.items():
            self._book(rid, dict(placement))

    # ------------------------------------------------------------ bookkeeping

    def _book(self, rid: str, placement: Placement) -> None:
        d = self.duration[rid]
        first = min(start for _, start in placement.values())
        last = max(start + d[sid] for sid, (_, start) in placement.items())
        self.plan[rid] = placement
        self.spans[rid] = (first, last)
        self.wait[rid] = last - first - self.day.requests[rid].critical_path
        for sid, (pool, start) in placement.items():
            self.profile.add(pool, start, start + self.duration[rid][sid], 1)

    def _unbook(self, rid: str) -> Placement:
        placement = self.plan.pop(rid)
        del self.wait[rid]
        del self.spans[rid]
        for sid, (pool, start) in placement.items():
            self.profile.add(pool, start, start + self.duration[rid][sid], -1)
        return placement

    def score(self) -> tuple[int, int]:
        return sum(self.value.get(r, 1) for r in self.plan), -sum(self.wait.values())

    def span(self, rid: str) -> tuple[int, int]:
        return self.spans[rid]

    # ------------------------------------------------------------ one move

    def _blockers(self, anchor: str) -> list[str]:
        """Visits on the pool where ``anchor`` waits longest, during that wait (they hold it up)."""
        placement = self.plan[anchor]
        d = self.duration[anchor]
        worst = (0, "", 0, 0)
        for si in self.day.requests[anchor].steps:
            step = si.step
            if not step.after:
                continue
            ready = max(placement[p][1] + d[p] for p in step.after) + step.min_gap
            pool, start = placement[step.id]
            if start - ready > worst[0]:
                worst = (start - ready, pool, ready, start + si.duration)
        idle, pool, lo, hi = worst
        if not idle:
            return []
        out = []
        for rid, pl in self.plan.items():
            if rid == anchor:
                continue
            for sid, (p, start) in pl.items():
                if p == pool and start < hi and lo < start + self.duration[rid][sid]:
                    out.append(rid)
                    break
        return out

    def _related(self, anchor: str, k: int) -> list[str]:
        """``anchor``, some of the visits that hold up its longest wait, and placed visits using its
        pools around the same time: about ``k`` in all."""
        a, b = self.span(anchor)
        pools = {p for p, _ in self.plan[anchor].values()}
        blockers = self._blockers(anchor) if self.wait[anchor] > 0 else []
        self.rng.shuffle(blockers)
        chosen = sorted(blockers[: max(1, k // 2)])
        near = []
        for rid, placement in self.plan.items():
            if rid == anchor or rid in chosen:
                continue
            c, d = self.spans[rid]
            if c < b + 30 and a - 30 < d and any(p in pools for p, _ in placement.values()):
                near.append((abs(c - a), rid))
        near.sort()
        picked = [rid for _, rid in near[: 3 * k]]
        self.rng.shuffle(picked)
        return [anchor] + chosen + sorted(picked[: max(0, k - 1 - len(chosen))])

    def _anchor(self) -> str:
        placed = sorted(self.plan)
        if self.rng.random() < self.WORST:
            waiting = sorted((r for r in placed if self.wait[r] > 0), key=lambda r: (-self.wait[r], r))
            if waiting:
                return self.rng.choice(waiting[: max(1, len(waiting) // 4)])
        return self.rng.choice(placed)

    def move(self, k: int, threshold: int = 0) -> bool:
        """One ruin-and-recreate move of about ``k`` visits, kept when it loses no value and adds at most
        ``threshold`` minutes of waiting; returns whether the plan got strictly better."""
        before = self.score()
        removed = self._related(self._anchor(), k)
        saved = {rid: self._unbook(rid) for rid in removed}
        pools = {p for pl in saved.values() for p, _ in pl.values()}
        outside = [
            rid for rid in self.ids
            if rid not in self.plan and rid not in saved
            and any(p in pools for si in self.day.requests[rid].steps for p in si.pools)
        ]
        self.rng.shuffle(outside)
        order = list(removed)
        self.rng.shuffle(order)
        order.sort(key=lambda r: -self.value.get(r, 1))  # stable: random among equal values
        order += sorted(outside[: self.OUTSIDE], key=lambda r: -self.value.get(r, 1))
        added = []
        for rid in order:
            self.stats.placements += 1
            request = self.day.requests[rid].request
            steps: list[PlacedStep] | None = self._place(self.profile, request, prepared=self.prepared.get(rid))
            if steps is not None:
                self._book(rid, {s.id: (s.resource, s.start) for s in steps})
                added.append(rid)
        after = self.score()
        self.stats.moves += 1
        if after >= before or (after[0] >= before[0] and after[1] >= before[1] - threshold):
            if after > before:
                self.stats.improved += 1
            return after > before
        for rid in added:
            self._unbook(rid)
        for rid, placement in saved.items():
            self._book(rid, placement)
        return False

    def run(self, *, moves: int, deadline: float) -> Plan:
        """``moves`` moves (fewer if the wall-clock ``deadline`` passes first); the best plan."""
        if not self.plan:
            return {}
        best, best_plan = self.score(), {rid: dict(pl) for rid, pl in self.plan.items()}
        for i in range(moves):
            if time.perf_counter() > deadline:
                break
            threshold = self.THRESHOLD * (moves - i) // moves
            self.move(self.SIZES[i % len(self.SIZES)], threshold)
            if threshold and self.score() > best:
                best, best_plan = self.score(), {rid: dict(pl) for rid, pl in self.plan.items()}
        if self.score() >= best:
            return {rid: dict(pl) for rid, pl in self.plan.items()}
        return best_plan
