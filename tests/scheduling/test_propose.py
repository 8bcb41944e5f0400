"""Booking proposals over a horizon: k distinct itineraries ranked by wait, date, time; full days skipped."""

import dataclasses
import datetime as dt

import pytest

from scheduling.check import check, objective
from scheduling.generate import generate_day
from scheduling.insert import FreeTime, insert_request, wait_minutes
from scheduling.instance import FEASIBLE, Schedule
from scheduling.propose import Itinerary, propose

DAY1 = dt.date(2026, 12, 1)


@pytest.fixture
def resources(mk):
    return [
        mk.resource("desk", "registration", available=[(480, 1020)]),
        mk.resource("dr-jansen", "consult", available=[(600, 720)]),
        mk.resource("chairs", "chair", capacity=2, available=[(480, 1080)]),
    ]


@pytest.fixture
def request_(mk):
    return mk.request("new", [mk.step("reg", "registration", 10),
                              mk.step("c", "consult", 20, after=["reg"], resources=["dr-jansen"])],
                      arrival=(480, 700))


def day(mk, resources, offset, booked=()):
    return dataclasses.replace(mk.instance(resources, [], booked=booked, name=f"d{offset}"),
                               date=DAY1 + dt.timedelta(days=offset))


def assert_bookable(days, request, itinerary: Itinerary):
    instance = next(d for d in days if d.date == itinerary.date)
    inst = dataclasses.replace(instance, requests=(request,))
    visit = itinerary.visit
    assert check(inst, Schedule(inst.name, FEASIBLE, (visit,), (), objective(inst, [visit]))) == []
    assert itinerary.arrival == min(s.start for s in visit.steps)
    assert itinerary.leave == max(s.end for s in visit.steps)
    assert itinerary.wait_minutes == wait_minutes(request, visit)


def test_k_distinct_itineraries_sorted_and_full_days_skipped(mk, resources, request_):
    full = [mk.visit("b1", ("c", "dr-jansen", 600, 720))]
    partly = [mk.visit("b2", ("c", "dr-jansen", 600, 690))]
    days = [day(mk, resources, 0, full), day(mk, resources, 1, partly), day(mk, resources, 2)]
    found = propose(days, request_, k=6, separation=30)
    assert len(found) == 6
    keys = [(i.wait_minutes, i.date, i.arrival) for i in found]
    assert keys == sorted(keys)
    assert DAY1 not in {i.date for i in found}
    for date in {i.date for i in found}:
        times = [i.arrival for i in found if i.date == date]
        assert all(abs(a - b) >= 30 for n, a in enumerate(times) for b in times[n + 1:])
    for itinerary in found:
        assert_bookable(days, request_, itinerary)
    assert found[0].wait_minutes == 0 and found[0].date == DAY1 + dt.timedelta(days=1)


def test_nothing_when_every_day_is_full(mk, resources, request_):
    full = [mk.visit("b1", ("c", "dr-jansen", 600, 720))]
    days = [day(mk, resources, n, full) for n in range(5)]
    assert propose(days, request_, k=3) == []
    assert propose([day(mk, resources, 0)], request_, k=0) == []


def test_a_later_day_without_waiting_beats_an_earlier_day_with_waiting(mk, resources, request_):
    tight = dataclasses.replace(request_, arrival=(480, 680))
    days = [day(mk, resources, 0, [mk.visit("b", ("c", "dr-jansen", 600, 700))]), day(mk, resources, 1)]
    found = propose(days, tight, k=2, per_day=1)
    assert [i.date for i in found] == [days[1].date, days[0].date]
    assert found[0].wait_minutes == 0 and found[1].wait_minutes == 10


def test_per_day_and_ranking_follow_wait_then_date(mk, resources, request_):
    early_wait = [mk.visit("b", ("r", "desk", 560, 1020))]
    days = [day(mk, resources, 0, early_wait), day(mk, resources, 1), day(mk, resources, 2)]
    found = propose(days, request_, k=3, per_day=1)
    assert [i.date for i in found] == [days[1].date, days[2].date, days[0].date]
    assert [i.wait_minutes for i in found] == [0, 0, wait_minutes(request_, found[2].visit)]
    assert found[2].wait_minutes > 0
    best = insert_request(days[0], (), request_)
    assert found[2].visit == best


def test_segment_constraints_hold(mk, resources):
    long_distance = mk.request("far", [mk.step("reg", "registration", 10), mk.step("t", "chair", 120, after=["reg"])],
                               arrival=(600, 780), leave_by=900)
    busy = [mk.visit(f"b{i}", ("t", "chairs", 610, 700)) for i in (1, 2)]
    days = [day(mk, resources, n, busy) for n in range(3)]
    found = propose(days, long_distance, k=5)
    assert len(found) == 5
    assert all(600 <= i.arrival <= 780 and i.leave <= 900 for i in found)
    for itinerary in found:
        assert_bookable(days, long_distance, itinerary)
    assert propose(days, dataclasses.replace(long_distance, leave_by=819), k=5) == []

    desk_closes = [*busy, mk.visit("d", ("r", "desk", 620, 1020))]
    days = [day(mk, resources, n, desk_closes) for n in range(3)]
    over_70 = dataclasses.replace(long_distance, arrival=(600, 900), leave_by=None, max_visit_minutes=209)
    assert propose(days, over_70, k=5) == []
    found = propose(days, dataclasses.replace(over_70, max_visit_minutes=210), k=5)
    assert [(i.arrival, i.leave) for i in found] == [(610, 820)] * 3


def test_prefer_start_ranks_by_distance(mk, resources, request_):
    found = propose([day(mk, resources, 0)], request_, k=3, prefer_start=660)
    assert found[0].arrival == 660
    distances = [abs(i.arrival - 660) for i in found]
    assert distances == sorted(distances)


def test_best_itinerary_matches_the_best_single_day_insertion():
    days = [generate_day(60, seed=s, booked_share=0.8, date=DAY1 + dt.timedelta(days=s)) for s in range(5)]
    for request in days[0].requests[:5]:
        found = propose(days, request, k=4)
        keys = [(i.wait_minutes, i.date, i.arrival) for i in found]
        assert keys == sorted(keys)
        for itinerary in found:
            assert_bookable(days, request, itinerary)
        singles = []
        for d in days:
            visit = insert_request(d, (), request, free=FreeTime.for_day(d))
            if visit is not None:
                singles.append((wait_minutes(request, visit), d.date, min(s.start for s in visit.steps)))
        assert bool(found) == bool(singles)
        if singles:
            assert keys[0] == min(singles)
