"""``must_place`` requests (booked visits that may still move) in ``solve``: never traded away."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.check import check, objective
from scheduling.generate import generate_day
from scheduling.greedy import greedy
from scheduling.instance import FEASIBLE, Unscheduled
from scheduling.solve import MUST_PLACE_REASON, must_place_value, solve


def _contested(mk, *, hint_first: bool = False):
    """One desk, one 30-minute slot: r-1 (priority 1, booked) and r-2 (priority 5) both need it."""
    desk = mk.resource("desk", "registration", available=((480, 510),))
    r1 = dataclasses.replace(mk.chain("r-1", ("registration", 30), arrival=(480, 480)), must_place=True)
    r2 = mk.chain("r-2", ("registration", 30), arrival=(480, 480), priority=5)
    return mk.instance([desk], [r1, r2])


def test_value_tier_dominates_every_priority(mk):
    inst = _contested(mk)
    value = must_place_value(inst.requests)
    assert value["r-1"] > sum(r.priority for r in inst.requests)
    assert value["r-2"] == 5


def test_solve_places_the_booked_request_over_a_more_valuable_one(mk):
    inst = _contested(mk)
    schedule = solve(inst, time_limit=0.5, workers=1)
    assert [v.request for v in schedule.visits] == ["r-1"]
    assert check(inst, schedule) == []
    assert "must_place_missing" not in schedule.stats
    assert schedule.stats["phases"][-1]["priority"] == 1  # the spec's priority, not the search's value


def test_no_room_for_a_booked_request_is_reported_not_hidden(mk):
    desk = mk.resource("desk", "registration", available=((480, 510),))
    r1 = dataclasses.replace(mk.chain("r-1", ("registration", 30), arrival=(480, 480)), must_place=True)
    r2 = dataclasses.replace(mk.chain("r-2", ("registration", 30), arrival=(480, 480)), must_place=True)
    inst = mk.instance([desk], [r1, r2])
    schedule = solve(inst, time_limit=0.5, workers=1)
    assert schedule.status == FEASIBLE
    assert schedule.stats["must_place_missing"] == ["r-2"]
    assert schedule.stats["must_place_impossible"] is True
    [left] = schedule.unscheduled
    assert left.reason.startswith(MUST_PLACE_REASON)
    assert [v.kind for v in check(inst, schedule)] == ["must-place"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(6, 14),
    seed=st.integers(0, 10_000),
    share=st.sampled_from((0.0, 0.3)),
    marks=st.lists(st.booleans(), min_size=14, max_size=14),
)
def test_solve_keeps_every_must_place_request_of_a_feasible_hint(n, seed, share, marks):
    day = generate_day(n, seed=seed, booked_share=share)
    placed = {v.request for v in greedy(day).visits}
    must = {r.id for r, m in zip(day.requests, marks, strict=False) if m and r.id in placed}
    day = dataclasses.replace(
        day, requests=tuple(dataclasses.replace(r, must_place=r.id in must) for r in day.requests)
    )
    hint = greedy(day).visits
    schedule = solve(day, time_limit=0.3, workers=1, hint=hint)
    assert check(day, schedule) == []
    assert must <= {v.request for v in schedule.visits}


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 10_000), pick=st.integers(0, 100))
def test_check_rejects_exactly_the_must_place_request_a_schedule_leaves_out(n, seed, pick):
    day = generate_day(n, seed=seed)
    base = greedy(day)
    if not base.visits:
        return
    out = base.visits[pick % len(base.visits)].request
    day = dataclasses.replace(
        day, requests=tuple(dataclasses.replace(r, must_place=r.id == out) for r in day.requests)
    )
    assert check(day, base) == []
    visits = tuple(v for v in base.visits if v.request != out)
    dropped = dataclasses.replace(
        base, visits=visits, unscheduled=(*base.unscheduled, Unscheduled(out, "left out")),
        objective=objective(day, visits),
    )
    assert [(v.request, v.kind) for v in check(day, dropped)] == [(out, "must-place")]
