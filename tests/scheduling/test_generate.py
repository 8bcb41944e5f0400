"""The generator is calibrated against the spec's example days (see ``docs/performance.md``)."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from scheduling.generate import generate_day
from scheduling.greedy import greedy
from scheduling.jsonio import load_instance
from tests.scheduling.conftest import EXAMPLES


def _capacity_by_kind(instance) -> Counter:
    out: Counter = Counter()
    for r in instance.resources:
        out[r.kind] += r.capacity
    return out


def _restricted_consult_share(instance) -> float:
    consults = [s for r in instance.requests for s in r.steps if s.kind == "consult"]
    return sum(1 for s in consults if s.resources) / len(consults)


@pytest.mark.parametrize(("size", "booked"), [(20, 0.0), (60, 0.3), (120, 0.0)])
def test_resources_match_the_example_of_the_same_size(size, booked):
    example = load_instance(EXAMPLES / f"day-{size}.json")
    assert len(example.requests) + len(example.booked) == size
    day = generate_day(size, seed=1, booked_share=booked)
    assert _capacity_by_kind(day) == _capacity_by_kind(example)


def test_desks_and_checkouts_grow_only_beyond_the_examples():
    def desks(n: int) -> tuple[int, int]:
        cap = _capacity_by_kind(generate_day(n, seed=1))
        return cap["registration"], cap["checkout"]

    assert [desks(n) for n in (20, 60, 100, 120, 150, 200)] == [(2, 2), (2, 2), (2, 2), (2, 2), (3, 3), (3, 3)]


def test_beyond_the_largest_example_day_120_is_scaled():
    base = _capacity_by_kind(load_instance(EXAMPLES / "day-120.json"))
    double = _capacity_by_kind(generate_day(240, seed=1))
    assert set(double) == set(base)
    for kind, capacity in base.items():
        expected = min(12, 2 * capacity) if kind == "consult" else 2 * capacity  # twelve consultants at most
        assert double[kind] == expected, kind


def test_share_that_fits_and_restricted_consults_like_day_120():
    example = load_instance(EXAMPLES / "day-120.json")
    fit = len(greedy(example).visits) / len(example.requests)
    days = [generate_day(120, seed=s) for s in range(1, 5)]
    fits = [len(greedy(d).visits) / len(d.requests) for d in days]
    assert abs(statistics.fmean(fits) - fit) < 0.08
    restricted = statistics.fmean(_restricted_consult_share(d) for d in days)
    assert abs(restricted - _restricted_consult_share(example)) < 0.08
