"""``replan``: what happened stays, nothing new starts before now, the new day passes ``check``."""

from __future__ import annotations

import pytest

from scheduling.check import check
from scheduling.errors import InstanceFormatError
from scheduling.jsonio import load_instance
from scheduling.replan import replan
from scheduling.solve import solve
from tests.scheduling.conftest import EXAMPLES


def steps_of(result, rid):
    v = next(v for v in result.schedule.visits if v.request == rid)
    return {s.id: s for s in v.steps}


def assert_sound(result, announced, now, actual):
    assert check(result.instance, result.schedule) == []
    for visit in result.schedule.visits:
        for s in visit.steps:
            key = (visit.request, s.id)
            if key in actual:
                a_start, a_end = actual[key]
                assert s.start == a_start
                if a_end is not None:
                    assert s.end == a_end
                old = next(x for v in announced if v.request == visit.request for x in v.steps if x.id == s.id)
                assert s.resource == old.resource
            else:
                assert s.start >= now, f"{key} starts {s.start} before now {now}"


@pytest.fixture
def small(mk):
    desk = mk.resource("desk", "registration", available=[(480, 720)])
    chairs = mk.resource("chairs", "chair", capacity=2, available=[(480, 900)])
    out = mk.resource("out", "checkout", available=[(480, 900)])
    reqs = [
        mk.chain(f"r{i}", ("registration", 10), ("chair", 60), ("checkout", 10), arrival=(480, 600))
        for i in range(4)
    ]
    inst = mk.instance([desk, chairs, out], reqs)
    announced = solve(inst, time_limit=1.0, workers=1).visits
    return inst, announced


def test_nothing_happened_keeps_the_plan(small):
    inst, announced = small
    first = min(s.start for v in announced for s in v.steps)
    result = replan(inst, announced, now=first, time_limit=1.0, workers=1)
    assert_sound(result, announced, first, {})
    assert result.moves == () and result.dropped == () and result.deviation_minutes == 0


def test_overrun_pushes_later_steps_and_keeps_done_ones(small):
    inst, announced = small
    by_id = {v.request: {s.id: s for s in v.steps} for v in announced}
    r0 = by_id["r0"]
    now = r0["s1"].start + 30
    actual = {("r0", "s0"): (r0["s0"].start, r0["s0"].end), ("r0", "s1"): (r0["s1"].start, None)}
    done = {
        (rid, sid): (s.start, s.end) for rid, st in by_id.items() for sid, s in st.items() if s.end <= now and rid != "r0"
    }
    actual.update(done)
    result = replan(inst, announced, now=now, actual=actual, overruns={("r0", "s1"): 45}, time_limit=1.0, workers=1)
    assert_sound(result, announced, now, actual)
    new = steps_of(result, "r0")
    assert new["s1"].end == r0["s1"].end + 45
    assert new["s2"].start >= new["s1"].end
    assert any(m.request == "r0" and m.step == "s2" for m in result.moves)
    assert result.dropped == ()


def test_late_patient_starts_after_arrival(small):
    inst, announced = small
    last = max(announced, key=lambda v: min(s.start for s in v.steps))
    now = min(s.start for v in announced for s in v.steps)
    late_at = min(s.start for s in last.steps) + 40
    result = replan(inst, announced, now=now, late_arrivals={last.request: late_at}, time_limit=1.0, workers=1)
    assert_sound(result, announced, now, {})
    assert min(s.start for s in steps_of(result, last.request).values()) >= late_at
    assert result.deviation_minutes >= 40
    assert {m.request for m in result.moves} >= {last.request}


def test_a_day_where_nothing_is_late_is_proven_optimal_without_a_search(small):
    inst, announced = small
    first = min(s.start for v in announced for s in v.steps)
    result = replan(inst, announced, now=first, time_limit=1.0, workers=1)
    assert result.stats["proven_by_bound"] is True and result.stats["proven"] is True
    assert result.stats["lns_rounds"] == 0


def test_a_small_late_day_is_solved_whole_and_the_search_stops_at_the_proof(small):
    inst, announced = small
    r0 = next(v for v in announced if v.request == "r0")
    now = min(s.start for v in announced for s in v.steps)
    late_at = min(s.start for s in r0.steps) + 90  # pushes r0 into the others' places: the repair is not optimal
    slow = replan(inst, announced, now=now, late_arrivals={"r0": late_at}, time_limit=5.0, workers=1)
    assert slow.stats["proven_by_bound"] is False
    assert slow.stats["whole_day_rounds"] == 1 and slow.stats["proven"] is True
    assert slow.stats["lns_rounds"] == 1  # the whole day in one CP-SAT model, proven: no partial round
    assert slow.stats["lns_improved"] == 1
    assert_sound(slow, announced, now, {})


def test_example_day_replanned_at_ten(mk):
    inst = load_instance(EXAMPLES / "day-60.json")
    announced = solve(inst, time_limit=1.5, workers=1).visits
    now = 600
    actual = {}
    for v in announced:
        for s in v.steps:
            if s.end <= now:
                actual[(v.request, s.id)] = (s.start + 5 if s.start + 5 < s.end else s.start, s.end)
            elif s.start < now:
                actual[(v.request, s.id)] = (s.start, None)
    late = [v.request for v in announced if min(s.start for s in v.steps) >= 660][:2]
    result = replan(inst, announced, now=now, actual=actual, late_arrivals={r: 700 for r in late},
                    time_limit=2.0, workers=2)
    assert_sound(result, announced, now, actual)
    assert len(result.schedule.visits) + len(result.dropped) == len(announced)
    assert len(result.dropped) <= 1
    for rid in late:
        if rid not in result.dropped:
            assert min(s.start for s in steps_of(result, rid).values()) >= 700


def test_bad_references_are_named(small):
    inst, announced = small
    with pytest.raises(InstanceFormatError) as err:
        replan(inst, announced, now=600, actual={("nobody", "s0"): (500, 510)}, late_arrivals={"ghost": 620},
               overruns={("r0", "s1"): 10})
    text = str(err.value)
    assert "actual[nobody/s0]" in text and "late_arrivals[ghost]" in text and "overruns[r0/s1]" in text
