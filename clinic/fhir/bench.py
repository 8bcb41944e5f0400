"""Benchmark: the IHE Scheduling operations over HTTP on a busy demo clinic.

``python -m clinic.fhir.bench [--patients 20] [--per-day 40]`` builds a scratch SQLite database (migrated like
production) with the demo clinic's visits spread over the next four weeks (``clinic.booking.bench_book``'s
setup: ``--per-day`` visits asked for every weekday), makes an API client with a bearer token, and for
``--patients`` demo patients and pathways in turn drives the app through its Flask test client (routing,
token check, JSON, OperationOutcome handling and the call log included):

- **$find**: ``POST /fhir/Appointment/$find`` over the coming four weeks;
- **$hold**: ``POST /fhir/Appointment/$hold`` of the first proposal;
- **$book**: ``POST /fhir/Appointment/$book`` of that hold (``book_proposal`` under the day's lock).

It prints p50/p95/max in milliseconds and exits 1 with ``--check`` when a budget is missed:
``$find`` p95 <= 1500 ms, ``$book`` p95 <= 1000 ms.
"""

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time

from sqlmodel import select

from clinic.app import create_app
from clinic.bootstrap import of_app
from clinic.demo.bench_clinic import WEEKS, busy_demo, percentiles
from clinic.fhir import services
from clinic.patients.models import Patient
from clinic.unit.models import Pathway

FIND_BUDGET_MS = 1500.0
BOOK_BUDGET_MS = 1000.0
FHIR_JSON = "application/fhir+json"


def _find_body(patient_id: int, pathway_code: str, start: dt.date, end: dt.date) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "start", "valueDate": start.isoformat()},
        {"name": "end", "valueDate": end.isoformat()},
        {"name": "service-type", "valueCoding": {"system": "urn:onevisit:pathway", "code": pathway_code}},
        {"name": "patient", "valueReference": {"reference": f"Patient/{patient_id}"}},
    ]}


def run(patients: int = 20, per_day: int = 40, seed_value: int = 11) -> dict:
    with busy_demo(per_day=per_day, prefix="onevisit-bench-fhir-") as clinic:
        today, url, loaded = clinic.today, clinic.url, clinic.loaded
        with clinic.factory() as session:
            client_row = services.create_client(session=session, name="bench", actor_id=None,
                                                scopes="system/Appointment.read system/Appointment.write")
            _token_row, token = services.issue_token(session=session, client_id=client_row.id, actor_id=None)
            people = list(session.exec(select(Patient.id)))
            pathways = list(session.exec(select(Pathway.code).where(Pathway.active)))
        clinic.engine.dispose()
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": False, "ENV": "development"})
        http = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        rng = random.Random(seed_value)
        find_ms, hold_ms, book_ms = [], [], []
        booked = nothing = refused = 0
        start, end = today + dt.timedelta(days=1), today + dt.timedelta(days=WEEKS * 7)

        def post(path: str, body: dict) -> tuple[int, dict, float]:
            t0 = time.perf_counter()
            response = http.post(f"/fhir/Appointment/{path}", data=json.dumps(body), headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            return response.status_code, response.get_json(force=True), elapsed

        for patient_id in rng.sample(people, min(patients, len(people))):
            status, bundle, elapsed = post("$find", _find_body(patient_id, rng.choice(pathways), start, end))
            find_ms.append(elapsed)
            options = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
            if status != 200 or not options:
                nothing += 1
                continue
            picked = {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": options[0]}]}
            status, held, elapsed = post("$hold", picked)
            hold_ms.append(elapsed)
            if status != 200:
                refused += 1
                continue
            status, _visit, elapsed = post(
                "$book", {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": held}]})
            book_ms.append(elapsed)
            booked += status == 200
            refused += status != 200
        of_app(app).engine.dispose()
    return {
        "$find": percentiles(find_ms),
        "$hold": percentiles(hold_ms) if hold_ms else None,
        "$book": percentiles(book_ms) if book_ms else None,
        "_meta": {"patients": patients, "per_day": per_day, "visits": loaded.get("visits", 0), "booked": booked,
                  "nothing": nothing, "refused": refused},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.fhir.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    args = parser.parse_args(argv)
    results = run(patients=args.patients, per_day=args.per_day)
    meta = results.pop("_meta")
    print(
        f"FHIR scheduling operations on the demo clinic, {meta['per_day']} visits asked for per weekday over "
        f"{WEEKS} weeks ({meta['visits']} stored), {meta['patients']} patients, Flask test client with a token "
        f"({platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)"
    )
    for name, figures in results.items():
        if figures is None:
            print(f"  {name:<7} no sample")
            continue
        print(f"  {name:<7} p50 {figures['p50']:7.1f} ms   p95 {figures['p95']:7.1f} ms   max {figures['max']:7.1f} ms")
    print(f"  booked: {meta['booked']}; nothing proposed: {meta['nothing']}; refused: {meta['refused']}")
    book_p95 = results["$book"]["p95"] if results["$book"] else 0.0
    met = results["$find"]["p95"] <= FIND_BUDGET_MS and book_p95 <= BOOK_BUDGET_MS and not meta["refused"]
    print(f"  budgets: $find p95 <= {FIND_BUDGET_MS:.0f} ms, $book p95 <= {BOOK_BUDGET_MS:.0f} ms, nothing refused "
          f"-> {'met' if met else 'MISSED'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
