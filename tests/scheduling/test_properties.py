"""Property tests on small random days: greedy and CP-SAT schedules always pass the independent check."""

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scheduling.check import check, critical_path, objective
from scheduling.greedy import greedy
from scheduling.instance import FEASIBLE, Instance, PlacedStep, Request, Resource, Schedule, Step, Visit
from scheduling.jsonio import hhmm_to_minutes, instance_to_json, parse_instance

KINDS = ("registration", "lab", "consult", "chair")


@st.composite
def resources(draw) -> tuple[Resource, ...]:
    out = []
    for kind in KINDS:
        for i in range(draw(st.integers(1, 2))):
            start = draw(st.sampled_from((420, 450, 480, 540)))
            end = draw(st.sampled_from((900, 1020, 1140)))
            if draw(st.booleans()):
                pause = draw(st.integers(start + 60, end - 90))
                available = ((start, pause), (pause + draw(st.integers(10, 60)), end))
            else:
                available = ((start, end),)
            out.append(
                Resource(
                    f"{kind}-{i}", kind, draw(st.integers(1, 2)), available,
                    frozenset({"wheelchair"}) if draw(st.booleans()) else frozenset(),
                )
            )
    return tuple(out)


@st.composite
def requests(draw, index: int, resource_ids: dict[str, list[str]]) -> Request:
    n_steps = draw(st.integers(2, 5))
    steps = []
    for i in range(n_steps):
        kind = draw(st.sampled_from(KINDS))
        if i == 0:
            after: tuple[str, ...] = ()
        elif draw(st.integers(0, 3)) == 0:
            after = tuple(sorted(draw(st.sets(st.sampled_from([s.id for s in steps]), max_size=2))))
        else:
            after = (steps[-1].id,)
        min_gap = draw(st.sampled_from((0, 0, 5, 15, 30))) if after else 0
        max_gap = draw(st.one_of(st.none(), st.integers(min_gap, min_gap + 90))) if after else None
        only = None
        if draw(st.integers(0, 4)) == 0:
            only = (draw(st.sampled_from(resource_ids[kind])),)
        steps.append(Step(f"s{i}", kind, draw(st.integers(1, 12)) * 5, after, min_gap, max_gap, only))
    request = Request(f"r-{index}", f"p-{index}", tuple(steps), priority=draw(st.integers(1, 3)))
    opens = draw(st.integers(84, 150)) * 5
    arrival = (opens, opens + draw(st.integers(0, 48)) * 5) if draw(st.booleans()) else None
    earliest_leave = opens // 5 + 1 if arrival else 150  # the contract: leave_by after the arrival window opens
    leave_by = draw(st.integers(max(150, earliest_leave), 230)) * 5 if draw(st.booleans()) else None
    max_visit = critical_path(request) + draw(st.integers(0, 120)) if draw(st.booleans()) else None
    requires = frozenset({"wheelchair"}) if draw(st.integers(0, 4)) == 0 else frozenset()
    return Request(request.id, request.patient, request.steps, request.priority, arrival, leave_by, max_visit,
                   requires)


@st.composite
def days(draw) -> Instance:
    res = draw(resources())
    ids = {k: [r.id for r in res if r.kind == k] for k in KINDS}
    reqs = tuple(draw(requests(i + 1, ids)) for i in range(draw(st.integers(2, 6))))
    instance = Instance("prop-day", dt.date(2026, 12, 1), res, reqs)
    n_booked = draw(st.integers(0, 2))
    if n_booked:
        placed = greedy(Instance("prop-day", instance.date, res, reqs[:n_booked]))
        booked = tuple(Visit(v.request, v.steps) for v in placed.visits)
        taken = {v.request for v in booked}
        instance = Instance("prop-day", instance.date, res, tuple(r for r in reqs if r.id not in taken), booked)
    return instance


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days())
def test_greedy_schedules_always_pass_check(instance):
    assert parse_instance(instance_to_json(instance)) == instance
    schedule = greedy(instance)
    assert check(instance, schedule) == []


def _nothing_fits() -> Instance:
    """Found by hypothesis: every request needs an attribute no resource has."""
    desk = Resource("desk", "registration")
    steps = (Step("s0", "registration", 5), Step("s1", "registration", 5))
    reqs = tuple(Request(f"r-{i}", f"p-{i}", steps, requires=frozenset({"wheelchair"})) for i in (1, 2))
    return Instance("prop-day", dt.date(2026, 12, 1), (desk,), reqs)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days())
@example(_nothing_fits())
def test_solve_passes_check_and_places_at_least_greedy_priority(instance):
    from scheduling.solve import solve

    schedule = solve(instance, time_limit=1.0, workers=2, seed=0)
    violations = check(instance, schedule)
    assert violations == [], violations
    assert schedule.objective.scheduled_priority >= greedy(instance).objective.scheduled_priority


@settings(max_examples=80, deadline=None)
@given(
    capacity=st.integers(1, 3),
    spans=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 30)), min_size=1, max_size=8),
)
def test_capacity_sweep_matches_counting_every_minute(capacity, spans):
    """The sweep in ``check`` flags exactly the minutes a per-minute count finds overloaded."""
    desk = Resource("desk", "registration", capacity)
    reqs = tuple(Request(f"r-{i}", f"p-{i}", (Step("s", "registration", d),)) for i, (_, d) in enumerate(spans))
    visits = tuple(Visit(f"r-{i}", (PlacedStep("s", "desk", s, s + d),)) for i, (s, d) in enumerate(spans))
    instance = Instance("sweep", dt.date(2026, 12, 1), (desk,), reqs)
    schedule = Schedule("sweep", FEASIBLE, visits, (), objective(instance, visits))
    over = {m for m in range(100) if sum(s <= m < s + d for s, d in spans) > capacity}
    flagged = set()
    for v in check(instance, schedule):
        assert v.kind == "capacity"
        start, end = v.message.split(" at ")[1].split(",")[0].split("-")
        flagged |= set(range(hhmm_to_minutes(start), hhmm_to_minutes(end)))
    assert flagged == over
