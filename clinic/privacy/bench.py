"""Benchmark: exporting and erasing a patient on the demo clinic with its weeks of history.

``python -m clinic.privacy.bench [--weeks 12] [--patients 5]`` loads the demo clinic (``seed_data/``, as
``flask seed`` does, with ``--weeks`` of history) into a scratch SQLite database migrated like production,
then exports and erases the ``--patients`` patients with the most visits and no visit still to come, one
after the other, printing for each the rows exported, the milliseconds of the export and of the erasure
(wall-clock), and the rows deleted and scrubbed.
"""

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, func, select

from clinic.bootstrap import unit_from
from clinic.db import make_engine, upgrade
from clinic.demo.seed import load_demo
from clinic.patients.models import Patient
from clinic.privacy.erasure import erase_patient, upcoming_visit
from clinic.privacy.export import export_patient
from clinic.settings import load_settings
from clinic.users.models import Role
from clinic.users.services import create_user
from clinic.visits.models import Visit

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--patients", type=int, default=5)
    args = parser.parse_args(argv)
    url = f"sqlite:///{tempfile.mkdtemp()}/privacy-bench.db"
    upgrade(url)
    engine = make_engine(url)
    unit = unit_from(load_settings({"TESTING": True}))
    with Session(engine) as session:
        now = dt.datetime.now(dt.UTC)
        load_demo(session=session, directory=SEED_DIR, unit=unit, now=now, history_weeks=args.weeks)
        actor = create_user(session=session, username="bench-coordinator", password="bench-password",
                            role=Role.COORDINATOR, display_name="Bench")  # fmt: skip
        today = now.date()
        visits = func.count(Visit.id)
        ranked = session.exec(
            select(Patient.id, visits).join(Visit, Visit.patient_id == Patient.id).group_by(Patient.id)
            .order_by(visits.desc())
        ).all()  # fmt: skip
        chosen = [pid for pid, _n in ranked if upcoming_visit(session=session, patient_id=pid, today=today) is None]
        for patient_id in chosen[: args.patients]:
            started = time.perf_counter()
            data = export_patient(session=session, unit=unit, patient_id=patient_id, actor_id=actor.id)
            exported = time.perf_counter() - started
            mrn = session.get(Patient, patient_id).mrn
            started = time.perf_counter()
            result = erase_patient(session=session, unit=unit, patient_id=patient_id, actor_id=actor.id,
                                   confirm_mrn=mrn, today=today)  # fmt: skip
            erased = time.perf_counter() - started
            rows = sum(len(v) for v in data["tables"].values())
            print(f"patient {patient_id}: export {rows} rows in {exported * 1000:.0f} ms; erasure in "
                  f"{erased * 1000:.0f} ms ({sum(result.deleted.values())} rows deleted, {result.scrubbed} scrubbed)")  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main()
