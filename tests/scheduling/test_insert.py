"""One-request insertion: each constraint family holds (feasible and infeasible case), answers pass ``check``."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.check import check, objective
from scheduling.generate import generate_day
from scheduling.greedy import CapacityProfile, greedy, greedy_place
from scheduling.insert import FreeTime, arrival, insert_options, insert_request, leave, wait_minutes
from scheduling.instance import FEASIBLE, Schedule, Unscheduled


def assert_valid(instance, fixed, request, visit):
    """``visit`` with ``fixed`` as booked passes A's independent checker."""
    assert visit is not None
    day = dataclasses.replace(instance, booked=tuple(instance.booked) + tuple(fixed), requests=(request,))
    schedule = Schedule(day.name, FEASIBLE, (visit,), (), objective(day, [visit]))
    assert check(day, schedule) == []


@pytest.fixture
def clinic(mk):
    return [
        mk.resource("desk", "registration", available=[(480, 1020)]),
        mk.resource("lab", "lab", capacity=2, available=[(480, 960)]),
        mk.resource("dr-jansen", "consult", available=[(600, 720)]),
        mk.resource("dr-bakker", "consult", available=[(480, 1020)]),
        mk.resource("chairs", "chair", capacity=2, available=[(480, 1080)]),
        mk.resource("imaging-1", "imaging", available=[(480, 900)], attributes=["wheelchair"]),
        mk.resource("imaging-2", "imaging", available=[(480, 1020)]),
    ]


def test_chain_on_empty_day_has_no_wait(mk, clinic):
    req = mk.chain("r", ("registration", 10), ("lab", 15), ("chair", 60), arrival=(480, 600))
    day = mk.instance(clinic, [req])
    visit = insert_request(day, (), req)
    assert_valid(day, (), req, visit)
    assert arrival(visit) == 480 and wait_minutes(req, visit) == 0


def test_opening_hours(mk, clinic):
    fits = mk.request("r", [mk.step("c", "consult", 100, resources=["dr-jansen"])])
    too_long = mk.request("r", [mk.step("c", "consult", 150, resources=["dr-jansen"])])
    day = mk.instance(clinic, [])
    visit = insert_request(day, (), fits)
    assert_valid(day, (), fits, visit)
    assert visit.steps[0].start >= 600 and visit.steps[0].end <= 720
    assert insert_request(day, (), too_long) is None
    assert insert_request(day, (), too_long, relax=frozenset({"hours:dr-jansen"})) is not None


def test_single_capacity_resource_uses_free_gaps(mk, clinic):
    booked = mk.visit("b", ("reg", "desk", 480, 540))
    day = mk.instance(clinic, [], booked=[booked])
    req = mk.chain("r", ("registration", 10), arrival=(480, 600))
    visit = insert_request(day, (), req)
    assert_valid(day, (), req, visit)
    assert arrival(visit) == 540
    late = mk.chain("r", ("registration", 10), arrival=(480, 530))
    assert insert_request(day, (), late) is None
    assert arrival(insert_request(day, (), late, relax=frozenset({"capacity:desk"}))) == 480


def test_pool_capacity_counts_fixed_and_placed_visits(mk, clinic):
    day = mk.instance(clinic, [], booked=[mk.visit("b1", ("t", "chairs", 480, 720))])
    req = mk.chain("r", ("chair", 60), arrival=(480, 600))
    assert arrival(insert_request(day, (), req)) == 480
    leaves_room = [mk.visit("b2", ("t", "chairs", 540, 700))]
    visit = insert_request(day, leaves_room, req)
    assert_valid(day, leaves_room, req, visit)
    assert arrival(visit) == 480
    assert insert_request(day, [mk.visit("b2", ("t", "chairs", 500, 700))], req) is None
    late = dataclasses.replace(req, arrival=(480, 700))
    assert arrival(insert_request(day, [mk.visit("b2", ("t", "chairs", 500, 700))], late)) == 700


def test_min_and_max_gap(mk, clinic):
    req = mk.request("r", [mk.step("reg", "registration", 10), mk.step("lab", "lab", 15, after=["reg"], min_gap=30)],
                     arrival=(480, 600))
    day = mk.instance(clinic, [])
    visit = insert_request(day, (), req)
    assert_valid(day, (), req, visit)
    at = {s.id: s for s in visit.steps}
    assert at["lab"].start - at["reg"].end == 30
    lab_full = [mk.visit("b1", ("l", "lab", 490, 560)), mk.visit("b2", ("l", "lab", 490, 560))]
    strict = mk.request("r", [mk.step("reg", "registration", 10),
                              mk.step("lab", "lab", 15, after=["reg"], max_gap=30)], arrival=(480, 480))
    loose = dataclasses.replace(strict, steps=(strict.steps[0], dataclasses.replace(strict.steps[1], max_gap=None)))
    assert insert_request(day, lab_full, strict) is None
    visit = insert_request(day, lab_full, loose)
    assert_valid(day, lab_full, loose, visit)
    assert {s.id: s.start for s in visit.steps}["lab"] == 560


