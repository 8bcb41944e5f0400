"""Benchmark: the FHIR API's reads and searches over HTTP on a busy demo clinic.

``python -m clinic.fhir.bench_reads [--per-day 40] [--repeat 20]`` builds a scratch SQLite database (migrated
like production) with the demo clinic's visits spread over the next four weeks (``clinic.booking.bench_book``'s
setup), makes an API client with a bearer token for ``system/*.read``, and drives the app through its Flask test
client (routing, token check, mapping, JSON and the call log included). It prints p50/p95/max in milliseconds
per request: metadata, a Patient read and search, ITI-118 Appointment searches, Schedules, and Slot searches over
one, two and four weeks (one engine solve per pathway and open day).
"""

import argparse
import datetime as dt
import json
import platform
import time

from sqlmodel import select

from clinic.app import create_app
from clinic.bootstrap import of_app
from clinic.demo.bench_clinic import WEEKS, busy_demo, percentiles
from clinic.fhir import services
from clinic.patients.models import Patient
from clinic.unit.models import Pathway
from clinic.visits.models import Visit

FHIR_JSON = "application/fhir+json"


def run(per_day: int = 40, repeat: int = 20) -> dict:
    with busy_demo(per_day=per_day, prefix="onevisit-bench-fhir-reads-") as clinic:
        today, url = clinic.today, clinic.url
        with clinic.factory() as session:
            client_row = services.create_client(session=session, name="bench", actor_id=None, scopes="system/*.read")
            _row, token = services.issue_token(session=session, client_id=client_row.id, actor_id=None)
            patient = session.exec(select(Patient).join(Visit, Visit.patient_id == Patient.id)
                                   .where(Visit.date > today).order_by(Patient.id)).first()
            pathway_id = session.exec(select(Pathway.id).where(Pathway.active).order_by(Pathway.id)).first()
            pathways = len(session.exec(select(Pathway.id).where(Pathway.active)).all())
            visits = len(session.exec(select(Visit.id)).all())
        clinic.engine.dispose()
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": False, "ENV": "development"})
        http = app.test_client()
        mrn_system = of_app(app).settings.fhir_mrn_system
        headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
        week, two, four = (today + dt.timedelta(days=n) for n in (6, 13, WEEKS * 7 - 1))
        month = f"date=ge{today}&date=le{four}"
        requests = {
            "GET metadata": "/fhir/metadata",
            "GET Patient/<id>": f"/fhir/Patient/{patient.id}",
            "GET Patient?identifier": f"/fhir/Patient?identifier={mrn_system}|{patient.mrn}",
            "GET Appointment?patient&date (4 weeks)": f"/fhir/Appointment?patient=Patient/{patient.id}&{month}",
            "GET Appointment?date (one day, _count=100)": f"/fhir/Appointment?date={today + dt.timedelta(days=1)}"
                                                         "&_count=100",
            "GET Schedule": "/fhir/Schedule",
            "GET Slot?schedule (4 weeks)": f"/fhir/Slot?schedule=Schedule/{pathway_id}&start=ge{today}&start=le{four}",
            f"GET Slot (all {pathways} pathways, 1 week)": f"/fhir/Slot?start=ge{today}&start=le{week}&_count=100",
            f"GET Slot (all {pathways} pathways, 2 weeks)": f"/fhir/Slot?start=ge{today}&start=le{two}&_count=100",
            f"GET Slot (all {pathways} pathways, 4 weeks)": f"/fhir/Slot?start=ge{today}&start=le{four}&_count=100",
        }
        rows = {}
        for label, path in requests.items():
            samples, entries = [], None
            for _ in range(repeat):
                started = time.perf_counter()
                response = http.get(path, headers=headers)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{label}: {response.status_code} {response.get_data(as_text=True)[:300]}")
                body = response.get_json()
                entries = len(body.get("entry", [])) if body.get("resourceType") == "Bundle" else 1
            rows[label] = {**percentiles(samples), "entries": entries}
    return {"per_day": per_day, "repeat": repeat, "visits": visits, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=40, help="visits asked for each weekday (demo seed)")
    parser.add_argument("--repeat", type=int, default=20, help="requests of each kind")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(per_day=args.per_day, repeat=args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"FHIR reads on the demo clinic, {result['visits']} visits ({args.per_day} asked per weekday, "
          f"{WEEKS} weeks), {args.repeat} requests each; {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}")
    print(f"| {'request':<44} | entries | p50 ms | p95 ms | max ms |")
    print(f"|{'-' * 46}|---------|--------|--------|--------|")
    for label, row in result["rows"].items():
        print(f"| {label:<44} | {row['entries']:>7} | {row['p50']:>6.1f} | {row['p95']:>6.1f} | {row['max']:>6.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
