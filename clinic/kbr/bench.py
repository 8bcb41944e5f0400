"""Benchmark: the coordinator's KBR dashboard (``GET /kbr/``) as served, on the demo clinic with history.

``python -m clinic.kbr.bench [--runs 20]`` loads the demo clinic with 12 weeks of history (as ``make run``
does) into a scratch SQLite database, signs the coordinator in through the test client and renders the
dashboard, for everyone and for one segment, ``--runs`` times each; prints p50/p95/max of the wall clock and
of the process's CPU time in milliseconds. The budget is a wall-clock p95 of 500 ms; ``--check`` exits 1 when
it is missed.
"""

import argparse
import sys

from clinic.visits.bench_replan import demo_client, report, timings

BUDGET_MS = 500.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.kbr.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a p95 > {BUDGET_MS:.0f} ms")
    args = parser.parse_args(argv)
    paths = {"/kbr/": "/kbr/", "/kbr/?segment=long_distance": "/kbr/?segment=long_distance"}

    def every_kbr_drawn(html: str) -> None:
        if html.count('class="kbr-chart') < 5:
            raise SystemExit("the dashboard did not draw its charts")

    with demo_client(username="coordinator", history_weeks=12) as (_app, client):
        results = timings(client, paths, runs=args.runs, check=every_kbr_drawn)
    met = report(f"KBR dashboard on the demo clinic (12 weeks of history), {args.runs} runs each", results,
                 BUDGET_MS, list(paths))
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
