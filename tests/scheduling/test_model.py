"""One feasible and one infeasible tiny day per constraint family of ``scheduling.model``.

Every request is forced present (``all_present``) so an infeasible family shows as an INFEASIBLE model,
not as a request quietly left out; feasible answers are checked with the independent ``check``.
"""

from __future__ import annotations

import datetime as dt

from ortools.sat.python import cp_model

from scheduling.check import check, objective
from scheduling.instance import FEASIBLE, Instance, Schedule, Unscheduled
from scheduling.model import Day, build, to_visits


def run(instance: Instance, *, force: bool = True, merge: bool = True) -> tuple[int, Schedule | None, Day]:
    day = Day(instance, merge=merge)
    ids = [r.id for r in instance.requests]
    sub = build(day, ids, {}, value={r.id: r.priority for r in instance.requests})
    if force:
        for rid in ids:
            if rid not in sub.vars:
                return cp_model.INFEASIBLE, None, day
            sub.model.add(sub.vars[rid].present == 1)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 5
    status = solver.solve(sub.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, None, day
    plan = sub.extract(solver)
    visits = to_visits(day, plan)
    schedule = Schedule(
        instance.name, FEASIBLE, tuple(visits),
        tuple(Unscheduled(r, "-") for r in ids if r not in plan), objective(instance, visits),
    )
    assert check(instance, schedule) == []
    return status, schedule, day


def feasible(instance: Instance, **kw) -> Schedule:
    status, schedule, _ = run(instance, **kw)
    assert status == cp_model.OPTIMAL, status
    assert schedule is not None
    return schedule


def infeasible(instance: Instance, **kw) -> None:
    status, _, _ = run(instance, **kw)
    assert status == cp_model.INFEASIBLE


def starts(schedule: Schedule, rid: str) -> dict[str, tuple[str, int]]:
    v = next(v for v in schedule.visits if v.request == rid)
    return {s.id: (s.resource, s.start) for s in v.steps}


# ---------------------------------------------------------------- availability (step intervals)


def test_availability_feasible_in_second_window(mk):
    lab = mk.resource("lab", "lab", available=[(480, 540), (600, 700)])
    inst = mk.instance([lab], [mk.request("r", [mk.step("a", "lab", 70)])])
    assert starts(feasible(inst), "r")["a"][1] >= 600


def test_availability_infeasible_when_no_window_is_long_enough(mk):
    lab = mk.resource("lab", "lab", available=[(480, 540), (600, 700)])
    inst = mk.instance([lab], [mk.request("r", [mk.step("a", "lab", 110)])])
    infeasible(inst)
    assert "no opening time" in Day(inst).requests["r"].why_not


def test_availability_with_alternatives_picks_the_open_resource(mk):
    early = mk.resource("x1", "lab", available=[(480, 540)])
    late = mk.resource("x2", "lab", available=[(600, 700)], attributes=["a"])
    inst = mk.instance([early, late], [mk.request("r", [mk.step("a", "lab", 30)], arrival=(590, 620))])
    assert starts(feasible(inst), "r")["a"][0] == "x2"
    inst = mk.instance([early, late], [mk.request("r", [mk.step("a", "lab", 30)], arrival=(545, 560))])
    infeasible(inst)


# ---------------------------------------------------------------- resource choice


def test_requires_attribute_selects_the_carrying_resource(mk):
    a = mk.resource("plain", "chair", capacity=4)
    b = mk.resource("bed", "chair", capacity=1, attributes=["wheelchair"])
    inst = mk.instance([a, b], [mk.request("r", [mk.step("t", "chair", 60)], requires=["wheelchair"])])
    assert starts(feasible(inst), "r")["t"][0] == "bed"


def test_requires_attribute_no_resource_carries_it(mk):
    a = mk.resource("plain", "chair", capacity=4)
    inst = mk.instance([a], [mk.request("r", [mk.step("t", "chair", 60)], requires=["wheelchair"])])
    infeasible(inst)
    assert "no resource" in Day(inst).requests["r"].why_not


def test_resources_restriction(mk):
    d1 = mk.resource("dr-a", "consult", available=[(480, 600)])
    d2 = mk.resource("dr-b", "consult", available=[(480, 600)])
    ok = mk.instance([d1, d2], [mk.request("r", [mk.step("c", "consult", 20, resources=["dr-b"])])])
    assert starts(feasible(ok), "r")["c"][0] == "dr-b"
    # dr-b is busy all morning with a booked visit: the restricted step cannot go to dr-a.
    booked = [mk.visit("old", ("c", "dr-b", 480, 600))]
    bad = mk.instance([d1, d2], [mk.request("r", [mk.step("c", "consult", 20, resources=["dr-b"])])], booked)
    infeasible(bad)


# ---------------------------------------------------------------- capacity


def test_capacity_one_no_overlap(mk):
    desk = mk.resource("desk", "registration", available=[(480, 600)])
    reqs = [mk.request(f"r{i}", [mk.step("a", "registration", 60)]) for i in range(2)]
    feasible(mk.instance([desk], reqs))
    desk = mk.resource("desk", "registration", available=[(480, 590)])
    infeasible(mk.instance([desk], reqs))


def test_capacity_pool_cumulative(mk):
    chairs = mk.resource("chairs", "chair", capacity=2, available=[(480, 600)])
    reqs = [mk.request(f"r{i}", [mk.step("t", "chair", 60)]) for i in range(4)]
    feasible(mk.instance([chairs], reqs))
    reqs.append(mk.request("r5", [mk.step("t", "chair", 60)]))
    infeasible(mk.instance([chairs], reqs))


def test_capacity_counts_booked_visits(mk):
    chairs = mk.resource("chairs", "chair", capacity=2, available=[(480, 600)])
    reqs = [mk.request(f"r{i}", [mk.step("t", "chair", 60)]) for i in range(3)]
    booked = [mk.visit("b", ("t", "chairs", 480, 540))]
    feasible(mk.instance([chairs], reqs, booked))
    booked.append(mk.visit("b2", ("t", "chairs", 540, 600)))
    infeasible(mk.instance([chairs], reqs, booked))


def test_identical_resources_are_merged_and_dealt_out(mk):
    desks = [mk.resource(f"desk-{i}", "registration", available=[(480, 540)]) for i in (1, 2)]
    reqs = [mk.request(f"r{i}", [mk.step("a", "registration", 30)]) for i in range(4)]
    schedule = feasible(mk.instance(desks, reqs))
    day = Day(mk.instance(desks, reqs))
    assert list(day.pools) == ["desk-1+desk-2"] and day.pools["desk-1+desk-2"].capacity == 2
    assert {s.resource for v in schedule.visits for s in v.steps} == {"desk-1", "desk-2"}
    infeasible(mk.instance(desks, reqs + [mk.request("r9", [mk.step("a", "registration", 30)])]))


# ---------------------------------------------------------------- precedence


def test_min_gap(mk):
    lab = mk.resource("lab", "lab")
    doc = mk.resource("doc", "consult")
    steps = [mk.step("l", "lab", 15), mk.step("c", "consult", 20, after=["l"], min_gap=45)]
    s = feasible(mk.instance([lab, doc], [mk.request("r", steps, arrival=(480, 480), leave_by=560)]))
    assert starts(s, "r")["c"][1] - (starts(s, "r")["l"][1] + 15) >= 45
    infeasible(mk.instance([lab, doc], [mk.request("r", steps, arrival=(480, 480), leave_by=555)]))


def test_max_gap(mk):
    lab = mk.resource("lab", "lab", available=[(480, 500)])
    chair = mk.resource("chair", "chair", available=[(560, 700)])
    ok = [mk.step("l", "lab", 15), mk.step("t", "chair", 60, after=["l"], max_gap=70)]
    feasible(mk.instance([lab, chair], [mk.request("r", ok)]))
    bad = [mk.step("l", "lab", 15), mk.step("t", "chair", 60, after=["l"], max_gap=50)]
    infeasible(mk.instance([lab, chair], [mk.request("r", bad)]))


def test_max_gap_counts_from_the_latest_predecessor(mk):
    lab = mk.resource("lab", "lab", available=[(480, 500)])
    ecg = mk.resource("ecg", "ecg", available=[(480, 700)])
    doc = mk.resource("doc", "consult", available=[(600, 700)])
    steps = [
        mk.step("l", "lab", 15),
        mk.step("e", "ecg", 15),
        mk.step("c", "consult", 20, after=["l", "e"], max_gap=10),
    ]
    s = feasible(mk.instance([lab, ecg, doc], [mk.request("r", steps)]))
    assert starts(s, "r")["e"][1] >= 575  # the ECG moves late so the consult follows it closely
    doc_closed_late = mk.resource("doc", "consult", available=[(600, 700)])
    ecg_early = mk.resource("ecg", "ecg", available=[(480, 520)])
    infeasible(mk.instance([lab, ecg_early, doc_closed_late], [mk.request("r", steps)]))


# ---------------------------------------------------------------- patient in one place


def test_patient_one_place_at_a_time(mk):
    lab = mk.resource("lab", "lab")
    ecg = mk.resource("ecg", "ecg")
    steps = [mk.step("l", "lab", 30), mk.step("e", "ecg", 30)]
    s = feasible(mk.instance([lab, ecg], [mk.request("r", steps, arrival=(480, 480), leave_by=540)]))
    (a, b) = sorted(x[1] for x in starts(s, "r").values())
    assert b >= a + 30
    infeasible(mk.instance([lab, ecg], [mk.request("r", steps, arrival=(480, 480), leave_by=535)]))


# ---------------------------------------------------------------- visit window


def test_arrival_window(mk):
    desk = mk.resource("desk", "registration")
    booked = [mk.visit("b", ("a", "desk", 480, 600))]
    feasible(mk.instance([desk], [mk.request("r", [mk.step("a", "registration", 10)], arrival=(500, 600))], booked))
    infeasible(mk.instance([desk], [mk.request("r", [mk.step("a", "registration", 10)], arrival=(500, 595))], booked))


def test_leave_by(mk):
    chair = mk.resource("chair", "chair", available=[(480, 700)])
    booked = [mk.visit("b", ("t", "chair", 480, 540))]
    feasible(mk.instance([chair], [mk.request("r", [mk.step("t", "chair", 60)], leave_by=600)], booked))
    infeasible(mk.instance([chair], [mk.request("r", [mk.step("t", "chair", 60)], leave_by=595)], booked))


def test_max_visit_minutes(mk):
    desk = mk.resource("desk", "registration", available=[(480, 490)])
    chair = mk.resource("chair", "chair", available=[(540, 700)])
    steps = [mk.step("a", "registration", 10), mk.step("t", "chair", 60, after=["a"])]
    feasible(mk.instance([desk, chair], [mk.request("r", steps, max_visit_minutes=120)]))
    infeasible(mk.instance([desk, chair], [mk.request("r", steps, max_visit_minutes=115)]))


# ---------------------------------------------------------------- all or nothing, objective


def test_all_steps_or_none(mk):
    desk = mk.resource("desk", "registration")
    lab = mk.resource("lab", "lab", available=[(480, 500)])
    steps = [mk.step("a", "registration", 10), mk.step("l", "lab", 30, after=["a"])]
    status, schedule, _ = run(mk.instance([desk, lab], [mk.request("r", steps)]), force=False)
    assert status == cp_model.OPTIMAL and schedule is not None
    assert schedule.visits == () and schedule.unscheduled[0].request == "r"
    ok = [mk.step("a", "registration", 10), mk.step("l", "lab", 20, after=["a"])]
    status, schedule, _ = run(mk.instance([desk, lab], [mk.request("r", ok)]), force=False)
    assert schedule is not None and len(schedule.visits[0].steps) == 2


def test_objective_prefers_priority_then_less_wait(mk):
    desk = mk.resource("desk", "registration", available=[(480, 540)])
    chair = mk.resource("chair", "chair", available=[(480, 700)])
    low = mk.request("low", [mk.step("a", "registration", 60)], priority=1)
    high = mk.request("high", [mk.step("a", "registration", 60)], priority=2)
    status, schedule, _ = run(mk.instance([desk], [low, high]), force=False)
    assert schedule is not None and [v.request for v in schedule.visits] == ["high"]
    steps = [mk.step("a", "registration", 10), mk.step("t", "chair", 60, after=["a"])]
    status, schedule, _ = run(mk.instance([desk, chair], [mk.request("r", steps)]), force=False)
    assert schedule is not None and schedule.objective.total_wait_minutes == 0


# ---------------------------------------------------------------- dealing a pool's steps to its members


def test_a_pools_steps_go_to_the_member_free_the_shortest_time_so_chairs_work_in_runs():
    from scheduling.instance import Request, Resource, Step

    chairs = tuple(Resource(f"chair-{i}", "chair") for i in (1, 2))
    times = {"short": (0, 10), "long": (0, 50), "later": (60, 70)}
    requests = tuple(
        Request(rid, rid, (Step("t", "chair", b - a),), arrival=(a, a)) for rid, (a, b) in times.items()
    )
    day = Day(Instance("deal", dt.date(2026, 12, 8), chairs, requests))
    (pool,) = {day.pool_of[c.id] for c in chairs}
    plan = {rid: {"t": (pool, a)} for rid, (a, _) in times.items()}
    visits = {v.request: v.steps[0] for v in to_visits(day, plan, best_fit=True)}
    assert visits["short"].resource != visits["long"].resource
    # chair of "long" is free from 50, chair of "short" from 10: "later" goes where the gap is 10 minutes, not 50.
    assert visits["later"].resource == visits["long"].resource
    first_free = {v.request: v.steps[0] for v in to_visits(day, plan)}
    assert first_free["later"].resource == first_free["short"].resource
