"""Command line of the engine: solve, greedy, check, bound, replay, generate and bench day instances, and
print the JSON Schema of the instance or schedule format (``schema``).

Exit codes: 0 done (a schedule was written, or ``check`` found it feasible), 1 ``check`` found
violations (or the solver is not installed; for ``bound``, the schedule given is not feasible),
2 malformed or unreadable input (every problem is printed as ``path: message``), 3 the instance is
contradictory (status INFEASIBLE).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scheduling.check import check, objective
from scheduling.errors import InstanceContradiction, InstanceFormatError
from scheduling.instance import Schedule

EXIT_OK, EXIT_VIOLATIONS, EXIT_MALFORMED, EXIT_INFEASIBLE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scheduling", description="OneVisit day scheduling engine")
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser("solve", help="optimise one day with CP-SAT")
    solve.add_argument("instance", help="day instance JSON file")
    solve.add_argument("-o", "--output", help="write the schedule here (default: stdout)")
    solve.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    solve.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default 2)")
    solve.add_argument("--seed", type=int, default=0)

    rep = sub.add_parser(
        "replay",
        help="book the requests one at a time in file order, as the front desk does",
        description="Book the instance's requests one at a time, in file order; earlier bookings may move "
        "within [announced, announced + tolerance]. Writes the final day with each visit's announced arrival.",
    )
    rep.add_argument("instance", help="day instance JSON file")
    rep.add_argument("-o", "--output", help="write the schedule here (default: stdout)")
    rep.add_argument("--tolerance", type=int, default=15, help="minutes an announced arrival may slip (default 15)")
    rep.add_argument("--booking-seconds", type=float, default=1.0, help="budget of one booking (default 1)")

    base = sub.add_parser("greedy", help="first-come-first-served baseline schedule")
    base.add_argument("instance")
    base.add_argument("-o", "--output")

    chk = sub.add_parser("check", help="validate a schedule against its instance")
    chk.add_argument("instance")
    chk.add_argument("schedule")

    bnd = sub.add_parser("bound", help="bounds no schedule of the day can beat (priority, and waiting at a priority)")
    bnd.add_argument("instance")
    bnd.add_argument("schedule", nargs="?", help="a schedule to measure against the bounds (its priority is used)")
    bnd.add_argument("--priority", type=int, help="the priority to bound waiting at (default: the schedule's)")

    gen = sub.add_parser("generate", help="write a generated day instance")
    gen.add_argument("requests", type=int)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--booked-share", type=float, default=0.0)
    gen.add_argument("-o", "--output")

    sch = sub.add_parser(
        "schema",
        help="print the JSON Schema (draft 2020-12) of the instance or schedule format",
        description="Print the JSON Schema (draft 2020-12) of a day instance or a schedule, generated from the "
        "models the engine reads them with.",
    )
    sch.add_argument("document", nargs="?", choices=("instance", "schedule"), default="instance",
                     help="which format (default: instance)")
    sch.add_argument("-o", "--output", help="write the schema here (default: stdout)")

    bench = sub.add_parser("bench", help="greedy vs CP-SAT on generated days (Markdown table)")
    from scheduling.bench import add_arguments

    add_arguments(bench)
    return parser


class _Exit(Exception):
    """Ends a command with ``code`` once what went wrong has been printed."""

    def __init__(self, code: int):
        self.code = code


def _read(path: str, *, schedule: bool = False) -> Any:
    """The instance (or schedule) in ``path``; a malformed or unreadable file has every problem printed and
    ends the command with exit code 2."""
    from scheduling.jsonio import load_instance, load_schedule

    try:
        return load_schedule(path) if schedule else load_instance(path)
    except InstanceFormatError as error:
        count = len(error.problems)
        print(f"{path} is malformed ({count} problem{'s' if count != 1 else ''}):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        raise _Exit(EXIT_MALFORMED) from error


def _contradiction(reasons: Sequence[str]) -> int:
    print("status INFEASIBLE: the instance contradicts itself")
    for reason in reasons:
        print(f"  {reason}")
    return EXIT_INFEASIBLE


def _write(data: dict, output: str | None) -> None:
    text = json.dumps(data, indent=1) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _summary(schedule: Schedule, n_requests: int) -> str:
    return (
        f"status {schedule.status}: {len(schedule.visits)}/{n_requests} requests placed, "
        f"scheduled priority {schedule.objective.scheduled_priority}, "
        f"total wait {schedule.objective.total_wait_minutes} min, {schedule.solve_seconds:.2f} s"
    )


def _cmd_solve(args: argparse.Namespace) -> int:
    from scheduling.jsonio import schedule_to_json

    instance = _read(args.instance)
    try:
        from scheduling.solve import solve
    except ImportError as error:
        print(f"the CP-SAT solver is not available: {error}", file=sys.stderr)
        return EXIT_VIOLATIONS
    try:
        schedule = solve(instance, time_limit=args.time_limit, workers=args.workers, seed=args.seed)
    except InstanceContradiction as error:
        return _contradiction(error.reasons)
    _write(schedule_to_json(schedule), args.output)
    print(_summary(schedule, len(instance.requests)), file=sys.stderr if not args.output else sys.stdout)
    return EXIT_OK


def _cmd_replay(args: argparse.Namespace) -> int:
    from scheduling.jsonio import schedule_to_json

    if args.tolerance < 0 or not args.booking_seconds > 0:
        print("--tolerance must be >= 0 minutes and --booking-seconds above 0", file=sys.stderr)
        return EXIT_MALFORMED
    instance = _read(args.instance)
    from scheduling.replay import replay

    try:
        schedule = replay(instance, tolerance=args.tolerance, booking_seconds=args.booking_seconds)
    except InstanceContradiction as error:
        return _contradiction(error.reasons)
    _write(schedule_to_json(schedule), args.output)
    seconds = schedule.stats["booking_seconds"]
    print(
        _summary(schedule, len(instance.requests)) + f", slowest booking {max(seconds, default=0):.2f} s",
        file=sys.stderr if not args.output else sys.stdout,
    )
    return EXIT_OK


def _cmd_greedy(args: argparse.Namespace) -> int:
    from scheduling.greedy import greedy
    from scheduling.jsonio import schedule_to_json

    instance = _read(args.instance)
    schedule = greedy(instance)
    _write(schedule_to_json(schedule), args.output)
    print(_summary(schedule, len(instance.requests)), file=sys.stderr if not args.output else sys.stdout)
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    instance = _read(args.instance)
    schedule = _read(args.schedule, schedule=True)
    violations = check(instance, schedule)
    for violation in violations:
        print(violation)
    recomputed = objective(instance, schedule.visits)
    print(
        f"recomputed objective: scheduled priority {recomputed.scheduled_priority}, "
        f"total wait {recomputed.total_wait_minutes} min"
    )
    if violations:
        print(f"{len(violations)} violation{'s' if len(violations) != 1 else ''}")
        return EXIT_VIOLATIONS
    print(f"feasible: {len(schedule.visits)} visits placed, {len(schedule.unscheduled)} unscheduled")
    return EXIT_OK


def _cmd_bound(args: argparse.Namespace) -> int:
    from scheduling.bound import day_bounds
    from scheduling.check import check_booked

    instance = _read(args.instance)
    schedule = _read(args.schedule, schedule=True) if args.schedule else None
    contradictions = check_booked(instance)
    if contradictions:
        return _contradiction(contradictions)
    if schedule is not None:
        violations = check(instance, schedule)
        if violations:
            print(f"the schedule is not feasible ({len(violations)} violations, see `check`): bounds hold for feasible ones")
            return EXIT_VIOLATIONS
    priority = args.priority
    if priority is None and schedule is not None:
        priority = objective(instance, schedule.visits).scheduled_priority
    bounds = day_bounds(instance, priority=priority)
    print(f"scheduled priority: no schedule places more than {bounds.priority}")
    if priority is not None:
        if bounds.wait is None:
            print(f"total wait: no schedule places {priority} priority")
        else:
            print(f"total wait: every schedule placing at least {priority} priority waits at least {bounds.wait} min")
    if schedule is not None:
        got = objective(instance, schedule.visits)
        wait = got.total_wait_minutes
        verdict = ""
        if bounds.proves_optimal(got.scheduled_priority, wait):
            verdict = ": proven optimal"
        elif bounds.at_priority == got.scheduled_priority and bounds.wait is not None and wait:
            verdict = f": gap {(wait - bounds.wait) / wait:.1%}"
        print(f"this schedule: priority {got.scheduled_priority}, total wait {wait} min{verdict}")
    left_out = sorted(rid for rid, floor in bounds.floors.items() if floor is None)
    if left_out:
        print(f"fit nowhere even alone: {', '.join(left_out)}")
    if not bounds.proven:
        print("(a time limit cut a solve: these bounds are valid but weaker than they could be)")
    return EXIT_OK


def _cmd_generate(args: argparse.Namespace) -> int:
    from scheduling.generate import generate_day
    from scheduling.jsonio import instance_to_json

    if args.requests < 0 or not 0.0 <= args.booked_share <= 1.0:
        print("requests must be >= 0 and --booked-share between 0 and 1", file=sys.stderr)
        return EXIT_MALFORMED
    _write(instance_to_json(generate_day(args.requests, seed=args.seed, booked_share=args.booked_share)),
           args.output)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from scheduling.contract import json_schema

    _write(json_schema(args.document), args.output)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    if args.command == "bench":
        from scheduling.bench import run_from_args

        return run_from_args(args)
    commands = {"solve": _cmd_solve, "greedy": _cmd_greedy, "check": _cmd_check, "bound": _cmd_bound,
                "generate": _cmd_generate, "replay": _cmd_replay, "schema": _cmd_schema}
    try:
        return commands[args.command](args)
    except _Exit as end:
        return end.code
