"""A fake Twilio REST API: a real HTTP server on 127.0.0.1 (random port) for the real ``twilio`` client.

It answers ``Messages.json`` and ``Calls.json`` like Twilio (201 with a ``SM...``/``CA...`` sid), records
every request (method, path, form fields, basic-auth user and password, headers) and can be told to
answer errors (``fail_with(503)``) or to be too slow (``delay(2.0)``) for the next requests.
"""

import base64
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, list[str]]
    user: str | None
    password: str | None
    headers: dict[str, str]

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Failure:
    status: int
    code: int | None = None
    message: str = "failure requested by the test"


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[Failure] = field(default_factory=list)
    _delays: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _counter: itertools.count = field(default_factory=itertools.count)

    # --- control -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_with(self, status: int, *, code: int | None = None, message: str = "failure requested", times: int = 1):
        with self._lock:
            self._failures.extend(Failure(status, code, message) for _ in range(times))

    def delay(self, seconds: float, *, times: int = 1) -> None:
        with self._lock:
            self._delays.extend([seconds] * times)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()

    def messages(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/Messages.json")]

    def calls(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/Calls.json")]

    def start(self) -> "FakeTwilio":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- serving -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        user = password = None
        authorization = handler.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            user, _, password = decoded.partition(":")
        path = urlsplit(handler.path).path
        recorded = RecordedRequest(
            method=handler.command,
            path=path,
            form=parse_qs(raw, keep_blank_values=True),
            user=user,
            password=password,
            headers={k: v for k, v in handler.headers.items()},
        )
        with self._lock:
            self.requests.append(recorded)
            failure = self._failures.pop(0) if self._failures else None
            pause = self._delays.pop(0) if self._delays else 0.0
        if pause:
            time.sleep(pause)
        if failure is not None:
            return self._reply(handler, failure.status, self._error(failure.status, failure.code, failure.message))
        if (user, password) != (self.account_sid, self.auth_token):
            return self._reply(handler, 401, self._error(401, 20003, "Authenticate"))
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if handler.command == "POST" and path == prefix + "Messages.json":
            return self._reply(handler, 201, self._message(recorded))
        if handler.command == "POST" and path == prefix + "Calls.json":
            return self._reply(handler, 201, self._call(recorded))
        return self._reply(handler, 404, self._error(404, 20404, f"The requested resource {path} was not found"))

    def _sid(self, prefix: str) -> str:
        return prefix + uuid.uuid4().hex

    def _message(self, request: RecordedRequest) -> dict:
        return {
            "sid": self._sid("SM"),
            "account_sid": self.account_sid,
            "to": request.field("To"),
            "from": request.field("From"),
            "body": request.field("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/x.json",
        }

    def _call(self, request: RecordedRequest) -> dict:
        return {
            "sid": self._sid("CA"),
            "account_sid": self.account_sid,
            "to": request.field("To"),
            "from": request.field("From"),
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/x.json",
        }

    @staticmethod
    def _error(status: int, code: int | None, message: str) -> dict:
        return {"status": status, "code": code, "message": message, "more_info": "https://www.twilio.com/docs/errors"}

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out test)
            pass
