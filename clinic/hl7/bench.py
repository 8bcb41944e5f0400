"""``python -m clinic.hl7.bench``: the ADT listener's throughput, every message acknowledged.

Starts the listener as its own process (``python -m clinic.hl7.listener``) on a free loopback port, on a
fresh SQLite file (or ``--database-url`` / ``DATABASE_URL``, migrated first), and sends ``--messages``
distinct ADT messages (half A04 registering new patients, half A08 updating them) built with hl7apy,
over one connection and then over ``--connections`` at once, waiting for every ACK. Prints messages per
second, the ACK latency (median, p95) and the listener's CPU time per message per round, and fails when
a message is not answered AA or the throughput is below the target.
"""

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from clinic.db import upgrade
from clinic.hl7.client import MllpClient, Person, adt_message, read_ack

TARGET_PER_SECOND = 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_listener(database_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": os.environ.get("SECRET_KEY")
           or secrets.token_hex(16), "ONEVISIT_HL7_ASSIGNING_AUTHORITY": "UMCU", "ONEVISIT_LOG_FORMAT": "text"}
    process = subprocess.Popen(
        [sys.executable, "-m", "clinic.hl7.listener", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the listener stopped at start-up (exit {process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the listener did not start within 60 s")


def messages(run: str, count: int) -> list[str]:
    """``count`` distinct messages: A04 for new patients, then A08 for the same patients."""
    half = count // 2
    built = []
    for n in range(count):
        patient = n if n < half else n - half
        trigger = "A04" if n < half else "A08"
        person = Person(mrn=f"B{run}{patient:05d}", family_name=f"Bench{patient}",
                        given_name="Mila" if trigger == "A04" else "Mia")
        built.append(adt_message(trigger, person, control_id=f"{run}-{n:06d}"))
    return built


def send_all(port: int, batch: list[str], latencies: list[float], answers: list[str]) -> None:
    with MllpClient("127.0.0.1", port, timeout=60) as client:
        for text in batch:
            start = time.perf_counter()
            answers.append(client.send(text))
            latencies.append(time.perf_counter() - start)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trip(port: int, texts: list[str], connections: int, listener_pid: int) -> dict[str, float]:
    cpu_before = cpu_seconds(listener_pid)
    latencies: list[float] = []
    answers: list[str] = []
    batches = [texts[i::connections] for i in range(connections)]
    threads = [threading.Thread(target=send_all, args=(port, batch, latencies, answers)) for batch in batches]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu_after = cpu_seconds(listener_pid)
    acks = [read_ack(answer) for answer in answers]  # after the clock: the client's parsing is not timed
    codes = [ack.code for ack in acks]
    for ack in [ack for ack in acks if ack.code != "AA"][:3]:
        print(f"not applied: {ack.control_id} {ack.code} {ack.error_text or ack.text}", file=sys.stderr)
    quantiles = statistics.quantiles(latencies, n=20)
    return {
        "sent": len(texts),
        "acked": len(codes),
        "aa": codes.count("AA"),
        "seconds": elapsed,
        "per_second": len(codes) / elapsed,
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": quantiles[18] * 1000,
        "cpu_ms": (cpu_after - cpu_before) / len(texts) * 1000 if cpu_before is not None else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic.hl7.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4, help="connections of the second round")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench-hl7.db'}"
        upgrade(url)
        port = free_port()
        listener = start_listener(url, port)
        try:
            run = secrets.token_hex(3).upper()
            rows = []
            for connections in (1, args.connections):
                texts = messages(f"{run}{connections}", args.messages)
                rows.append((connections, round_trip(port, texts, connections, listener.pid)))
        finally:
            listener.terminate()
            listener.wait(timeout=30)
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"HL7 ADT listener, {args.messages} distinct messages per round (A04 then A08), {database}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'connections':>11} {'acked':>7} {'AA':>7} {'seconds':>8} {'msg/s':>7} {'median ms':>10} {'p95 ms':>7} "
          f"{'CPU ms/msg':>10}")
    failed = False
    for connections, row in rows:
        print(f"{connections:>11} {row['acked']:>7} {row['aa']:>7} {row['seconds']:>8.2f} {row['per_second']:>7.1f} "
              f"{row['median_ms']:>10.1f} {row['p95_ms']:>7.1f} {row['cpu_ms']:>10.1f}")
        failed |= row["aa"] != row["sent"] or row["per_second"] < TARGET_PER_SECOND
    print(f"target: >= {TARGET_PER_SECOND} msg/s with every message acknowledged AA: "
          f"{'missed' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
