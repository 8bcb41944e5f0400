"""``python -m clinic.messaging.bench``: plan outreach for 10,000 visits, then dispatch the due messages through a
no-op channel, and print the figures.

Uses a fresh SQLite file in a temporary directory unless ``--database-url`` names another (empty,
migrated or not) database. Patients are spread over the segments of the default rules (local,
regional, long-distance; under and over 70).
"""

import argparse
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select

from clinic.bootstrap import make_session_factory, unit_from
from clinic.db import make_engine, upgrade
from clinic.messaging.outbox import outbox_counts
from clinic.messaging.outreach import plan_visits_outreach
from clinic.messaging.rules_file import rules_in_force
from clinic.messaging.sending import dispatch_due
from clinic.patients.models import Patient
from clinic.settings import load_settings
from clinic.unit.models import Pathway
from clinic.visits.models import Visit, VisitStatus
from outreach.channels.base import OutgoingMessage, SendResult, SentLookup


class NoopChannel:
    name = "noop"

    def __init__(self) -> None:
        self.count = 0
        self.sent: dict[str, str] = {}

    def send(self, message: OutgoingMessage) -> SendResult:
        self.count += 1
        self.sent[message.key] = f"noop-{uuid.uuid4().hex[:12]}"
        return SendResult(ok=True, provider_id=self.sent[message.key])

    def lookup(self, query: SentLookup) -> SendResult | None:
        provider_id = self.sent.get(query.key)
        return SendResult(ok=True, provider_id=provider_id) if provider_id else None


def _populate(engine: sa.Engine, visits: int, now: dt.datetime, zone: ZoneInfo) -> list[int]:

    today = now.astimezone(zone).date()
    with make_session_factory(engine)(expire_on_commit=True) as session:
        pathway = Pathway(code=f"bench-{uuid.uuid4().hex[:6]}", name="Bench infusion day")
        session.add(pathway)
        session.commit()
        patient_rows = []
        for n in range(visits):
            age = 45 if n % 2 else 78
            patient_rows.append(
                {
                    "mrn": f"B{uuid.uuid4().hex[:10]}",
                    "given_name": "Bench",
                    "family_name": f"Patient {n}",
                    "birth_date": dt.date(today.year - age, 6, 1),
                    "phone": f"+3161{n:07d}",
                    "email": None,
                    "language": ("nl", "fr", "en")[n % 3],
                    "channel": "sms",
                    "address_line": "Benchstraat 1",
                    "postcode": "1234 AB",
                    "city": "Utrecht",
                    "distance_km": (10.0, 30.0, 80.0)[n % 3],
                    "needs_wheelchair": False,
                    "needs_interpreter": False,
                    "needs_hearing": False,
                    "consent": True,
                    "opted_out": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session.execute(sa.insert(Patient), patient_rows)
        session.commit()
        patient_ids = list(session.exec(select(Patient.id).where(Patient.given_name == "Bench").order_by(col(Patient.id))))
        visit_rows = [
            {
                "patient_id": patient_id,
                "pathway_id": pathway.id,
                "date": today + dt.timedelta(days=3 + n % 20),
                "status": VisitStatus.BOOKED,
                "priority": 1,
                "booked_at": now,
                "notes": "",
                "created_at": now,
                "updated_at": now,
            }
            for n, patient_id in enumerate(patient_ids[-visits:])
        ]
        session.execute(sa.insert(Visit), visit_rows)
        session.commit()
        return list(
            session.exec(select(Visit.id).where(Visit.pathway_id == pathway.id).order_by(col(Visit.id)))
        )


def run(database_url: str | None, visits: int, chunk: int) -> dict[str, float]:

    workdir = None
    if database_url is None:
        workdir = tempfile.TemporaryDirectory(prefix="outreach-bench-")
        database_url = f"sqlite:///{Path(workdir.name) / 'bench.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    unit = unit_from(load_settings({"SECRET_KEY": "bench"}))
    zone = unit.zone
    now = dt.datetime.combine(dt.datetime.now(zone).date() + dt.timedelta(days=1), dt.time(11), zone).astimezone(dt.UTC)
    try:
        started = time.perf_counter()
        ids = _populate(engine, visits, now, zone)
        populate_s = time.perf_counter() - started

        with make_session_factory(engine)() as session:
            rules = rules_in_force(session=session).rules
            started = time.perf_counter()
            for index in range(0, len(ids), chunk):
                plan_visits_outreach(
                    session=session, visit_ids=ids[index : index + chunk], now=now, unit=unit, rules=rules
                )
                session.expunge_all()
            plan_s = time.perf_counter() - started
            counts = outbox_counts(session=session)

            channel = NoopChannel()
            channels = {"sms": channel, "voice": channel, "email": channel}
            started = time.perf_counter()
            while True:
                report = dispatch_due(
                    session=session, channels=channels, owner="bench", now=now, unit=unit, limit=1000
                )
                session.expunge_all()
                if not report.handled and not report.lost_claims:
                    break
            dispatch_s = time.perf_counter() - started
    finally:
        engine.dispose()
        if workdir is not None:
            workdir.cleanup()
    rows = sum(counts.values())
    return {
        "visits": visits,
        "outbox_rows": rows,
        "populate_s": round(populate_s, 2),
        "plan_s": round(plan_s, 2),
        "plan_visits_per_s": round(visits / plan_s, 1),
        "sent": channel.count,
        "dispatch_s": round(dispatch_s, 2),
        "dispatch_msgs_per_s": round(channel.count / dispatch_s, 1) if dispatch_s else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.messaging.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1000, help="visits planned per transaction")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    args = parser.parse_args(argv)
    figures = run(args.database_url, args.visits, args.chunk)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
