"""Ruin and recreate: never loses value, keeps the plan feasible, cuts waiting, deterministic by seed."""

from __future__ import annotations

import dataclasses
import time

import pytest

from scheduling.check import check, objective
from scheduling.generate import generate_day
from scheduling.instance import FEASIBLE, Schedule, Unscheduled
from scheduling.lns import plan_score
from scheduling.model import Day, plan_from_visits, to_visits
from scheduling.placement import place_in_order, priority_order
from scheduling.recreate import Recreate
from scheduling.solve import solve

FAR = 1e9  # a wall-clock deadline that never binds: these tests count moves, not seconds


def _start(n: int, seed: int, booked: float = 0.0):
    instance = generate_day(n, seed=seed, booked_share=booked)
    day = Day(instance)
    value = {r.id: r.priority for r in instance.requests}
    plan = plan_from_visits(day, place_in_order(instance, priority_order(instance.requests)))
    return instance, day, value, plan


def _schedule(instance, day, plan) -> Schedule:
    visits = to_visits(day, plan)
    placed = {v.request for v in visits}
    return Schedule(
        instance.name, FEASIBLE, tuple(visits),
        tuple(Unscheduled(r.id, "-") for r in instance.requests if r.id not in placed),
        objective(instance, visits),
    )


@pytest.mark.parametrize(("n", "seed", "booked"), [(40, 1, 0.0), (60, 2, 0.3)])
def test_moves_keep_the_plan_feasible_and_never_lose_value(n, seed, booked):
    instance, day, value, plan = _start(n, seed, booked)
    before = plan_score(day, plan, value)
    after_plan = Recreate(day, plan, value=value, seed=seed).run(moves=150, deadline=FAR)
    after = plan_score(day, after_plan, value)
    assert after[0] >= before[0]
    assert after >= before
    assert check(instance, _schedule(instance, day, after_plan)) == []


def test_cuts_waiting_on_a_congested_day():
    instance, day, value, plan = _start(100, 2)
    _, _, before = plan_score(day, plan, value)
    after_plan = Recreate(day, plan, value=value, seed=1).run(moves=200, deadline=FAR)
    priority, _, after = plan_score(day, after_plan, value)
    assert priority >= plan_score(day, plan, value)[0]
    assert -after <= 0.6 * -before


