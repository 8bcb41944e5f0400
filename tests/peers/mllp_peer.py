"""A small HL7 receiver on 127.0.0.1 speaking MLLP: it keeps every message it gets and answers each with an
ACK (``AA`` unless told ``AE`` / ``AR`` with a reason), or stays silent; it can also be down (nobody listens
on its port) and come up later on the same port."""

import socket
import socketserver
import threading
from dataclasses import dataclass, field

START, END = b"\x0b", b"\x1c\x0d"


@dataclass
class PeerState:
    received: list[str] = field(default_factory=list)
    answer: str = "AA"
    reason: str = ""
    silent: bool = False


def ack_for(message: str, code: str, reason: str) -> str:
    msh = message.split("\r", 1)[0].split("|")
    control_id = msh[9] if len(msh) > 9 else ""
    segments = [f"MSH|^~\\&|RECEIVER|HOSPITAL|{msh[2] if len(msh) > 2 else ''}||20261207120000||ACK|A{control_id}|P|2.5",
                f"MSA|{code}|{control_id}|{reason}"]
    if code != "AA":
        segments.append(f"ERR||||E|||{reason}")
    return "\r".join(segments) + "\r"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        state: PeerState = self.server.state  # type: ignore[attr-defined]
        buffer = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while END in buffer:
                frame, buffer = buffer.split(END, 1)
                message = frame[frame.find(START) + 1 :].decode("utf-8")
                state.received.append(message)
                if state.silent:
                    continue
                self.request.sendall(START + ack_for(message, state.answer, state.reason).encode() + END)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class MllpPeer:
    """``start()`` listens on ``port`` (a free one chosen at creation), ``stop()`` closes it."""

    def __init__(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.state = PeerState()
        self._server: _Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def received(self) -> list[str]:
        return self.state.received

    def start(self) -> "MllpPeer":
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.state = self.state  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
