"""What the front-desk and API benchmarks share: the busy demo clinic they measure on (a scratch SQLite
database migrated like production, the demo seed with its visits stretched over the next ``WEEKS`` weeks and
``per_day`` asked for on every weekday) and the percentiles they print."""

import datetime as dt
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from clinic.bootstrap import make_session_factory, unit_from
from clinic.db import make_engine, upgrade
from clinic.demo import seed
from clinic.settings import SEED_DIR, load_settings
from clinic.unit.context import Unit

WEEKS = 4


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def seed_dir(folder: Path, per_day: int) -> Path:
    """The demo seed with its visits spread over the next ``WEEKS`` weeks, ``per_day`` asked for a day."""
    target = folder / "seed"
    shutil.copytree(SEED_DIR, target)
    plan_file = target / "visits.yaml"
    plan = yaml.safe_load(plan_file.read_text())
    plan["days_back"] = 1
    plan["days_ahead"] = WEEKS * 7 + 1
    plan["visits_per_day"] = {"min": per_day, "max": per_day}
    plan_file.write_text(yaml.safe_dump(plan))
    return target


@dataclass(frozen=True)
class BenchClinic:
    url: str
    unit: Unit
    now: dt.datetime
    today: dt.date
    engine: Engine
    factory: sessionmaker
    loaded: Any
    seeding_seconds: float


@contextmanager
def busy_demo(*, per_day: int, prefix: str) -> Iterator[BenchClinic]:
    """The busy demo clinic in a scratch database, removed afterwards."""
    unit = unit_from(load_settings({"SECRET_KEY": "bench"}))
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        folder = Path(name)
        url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        began = time.perf_counter()
        with factory(expire_on_commit=True) as session:
            loaded = seed.load_demo(session=session, directory=seed_dir(folder, per_day), unit=unit, now=now)
        try:
            yield BenchClinic(url=url, unit=unit, now=now, today=now.astimezone(unit.zone).date(), engine=engine,
                              factory=factory, loaded=loaded, seeding_seconds=time.perf_counter() - began)
        finally:
            engine.dispose()
