"""The peers every test may use: the fake Twilio server, a real OpenID Connect provider (``oidc_provider``), a tiny SMTP server, an HL7 MLLP receiver and Twilio-configured apps."""

import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.peers.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.peers.mllp_peer import MllpPeer
from tests.peers.oidc_provider import oidc_provider  # noqa: F401  (a real OpenID Connect provider)

FROM_NUMBER = "+3197010000001"


@pytest.fixture(scope="session")
def _fake_twilio_server() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_twilio(_fake_twilio_server: FakeTwilio) -> Iterator[FakeTwilio]:
    """The fake Twilio REST API, emptied of requests, failures and delays for each test."""
    _fake_twilio_server.reset()
    yield _fake_twilio_server
    _fake_twilio_server.reset()


@pytest.fixture
def twilio_config(fake_twilio: FakeTwilio) -> dict:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": fake_twilio.base_url,
        "TWILIO_TIMEOUT_SECONDS": 1,
    }


# --- a tiny SMTP server -------------------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list[dict] = field(default_factory=list)
    reject_rcpt: str | None = None  # e.g. "550 no such user" or "451 try later"


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        box: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        self._say("220 fake-smtp ready")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 fake-smtp")
            elif verb == "MAIL":
                sender, recipients = line[10:].strip(), []
                self._say("250 ok")
            elif verb == "RCPT":
                if box.reject_rcpt:
                    self._say(box.reject_rcpt)
                else:
                    recipients.append(line[8:].strip())
                    self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    data = self.rfile.readline().decode(errors="replace")
                    if data in (".\r\n", ".\n", ""):
                        break
                    lines.append(data[1:] if data.startswith("..") else data)
                box.messages.append({"from": sender, "to": recipients, "data": "".join(lines)})
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:  # RSET, NOOP, ...
                self._say("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, Mailbox]]:
    """``(host, port, mailbox)`` of an SMTP server that keeps what it receives."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.mailbox = Mailbox()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield host, port, server.mailbox  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def mllp_peer() -> Iterator[MllpPeer]:
    """An HL7 receiver over MLLP on 127.0.0.1 (``tests.peers.mllp_peer``), not listening yet: ``start()`` it."""
    peer = MllpPeer()
    yield peer
    peer.stop()
