"""Benchmark: optimising a booked 150-visit day through the service (preview, then apply).

``python -m clinic.visits.bench_optimise [--visits 150] [--seconds 20] [--booking-seconds 0.3] [--seed 1]``
builds a scratch SQLite database (migrated like production) with an oncology day unit (3 registration
desks, 4 lab places, 6 consult rooms, 24 chairs, 3 checkout desks, open 07:30-19:00) and three pathways
(registration, lab, consult at least 30 minutes after the lab, a 60/90/120-minute treatment, checkout).
Patients (some long-distance, some 70 and over; seeded) ask for the day with an arrival window each and
are booked ONE AT A TIME in that order, the way the front desk books them (``scheduling.replay``: each
booking may re-arrange earlier not-started ones within their announced arrival + 15 minutes), until
``--visits`` are booked (requests that find no place are turned away, as at the desk). The booked day is stored as visits with their announced arrival, then
``preview_optimisation`` re-arranges every visit within its announced arrival + tolerance (``--seconds``
solver budget) and ``apply_optimisation`` stores it. Printed: wall time of the preview and the apply,
total / mean / worst waiting before and after, idle chair-minutes, visits and steps moved, the machine.
"""

import argparse
import dataclasses
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from clinic import planning
from clinic.bootstrap import make_session_factory, unit_from
from clinic.db import make_engine, upgrade
from clinic.patients.models import Patient
from clinic.settings import load_settings
from clinic.unit.models import (
    Pathway,
    PathwayStep,
    PathwayStepDependency,
    Resource,
    ResourceHours,
    ResourceKind,
    StepType,
)
from clinic.visits import optimise
from clinic.visits.models import Visit
from scheduling.replay import replay

POOLS = [
    ("reg", ResourceKind.REGISTRATION, 4),
    ("lab", ResourceKind.LAB, 6),
    ("cons", ResourceKind.CONSULT, 8),
    ("treat", ResourceKind.CHAIR, 30),
    ("out", ResourceKind.CHECKOUT, 4),
]
TREATMENTS = (60, 90, 120)


def _unit_rows(session) -> list[Pathway]:
    for code, kind, count in POOLS:
        for i in range(count):
            resource = Resource(code=f"{code}-{i + 1}", name=f"{code.title()} {i + 1}", kind=kind)
            resource.hours = [ResourceHours(weekday=wd, opens=dt.time(7, 30), closes=dt.time(19)) for wd in range(7)]
            session.add(resource)
    pathways = []
    for treat in TREATMENTS:
        spec = [("reg", ResourceKind.REGISTRATION, 10), ("lab", ResourceKind.LAB, 15), ("cons", ResourceKind.CONSULT, 20),
                ("treat", ResourceKind.CHAIR, treat), ("out", ResourceKind.CHECKOUT, 10)]
        steps = [
            PathwayStep(code=code, sequence=n, step_type=StepType(
                code=f"bench-{code}-{treat}", name=code.title(), resource_kind=kind, default_minutes=minutes))
            for n, (code, kind, minutes) in enumerate(spec, start=1)
        ]
        pathway = Pathway(code=f"onco-{treat}", name=f"Oncology {treat} min", steps=steps)
        session.add(pathway)
        session.flush()
        steps[1].dependencies = [PathwayStepDependency(depends_on=steps[0], min_gap=0, max_gap=60)]
        steps[2].dependencies = [PathwayStepDependency(depends_on=steps[1], min_gap=30)]
        steps[3].dependencies = [PathwayStepDependency(depends_on=steps[2], min_gap=0, max_gap=90)]
        steps[4].dependencies = [PathwayStepDependency(depends_on=steps[3], min_gap=0)]
        pathways.append(pathway)
    session.commit()
    return [planning.load_pathway(session=session, pathway_id=p.id) for p in pathways]


def _wishes(session, pathways: list[Pathway], visits: int, rng: random.Random) -> list[planning.VisitWish]:
    wishes = []
    for n in range(visits):
        patient = Patient(
            mrn=f"O{n:06d}", given_name=f"Patient{n}", family_name="Bench",
            birth_date=dt.date(1940 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28)),
            phone=f"+3162{n:07d}", language="nl", channel="sms", address_line=f"Benchstraat {n}",
            postcode="1234 AB", city="Utrecht", distance_km=float(rng.choice((5, 12, 20, 30, 45, 70))),
            needs_wheelchair=False,
        )
        session.add(patient)
        session.flush()
        earliest = 450 + 15 * rng.randrange(22)  # 07:30 .. 12:45
        wishes.append(planning.VisitWish(
            key=f"b-{n}", patient=patient, pathway=pathways[rng.randrange(len(pathways))],
            arrival=(earliest, earliest + 60 * rng.choice((3, 4, 6))),
        ))
    session.commit()
    return wishes


