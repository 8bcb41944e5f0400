"""``flask --app clinic hl7 listen``: its own process, on the configured port, answering until SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from clinic.hl7.client import MllpClient, Person, adt_message, read_ack
from clinic.patients.services import patient_by_mrn

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_listen_command_serves_the_feed_and_stops_on_sigterm(database_url, session, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEVISIT_", "FLASK_"))}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "ONEVISIT_INSTANCE_PATH": str(tmp_path / "instance"),
        "ONEVISIT_HL7_LISTEN_PORT": str(port),
        "ONEVISIT_HL7_ASSIGNING_AUTHORITY": "UMCU",
    })
    process = subprocess.Popen(
        ["flask", "--app", "clinic", "hl7", "listen"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                client = MllpClient("127.0.0.1", port, timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "the listener did not start"
                time.sleep(0.2)
        with client:
            ack = read_ack(client.send(adt_message("A04", Person(mrn="CLI1"), control_id="CLI-1")))
        assert ack.code == "AA", ack.raw
        session.expire_all()
        assert patient_by_mrn(session=session, mrn="CLI1") is not None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert f"HL7 listener on 127.0.0.1:{port}" in out and "PID-3 of UMCU" in out, out + err
    assert "stopping" in out and process.returncode == 0, out + err
