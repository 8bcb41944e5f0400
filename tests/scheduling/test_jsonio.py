import copy
import json

import pytest

from scheduling.errors import InstanceFormatError
from scheduling.instance import DAY_MINUTES, FEASIBLE, Objective, Schedule, Unscheduled
from scheduling.jsonio import (
    hhmm_to_minutes,
    instance_to_json,
    load_instance,
    load_schedule,
    minutes_to_hhmm,
    parse_instance,
    parse_schedule,
    schedule_to_json,
)


def minimal() -> dict:
    return {
        "format": "daycare-instance/1",
        "name": "d",
        "date": "2026-12-01",
        "resources": [
            {"id": "desk", "kind": "registration", "available": [["08:00", "12:00"], ["12:30", "17:00"]]},
            {"id": "dr-a", "kind": "consult"},
        ],
        "booked": [{"request": "b-1", "steps": [{"id": "reg", "resource": "desk", "start": "08:00", "end": "08:10"}]}],
        "requests": [
            {
                "id": "r-1",
                "patient": "p-1",
                "arrival": ["08:00", "11:00"],
                "steps": [
                    {"id": "reg", "kind": "registration", "duration": 10},
                    {"id": "cons", "kind": "consult", "duration": 20, "after": ["reg"], "min_gap": 5,
                     "max_gap": 30, "resources": ["dr-a"]},
                ],
            }
        ],
    }


def problems_of(data) -> dict[str, str]:
    with pytest.raises(InstanceFormatError) as info:
        parse_instance(data)
    return {p.path: p.message for p in info.value.problems}


def test_examples_round_trip(example_path):
    raw = json.loads(example_path.read_text())
    instance = load_instance(example_path)
    assert len(instance.requests) + len(instance.booked) == len(raw["requests"]) + len(raw.get("booked", []))
    assert parse_instance(instance_to_json(instance)) == instance
    assert parse_instance(json.loads(json.dumps(instance_to_json(instance)))) == instance


def test_defaults_follow_the_spec():
    instance = parse_instance(minimal())
    dr = instance.resources[1]
    assert dr.capacity == 1 and dr.available == ((0, DAY_MINUTES),) and dr.attributes == frozenset()
    request = instance.requests[0]
    assert request.priority == 1 and request.leave_by is None and request.max_visit_minutes is None
    assert request.arrival == (480, 660)
    reg, cons = request.steps
    assert (reg.after, reg.min_gap, reg.max_gap, reg.resources) == ((), 0, None, None)
    assert (cons.after, cons.min_gap, cons.max_gap, cons.resources) == (("reg",), 5, 30, ("dr-a",))
    assert instance.booked[0].steps[0].start == 480


def test_times():
    assert hhmm_to_minutes("07:30") == 450
    assert hhmm_to_minutes("24:00") == DAY_MINUTES
    assert minutes_to_hhmm(485) == "08:05"
    for bad in ("7:30", "24:01", "12:60", "noon", 730):
        with pytest.raises(ValueError):
            hhmm_to_minutes(bad)


def test_step_kind_no_resource_offers_is_not_a_format_error():
    data = minimal()
    data["requests"][0]["steps"][0]["kind"] = "dialysis"
    assert parse_instance(data).requests[0].steps[0].kind == "dialysis"