def test_max_gap_is_measured_from_latest_predecessor(mk, clinic):
    req = mk.request("r", [
        mk.step("reg", "registration", 10),
        mk.step("lab", "lab", 15, after=["reg"]),
        mk.step("img", "imaging", 60, after=["reg"]),
        mk.step("c", "consult", 20, after=["lab", "img"], max_gap=0, resources=["dr-bakker"]),
    ], arrival=(480, 480))
    day = mk.instance(clinic, [])
    visit = insert_request(day, (), req)
    assert_valid(day, (), req, visit)
    at = {s.id: s for s in visit.steps}
    assert at["c"].start == max(at["lab"].end, at["img"].end)


def test_patient_is_in_one_place_at_a_time(mk, clinic):
    steps = [mk.step("lab", "lab", 60), mk.step("img", "imaging", 60)]
    req = mk.request("r", steps, arrival=(480, 480), leave_by=600)
    day = mk.instance(clinic, [])
    visit = insert_request(day, (), req)
    assert_valid(day, (), req, visit)
    a, b = sorted(visit.steps, key=lambda s: s.start)
    assert a.end <= b.start
    assert insert_request(day, (), dataclasses.replace(req, leave_by=599)) is None


def test_arrival_window_and_leave_by(mk, clinic):
    day = mk.instance(clinic, [], booked=[mk.visit("b", ("reg", "desk", 480, 600))])
    req = mk.chain("r", ("registration", 10), ("lab", 15), arrival=(480, 590))
    assert insert_request(day, (), req) is None
    assert arrival(insert_request(day, (), req, relax=frozenset({"arrival"}))) == 600
    ok = dataclasses.replace(req, arrival=(480, 600), leave_by=625)
    visit = insert_request(day, (), ok)
    assert_valid(day, (), ok, visit)
    assert leave(visit) == 625
    assert insert_request(day, (), dataclasses.replace(ok, leave_by=624)) is None


def test_max_visit_minutes(mk, clinic):
    req = mk.request("r", [mk.step("reg", "registration", 10),
                           mk.step("c", "consult", 20, after=["reg"], resources=["dr-jansen"])],
                     arrival=(480, 480), max_visit_minutes=139)
    day = mk.instance(clinic, [])
    assert insert_request(day, (), req) is None
    ok = dataclasses.replace(req, max_visit_minutes=140)
    visit = insert_request(day, (), ok)
    assert_valid(day, (), ok, visit)
    assert leave(visit) - arrival(visit) == 140


def test_required_attribute(mk, clinic):
    req = mk.chain("r", ("imaging", 30), arrival=(480, 480), requires=["wheelchair"])
    day = mk.instance(clinic, [])
    visit = insert_request(day, (), req)
    assert_valid(day, (), req, visit)
    assert visit.steps[0].resource == "imaging-1"
    taken = [mk.visit("b", ("i", "imaging-1", 480, 900))]
    assert insert_request(day, taken, req) is None
    assert insert_request(day, taken, req, relax=frozenset({"requires"})).steps[0].resource == "imaging-2"


def test_resource_restriction(mk, clinic):
    req = mk.request("r", [mk.step("c", "consult", 20, resources=["dr-jansen"])], arrival=(600, 700))
    day = mk.instance(clinic, [], booked=[mk.visit("b", ("c", "dr-jansen", 600, 720))])
    assert insert_request(day, (), req) is None
    visit = insert_request(day, (), dataclasses.replace(req, steps=(dataclasses.replace(req.steps[0], resources=None),)))
    assert visit.steps[0].resource == "dr-bakker"


def test_least_wait_then_earliest_or_preferred_arrival(mk, clinic):
    req = mk.request("r", [mk.step("reg", "registration", 10),
                           mk.step("c", "consult", 20, after=["reg"], resources=["dr-jansen"])],
                     arrival=(480, 700))
    day = mk.instance(clinic, [])
    visit = insert_request(day, (), req)
    assert (arrival(visit), wait_minutes(req, visit)) == (590, 0)
    preferred = insert_request(day, (), req, prefer_start=650)
    assert (arrival(preferred), wait_minutes(req, preferred)) == (650, 0)
    assert arrival(insert_request(day, (), req, not_before=620)) == 620
    assert insert_request(day, (), req) == visit


