import time

import pytest

from scheduling.check import check, check_booked
from scheduling.generate import generate_day
from scheduling.greedy import CapacityProfile, greedy
from scheduling.jsonio import load_instance


def test_examples_pass_check(example_path):
    instance = load_instance(example_path)
    schedule = greedy(instance)
    assert check(instance, schedule) == []
    assert len(schedule.visits) >= len(instance.requests) // 2
    assert {u.request for u in schedule.unscheduled} | {v.request for v in schedule.visits} == {
        r.id for r in instance.requests
    }
    assert all(u.reason for u in schedule.unscheduled)


@pytest.mark.parametrize(("size", "booked"), [(30, 0.0), (80, 0.3), (150, 0.0), (200, 0.5)])
@pytest.mark.parametrize("seed", [1, 2])
def test_generated_days_pass_check(size, booked, seed):
    instance = generate_day(size, seed=seed, booked_share=booked)
    schedule = greedy(instance)
    assert check(instance, schedule) == []


def test_two_hundred_requests_well_under_a_second():
    instance = generate_day(200, seed=7)
    began = time.perf_counter()
    schedule = greedy(instance)
    assert time.perf_counter() - began < 0.5
    # Three desks register about 100 patients in the arrival windows (07:30-13:00): the bottleneck.
    assert len(schedule.visits) > 90


def test_profile_earliest_fit(mk):
    profile = CapacityProfile([mk.resource("lab", "lab", capacity=2, available=[(480, 600), (660, 720)])])
    assert profile.earliest_fit("lab", 0, 15) == 480
    profile.add("lab", 480, 500)
    assert profile.earliest_fit("lab", 0, 15) == 480
    profile.add("lab", 490, 510)
    assert profile.usage("lab", 495) == 2 and profile.usage("lab", 500) == 1
    assert profile.earliest_fit("lab", 480, 15) == 500
    assert profile.earliest_fit("lab", 590, 15) == 660
    assert profile.earliest_fit("lab", 590, 15, latest_start=650) is None
    assert profile.earliest_fit("lab", 700, 30) is None
    assert profile.fits("lab", 500, 100) and not profile.fits("lab", 485, 10)
    profile.remove("lab", 490, 510)
    assert profile.earliest_fit("lab", 480, 15) == 480


def test_first_come_first_served(mk):
    desk = mk.resource("desk", "registration", available=[(480, 490)])
    late = mk.chain("a-late", ("registration", 10), arrival=(480, 600))
    early = mk.chain("z-early", ("registration", 10), arrival=(470, 600))
    schedule = greedy(mk.instance([desk], [late, early]))
    assert [v.request for v in schedule.visits] == ["z-early"]
    assert schedule.unscheduled[0].request == "a-late"
    assert "no registration free" in schedule.unscheduled[0].reason


def test_first_step_is_pushed_later_when_a_max_gap_cannot_be_met(mk):
    resources = [mk.resource("desk", "registration"), mk.resource("chair", "chair")]
    req = mk.request("r", [mk.step("reg", "registration", 10), mk.step("treat", "chair", 60, after=["reg"], max_gap=30)],
                     arrival=(480, 720))
    booked = [mk.visit("b", ("t", "chair", 480, 600))]
    schedule = greedy(mk.instance(resources, [req], booked))
    inst = mk.instance(resources, [req], booked)
    assert check(inst, schedule) == []
    reg, treat = schedule.visits[0].steps
    assert treat.start == 600 and 560 <= reg.start <= 590


def test_steps_without_edges_do_not_overlap(mk):
    resources = [mk.resource("lab", "lab"), mk.resource("ecg", "ecg")]
    req = mk.request("r", [mk.step("lab", "lab", 15), mk.step("ecg", "ecg", 15)])
    inst = mk.instance(resources, [req])
    schedule = greedy(inst)
    assert check(inst, schedule) == []
    a, b = schedule.visits[0].steps
    assert b.start >= a.end


def test_requests_that_fit_nowhere_get_plain_reasons(mk):
    resources = [mk.resource("desk", "registration", available=[(480, 1000)]), mk.resource("dr", "consult")]
    no_kind = mk.chain("dialysis", ("registration", 10), ("dialysis", 60))
    wheel = mk.chain("wheel", ("registration", 10), requires=["wheelchair"])
    too_long = mk.chain("long", ("registration", 10), ("consult", 60), max_visit_minutes=30)
    late = mk.chain("late", ("registration", 10), ("consult", 30), arrival=(990, 995), leave_by=1020)
    inst = mk.instance(resources, [no_kind, wheel, too_long, late])
    schedule = greedy(inst)
    reasons = {u.request: u.reason for u in schedule.unscheduled}
    assert "no dialysis resource" in reasons["dialysis"]
    assert "with wheelchair" in reasons["wheel"]
    assert "longer than its maximum visit" in reasons["long"]
    assert "no time left" in reasons["late"] or "no consult free" in reasons["late"]
    assert check(inst, schedule) == []


def test_generated_days_are_deterministic_and_shaped_like_the_examples():
    day = generate_day(120, seed=5)
    assert day == generate_day(120, seed=5) and day != generate_day(120, seed=6)
    assert day.name == "gen-5-120" and len(day.requests) == 120 and not day.booked
    kinds = {r.kind for r in day.resources}
    assert {"registration", "consult", "lab", "chair", "checkout", "ecg", "imaging"} <= kinds
    chairs = sum(r.capacity for r in day.resources if r.kind == "chair")
    assert chairs > sum(r.capacity for r in generate_day(50, seed=5).resources if r.kind == "chair")
    oncology = [r for r in day.requests if [s.kind for s in r.steps][-2:] == ["chair", "checkout"]]
    assert 0.3 * 120 < len(oncology) < 0.8 * 120
    assert all(r.arrival and r.arrival[1] - r.arrival[0] >= 150 for r in day.requests)
    assert {r.priority for r in day.requests} == {1, 2, 3}
    assert any(r.requires for r in day.requests) and any(s.resources for r in day.requests for s in r.steps)


def test_generated_booked_share():
    day = generate_day(40, seed=2, booked_share=0.25)
    assert len(day.booked) + len(day.requests) == 40 and 5 <= len(day.booked) <= 10
    assert check_booked(day) == []
    with pytest.raises(ValueError):
        generate_day(10, seed=1, booked_share=1.5)