MALFORMATIONS = [
    ("format", lambda d: d.update(format="daycare-instance/2"), "format", "daycare-instance/1"),
    ("missing name", lambda d: d.pop("name"), "name", "missing"),
    ("bad date", lambda d: d.update(date="2026-02-30"), "date", "YYYY-MM-DD"),
    ("unknown field", lambda d: d["requests"][0].update(priorty=2), "requests[0].priorty", "unknown field"),
    ("resources not a list", lambda d: d.update(resources={}), "resources", "expected a list"),
    ("capacity 0", lambda d: d["resources"][0].update(capacity=0), "resources[0].capacity", "at least 1"),
    ("capacity float", lambda d: d["resources"][0].update(capacity=1.5), "resources[0].capacity", "whole number"),
    ("bad time", lambda d: d["resources"][0]["available"][0].__setitem__(1, "25:00"),
     "resources[0].available[0][1]", "between 00:00 and 24:00"),
    ("empty window", lambda d: d["resources"][0]["available"][0].__setitem__(1, "08:00"),
     "resources[0].available[0]", "not after its start"),
    ("overlapping windows", lambda d: d["resources"][0]["available"][1].__setitem__(0, "11:00"),
     "resources[0].available[1]", "overlaps"),
    ("duplicate resource", lambda d: d["resources"][1].update(id="desk", kind="registration"),
     "resources[1].id", "duplicate resource id"),
    ("duplicate request", lambda d: d["requests"].append(copy.deepcopy(d["requests"][0])),
     "requests[1].id", "duplicate request id"),
    ("request id of a booked visit", lambda d: d["requests"][0].update(id="b-1"),
     "requests[0].id", "duplicate request id"),
    ("priority 0", lambda d: d["requests"][0].update(priority=0), "requests[0].priority", "at least 1"),
    ("arrival reversed", lambda d: d["requests"][0].update(arrival=["11:00", "08:00"]),
     "requests[0].arrival", "not after its start"),
    ("missing patient", lambda d: d["requests"][0].pop("patient"), "requests[0].patient", "missing"),
    ("no steps", lambda d: d["requests"][0].update(steps=[]), "requests[0].steps", "empty"),
    ("negative duration", lambda d: d["requests"][0]["steps"][0].update(duration=-5),
     "requests[0].steps[0].duration", "at least 1"),
    ("duration over a day", lambda d: d["requests"][0]["steps"][0].update(duration=2000),
     "requests[0].steps[0].duration", "at most 1440"),
    ("negative gap", lambda d: d["requests"][0]["steps"][1].update(min_gap=-1),
     "requests[0].steps[1].min_gap", "at least 0"),
    ("max_gap below min_gap", lambda d: d["requests"][0]["steps"][1].update(min_gap=40),
     "requests[0].steps[1].max_gap", "less than min_gap"),
    ("duplicate step", lambda d: d["requests"][0]["steps"][1].update(id="reg", after=[]),
     "requests[0].steps[1].id", "duplicate step id"),
    ("unknown after", lambda d: d["requests"][0]["steps"][1].update(after=["lab"]),
     "requests[0].steps[1].after[0]", "unknown step 'lab'"),
    ("after itself", lambda d: d["requests"][0]["steps"][1].update(after=["cons"]),
     "requests[0].steps[1].after[0]", "after itself"),
    ("cycle", lambda d: d["requests"][0]["steps"][0].update(after=["cons"]),
     "requests[0].steps[1].after[0]", "cycle in after: reg -> cons -> reg"),
    ("unknown step resource", lambda d: d["requests"][0]["steps"][1].update(resources=["dr-z"]),
     "requests[0].steps[1].resources[0]", "unknown resource 'dr-z'"),
    ("step resource of another kind", lambda d: d["requests"][0]["steps"][1].update(resources=["desk"]),
     "requests[0].steps[1].resources[0]", "is a registration, not a consult"),
    ("booked unknown resource", lambda d: d["booked"][0]["steps"][0].update(resource="desk-9"),
     "booked[0].steps[0].resource", "unknown resource 'desk-9'"),
    ("booked end before start", lambda d: d["booked"][0]["steps"][0].update(end="07:50"),
     "booked[0].steps[0].end", "not after the start"),
    ("requires not a list", lambda d: d["requests"][0].update(requires="wheelchair"),
     "requests[0].requires", "list of strings"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [m[1:] for m in MALFORMATIONS],
                         ids=[m[0] for m in MALFORMATIONS])
def test_each_malformation_is_reported_with_its_path(mutate, path, fragment):
    data = minimal()
    mutate(data)
    problems = problems_of(data)
    assert path in problems, problems
    assert fragment in problems[path]


def test_every_problem_is_reported_at_once():
    together = {"format", "missing name", "bad date", "unknown field", "capacity 0", "overlapping windows",
                "priority 0", "missing patient", "negative duration", "unknown after",
                "booked unknown resource"}
    data = minimal()
    expected = {}
    for name, mutate, path, fragment in MALFORMATIONS:
        if name in together:
            mutate(data)
            expected[path] = fragment
    problems = problems_of(data)
    for path, fragment in expected.items():
        assert fragment in problems.get(path, ""), (path, problems)
    with pytest.raises(InstanceFormatError) as info:
        parse_instance(data)
    assert str(info.value).count(";") == len(info.value.problems) - 1


def test_not_an_object():
    assert problems_of([1, 2]) == {"": "expected an object, got a list of 2"}


def test_unreadable_and_invalid_json_files(tmp_path):
    with pytest.raises(InstanceFormatError, match="cannot read"):
        load_instance(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": ')
    with pytest.raises(InstanceFormatError, match="not valid JSON"):
        load_instance(broken)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5_000)
    with pytest.raises(InstanceFormatError, match="not valid JSON: nested too deeply"):
        load_instance(deep)


def test_schedule_round_trip(tmp_path):
    instance = parse_instance(minimal())
    from scheduling.greedy import greedy

    schedule = greedy(instance)
    data = schedule_to_json(schedule)
    assert data["format"] == "daycare-schedule/1"
    assert data["visits"][0]["steps"][0]["start"] == "08:10"
    again = parse_schedule(json.loads(json.dumps(data)))
    assert again.visits == schedule.visits and again.objective == schedule.objective
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    assert load_schedule(path).visits == schedule.visits

    unplaced = Schedule("d", FEASIBLE, (), (Unscheduled("r-1", "no room"),), Objective(0, 0))
    assert parse_schedule(schedule_to_json(unplaced)) == unplaced


def test_malformed_schedule_lists_problems():
    with pytest.raises(InstanceFormatError) as info:
        parse_schedule({"format": "x", "status": "DONE", "visits": [{"steps": []}], "objective": {}})
    paths = {p.path for p in info.value.problems}
    assert {"format", "instance", "status", "visits[0].request", "unscheduled", "objective.scheduled_priority"} <= paths


def test_must_place_is_read_and_written_back_only_when_true():
    data = minimal()
    assert parse_instance(data).requests[0].must_place is False
    assert "must_place" not in instance_to_json(parse_instance(data))["requests"][0]
    data["requests"][0]["must_place"] = True
    instance = parse_instance(data)
    assert instance.requests[0].must_place is True
    assert instance_to_json(instance)["requests"][0]["must_place"] is True
    assert parse_instance(instance_to_json(instance)) == instance
    data["requests"][0]["must_place"] = "yes"
    assert problems_of(data) == {"requests[0].must_place": "expected true or false, got 'yes'"}


def test_schedule_visits_may_carry_the_announced_arrival():
    data = {
        "format": "daycare-schedule/1", "instance": "d", "status": "FEASIBLE",
        "visits": [{"request": "r-1", "announced": "08:00",
                    "steps": [{"id": "reg", "resource": "desk", "start": "08:05", "end": "08:15"}]}],
        "unscheduled": [], "objective": {"scheduled_priority": 1, "total_wait_minutes": 0},
    }
    schedule = parse_schedule(data)
    assert schedule.visits[0].announced == 480
    assert schedule_to_json(schedule)["visits"][0]["announced"] == "08:00"
    data["visits"][0]["announced"] = "8:5"
    with pytest.raises(InstanceFormatError) as info:
        parse_schedule(data)
    assert [str(p) for p in info.value.problems] == ["visits[0].announced: expected a time written HH:MM, got '8:5'"]


def test_messages_are_worded_for_people_not_for_pydantic():
    data = minimal()
    data["resources"][0]["available"][0][0] = "8:5"
    data["requests"][0]["arrival"] = "08:00"
    data["requests"][0]["steps"][0]["duration"] = "10"
    data["booked"][0]["steps"][0]["id"] = " "
    assert problems_of(data) == {
        "resources[0].available[0][0]": "expected a time written HH:MM, got '8:5'",
        "requests[0].arrival": "expected a [\"HH:MM\", \"HH:MM\"] pair, got '08:00'",
        "requests[0].steps[0].duration": "expected a whole number, got '10'",
        "booked[0].steps[0].id": "expected a non-empty string, got ' '",
    }


def test_null_for_an_optional_field_means_its_default():
    data = minimal()
    data["resources"][1].update(capacity=None, available=None)
    data["requests"][0].update(priority=None, arrival=None, must_place=None)
    instance = parse_instance(data)
    assert instance.resources[1].capacity == 1 and instance.resources[1].available == ((0, DAY_MINUTES),)
    assert instance.requests[0].priority == 1 and instance.requests[0].arrival is None
