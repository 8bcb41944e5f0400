import dataclasses

import pytest

from scheduling.check import KINDS, Violation, check, check_booked, critical_path, objective
from scheduling.instance import (
    FEASIBLE,
    INFEASIBLE,
    OPTIMAL,
    Objective,
    PlacedStep,
    Schedule,
    Unscheduled,
    Visit,
)

WHEEL = ("wheelchair",)


def visit(rid: str, *steps: tuple[str, str, int, int]) -> Visit:
    return Visit(rid, tuple(PlacedStep(*s) for s in steps))


def day(mk, booked=()):
    resource, request, step = mk.resource, mk.request, mk.step
    return mk.instance(
        [
            resource("desk", "registration", available=[(480, 720)], attributes=WHEEL),
            resource("dr-a", "consult", attributes=WHEEL),
            resource("dr-b", "consult", attributes=WHEEL),
            resource("dr-c", "consult"),
            resource("chairs", "chair", capacity=2, available=[(480, 720), (780, 1080)], attributes=WHEEL),
            resource("lab", "lab", attributes=WHEEL),
        ],
        [
            request("r-1", [step("reg", "registration", 10),
                            step("cons", "consult", 20, after=["reg"], min_gap=10, max_gap=30,
                                 resources=["dr-a", "dr-c"])],
                    priority=2, arrival=(450, 540), max_visit_minutes=50, requires=WHEEL),
            request("r-2", [step("reg", "registration", 10),
                            step("treat", "chair", 60, after=["reg"], max_gap=60)], leave_by=570),
            request("r-3", [step("a", "lab", 15), step("b", "consult", 10, resources=["dr-b"])]),
        ],
        booked,
    )


BASE = {
    "r-1": [("reg", "desk", 480, 490), ("cons", "dr-a", 500, 520)],
    "r-2": [("reg", "desk", 490, 500), ("treat", "chairs", 500, 560)],
    "r-3": [("a", "lab", 480, 495), ("b", "dr-b", 495, 505)],
}


def schedule_of(inst, placed: dict, *, unscheduled=(), status=FEASIBLE, claim=None, extra=()) -> Schedule:
    visits = tuple(visit(rid, *steps) for rid, steps in placed.items()) + tuple(extra)
    return Schedule(
        inst.name, status, visits, tuple(Unscheduled(r, "no room") for r in unscheduled),
        claim or objective(inst, visits),
    )


def moved(rid: str, **changes) -> dict:
    """BASE with some steps of ``rid`` replaced: ``moved("r-1", cons=("dr-b", 500, 520))``."""
    placed = {k: list(v) for k, v in BASE.items()}
    placed[rid] = [(sid, *changes[sid]) if sid in changes else (sid, res, s, e) for sid, res, s, e in placed[rid]]
    return placed


def without(rid: str) -> dict:
    return {k: v for k, v in BASE.items() if k != rid}


def test_base_schedule_is_feasible(mk):
    inst = day(mk)
    assert check(inst, schedule_of(inst, BASE)) == []
    assert objective(inst, schedule_of(inst, BASE).visits) == Objective(4, 10)


