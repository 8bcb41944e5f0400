"""Benchmark: the board's re-plan preview (``GET /board/replan``) as served, on the demo clinic.

``python -m clinic.visits.bench_replan [--runs 20]`` loads the demo clinic (``seed_data/``, as ``make run``
does) into a scratch SQLite database, sets the clinic's zone to one where it is 08:xx now (so that the rest
of today can be re-planned whatever the hour), signs the front desk in through the test client and asks for
the re-plan ``--runs`` times: with no late patient, and with the first of today's expected patients an hour
late. Prints p50/p95/max of the wall clock and of the process's CPU time in milliseconds. The budget is a
wall-clock p95 of 500 ms; ``--check`` exits 1 when it is missed.

``demo_client`` and ``timings`` are shared with ``python -m clinic.kbr.bench``.
"""

import argparse
import datetime as dt
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import select

from clinic.app import create_app
from clinic.bootstrap import make_session_factory, of_app, unit_from
from clinic.db import make_engine, upgrade
from clinic.demo.bench_clinic import percentiles
from clinic.demo.seed import load_demo
from clinic.settings import load_settings
from clinic.visits.models import StepStatus, Visit

BUDGET_MS = 500.0
SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"
DEMO_PASSWORD = "onevisit-demo"


def morning_zone(now: dt.datetime) -> str:
    """A fixed-offset zone where it is 08:xx at ``now``, early in of the demo's day (POSIX signs: Etc/GMT-3
    is UTC+3)."""
    offset = (8 - now.hour + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


@contextmanager
def demo_client(*, username: str, history_weeks: int = 0) -> Iterator[tuple[object, object]]:
    """The app on a scratch copy of the demo clinic and a test client signed in as ``username``."""
    now = dt.datetime.now(dt.UTC)
    zone = morning_zone(now)
    with tempfile.TemporaryDirectory(prefix="onevisit-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        # the demo accounts keep their published password: a development unit, as `make run` serves it
        config = {"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": False, "CLINIC_TIMEZONE": zone, "ENV": "development"}
        upgrade(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            unit = unit_from(load_settings({"SECRET_KEY": "bench", "CLINIC_TIMEZONE": zone}))
            load_demo(session=session, directory=SEED_DIR, unit=unit, now=now, history_weeks=history_weeks)
        engine.dispose()
        app = create_app(config)
        client = app.test_client()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/sign-in").get_data(as_text=True))
        response = client.post(
            "/sign-in", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1) if token else ""}
        )
        if response.status_code != 302:
            raise SystemExit(f"sign-in failed: {response.status_code}")
        client.post("/language", data={"language": "en", "csrf_token": token.group(1) if token else ""})
        try:
            yield app, client
        finally:
            of_app(app).engine.dispose()


def timings(client, paths: dict[str, str], *, runs: int, warmup: int = 2,
            check: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """p50/p95/max (wall clock and CPU, ms) of ``runs`` GETs of each path; ``check`` sees each page's HTML."""
    results = {}
    for label, path in paths.items():
        for _ in range(warmup):
            client.get(path)
        samples, cpu = [], []
        for _ in range(runs):
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            samples.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            if check:
                check(response.get_data(as_text=True))
        results[label] = percentiles(samples)
        results[f"{label} (cpu)"] = percentiles(cpu)
    return results


def report(title: str, results: dict[str, dict[str, float]], budget_ms: float, budgeted: list[str]) -> bool:
    """Print the table; whether every budgeted row's wall-clock p95 is within ``budget_ms``."""
    print(f"{title} ({platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")
    for label, figures in results.items():
        print(f"  {label:<34} p50 {figures['p50']:7.1f} ms   p95 {figures['p95']:7.1f} ms   max {figures['max']:7.1f} ms")
    met = all(results[label]["p95"] <= budget_ms for label in budgeted)
    print(f"  budget: p95 <= {budget_ms:.0f} ms -> {'met' if met else 'MISSED'}")
    return met


def _late_patient(app) -> tuple[int, str]:
    """Today's first visit whose patient has not arrived, and half an hour from now (HH:MM) when they come."""
    factory = make_session_factory(of_app(app).engine)
    now = dt.datetime.now(of_app(app).unit.zone)
    with factory() as session:
        for visit in session.exec(select(Visit).where(Visit.date == now.date()).order_by(Visit.id)):
            if visit.steps and all(s.status == StepStatus.PLANNED for s in visit.steps):
                return visit.id, (now + dt.timedelta(minutes=30)).strftime("%H:%M")
    raise SystemExit("the demo has no expected patient left today")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.visits.bench_replan", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a p95 > {BUDGET_MS:.0f} ms")
    args = parser.parse_args(argv)
    with demo_client(username="desk") as (app, client):
        visit_id, expected = _late_patient(app)
        paths = {"/board/replan": "/board/replan",
                 "/board/replan (one patient late)": f"/board/replan?visit={visit_id}&expected={expected}"}

        def moves_shown(html: str) -> None:
            if "replan" not in html:
                raise SystemExit("the re-plan page did not render")

        results = timings(client, paths, runs=args.runs, check=moves_shown)
    met = report(f"re-plan preview on the demo clinic, {args.runs} runs each", results, BUDGET_MS, list(paths))
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
