"""The least-wait placement gives up on hopeless attempts early; it must still find what trying every
first start would find."""

from __future__ import annotations

import time

import pytest

from scheduling.check import critical_path
from scheduling.generate import generate_day
from scheduling.greedy import CapacityProfile, greedy_place, place_request
from scheduling.instance import DAY_MINUTES
from scheduling.model import Day
from scheduling.placement import least_wait_placement, prepare_placement
from scheduling.solve import _reasons


def _every_start(profile, request, below=None):
    """Reference: every first start on the 5-minute grid, every step order, no early giving up."""
    eligible, orders, cp = prepare_placement(profile, request)
    lo, hi = request.arrival if request.arrival else (0, DAY_MINUTES)
    best = None
    for t in range(lo, hi + 1, 5):
        for order in orders:
            steps, _ = place_request(profile, request, eligible, order, t, why=False)
            if steps is None:
                continue
            first = min(s.start for s in steps)
            wait = max(s.end for s in steps) - first - cp
            if (below is None or wait < below) and (best is None or (wait, first) < best[:2]):
                best = (wait, first, steps)
    return best


@pytest.mark.parametrize(("n", "seed", "booked"), [(60, 1, 0.3), (100, 2, 0.0)])
def test_least_wait_placement_matches_trying_every_start(n, seed, booked):
    instance = generate_day(n, seed=seed, booked_share=booked)
    profile = CapacityProfile.for_instance(instance)
    checked = 0
    for request in instance.requests:
        cp = critical_path(request)
        found = least_wait_placement(profile, request)
        reference = _every_start(profile, request)
        if reference is None:
            assert found is None
        else:
            first = min(s.start for s in found)
            assert (max(s.end for s in found) - first - cp, first) == reference[:2], request.id
            checked += 1
            below = reference[0]
            strictly = least_wait_placement(profile, request, below=below)
            again = _every_start(profile, request, below=below)
            assert (strictly is None) == (again is None)
        greedy_place(profile, request)  # the day fills up first come, first served as it goes
    assert checked > n // 3


def test_requests_past_the_deadline_get_the_plain_reason(mk):
    desk = mk.resource("desk", "registration", available=((480, 490),))
    instance = mk.instance([desk], [mk.chain("a", ("registration", 10)), mk.chain("b", ("registration", 10))])
    day = Day(instance)
    placed = [mk.visit("a", ("s0", "desk", 480, 490))]
    explained = _reasons(instance, placed, day, ["b"])
    plain = _reasons(instance, placed, day, ["b"], deadline=time.perf_counter() - 1)
    assert plain[0].reason == "no room for the whole visit on this day around the visits already planned"
    assert explained[0].reason and explained[0].reason != plain[0].reason
