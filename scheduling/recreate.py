"""Ruin and recreate: a CP-SAT-free local search that cuts waiting on large days quickly.

Each move takes a handful of related visits out of the plan (a worst waiter, or a random visit, with
the visits that share its pools at the same time), then puts them back one at a time, each where it
waits least given all the others (``least_wait_placement``: every first start in its arrival window is
tried), most valuable first. Requests left out of the plan that compete for the same pools are
offered the freed room too. The move is kept when it loses no placed value and adds at most a
small, shrinking amount of waiting (threshold accepting; ``run`` returns the best plan seen), so
priority never drops.

About a third of the moves are ejections instead: a waiting visit goes where it would wait least if
only the booked visits were on the day, and the planned visits in its way are taken out and put back
where each waits least. On booked days the long waits are mostly visits tied to a consultant the
booked visits keep busy, queued behind a registration slot a more flexible visit could give up; a
ruin of related visits rarely frees exactly that slot, an ejection does.

Some moves are exchanges: the objective puts priority first and waiting second, so a waiting visit
may give its room to a left-out request worth as much (or two worth as much together) that would wait
less; the newcomers are placed first, then the visits taken out, the waiting one last, so it comes back
too when there is room (more priority). The usual acceptance applies, so priority never drops.

On this 2-core machine a CP-SAT sub-model of 16 visits costs about half a second of wall time, while a
move here costs about 2 ms, so most of the waiting on 100-200-request days is removed here and CP-SAT
(``scheduling.lns``, then the full model) polishes what is left.

Determinism: the moves come from a seeded ``random.Random`` and the budget is a number of moves,
never the clock; the wall-clock ``deadline`` is only a safety stop on a machine far slower than the
budget assumes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from scheduling.greedy import CapacityProfile, place_request
from scheduling.instance import DAY_MINUTES, PlacedStep, Resource
from scheduling.model import Day, Placement, Plan
from scheduling.placement import least_wait_placement, prepare_placement


@dataclass
class RecreateStats:
    moves: int = 0
    improved: int = 0
    placements: int = 0
    #: Exchange moves made, and those that made the plan strictly better.
    exchanges: int = 0
    exchanges_improved: int = 0
    #: Whether the wall-clock deadline, not the number of moves, ended ``run``.
    clock_stopped: bool = False


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
    #: Share of moves that are ejections (``_ideal``); the first starts they try are ``IDEAL_STEP``
    #: minutes apart, and they pick among ``IDEAL_TRIES`` placements waiting at most ``IDEAL_SLACK``
    #: minutes more than the least.
    IDEAL = 0.3
    IDEAL_STEP = 5
    IDEAL_SLACK = 10
    IDEAL_TRIES = 6
    #: Share of moves that are exchanges (``_exchange``): a waiting visit gives its room to left-out
    #: requests worth as much in all, chosen among ``EXCHANGE_TRIES`` by how little they would wait.
    EXCHANGE = 0.25
    EXCHANGE_TRIES = 4
    #: How often a visit worth more than 1 is offered pairs of left-out requests instead of single ones.
    EXCHANGE_PAIRS = 0.5

    def __init__(self, day: Day, plan: Plan, *, value: Mapping[str, int], seed: int = 0):
        self.day = day
        self.value = value
        self.rng = random.Random(seed * 104_729 + 17)
        self.stats = RecreateStats()
        pools = [Resource(p.id, p.kind, p.capacity, p.available, p.members[0].attributes) for p in day.pools.values()]
        self.profile = CapacityProfile(pools)
        for pid, load in day.fixed_load.items():
            for a, b, h in load:
                self.profile.add(pid, a, b, h)
        #: The fixed load alone (booked and pinned steps): where a visit could go if nothing else moved.
        self.fixed = self.profile.copy()
        #: pool -> request -> its (start, end) on that pool in the plan.
        self.on_pool: dict[str, dict[str, list[tuple[int, int]]]] = {p: {} for p in day.pools}
        self.duration = {rid: {si.step.id: si.duration for si in info.steps} for rid, info in day.requests.items()}
        self.ids = sorted(rid for rid, info in day.requests.items() if info.feasible and info.request.steps)
        self.prepared = {rid: prepare_placement(self.profile, day.requests[rid].request) for rid in self.ids}
        #: request -> the least it could wait with only the fixed load on the day (None: no room), on demand.
        self.alone: dict[str, int | None] = {}
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
            self.on_pool[pool].setdefault(rid, []).append((start, start + self.duration[rid][sid]))

    def _unbook(self, rid: str) -> Placement:
        placement = self.plan.pop(rid)
        del self.wait[rid]
        del self.spans[rid]
        for sid, (pool, start) in placement.items():
            self.profile.add(pool, start, start + self.duration[rid][sid], -1)
            self.on_pool[pool].pop(rid, None)
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

    def _ideal(self, anchor: str, now: int) -> list[PlacedStep] | None:
        """Where ``anchor`` (taken out of the plan, waiting ``now`` in it) would wait less if only the fixed load (booked visits) were on the
        day: among such placements (every first start in its arrival window, every step order), one
        of the least waiting, preferring those in the way of the fewest planned visits."""
        request = self.day.requests[anchor].request
        eligible, orders, cp = self.prepared[anchor]
        lo, hi = request.arrival if request.arrival else (0, DAY_MINUTES)
        found: dict[tuple[int, int], tuple[int, list[PlacedStep]]] = {}
        t = lo
        while t <= hi:
            for order in orders:
                steps, _ = place_request(self.fixed, request, eligible, order, t, why=False)
                if steps is None:
                    continue
                first = min(s.start for s in steps)
                wait = max(s.end for s in steps) - first - cp
                if wait < now:
                    found.setdefault((first, wait), (wait, steps))
            t += self.IDEAL_STEP
        if not found:
            return None
        least = min(w for w, _ in found.values())
        near = [steps for w, steps in found.values() if w <= least + self.IDEAL_SLACK]
        self.rng.shuffle(near)
        return min(near[: self.IDEAL_TRIES], key=self._in_the_way)

    def _in_the_way(self, steps: list[PlacedStep]) -> int:
        """How many planned visits would have to leave for ``steps`` to fit (a lower estimate for pools)."""
        count = 0
        for s in steps:
            if not self.profile.fits(s.resource, s.start, s.end - s.start):
                count += 1 if self.profile.resources[s.resource].capacity > 1 else sum(
                    1 for spans in self.on_pool[s.resource].values() for a, b in spans if a < s.end and s.start < b
                )
        return count

    def _clear(self, steps: list[PlacedStep], saved: dict[str, Placement], limit: int) -> bool:
        """Take planned visits out (into ``saved``) until ``steps`` fit; false when more than ``limit`` would go."""
        for s in steps:
            while not self.profile.fits(s.resource, s.start, s.end - s.start):
                overlap = sorted(
                    (min(b, s.end) - max(a, s.start), rid)
                    for rid, spans in self.on_pool[s.resource].items()
                    for a, b in spans
                    if a < s.end and s.start < b
                )
                if not overlap or len(saved) >= limit:
                    return False
                most = overlap[-1][0]
                rid = self.rng.choice([r for o, r in overlap if o == most])
                saved[rid] = self._unbook(rid)
        return True

    def _alone(self, rid: str) -> int | None:
        """The least ``rid`` could wait were only the fixed load on the day (None: no room at all); cached."""
        if rid not in self.alone:
            steps = least_wait_placement(self.fixed, self.day.requests[rid].request, prepared=self.prepared[rid])
            self.alone[rid] = None if steps is None else (
                max(s.end for s in steps) - min(s.start for s in steps) - self.prepared[rid][2]
            )
        return self.alone[rid]

    def _exchange(self, anchor: str) -> list[str]:
        """Left-out requests to take ``anchor``'s room: one worth as much, or two worth as much together,
        that use one of its pools; among ``EXCHANGE_TRIES`` drawn, those that would wait least alone
        (and less than ``anchor`` waits now). Empty when there are none."""
        worth = self.value.get(anchor, 1)
        pools = {p for p, _ in self.plan[anchor].values()}
        out = [
            rid for rid in self.ids
            if rid not in self.plan and self.value.get(rid, 1) <= worth
            and any(p in pools for si in self.day.requests[rid].steps for p in si.pools)
        ]
        singles = [r for r in out if self.value.get(r, 1) == worth]
        sets: list[list[str]] = [[r] for r in singles]
        if worth > 1 and self.rng.random() < self.EXCHANGE_PAIRS:
            self.rng.shuffle(out)
            lows = out[: 4 * self.EXCHANGE_TRIES]
            sets = [
                [a, b] for i, a in enumerate(lows) for b in lows[i + 1:]
                if self.value.get(a, 1) + self.value.get(b, 1) == worth
            ]
        self.rng.shuffle(sets)
        now = self.wait[anchor]
        best: tuple[int, list[str]] | None = None
        for chosen in sets[: self.EXCHANGE_TRIES]:
            alone = [self._alone(r) for r in chosen]
            if any(a is None for a in alone):
                continue
            total = sum(a for a in alone if a is not None)
            if total < now and (best is None or total < best[0]):
                best = (total, chosen)
        return [] if best is None else best[1]

    def move(self, k: int, threshold: int = 0) -> bool:
        """One ruin-and-recreate move of about ``k`` visits, kept when it loses no value and adds at most
        ``threshold`` minutes of waiting; returns whether the plan got strictly better.

        With probability ``IDEAL`` (and a visit waiting) the move is an ejection instead: a waiting
        visit goes where it would wait least were only the booked visits there (``_ideal``), the
        visits in its way are taken out and put back where each waits least. With probability
        ``EXCHANGE`` it is an exchange: a waiting visit and a few related ones are taken out, left-out
        requests worth as much as it (``_exchange``) placed first, the others after them."""
        before = self.score()
        saved: dict[str, Placement] = {}
        added: list[str] = []
        first: list[str] = []
        waiting = sorted((r for r in self.plan if self.wait[r] > 0), key=lambda r: (-self.wait[r], r))
        roll = self.rng.random() if waiting else 1.0
        exchange: list[str] = []
        if self.IDEAL <= roll < self.IDEAL + self.EXCHANGE:
            anchor = self.rng.choice(waiting[: max(1, len(waiting) // 2)])
            exchange = self._exchange(anchor)
        if exchange:
            self.stats.exchanges += 1
            removed = self._related(anchor, k // 2)
            for rid in removed:
                saved[rid] = self._unbook(rid)
        elif roll < self.IDEAL:
            anchor = self.rng.choice(waiting[: max(1, len(waiting) // 2)])
            now = self.wait[anchor]
            saved[anchor] = self._unbook(anchor)
            ideal = self._ideal(anchor, now)
            if ideal is not None and self._clear(ideal, saved, k + 1):
                self._book(anchor, {s.id: (s.resource, s.start) for s in ideal})
                added.append(anchor)
                first = [anchor]
            removed = [rid for rid in saved if rid not in first]
        else:
            removed = self._related(self._anchor(), k)
            for rid in removed:
                saved[rid] = self._unbook(rid)
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
        if exchange:
            # The newcomers first, then the visits taken out; the anchor last, where room is left.
            order = exchange + [r for r in order if r != removed[0]] + [removed[0]]
            outside = [r for r in outside if r not in exchange]
        order += sorted(outside[: self.OUTSIDE], key=lambda r: -self.value.get(r, 1))
        for rid in order:
            self.stats.placements += 1
            request = self.day.requests[rid].request
            steps: list[PlacedStep] | None = least_wait_placement(self.profile, request, prepared=self.prepared.get(rid))
            if steps is not None:
                self._book(rid, {s.id: (s.resource, s.start) for s in steps})
                added.append(rid)
        after = self.score()
        self.stats.moves += 1
        if after >= before or (after[0] >= before[0] and after[1] >= before[1] - threshold):
            if after > before:
                self.stats.improved += 1
                self.stats.exchanges_improved += bool(exchange)
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
                self.stats.clock_stopped = True
                break
            threshold = self.THRESHOLD * (moves - i) // moves
            self.move(self.SIZES[i % len(self.SIZES)], threshold)
            if threshold and self.score() > best:
                best, best_plan = self.score(), {rid: dict(pl) for rid, pl in self.plan.items()}
        if self.score() >= best:
            return {rid: dict(pl) for rid, pl in self.plan.items()}
        return best_plan

