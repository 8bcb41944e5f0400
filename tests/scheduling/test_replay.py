"""``replay``: the day booked one request at a time; announced arrivals hold and never depend on later requests."""

from __future__ import annotations

import dataclasses
import json

import pytest

from scheduling import cli
from scheduling.check import check
from scheduling.generate import generate_day
from scheduling.insert import arrival
from scheduling.jsonio import load_instance, load_schedule
from scheduling.replay import replay
from scheduling.solve import solve
from tests.scheduling.conftest import EXAMPLES

EXAMPLE = EXAMPLES / "day-20.json"


def _spec_checks(instance, schedule, tolerance):
    """The spec's outside checks: every visit inside its announced window; every request placed or listed."""
    for visit in schedule.visits:
        assert visit.announced is not None
        assert visit.announced <= arrival(visit) <= visit.announced + tolerance
    assert {v.request for v in schedule.visits} | {u.request for u in schedule.unscheduled} == {
        r.id for r in instance.requests
    }
    assert len(schedule.stats["booking_seconds"]) == len(instance.requests)


def test_replay_passes_check_and_a_prefix_announces_the_same_times():
    instance = generate_day(40, seed=5, booked_share=0.3)
    full = replay(instance, tolerance=15, booking_seconds=0.5, wall_seconds=20.0)
    assert check(instance, full) == []
    _spec_checks(instance, full, 15)
    m = len(instance.requests) * 2 // 3
    prefix = replay(dataclasses.replace(instance, requests=instance.requests[:m]), tolerance=15, booking_seconds=0.5,
                    wall_seconds=20.0)
    assert {v.request: v.announced for v in prefix.visits} == {
        v.request: v.announced for v in full.visits if v.request in {r.id for r in instance.requests[:m]}
    }
    assert sum(full.stats["moved"][:m]) > 0  # earlier bookings were re-arranged within the prefix too


def test_cli_replay_on_the_example_day(tmp_path, capsys):
    out = tmp_path / "replay.json"
    assert cli.main(["replay", str(EXAMPLE), "-o", str(out), "--tolerance", "10", "--booking-seconds", "0.5"]) == 0
    data = json.loads(out.read_text())
    assert all("announced" in v for v in data["visits"])
    instance = load_instance(EXAMPLE)
    schedule = load_schedule(out)
    assert check(instance, schedule) == []
    _spec_checks(instance, schedule, 10)
    capsys.readouterr()
    assert cli.main(["check", str(EXAMPLE), str(out)]) == 0


@pytest.mark.parametrize("args,expected", [
    (["--tolerance", "-1"], "--tolerance"),
    (["--booking-seconds", "0"], "--booking-seconds"),
])
def test_cli_replay_rejects_bad_options(args, expected, capsys):
    assert cli.main(["replay", str(EXAMPLE), *args]) == 2
    assert expected in capsys.readouterr().err


def test_cli_replay_bad_file_says_what_and_where(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "daycare-instance/1", "name": "x", "date": "2026-12-01", "resources": [], '
                   '"requests": [{"id": "r", "patient": "p", "steps": [], "arrival": ["9:00", "25:00"]}]}')
    assert cli.main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "malformed" in err and "requests[0]" in err
    bad.write_text("{not json")
    assert cli.main(["replay", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


def test_replay_with_hindsight_arrivals_books_requests_at_their_pins():
    """The benchmark's arrival oracle: requests pinned to the arrivals of a schedule knowing the day, each still
    booked in file order through ``book``; a pin outside the request's own arrival window is not used."""
    instance = generate_day(24, seed=3)
    known = solve(instance, time_limit=2.0, workers=1, seed=0, wall_limit=30.0)
    pins = {v.request: arrival(v) for v in known.visits}
    outside = next(r for r in instance.requests if r.id in pins and r.arrival is not None)
    pins[outside.id] = outside.arrival[1] + 30
    hindsight = replay(instance, tolerance=15, booking_seconds=0.3, wall_seconds=20.0, arrivals=pins)
    assert check(instance, hindsight) == []
    _spec_checks(instance, hindsight, 15)
    at_pin = [v.request for v in hindsight.visits if v.announced == pins.get(v.request)]
    assert outside.id not in at_pin
    assert len(known.visits) // 2 <= hindsight.stats["pinned"] <= len(at_pin)
    assert "pinned" not in replay(instance, booking_seconds=0.3, wall_seconds=20.0).stats
