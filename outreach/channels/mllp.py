"""HL7 v2 messages over MLLP (a TCP connection, each message framed ``\\x0b ... \\x1c\\x0d``): one message per
connection, then the receiver's ACK is read and judged.

AA / CA (accepted) is sent; AE / AR / CE / CR (error, rejected) is a refusal with the receiver's reason, not
retried (the same message would be refused again); a refused connection, a time-out or a connection closed
before the ACK is retryable. A retry sends the same message with the same control id (MSH-10), so a
receiver that got it before can recognise it.
"""

import socket

from outreach.channels.base import OutgoingMessage, SendResult

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
ACCEPTED = frozenset({"AA", "CA"})
MAX_ACK_BYTES = 1_000_000


def frame(message: str) -> bytes:
    """``message`` (segments separated by carriage returns) framed for MLLP."""
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


def unframe(data: bytes) -> str:
    """The message inside one MLLP frame (``ValueError`` when ``data`` is not one)."""
    start, end = data.find(START_BLOCK), data.rfind(END_BLOCK)
    if start < 0 or end < start:
        raise ValueError("not an MLLP frame")
    return data[start + 1 : end].decode("utf-8", errors="replace")


def control_id(message: str) -> str:
    """MSH-10 of an ER7 message."""
    msh = message.split("\r", 1)[0]
    fields = msh.split(msh[3] if len(msh) > 3 else "|")
    return fields[9] if len(fields) > 9 else ""


def read_ack(ack: str) -> tuple[str, str]:
    """``(code, reason)`` of an ACK: MSA-1 and the text of MSA-3 or the ERR segments."""
    segments = [s for s in ack.replace("\n", "\r").split("\r") if s]
    separator = segments[0][3] if segments and segments[0].startswith("MSH") and len(segments[0]) > 3 else "|"
    code, texts = "", []
    for segment in segments:
        fields = segment.split(separator)
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            if len(fields) > 3 and fields[3]:
                texts.append(fields[3])
        elif fields[0] == "ERR":
            texts.extend(f.replace("^", " ").strip() for f in fields[1:] if f.strip("^ "))
    return code, "; ".join(texts)


class MllpChannel:
    """Sends each outbox row's HL7 message to one MLLP listener and waits for its ACK."""

    name = "hl7"

    def __init__(self, *, host: str, port: int, timeout: float = 10) -> None:
        self.host = host
        self.port = int(port)
        self.timeout = timeout

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, message: OutgoingMessage) -> SendResult:
        sent_id = control_id(message.body)
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as conn:
                conn.sendall(frame(message.body))
                received = b""
                while END_BLOCK not in received:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return SendResult(ok=False, retryable=True,
                                          error=f"MLLP {self.address}: connection closed before the ACK")
                    received += chunk
                    if len(received) > MAX_ACK_BYTES:
                        return SendResult(ok=False, retryable=True, error=f"MLLP {self.address}: ACK too long")
        except TimeoutError:
            return SendResult(ok=False, retryable=True, error=f"MLLP {self.address}: no ACK within {self.timeout:g} s")
        except OSError as exc:
            return SendResult(ok=False, retryable=True, error=f"MLLP {self.address}: {type(exc).__name__}: {exc}")
        try:
            code, reason = read_ack(unframe(received))
        except ValueError:
            return SendResult(ok=False, retryable=True, error=f"MLLP {self.address}: the answer is not an MLLP frame")
        if code in ACCEPTED:
            return SendResult(ok=True, provider_id=f"hl7-{sent_id}" if sent_id else None)
        if not code:
            return SendResult(ok=False, retryable=True, error=f"MLLP {self.address}: the answer has no MSA segment")
        return SendResult(ok=False, retryable=False, error=f"HL7 {code}: {reason or 'no reason given'}")