def test_same_seed_same_plan_and_seeds_differ():
    _, day, value, plan = _start(60, 3)
    runs = [Recreate(day, plan, value=value, seed=s).run(moves=120, deadline=FAR) for s in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_deadline_in_the_past_returns_the_plan_unchanged():
    _, day, value, plan = _start(40, 4)
    search = Recreate(day, plan, value=value, seed=0)
    assert search.run(moves=100, deadline=time.perf_counter() - 1) == plan
    assert search.stats.moves == 0 and search.stats.clock_stopped


def test_empty_plan_and_no_requests():
    instance, day, value, _ = _start(10, 1)
    assert Recreate(day, {}, value=value, seed=0).run(moves=10, deadline=FAR) == {}


def test_solve_runs_recreate_within_the_budget():
    instance = generate_day(60, seed=4)
    schedule = solve(instance, time_limit=2.0, workers=1, seed=2)
    assert check(instance, schedule) == []
    assert set(schedule.stats["clock_stopped"]) <= {"recreate", "lns"}
    assert [p["phase"] for p in schedule.stats["phases"]][2:] == ["recreate", "lns", "recreate"]
    stats = schedule.stats
    assert [p["phase"] for p in stats["phases"]][1:4] == ["descent", "recreate", "lns"]
    assert stats["recreate_moves"] > 0
    budget = stats["budget_seconds"]
    assert sum(budget.values()) <= 2.0 + 1e-6
    assert budget["bound"] == 0.0  # a large day: no full model, its share goes to ruin and recreate
    assert schedule.objective.scheduled_priority >= stats["greedy_priority"]
    recreate = next(p for p in stats["phases"] if p["phase"] == "recreate")
    descent = next(p for p in stats["phases"] if p["phase"] == "descent")
    assert (recreate["priority"], -recreate["wait"]) >= (descent["priority"], -descent["wait"])


def test_least_wait_placement_tries_both_orders_of_independent_steps(mk):
    from scheduling.greedy import CapacityProfile
    from scheduling.placement import least_wait_placement, step_orders

    steps = [
        mk.step("reg", "registration", 10),
        mk.step("ecg", "ecg", 15, after=["reg"]),
        mk.step("echo", "imaging", 30, after=["reg"]),
        mk.step("cons", "consult", 20, after=["ecg", "echo"]),
    ]
    request = mk.request("r", steps, arrival=(480, 480))
    assert [[s.id for s in o] for o in step_orders(request)] == [
        ["reg", "ecg", "echo", "cons"], ["reg", "echo", "ecg", "cons"],
    ]
    resources = [mk.resource(k, k) for k in ("registration", "ecg", "imaging", "consult")]
    # The ECG is busy right after registration, imaging is free: echo first means no waiting at all.
    booked = [mk.visit("b", ("x", "ecg", 490, 520))]
    profile = CapacityProfile.for_instance(mk.instance(resources, [request], booked))
    placed = {s.id: s.start for s in least_wait_placement(profile, request)}
    assert placed == {"reg": 480, "echo": 490, "ecg": 520, "cons": 535}


def _swap_day(mk):
    """Two registration slots (08:00, 09:50); dr-a is booked until 10:00, so the visit tied to dr-a waits
    110 minutes when it registers at 08:00 and none at 09:50, where the flexible visit sits now."""
    desk = mk.resource("desk", "registration", available=((480, 490), (590, 600)))
    dr_a = mk.resource("dr-a", "consult", available=((480, 720),))
    dr_b = mk.resource("dr-b", "consult", available=((480, 720),))
    tied = mk.request("tied", [mk.step("reg", "registration", 10),
                               mk.step("cons", "consult", 20, after=("reg",), resources=("dr-a",))],
                      arrival=(480, 600))
    free = mk.request("free", [mk.step("reg", "registration", 10), mk.step("cons", "consult", 20, after=("reg",))],
                      arrival=(480, 600))
    booked = mk.visit("b-1", ("cons", "dr-a", 490, 600))
    instance = mk.instance([desk, dr_a, dr_b], [tied, free], booked=[booked])
    start = [
        mk.visit("tied", ("reg", "desk", 480, 490), ("cons", "dr-a", 600, 620)),
        mk.visit("free", ("reg", "desk", 590, 600), ("cons", "dr-b", 600, 620)),
    ]
    return instance, start


def test_ejection_puts_a_waiting_visit_where_it_would_wait_least_and_moves_the_one_in_its_way(mk):
    instance, start = _swap_day(mk)
    day = Day(instance)
    value = {r.id: r.priority for r in instance.requests}
    plan = plan_from_visits(day, start)
    assert check(instance, _schedule(instance, day, plan)) == []
    assert plan_score(day, plan, value) == (2, 0, -110)
    search = Recreate(day, plan, value=value, seed=0)
    search.IDEAL = 1.0
    assert search.move(1)
    assert search.plan["tied"]["reg"][1] == 590 and search.plan["free"]["reg"][1] == 480
    assert search.score() == (2, 0)
    assert check(instance, _schedule(instance, day, search.plan)) == []


def test_ejection_of_a_visit_that_can_wait_nowhere_less_leaves_the_plan_as_it_was(mk):
    instance, start = _swap_day(mk)
    pinned = [dataclasses.replace(r, arrival=(480, 490)) if r.id == "tied" else r for r in instance.requests]
    instance = dataclasses.replace(instance, requests=tuple(pinned))
    day = Day(instance)
    value = {r.id: r.priority for r in instance.requests}
    plan = plan_from_visits(day, start)
    search = Recreate(day, plan, value=value, seed=0)
    search.IDEAL = 1.0
    assert search._ideal("tied", 110) is None
    assert not search.move(1)
    assert search.plan == plan and search.score() == (2, -110)


def test_ejections_cut_more_waiting_on_a_booked_day_for_the_same_moves():
    instance, day, value, plan = _start(150, 1, 0.3)
    waits = {}
    for share in (0.0, Recreate.IDEAL):
        search = Recreate(day, plan, value=value, seed=1)
        search.IDEAL = share
        result = search.run(moves=300, deadline=FAR)
        priority, _, waits[share] = plan_score(day, result, value)
        assert priority >= plan_score(day, plan, value)[0]
    assert -waits[Recreate.IDEAL] < -waits[0.0]


def _exchange_day(mk, *, newcomer_priority: int = 1, newcomer_tied: bool = False):
    """One registration slot (08:00) for two visits: the planned one is tied to dr-a, booked until 10:00,
    so it waits 110 minutes; the left-out one can see dr-b (or, ``newcomer_tied``, dr-a too)."""
    desk = mk.resource("desk", "registration", available=((480, 490),))
    dr_a = mk.resource("dr-a", "consult", available=((480, 720),))
    dr_b = mk.resource("dr-b", "consult", available=((480, 720),))
    tied = mk.request("tied", [mk.step("reg", "registration", 10),
                               mk.step("cons", "consult", 20, after=("reg",), resources=("dr-a",))],
                      arrival=(480, 600))
    doctor = ("dr-a",) if newcomer_tied else None
    newcomer = mk.request("new", [mk.step("reg", "registration", 10),
                                  mk.step("cons", "consult", 20, after=("reg",), resources=doctor)],
                          arrival=(480, 600), priority=newcomer_priority)
    booked = mk.visit("b-1", ("cons", "dr-a", 490, 600))
    instance = mk.instance([desk, dr_a, dr_b], [tied, newcomer], booked=[booked])
    day = Day(instance)
    value = {r.id: r.priority for r in instance.requests}
    plan = plan_from_visits(day, [mk.visit("tied", ("reg", "desk", 480, 490), ("cons", "dr-a", 600, 620))])
    assert check(instance, _schedule(instance, day, plan)) == []
    search = Recreate(day, plan, value=value, seed=0)
    search.IDEAL, search.EXCHANGE = 0.0, 1.0
    return instance, day, plan, search


def test_exchange_gives_a_waiting_visits_room_to_a_left_out_one_of_equal_priority_that_waits_less(mk):
    instance, day, _, search = _exchange_day(mk)
    assert search.score() == (1, -110)
    assert search.move(1)
    assert set(search.plan) == {"new"} and search.score() == (1, 0)
    assert search.stats.exchanges == search.stats.exchanges_improved == 1
    assert check(instance, _schedule(instance, day, search.plan)) == []


def test_exchange_never_trades_for_less_priority_nor_for_a_visit_that_would_wait_as_long(mk):
    for kwargs in ({"newcomer_priority": 1}, {"newcomer_tied": True}):
        instance, day, plan, search = _exchange_day(mk, **kwargs)
        if kwargs.get("newcomer_priority"):
            search.value = {"tied": 2, "new": 1}
        for _ in range(5):
            assert not search.move(1)
        assert search.plan == plan and search.stats.exchanges == 0
        assert check(instance, _schedule(instance, day, search.plan)) == []


def test_exchange_moves_keep_priority_and_feasibility_on_a_booked_day():
    instance, day, value, plan = _start(100, 2, 0.3)
    before = plan_score(day, plan, value)
    search = Recreate(day, plan, value=value, seed=3)
    search.IDEAL, search.EXCHANGE = 0.0, 1.0
    for i in range(150):
        score = search.score()
        search.move(Recreate.SIZES[i % len(Recreate.SIZES)])
        assert search.score()[0] >= score[0]
    assert search.stats.exchanges > 0
    assert search.score() >= (before[0], before[2])
    assert check(instance, _schedule(instance, day, search.plan)) == []


def test_exchange_gives_a_waiting_visits_room_to_two_left_out_ones_worth_as_much_together(mk):
    desk = mk.resource("desk", "registration", available=((480, 500),))
    dr_a = mk.resource("dr-a", "consult", available=((480, 720),))
    dr_b = mk.resource("dr-b", "consult", capacity=2, available=((480, 720),))
    tied = mk.request("tied", [mk.step("reg", "registration", 20),
                               mk.step("cons", "consult", 20, after=("reg",), resources=("dr-a",))],
                      arrival=(480, 600), priority=2)
    newcomers = [
        mk.request(f"new-{i}", [mk.step("reg", "registration", 10),
                                mk.step("cons", "consult", 20, after=("reg",), resources=("dr-b",))],
                   arrival=(480, 600))
        for i in (1, 2)
    ]
    booked = mk.visit("b-1", ("cons", "dr-a", 500, 600))
    instance = mk.instance([desk, dr_a, dr_b], [tied, *newcomers], booked=[booked])
    day = Day(instance)
    value = {r.id: r.priority for r in instance.requests}
    plan = plan_from_visits(day, [mk.visit("tied", ("reg", "desk", 480, 500), ("cons", "dr-a", 600, 620))])
    search = Recreate(day, plan, value=value, seed=0)
    search.IDEAL, search.EXCHANGE = 0.0, 1.0
    assert search.score() == (2, -100)
    for _ in range(20):  # the pair is drawn in half of the exchanges of a visit worth 2
        search.move(1)
        assert search.score()[0] == 2
    assert set(search.plan) == {"new-1", "new-2"} and search.score() == (2, 0)
    assert check(instance, _schedule(instance, day, search.plan)) == []
