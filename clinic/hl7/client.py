"""Sending ADT messages over MLLP, as a hospital's interface engine does: the tests, the benchmark and a
smoke test of a deployed listener (``python -m clinic.hl7.client --port 2575 message.hl7``).

Messages are built with hl7apy (``adt_message``); ``MllpClient`` frames them, keeps its connection open
and reads one framed ACK per message.
"""

import argparse
import datetime as dt
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from clinic.hl7.adt import DEFAULT_ENCODING, Encoding, decode

_TEXT = Encoding("|", DEFAULT_ENCODING)
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"

STRUCTURES = {"A04": "ADT_A01", "A08": "ADT_A01", "A28": "ADT_A05", "A31": "ADT_A05", "A40": "ADT_A39"}


@dataclass
class Person:
    """PID's content, as ER7 field values (components with ``^``)."""

    mrn: str
    family_name: str = "de Vries"
    given_name: str = "Mila"
    birth_date: str = "19580430"
    address: str = "Kerkstraat 1^^Utrecht^^3511 AB^NL^H"
    phones: list[str] = field(default_factory=lambda: ["^PRN^CP^^31^6^12345678"])
    emails: list[str] = field(default_factory=lambda: ["^NET^Internet^mila@example.org"])
    language: str = "nl"
    authority: str = "UMCU"
    identifier: str | None = None
    """PID-3 as given (overrides ``mrn`` and ``authority``; "" for none)."""


def adt_message(
    trigger: str,
    person: Person,
    *,
    control_id: str,
    merged_mrn: str | None = None,
    sending_application: str = "HIS",
    sending_facility: str = "UMC",
    version: str = "2.5",
    now: dt.datetime | None = None,
) -> str:
    """An ADT^``trigger`` message (ER7, segments separated by CR) about ``person``; A40 with MRG-1
    ``merged_mrn``."""
    structure = STRUCTURES.get(trigger, "ADT_A01")
    message = Message(structure, version=version)
    message.msh.msh_3 = sending_application
    message.msh.msh_4 = sending_facility
    message.msh.msh_5 = "ONEVISIT"
    message.msh.msh_6 = "DAYCARE"
    message.msh.msh_7 = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    message.msh.msh_9 = f"ADT^{trigger}^{structure}"
    message.msh.msh_10 = control_id
    message.msh.msh_11 = "P"
    if structure == "ADT_A39":
        patient = message.adt_a39_patient
        pid = patient.pid
        patient.mrg.mrg_1 = f"{merged_mrn}^^^{person.authority}^MR"
    else:
        message.evn.evn_2 = message.msh.msh_7.value
        pid = message.pid
    pid.pid_3 = person.identifier if person.identifier is not None else f"{person.mrn}^^^{person.authority}^MR"
    pid.pid_5 = f"{person.family_name}^{person.given_name}"
    pid.pid_7 = person.birth_date
    pid.pid_11 = person.address
    contacts = person.phones + person.emails
    if contacts:
        pid.pid_13 = contacts[0]
        for contact in contacts[1:]:
            pid.add_field("pid_13").value = contact
    if person.language:
        pid.pid_15 = person.language
    if structure != "ADT_A39":
        message.pv1.pv1_2 = "O"
    return message.to_er7()


@dataclass(frozen=True)
class Ack:
    code: str
    control_id: str
    text: str
    error_location: str
    error_text: str
    raw: str


def read_ack(raw: str) -> Ack:
    """An ACK parsed with hl7apy (strictly: it must be a well-formed ACK)."""
    message = parse_message(raw, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    names = [segment.name for segment in message.children]
    error_location = error_text = ""
    if "ERR" in names:
        err = message.err
        error_location = err.err_2.to_er7() if message.version >= "2.5" else err.err_1.to_er7()
        error_text = _TEXT.unescape(err.err_8.to_er7()) if message.version >= "2.5" else ""
    return Ack(
        code=message.msa.msa_1.to_er7(),
        control_id=message.msa.msa_2.to_er7(),
        text=_TEXT.unescape(message.msa.msa_3.to_er7()) if len(message.msa.children) >= 3 else "",
        error_location=error_location,
        error_text=error_text,
        raw=raw,
    )


class MllpClient:
    """One connection to an MLLP listener; ``send`` frames a message and returns the framed answer."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0):
        self.socket = socket.create_connection((host, port), timeout=timeout)
        self._pending = b""

    def send_bytes(self, payload: bytes) -> str:
        """Send ``payload`` as it is (already framed, or not) and read one framed answer."""
        self.socket.sendall(payload)
        return self.receive()

    def send(self, message: str) -> str:
        return self.send_bytes(START_BLOCK + message.encode("utf-8") + END_BLOCK)

    def receive(self) -> str:
        while END_BLOCK not in self._pending:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection without an answer")
            self._pending += chunk
        frame, _, self._pending = self._pending.partition(END_BLOCK)
        return decode(frame[frame.find(START_BLOCK) + 1 :])

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "MllpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def message_file(path: Path) -> str:
    """One ER7 message from a file, segments joined by CR whatever the file's line ends; UTF-8, else ISO 8859-1
    as the listener reads it."""
    text = decode(path.read_bytes())
    return "\r".join(line.rstrip("\r") for line in text.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> None:
    """Send each file (one ER7 message, LF or CR between segments) and print the ACK's MSA."""
    parser = argparse.ArgumentParser(prog="python -m clinic.hl7.client", description=main.__doc__)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2575)
    args = parser.parse_args(argv)
    refused = 0
    try:
        client = MllpClient(args.host, args.port)
    except OSError as exc:
        sys.exit(f"cannot reach an MLLP listener at {args.host}:{args.port} ({exc.strerror or exc})")
    with client:
        for name in args.files:
            try:
                text = message_file(Path(name))
            except OSError as exc:
                print(f"{name}: cannot be read ({exc.strerror or exc})", file=sys.stderr)
                refused += 1
                continue
            ack = read_ack(client.send(text))
            print(f"{name}: {ack.code} {ack.control_id} {ack.error_text or ack.text}".rstrip())
            refused += ack.code != "AA"
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
