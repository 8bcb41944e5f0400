import json
import subprocess
import sys
from pathlib import Path

import pytest

from scheduling import cli
from scheduling.errors import InstanceContradiction
from scheduling.generate import generate_day
from scheduling.greedy import greedy
from scheduling.jsonio import instance_to_json, schedule_to_json
from tests.scheduling.conftest import EXAMPLES

EXAMPLE = EXAMPLES / "day-20.json"


@pytest.fixture
def day_file(tmp_path) -> Path:
    path = tmp_path / "day.json"
    path.write_text(json.dumps(instance_to_json(generate_day(12, seed=3))))
    return path


def test_greedy_then_check(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert cli.main(["greedy", str(EXAMPLE), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["format"] == "daycare-schedule/1"
    capsys.readouterr()
    assert cli.main(["check", str(EXAMPLE), str(out)]) == 0
    text = capsys.readouterr().out
    assert "recomputed objective: scheduled priority" in text and "feasible" in text


def test_check_reports_violations(tmp_path, capsys, day_file):
    data = schedule_to_json(greedy(generate_day(12, seed=3)))
    data["visits"][0]["steps"][0]["end"] = "23:59"
    data["objective"]["total_wait_minutes"] += 5
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    assert cli.main(["check", str(day_file), str(broken)]) == 1
    out = capsys.readouterr().out
    assert "duration" in out and "objective-mismatch" in out and "violations" in out


def test_malformed_instance_exit_2_lists_every_problem(tmp_path, capsys):
    data = json.loads(EXAMPLE.read_text())
    data["format"] = "nope"
    data["requests"][2]["steps"][1]["after"] = ["ghost"]
    data["resources"][0]["capacity"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    for command in (["solve", str(bad)], ["greedy", str(bad)], ["check", str(bad), str(bad)], ["bound", str(bad)]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert "format: expected 'daycare-instance/1'" in err
        assert "requests[2].steps[1].after[0]: unknown step 'ghost'" in err
        assert "resources[0].capacity: must be at least 1" in err
        assert "Traceback" not in err


def test_unreadable_and_invalid_files_exit_2(tmp_path, capsys):
    assert cli.main(["solve", str(tmp_path / "absent.json")]) == 2
    assert "cannot read the file" in capsys.readouterr().err
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert cli.main(["greedy", str(junk)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli.main(["check", str(EXAMPLE), str(junk)]) == 2


def test_solve_contradiction_exit_3(monkeypatch, capsys):
    import scheduling

    fake = type(sys)("scheduling.solve")

    def solve(instance, **kwargs):
        raise InstanceContradiction(["booked visits put 2 steps on desk-1 (capacity 1) at 08:00-08:10"])

    fake.solve = solve
    monkeypatch.setitem(sys.modules, "scheduling.solve", fake)
    monkeypatch.setattr(scheduling, "solve", fake, raising=False)
    assert cli.main(["solve", str(EXAMPLE)]) == 3
    out = capsys.readouterr().out
    assert "INFEASIBLE" in out and "desk-1 (capacity 1)" in out


def test_generate_command(tmp_path):
    out = tmp_path / "g.json"
    assert cli.main(["generate", "15", "--seed", "4", "--booked-share", "0.2", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["requests"]) + len(data["booked"]) == 15 and data["booked"]


def test_subprocess_solve_writes_a_checked_schedule(tmp_path, day_file):
    """One real run through ``python -m scheduling``; uses CP-SAT when B's solver is installed."""
    out = tmp_path / "s.json"
    has_solver = (Path(cli.__file__).parent / "solve.py").exists()
    command = ["solve", str(day_file), "-o", str(out), "--time-limit", "2"] if has_solver else [
        "greedy", str(day_file), "-o", str(out)]
    run = subprocess.run([sys.executable, "-m", "scheduling", *command], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "requests placed" in run.stdout
    check = subprocess.run([sys.executable, "-m", "scheduling", "check", str(day_file), str(out)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout


def test_bench_prints_a_table(capsys):
    assert cli.main(["bench", "--sizes", "8", "--seeds", "1", "--time-limit", "1", "--booked", "0,0.25"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| 8 |")]
    assert [(cells[2].strip(), cells[3].strip()) for cells in (line.split("|") for line in lines)] == [
        ("all", "greedy"), ("all", "cp-sat"),
        ("0%", "greedy"), ("0%", "cp-sat"), ("25%", "greedy"), ("25%", "cp-sat"),
    ]
    assert all(line.rstrip().endswith("| 0 |") for line in lines)
    assert "8 requests, every day: " in out and "8 requests, 25% booked: " in out
    assert "CP-SAT placed less priority than greedy on 0 of 2 days." in out


def test_bench_rejects_bad_sizes(capsys):
    assert cli.main(["bench", "--sizes", "ten"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_bound_measures_a_schedule_against_what_no_schedule_can_beat(tmp_path, capsys, day_file):
    out = tmp_path / "s.json"
    assert cli.main(["greedy", str(day_file), "-o", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["bound", str(day_file), str(out)]) == 0
    text = capsys.readouterr().out
    priority = json.loads(out.read_text())["objective"]["scheduled_priority"]
    assert "scheduled priority: no schedule places more than" in text
    assert f"every schedule placing at least {priority} priority waits at least" in text
    assert "this schedule: priority" in text


def test_bound_refuses_an_infeasible_schedule_and_a_contradictory_day(tmp_path, capsys, day_file):
    data = schedule_to_json(greedy(generate_day(12, seed=3)))
    data["visits"][0]["steps"][0]["end"] = "23:59"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    assert cli.main(["bound", str(day_file), str(broken)]) == 1
    assert "not feasible" in capsys.readouterr().out
    day = json.loads(EXAMPLE.read_text())
    desk = day["resources"][0]["id"]
    two = [{"request": f"b-{i}", "steps": [{"id": "reg", "resource": desk, "start": "08:00", "end": "08:10"}]}
           for i in range(day["resources"][0].get("capacity", 1) + 1)]
    day["booked"] = two
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps(day))
    assert cli.main(["bound", str(clash)]) == 3
    assert "INFEASIBLE" in capsys.readouterr().out


def test_bench_replay_runs_the_seeds_asked_for(capsys):
    args = ["bench", "--replay", "--sizes", "6", "--time-limit", "0.3", "--booking-seconds", "0.1"]
    assert cli.main([*args, "--seeds", "3"]) == 0  # 3 is the plain bench's default, not the replay's
    progress = capsys.readouterr().err
    assert [f"gen-{seed}-6:" in progress for seed in range(4)] == [True, True, True, False]
    assert cli.main([*args, "--seeds", "0"]) == 2


def test_bench_replay_with_the_arrival_oracle_prints_its_table(capsys):
    args = ["bench", "--replay", "--sizes", "8", "--seeds", "1", "--time-limit", "0.3", "--booking-seconds", "0.1"]
    assert cli.main([*args, "--oracle"]) == 0
    captured = capsys.readouterr()
    assert "replay with their arrivals 8 / " in captured.err
    table = captured.out.split("The replay with hindsight arrivals:")[1]
    assert table.strip().splitlines()[2].startswith("| 8 | 0% | 8 | ")
    assert cli.main(args) == 0
    assert "hindsight" not in capsys.readouterr().out