def test_options_are_distinct_and_ranked(mk, clinic):
    req = mk.request("r", [mk.step("reg", "registration", 10),
                           mk.step("c", "consult", 20, after=["reg"], resources=["dr-jansen"])],
                     arrival=(480, 700))
    day = mk.instance(clinic, [], booked=[mk.visit("b", ("c", "dr-jansen", 630, 660))])
    options = insert_options(day, (), req, k=4, separation=30)
    assert len(options) == 4
    keys = [(wait_minutes(req, v), arrival(v)) for v in options]
    assert keys == sorted(keys)
    times = [arrival(v) for v in options]
    assert all(abs(a - b) >= 30 for i, a in enumerate(times) for b in times[i + 1:])
    for v in options:
        assert_valid(day, (), req, v)


def test_own_earlier_placement_is_not_counted_as_fixed(mk, clinic):
    req = mk.chain("r", ("registration", 10), arrival=(480, 480))
    day = mk.instance(clinic, [])
    itself = mk.visit("r", ("s0", "desk", 480, 490))
    assert insert_request(day, [itself], req) is not None
    assert FreeTime.for_day(day, [itself]).windows("desk") == [(490, 1020)]


def test_reinserting_on_a_generated_day_never_waits_longer_than_greedy():
    day = generate_day(60, seed=3, booked_share=0.2)
    placed = list(greedy(day).visits)
    requests = {r.id: r for r in day.requests}
    for old in placed[:15]:
        others = [v for v in placed if v.request != old.request]
        request = requests[old.request]
        visit = insert_request(day, others, request)
        assert_valid(day, others, request, visit)
        assert wait_minutes(request, visit) <= wait_minutes(request, old)
    rest = [Unscheduled(r.id, "-") for r in day.requests if r.id not in {v.request for v in placed}]
    assert check(day, Schedule(day.name, FEASIBLE, tuple(placed), tuple(rest), objective(day, placed))) == []


def test_arrival_and_span_bind_requests_with_several_first_steps(mk, clinic):
    req = mk.request("r", [mk.step("lab", "lab", 60), mk.step("img", "imaging", 60)], arrival=(480, 500))
    busy = [mk.visit(f"b{i}", ("l", "lab", 480, 600)) for i in (1, 2)] + [
        mk.visit("b3", ("i", "imaging-1", 480, 600)), mk.visit("b4", ("i", "imaging-2", 480, 600))]
    day = mk.instance(clinic, [])
    assert insert_request(day, busy, req) is None
    assert arrival(insert_request(day, busy, req, relax=frozenset({"arrival"}))) == 600
    spread = [mk.visit(f"b{i}", ("l", "lab", 540, 960)) for i in (1, 2)] + [
        mk.visit("b3", ("i", "imaging-1", 480, 700)), mk.visit("b4", ("i", "imaging-2", 480, 700))]
    long_ok = dataclasses.replace(req, arrival=(480, 1000), max_visit_minutes=280)
    visit = insert_request(day, spread, long_ok)
    assert_valid(day, spread, long_ok, visit)
    assert (arrival(visit), leave(visit)) == (480, 760)
    assert insert_request(day, spread, dataclasses.replace(long_ok, max_visit_minutes=279)) is None


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.sampled_from([0.0, 0.5]))
def test_never_worse_than_first_fit_and_always_valid(seed, share):
    """Where A's earliest-fit places a request around the others, insertion does too, waiting no longer."""
    day = generate_day(40, seed=seed, booked_share=share)
    placed = list(greedy(day).visits)
    requests = {r.id: r for r in day.requests}
    for old in placed[-6:]:
        others = [v for v in placed if v.request != old.request]
        request = requests[old.request]
        visit = insert_request(day, others, request)
        assert_valid(day, others, request, visit)
        assert wait_minutes(request, visit) <= wait_minutes(request, old)
    left_out = [requests[r.id] for r in day.requests if r.id not in {v.request for v in placed}]
    profile = CapacityProfile.for_instance(dataclasses.replace(day, booked=tuple(day.booked) + tuple(placed)))
    for request in left_out[:4]:
        first_fit, _ = greedy_place(profile.copy(), request)
        visit = insert_request(day, placed, request)
        if first_fit is not None:
            assert visit is not None and wait_minutes(request, visit) <= wait_minutes(request, first_fit)
        if visit is not None:
            assert_valid(day, placed, request, visit)
