"""The MLLP listener: the hospital's interface engine connects, sends framed ADT messages (``\\x0b`` message
``\\x1c\\x0d``) and reads one framed ACK per message, on the same connection, in order.

Built on hl7apy's ``MLLPServer`` (a threading ``socketserver``: one thread per connection) with a request
handler of its own: hl7apy's reads one message per connection byte by byte and closes without an answer
when the frame is not to its liking, while an interface engine keeps its connection open and must get an
ACK for every framed message, garbage included (AR). Bytes outside a frame are dropped; a frame longer
than ``MAX_MESSAGE_BYTES`` is answered AR and the connection closed.
"""

import argparse
import logging
import signal
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any

from hl7apy.mllp import MLLPServer
from sqlmodel import Session

from clinic.hl7 import feed
from clinic.hl7.adt import decode

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1_000_000
IDLE_SECONDS = 600.0
"""A connection silent this long is closed (engines reconnect); it also bounds a half-sent frame."""


def frame(text: str) -> bytes:
    return START_BLOCK + text.encode("utf-8") + END_BLOCK


class FeedRequestHandler(socketserver.BaseRequestHandler):
    """One connection: answers each framed message in turn until the peer closes or stays silent."""

    server: "FeedServer"

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(self.server.idle_seconds)
        pending = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except OSError:  # timeout or reset
                return
            if not chunk:
                return
            pending += chunk
            while True:
                start = pending.find(START_BLOCK)
                if start < 0:
                    pending = b""
                    break
                end = pending.find(END_BLOCK, start + 1)
                if end < 0:
                    pending = pending[start:]
                    if len(pending) > MAX_MESSAGE_BYTES:
                        self._send(connection, self.server.too_long())
                        return
                    break
                payload = pending[start + 1 : end]
                pending = pending[end + len(END_BLOCK) :]
                payload = payload[payload.rfind(START_BLOCK) + 1 :]  # a start block again: the frame restarts
                if not self._send(connection, self.server.answer(payload)):
                    return

    @staticmethod
    def _send(connection: socket.socket, ack: str) -> bool:
        try:
            connection.sendall(frame(ack))
        except OSError:
            return False
        return True


class FeedServer(MLLPServer):
    """The MLLP server applying each message with ``clinic.hl7.feed.receive`` on ``session_factory``."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        session_factory: Callable[[], Session],
        config: feed.FeedConfig,
        idle_seconds: float = IDLE_SECONDS,
    ):
        self.session_factory = session_factory
        self.config = config
        self.idle_seconds = idle_seconds
        super().__init__(host, port, handlers={}, timeout=idle_seconds, request_handler_class=FeedRequestHandler)

    @property
    def bound_port(self) -> int:
        """The port listened on (``port`` is the one asked for, 0 for any free one)."""
        return self.server_address[1]

    def answer(self, payload: bytes) -> str:
        text = decode(payload)
        try:
            code, ack = feed.receive(session_factory=self.session_factory, text=text, config=self.config)
        except Exception as exc:  # noqa: BLE001 - every framed message gets an ACK; the sender retries
            log.exception("HL7 message not applied")
            code, ack = feed.internal_error(exc, text, self.config)
        log.info("HL7 message answered %s (%d bytes)", code, len(payload))
        return ack

    def too_long(self) -> str:
        return feed.refusal_without_header(
            f"message longer than {MAX_MESSAGE_BYTES} bytes without an end block", self.config
        )


def start(
    host: str, port: int, *, session_factory: Callable[[], Session], config: feed.FeedConfig
) -> tuple[FeedServer, threading.Thread]:
    """A listener serving in a background thread (tests, the benchmark); stop it with ``stop``."""
    server = FeedServer(host, port, session_factory=session_factory, config=config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server, thread


def stop(server: FeedServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def run(container: Any, *, host: str | None = None, port: int | None = None,
        echo: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM / SIGINT (``flask --app clinic hl7 listen``, ``python -m clinic.hl7.listener``)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = container.settings.hl7
    config = feed.FeedConfig(assigning_authority=settings.assigning_authority, application=settings.application)
    server = FeedServer(host or settings.listen_host, settings.listen_port if port is None else port,
                        session_factory=container.session_factory, config=config)

    def stop_serving(signum: int, _frame: Any) -> None:
        echo(f"HL7 listener stopping (signal {signum}).")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop_serving)
    signal.signal(signal.SIGINT, stop_serving)
    authority = config.assigning_authority or "the first identifier"
    echo(f"HL7 listener on {server.server_address[0]}:{server.bound_port} (MLLP; record number: PID-3 of {authority}).")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """``python -m clinic.hl7.listener``: the same as ``flask --app clinic hl7 listen`` without Flask."""
    from clinic.bootstrap import bootstrap
    from clinic.settings import ConfigError

    parser = argparse.ArgumentParser(prog="python -m clinic.hl7.listener", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="default: ONEVISIT_HL7_LISTEN_HOST (127.0.0.1)")
    parser.add_argument("--port", type=int, help="default: ONEVISIT_HL7_LISTEN_PORT (2575); 0: any free port")
    parser.add_argument("--database-url", help="default: the configured database (DATABASE_URL)")
    args = parser.parse_args(argv)
    try:
        container = bootstrap({"DATABASE_URL": args.database_url} if args.database_url else None)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc.message}\n")
    run(container, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
