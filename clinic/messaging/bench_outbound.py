"""``python -m clinic.messaging.bench_outbound``: how long building a calendar file and an SIU message takes, and
an SIU message's MLLP round trip (send, ACK) to a receiver on 127.0.0.1; prints a table.

The visit is built in memory (a five-step pathway, no database), the receiver is a thread of this process
answering AA, so the figures are OneVisit's own cost, not a network's or a hospital system's.
"""

import argparse
import datetime as dt
import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Callable

from clinic.bootstrap import unit_from
from clinic.messaging.calendar import visit_calendar
from clinic.messaging.siu import SiuFeed, siu_message
from clinic.patients.models import Patient
from clinic.settings import load_settings
from clinic.unit.models import Pathway, PathwayStep, Resource, ResourceKind, StepType
from clinic.visits.models import Visit, VisitStatus, VisitStep
from outreach.channels.base import OutgoingMessage
from outreach.channels.mllp import END_BLOCK, START_BLOCK, MllpChannel

STEPS = (("reg", ResourceKind.REGISTRATION, 10), ("lab", ResourceKind.LAB, 15), ("cons", ResourceKind.CONSULT, 20),
         ("treat", ResourceKind.CHAIR, 90), ("out", ResourceKind.CHECKOUT, 10))


def sample_visit(tz: str) -> Visit:
    from zoneinfo import ZoneInfo

    patient = Patient(id=1, mrn="P000123", given_name="Anna", family_name="Jansen", birth_date=dt.date(1960, 5, 17),
                      phone="+31612345678", email="anna@example.org", language="nl", channel="email",
                      address_line="Teststraat 1", postcode="1234 AB", city="Utrecht", distance_km=10.0)
    pathway = Pathway(id=1, code="onco", name="Oncology infusion day")
    visit = Visit(id=1, patient_id=1, pathway_id=1, date=dt.date(2026, 12, 9), status=VisitStatus.BOOKED)
    visit.patient, visit.pathway = patient, pathway
    start = dt.datetime(2026, 12, 9, 9, 0, tzinfo=ZoneInfo(tz))
    for number, (code, kind, minutes) in enumerate(STEPS, start=1):
        step_type = StepType(id=number, code=code, name=code.title(), resource_kind=kind, default_minutes=minutes)
        end = start + dt.timedelta(minutes=minutes)
        visit.steps.append(VisitStep(
            id=number, visit_id=1, pathway_step_id=number, resource_id=number, planned_start=start, planned_end=end,
            pathway_step=PathwayStep(id=number, code=code, sequence=number, step_type=step_type),
            resource=Resource(id=number, code=f"{code}-1", name=f"{code.title()} 1", kind=kind),
        ))
        start = end
    visit.announced_at = visit.steps[0].planned_start
    return visit


class _Ack(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = b""
        while END_BLOCK not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        self.request.sendall(START_BLOCK + b"MSH|^~\\&|R||||||ACK|1|P|2.5\rMSA|AA|1\r" + END_BLOCK)


def timed(work: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args(argv)
    unit = unit_from(load_settings({"TESTING": True}))
    visit = sample_visit(unit.tz)
    feed = SiuFeed(address="127.0.0.1:0")
    body = siu_message(visit=visit, event="S12", control_id="OV1", now=dt.datetime.now(dt.UTC), unit=unit, feed=feed)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Ack)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    channel = MllpChannel(host="127.0.0.1", port=server.server_address[1], timeout=5)
    message = OutgoingMessage(key="k", channel="hl7", to=channel.address, body=body, language="nl")
    rows = [
        ("calendar file (.ics, REQUEST, with VTIMEZONE)", len(visit_calendar(visit, unit)),
         timed(lambda: visit_calendar(visit, unit), args.runs)),
        ("SIU S12 message (hl7apy, 5 AIS + 5 AIG)", len(body),
         timed(lambda: siu_message(visit=visit, event="S12", control_id="OV1", now=dt.datetime.now(dt.UTC),
                                   unit=unit, feed=feed), args.runs)),
        ("MLLP send + ACK, 127.0.0.1", len(body), timed(lambda: channel.send(message), args.runs)),
    ]
    server.shutdown()
    print(f"{'what':<48} {'bytes':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   ({args.runs} runs, {socket.gethostname()})")
    for name, size, times in rows:
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"{name:<48} {size:>6} {statistics.median(times):>8.2f} {p95:>8.2f} {times[-1]:>8.2f}")


if __name__ == "__main__":
    main()