CASES = {
    "unknown-request": lambda i: schedule_of(i, BASE, extra=[visit("r-9", ("reg", "desk", 600, 610))]),
    "duplicate": lambda i: schedule_of(i, BASE, extra=[visit("r-1", *BASE["r-1"])]),
    "missing-step": lambda i: schedule_of(i, {**BASE, "r-2": BASE["r-2"][:1]}),
    "missing-step (absent request)": lambda i: schedule_of(i, without("r-3")),
    "unknown-step": lambda i: schedule_of(i, {**BASE, "r-2": BASE["r-2"] + [("xray", "lab", 600, 610)]}),
    "duration": lambda i: schedule_of(i, moved("r-2", treat=("chairs", 500, 550))),
    "unknown-resource": lambda i: schedule_of(i, moved("r-2", treat=("sofa", 500, 560))),
    "wrong-kind": lambda i: schedule_of(i, moved("r-3", a=("dr-c", 480, 495))),
    "not-allowed-resource": lambda i: schedule_of(i, moved("r-1", cons=("dr-b", 500, 520))),
    "missing-attribute": lambda i: schedule_of(i, moved("r-1", cons=("dr-c", 500, 520))),
    "outside-availability": lambda i: schedule_of(i, moved("r-1", reg=("desk", 470, 480))),
    "capacity": lambda i: schedule_of(i, moved("r-2", reg=("desk", 485, 495), treat=("chairs", 500, 560))),
    "capacity (booked)": lambda i: schedule_of(
        dataclasses.replace(i, booked=(visit("b-1", ("t", "chairs", 520, 600)), visit("b-2", ("t", "chairs", 540, 600)))),
        BASE,
    ),
    "precedence-min-gap": lambda i: schedule_of(i, moved("r-1", cons=("dr-a", 495, 515))),
    "precedence-max-gap": lambda i: schedule_of(i, moved("r-1", cons=("dr-a", 525, 545))),
    "patient-overlap": lambda i: schedule_of(i, moved("r-3", b=("dr-b", 490, 500))),
    "arrival": lambda i: schedule_of(i, moved("r-1", reg=("desk", 550, 560), cons=("dr-a", 570, 590))),
    "leave-by": lambda i: schedule_of(i, moved("r-2", treat=("chairs", 515, 575))),
    "max-visit": lambda i: schedule_of(i, moved("r-1", cons=("dr-a", 515, 535))),
    "partly-placed": lambda i: schedule_of(i, BASE, unscheduled=["r-2"]),
    "must-place": lambda i: schedule_of(i, without("r-3"), unscheduled=["r-3"]),
    "objective-mismatch": lambda i: schedule_of(i, BASE, claim=Objective(4, 0)),
    "status": lambda i: schedule_of(i, BASE, status="DONE"),
    "status (infeasible with visits)": lambda i: schedule_of(i, BASE, status=INFEASIBLE),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_violation_kind_is_caught(case, mk):
    kind = case.split(" (")[0]
    inst = day(mk)
    schedule = CASES[case](inst)
    if case == "capacity (booked)":
        inst = dataclasses.replace(inst, booked=(visit("b-1", ("t", "chairs", 520, 600)),
                                                 visit("b-2", ("t", "chairs", 540, 600))))
    if case == "must-place":
        inst = must_place(inst, "r-3")
    violations = check(inst, schedule)
    kinds = {v.kind for v in violations}
    assert kind in kinds, violations
    assert all(str(v) for v in violations)


def test_every_kind_has_a_case():
    assert {c.split(" (")[0] for c in CASES} == KINDS


def must_place(inst, rid: str):
    return dataclasses.replace(
        inst, requests=tuple(dataclasses.replace(r, must_place=r.id == rid) for r in inst.requests)
    )


def test_must_place_request_left_out_is_the_only_violation(mk):
    inst = must_place(day(mk), "r-3")
    assert check(inst, schedule_of(inst, BASE)) == []
    violations = check(inst, schedule_of(inst, without("r-3"), unscheduled=["r-3"]))
    assert [(v.request, v.kind) for v in violations] == [("r-3", "must-place")]


def test_violations_point_at_request_and_step(mk):
    inst = day(mk)
    [v] = check(inst, schedule_of(inst, moved("r-1", cons=("dr-a", 495, 515))))
    assert (v.request, v.step, v.kind) == ("r-1", "cons", "precedence-min-gap")
    assert "5 min" in v.message and "at least 10" in v.message


def test_capacity_message_names_the_overload(mk):
    inst = day(mk)
    violations = check(inst, schedule_of(inst, moved("r-2", reg=("desk", 485, 495))))
    capacity = [v for v in violations if v.kind == "capacity"]
    assert len(capacity) == 1
    assert "2 steps on desk (capacity 1) at 08:05-08:10" in capacity[0].message


def test_back_to_back_steps_share_capacity_one(mk):
    inst = mk.instance([mk.resource("desk", "registration")],
                       [mk.chain(f"r-{i}", ("registration", 10)) for i in range(3)])
    placed = {f"r-{i}": [("s0", "desk", 480 + 10 * i, 490 + 10 * i)] for i in range(3)}
    assert check(inst, schedule_of(inst, placed)) == []


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        Violation(None, None, "late", "x")


def test_infeasible_schedule_of_contradictory_instance_passes(mk):
    inst = day(mk, booked=(visit("b-1", ("t", "desk", 480, 490)), visit("b-2", ("t", "desk", 485, 495))))
    empty = Schedule(inst.name, INFEASIBLE, (), tuple(Unscheduled(r.id, "infeasible") for r in inst.requests),
                     Objective(0, 0))
    assert check(inst, empty) == []
    calm = day(mk)
    assert {v.kind for v in check(calm, dataclasses.replace(empty, instance=calm.name))} == {"status"}


def test_check_booked(mk):
    assert check_booked(day(mk)) == []
    inst = day(mk, booked=(
        visit("b-1", ("t", "desk", 480, 490)),
        visit("b-2", ("t", "desk", 485, 495)),
        visit("b-3", ("t", "desk", 700, 730)),
        Visit("b-4", (PlacedStep("t", "nowhere", 500, 510),)),
    ))
    problems = check_booked(inst)
    assert len(problems) == 3, problems
    assert any("2 steps on desk (capacity 1) at 08:05-08:10: b-1, b-2" in p for p in problems)
    assert any("b-3/t" in p and "outside" in p for p in problems)
    assert any("unknown resource 'nowhere'" in p for p in problems)


def test_critical_path(mk):
    chain, request, step = mk.chain, mk.request, mk.step
    assert critical_path(chain("r", ("registration", 10), ("lab", 15))) == 25
    gaps = request("g", [step("a", "x", 10), step("b", "y", 20, after=["a"], min_gap=45),
                         step("c", "z", 5, after=["b"], min_gap=30, max_gap=120)])
    assert critical_path(gaps) == 110
    preop = request("p", [step("reg", "r", 10), step("lab", "l", 15, after=["reg"]),
                          step("ecg", "e", 15, after=["reg"], min_gap=20), step("anes", "c", 30, after=["lab", "ecg"]),
                          step("out", "o", 10, after=["anes"])])
    assert critical_path(preop) == 10 + 20 + 15 + 30 + 10
    assert critical_path(request("two", [step("a", "x", 15), step("b", "y", 10)])) == 15


def test_objective_counts_only_requests(mk):
    inst = day(mk)
    visits = [visit("r-1", *BASE["r-1"]), visit("r-9", ("reg", "desk", 600, 610))]
    assert objective(inst, visits) == Objective(2, 0)
    assert check(inst, Schedule(inst.name, OPTIMAL, tuple(visits), (), Objective(2, 0)))
