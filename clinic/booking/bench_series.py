"""Benchmark: how long the Book screen waits for a whole treatment series on the demo clinic.

``python -m clinic.booking.bench_series [--runs 40] [--cycles 6] [--interval 21] [--tolerance 2]`` loads the
demo clinic (``seed_data/``, as ``flask seed`` does, without the weeks of history) into a scratch SQLite
database migrated like production, then asks ``propose_series`` for ``--runs`` series of the oncology
infusion pathway (one patient after another, weekdays, any time of day, from tomorrow), printing p50/p95/max
in seconds, wall-clock and the process's CPU time, and how many series fitted. The target is a wall-clock
p95 of at most 3 s for 6 cycles; ``--check`` exits 1 when it is missed.
"""

import argparse
import datetime as dt
import platform
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from clinic.booking.series import propose_series
from clinic.booking.services import Availability
from clinic.bootstrap import make_session_factory, unit_from
from clinic.db import make_engine, upgrade
from clinic.demo.bench_clinic import percentiles
from clinic.demo.seed import load_demo
from clinic.patients.models import Patient
from clinic.settings import load_settings
from clinic.unit.models import Pathway

BUDGET_S = 3.0
PATHWAY = "onco-infusion"


def run(runs: int = 40, cycles: int = 6, interval: int = 21, tolerance: int = 2) -> dict:
    settings = load_settings({"SECRET_KEY": "bench"})
    unit = unit_from(settings)
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    with tempfile.TemporaryDirectory(prefix="onevisit-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory(expire_on_commit=True) as session:
            summary = load_demo(session=session, directory=Path(settings.seed_dir), unit=unit, now=now)
        with factory() as session:
            pathway = session.exec(select(Pathway).where(Pathway.code == PATHWAY)).one()
            patients = list(session.exec(select(Patient.id).order_by(col(Patient.id))))
            availability = Availability(earliest=today + dt.timedelta(days=1), weekdays=frozenset(range(5)))
            wall, cpu, fitted = [], [], 0
            for n in range(runs + 2):
                began, began_cpu = time.perf_counter(), time.process_time()
                plan = propose_series(
                    session=session, patient_id=patients[n % len(patients)], pathway_id=pathway.id, unit=unit,
                    availability=availability, today=today, cycles=cycles, interval_days=interval,
                    tolerance_days=tolerance,
                )
                session.rollback()
                if n < 2:  # warm-up: imports, OR-Tools start-up
                    continue
                wall.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
                fitted += plan.ok
        engine.dispose()
    return {"wall": percentiles(wall), "cpu": percentiles(cpu), "fitted": fitted, "runs": runs, "loaded": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.booking.bench_series", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--interval", type=int, default=21)
    parser.add_argument("--tolerance", type=int, default=2)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when p95 > {BUDGET_S:.0f} s")
    args = parser.parse_args(argv)
    results = run(runs=args.runs, cycles=args.cycles, interval=args.interval, tolerance=args.tolerance)
    loaded = ", ".join(f"{v} {k}" for k, v in results["loaded"].items())
    print(
        f"series proposals, {args.cycles} cycles every {args.interval} days ±{args.tolerance}, {args.runs} runs "
        f"on the demo clinic ({loaded}) ({platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)"
    )
    for name in ("wall", "cpu"):
        f = results[name]
        print(f"  {name:<5} p50 {f['p50']:6.2f} s   p95 {f['p95']:6.2f} s   max {f['max']:6.2f} s")
    print(f"  series that fitted: {results['fitted']}/{results['runs']}")
    p95 = results["wall"]["p95"]
    print(f"  target: p95 <= {BUDGET_S:.0f} s -> {'met' if p95 <= BUDGET_S else 'MISSED'}")
    return 1 if args.check and p95 > BUDGET_S else 0


if __name__ == "__main__":
    sys.exit(main())
