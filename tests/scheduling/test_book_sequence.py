"""Property: booking a small day's requests one by one, the way the Book screen does (every earlier
booking becomes ``movable`` around its announced arrival), never moves an announced arrival beyond the
tolerance, never loses a booked visit, and always leaves a day the independent check accepts."""

from dataclasses import replace

from hypothesis import HealthCheck, given, settings

from scheduling.book import book, movable
from scheduling.check import check, objective
from scheduling.insert import arrival
from scheduling.instance import FEASIBLE, Instance, Schedule, Visit
from tests.scheduling.test_properties import days

TOLERANCE = 15


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days())
def test_bookings_keep_every_announced_arrival_and_every_visit(day: Instance) -> None:
    announced: dict[str, int] = {}
    placed: dict[str, Visit] = {}
    booked_requests = {}
    for request in day.requests:
        movables = tuple(movable(booked_requests[rid], announced[rid], TOLERANCE) for rid in placed)
        instance = replace(day, requests=movables)
        result = book(instance, request, current=tuple(placed.values()), time_limit=0.5)
        if result is None:
            continue
        others = {v.request: v for v in result.others}
        assert set(others) == set(placed), "a booking never loses a booked visit"
        for rid, visit in others.items():
            assert announced[rid] <= arrival(visit) <= announced[rid] + TOLERANCE
        assert set(result.moved) == {rid for rid, v in others.items() if set(v.steps) != set(placed[rid].steps)}
        whole = replace(day, requests=(*movables, request))
        visits = (*result.others, result.visit)
        schedule = Schedule(whole.name, FEASIBLE, visits, (), objective(whole, visits))
        assert check(whole, schedule) == []
        placed = {**others, request.id: result.visit}
        booked_requests[request.id] = request
        announced[request.id] = arrival(result.visit)
