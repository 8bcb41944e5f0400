"""``scheduling.bound``: floors, energy cuts and the two bounds, checked by hand and against proven optima."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.bound import _Demand, _free_minutes, _must_overlap, day_bounds, energy_cuts, request_floor
from scheduling.generate import generate_day
from scheduling.greedy import greedy
from scheduling.insert import FreeTime
from scheduling.instance import OPTIMAL
from scheduling.lns import plan_score
from scheduling.model import Day, plan_from_visits
from scheduling.solve import _full_model, solve
from tests.scheduling.test_properties import days


def _tied_consult(mk, *, arrival=(480, 510)):
    """Registration, then a consult with dr-a, whom a booked visit holds from 08:00 to 09:00."""
    resources = [
        mk.resource("desk", "registration"),
        mk.resource("dr-a", "consult"),
        mk.resource("dr-b", "consult"),
    ]
    request = mk.request(
        "r-1",
        [mk.step("reg", "registration", 10), mk.step("cons", "consult", 20, after=["reg"], resources=["dr-a"])],
        arrival=arrival,
    )
    booked = [mk.visit("v-1", ("cons", "dr-a", 480, 540))]
    return mk.instance(resources, [request], booked), request


def test_floor_is_the_least_wait_alone_around_the_booked_visits(mk):
    instance, request = _tied_consult(mk)
    # Registered at 08:30 at the latest (arrival window), dr-a is free from 09:00: 20 minutes of waiting.
    assert request_floor(FreeTime.for_day(instance), request) == (20, True)
    # With the arrival window open until 08:50 the patient can register at 08:50 and wait nothing.
    later, request = _tied_consult(mk, arrival=(480, 530))
    assert request_floor(FreeTime.for_day(later), request) == (0, True)


def test_floor_is_none_when_the_request_fits_nowhere_even_alone(mk):
    _, request = _tied_consult(mk)
    closed = mk.instance(
        [mk.resource("desk", "registration", available=[(480, 600)]), mk.resource("dr-a", "consult", available=[(900, 960)])],
        [mk.request("r-1", request.steps, arrival=(480, 510), leave_by=700)],
    )
    assert request_floor(FreeTime.for_day(closed), closed.requests[0]) == (None, True)
    bounds = day_bounds(closed, priority=0)
    assert bounds.floors == {"r-1": None}
    assert bounds.priority == 0


def test_must_overlap_is_the_minutes_a_step_cannot_avoid_spending_in_a_stretch():
    # A 30-minute step that starts in [08:00, 08:40] (ends by 09:10).
    d = _Demand("r", 480, 550, 30)
    assert _must_overlap(d, 480, 550) == 30  # its whole window
    assert _must_overlap(d, 500, 550) == 10  # started at 08:00 it still runs until 08:30
    assert _must_overlap(d, 480, 520) == 0  # it can start at 08:40 and miss 08:00-08:40 entirely
    assert _must_overlap(d, 515, 525) == 0  # at 08:00-08:30 it misses 08:35-08:45
    assert _must_overlap(_Demand("r", 480, 520, 30), 490, 510) == 20  # starts by 08:10, so runs 08:10-08:30


def test_free_minutes_subtract_closed_hours_and_booked_load(mk):
    instance = mk.instance(
        [mk.resource("lab", "lab", capacity=2, available=[(480, 600), (630, 700)])],
        [],
        [mk.visit("v-1", ("lab", "lab", 500, 530)), mk.visit("v-2", ("lab", "lab", 510, 520))],
    )
    free = FreeTime.for_day(instance)
    # 2 x (120 + 70) open minutes in 08:00-11:40, less 30 + 10 booked.
    assert _free_minutes(free, ["lab"], 480, 700) == 2 * 190 - 40
    assert _free_minutes(free, ["lab"], 510, 520) == 0
    assert _free_minutes(free, ["lab"], 600, 630) == 0


def _one_desk_hour(mk, closes: int):
    """Three patients of priority 3, 2, 1 who must each spend 30 minutes at the one desk, open 08:00 to ``closes``."""
    desk = mk.resource("desk", "registration", available=[(480, closes)])
    reqs = [
        mk.request(f"r-{p}", [mk.step("reg", "registration", 30)], priority=p, arrival=(480, 600)) for p in (3, 2, 1)
    ]
    return mk.instance([desk], reqs)


def test_energy_caps_the_priority_at_what_the_free_minutes_hold(mk):
    full = _one_desk_hour(mk, 540)  # 60 minutes: two of the three fit
    cuts = energy_cuts(FreeTime.for_day(full), full, full.requests)
    assert cuts == [([(30, "r-1"), (30, "r-2"), (30, "r-3")], 60)]
    assert day_bounds(full).priority == 5
    roomy = _one_desk_hour(mk, 600)
    assert energy_cuts(FreeTime.for_day(roomy), roomy, roomy.requests) == []
    assert day_bounds(roomy).priority == 6


def test_energy_counts_a_restricted_step_against_its_own_resource_and_the_kind(mk):
    """Two patients tied to dr-a (open one hour) and one free to see either doctor: only one tied one fits."""
    resources = [mk.resource("dr-a", "consult", available=[(480, 540)]), mk.resource("dr-b", "consult")]
    reqs = [
        mk.request("r-1", [mk.step("c", "consult", 40, resources=["dr-a"])], priority=2),
        mk.request("r-2", [mk.step("c", "consult", 40, resources=["dr-a"])], priority=2),
        mk.request("r-3", [mk.step("c", "consult", 40)], priority=1),
    ]
    assert day_bounds(mk.instance(resources, reqs)).priority == 3


def test_wait_bound_takes_the_least_floors_that_reach_the_priority(mk):
    instance, tied = _tied_consult(mk)
    free_one = mk.request(
        "r-2", [mk.step("reg", "registration", 10), mk.step("cons", "consult", 20, after=["reg"])], arrival=(480, 510)
    )
    instance = mk.instance(instance.resources, [tied, free_one], instance.booked)
    assert day_bounds(instance, priority=1).wait == 0  # r-2 alone waits nothing
    both = day_bounds(instance, priority=2)
    assert both.floors == {"r-1": 20, "r-2": 0}
    assert (both.priority, both.wait, both.at_priority, both.proven) == (2, 20, 2, True)
    assert day_bounds(instance, priority=3).wait is None  # no schedule places 3


def test_solve_is_proven_optimal_when_the_plan_meets_both_bounds(mk):
    instance, tied = _tied_consult(mk)
    schedule = solve(instance, time_limit=2.0)
    assert schedule.status == OPTIMAL
    assert schedule.objective.total_wait_minutes == 20
    assert schedule.stats["priority_bound"] == 1
    assert schedule.stats["best_bound_wait"] == 20
    assert schedule.stats["gap"] == 0.0


def test_deadline_gives_weaker_but_valid_bounds(mk):
    instance, _ = _tied_consult(mk)
    cut = day_bounds(instance, priority=1, deadline=0.0)  # long past: no floor is computed
    assert cut.floors == {"r-1": 0}
    assert not cut.proven
    assert cut.wait == 0 and cut.priority == 1


def test_a_solve_cut_before_its_first_solution_falls_back_to_the_trivial_bound():
    """CP-SAT's objective bound before any solution means nothing (it once read 0 on a 200-request day)."""
    day = generate_day(200, seed=1)
    placed = greedy(day).objective.scheduled_priority
    cut = day_bounds(day, deadline=time.perf_counter())
    assert not cut.proven
    assert cut.priority >= placed
    assert cut.priority <= sum(r.priority for r in day.requests)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days(), st.data())