def run(*, visits: int = 150, seconds: float = 20.0, booking_seconds: float = 0.3, seed: int = 1) -> dict:
    settings = load_settings({"SECRET_KEY": "bench"})
    unit = unit_from(settings)
    now = dt.datetime.now(dt.UTC)
    day = now.astimezone(unit.zone).date() + dt.timedelta(days=7)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="onevisit-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        with make_session_factory(engine)(expire_on_commit=False) as session:
            pathways = _unit_rows(session)
            wishes = _wishes(session, pathways, visits + visits // 5, rng)
            instance = planning.build_instance(session=session, day=day, unit=unit, wishes=wishes)
            began = time.perf_counter()
            booked = replay(instance, tolerance=unit.arrival_tolerance_minutes, booking_seconds=booking_seconds)
            placed = {v.request for v in booked.visits}
            count, asked = 0, len(wishes)
            for k, wish in enumerate(wishes, start=1):
                count += wish.key in placed
                if count == visits:
                    asked = k
                    break
            if asked < len(wishes):  # the day as it stood after the booking that made it ``visits``
                instance = dataclasses.replace(instance, requests=instance.requests[:asked])
                booked = replay(instance, tolerance=unit.arrival_tolerance_minutes, booking_seconds=booking_seconds)
            replay_seconds = time.perf_counter() - began
            by_key = {w.key: w for w in wishes}
            for placed in booked.visits:
                visit: Visit = planning.store_visit(
                    session=session, wish=by_key[placed.request], placed=placed, day=day, tz=unit.tz
                )
                visit.announced_at = planning.instant_at(day, placed.announced, unit.tz)
                session.add(visit)
            session.commit()

            began = time.perf_counter()
            preview = optimise.preview_optimisation(session=session, day=day, unit=unit, now=now, time_limit=seconds)
            preview_seconds = time.perf_counter() - began
            session.rollback()
            began = time.perf_counter()
            applied = 0
            if preview.moves:
                applied = optimise.apply_optimisation(
                    session=session, day=day, unit=unit, moves=optimise.decode_moves(preview.encoded_moves()),
                    version=preview.version, actor_id=None, now=now,
                )
            apply_seconds = time.perf_counter() - began
            problems = planning.check_day(session=session, day=day, unit=unit)
        engine.dispose()
    waits_before = [v.wait_before for v in preview.visits]
    waits_after = [v.wait_after for v in preview.visits]
    return {
        "asked": asked, "booked": len(booked.visits), "replay_seconds": replay_seconds,
        "preview_seconds": preview_seconds, "apply_seconds": apply_seconds, "status": preview.status,
        "solve_seconds": preview.solve_seconds, "wait_before": preview.wait_before, "wait_after": preview.wait_after,
        "mean_before": sum(waits_before) / max(1, len(waits_before)),
        "mean_after": sum(waits_after) / max(1, len(waits_after)),
        "max_before": max(waits_before, default=0), "max_after": max(waits_after, default=0),
        "idle_before": preview.idle_chair_before, "idle_after": preview.idle_chair_after,
        "visits_moved": len(preview.moved_visits), "steps_moved": applied, "problems_after": len(problems),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.visits.bench_optimise", description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=20.0, help="solver budget of the preview")
    parser.add_argument("--booking-seconds", type=float, default=0.3, help="budget of each booking while filling the day")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    r = run(visits=args.visits, seconds=args.seconds, booking_seconds=args.booking_seconds, seed=args.seed)
    print(
        f"optimise a booked day: {r['booked']} of {r['asked']} visits booked one at a time in {r['replay_seconds']:.1f} s "
        f"(seed {args.seed}; {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)"
    )
    print(f"  preview {r['preview_seconds']:.1f} s (solver {r['solve_seconds']:.1f} s, {r['status']}), "
          f"apply {r['apply_seconds']:.2f} s")
    print(f"  waiting total {r['wait_before']} -> {r['wait_after']} min, mean {r['mean_before']:.1f} -> "
          f"{r['mean_after']:.1f} min, worst {r['max_before']} -> {r['max_after']} min")
    print(f"  idle chair-minutes {r['idle_before']} -> {r['idle_after']}; {r['visits_moved']} visits, "
          f"{r['steps_moved']} steps re-arranged; check after apply: {r['problems_after']} problems")
    return 1 if r["problems_after"] else 0


if __name__ == "__main__":
    sys.exit(main())