def test_bounds_hold_against_proven_optima(instance, data):
    """On small random days the full model finds (mostly proves) the optimum; the bounds never cut it off."""
    day = Day(instance)
    value = {r.id: r.priority for r in instance.requests}
    plan = plan_from_visits(day, greedy(instance).visits)
    found, _, _ = _full_model(day, plan, value, workers=1, seed=0, seconds=30, dtime=5.0)
    priority, _, wait = plan_score(day, found, value)
    bounds = day_bounds(instance, priority=priority)
    cut = day_bounds(instance, priority=priority, deadline=time.perf_counter() + data.draw(st.sampled_from((0, 0.002, 0.01))))
    for b in (bounds, cut):
        assert b.holds_for(priority, -wait)  # every feasible plan respects the bounds, proven optimal or not
        assert b.wait is not None
    for rid, floor in bounds.floors.items():
        if rid in found:  # a placed request waits at least its floor
            assert floor is not None and floor <= -plan_score(day, {rid: found[rid]}, value)[2]


def test_holds_for_and_proves_optimal_read_the_bounds_as_the_objective_does():
    from scheduling.bound import DayBounds

    b = DayBounds(priority=10, wait=100, at_priority=8, floors={}, proven=True)
    assert b.holds_for(8, 100) and b.holds_for(9, 150) and b.holds_for(7, 0)  # less priority: no claim on waiting
    assert not b.holds_for(11, 500)  # more priority than any schedule can place
    assert not b.holds_for(8, 99)  # waits less than any schedule placing 8 can
    assert not b.proves_optimal(8, 100)  # 10 may be reachable
    top = DayBounds(priority=10, wait=100, at_priority=10, floors={}, proven=True)
    assert top.proves_optimal(10, 100) and not top.proves_optimal(10, 101)
