"""A fake Twilio REST API: a real HTTP server on 127.0.0.1 (random port) for the real ``twilio`` client.

It answers ``POST Messages.json`` and ``POST Calls.json`` like Twilio (201 with a ``SM...``/``CA...``
sid) and keeps what it created; ``GET Messages.json`` / ``GET Calls.json`` list it in Twilio's list
shape (``messages``/``calls``, ``page``, ``page_size``, ``next_page_uri``, ...), newest first, filtered
by ``To``, ``From``, ``DateSent``/``StartTime`` (``<``, ``>``: by day, as Twilio documents) and a call's
``Status``. It records every request (method, path, query, form fields, basic-auth user and password,
headers) and can be told to answer errors (``fail_with(503)``; ``after=1``: from the request after next), to be too slow (``delay(2.0)`` for
the next requests) or to hold every create from the n-th on without answering (``hold_from(n)``,
until ``release()`` or ``reset``), or to close the connection without any answer (``drop()``: after
keeping the create, as when Twilio's answer is lost on the way back; ``drop(create=False)``: before).
A create is kept as soon as it arrives, before any delay, so a client killed or timed out while waiting
leaves a message Twilio has.
"""

import base64
import datetime as dt
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

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
    query: dict[str, list[str]] = field(default_factory=dict)

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
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
    _failures: list[Failure | None] = field(default_factory=list)
    _delays: list[float] = field(default_factory=list)
    _drops: list[bool] = field(default_factory=list)
    _created: dict[str, list[dict]] = field(default_factory=lambda: {"messages": [], "calls": []})
    _creates: int = 0
    _hold_from: int | None = None
    _held: int = 0
    _release: threading.Event = field(default_factory=threading.Event)
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

    def fail_with(
        self, status: int, *, code: int | None = None, message: str = "failure requested", times: int = 1,
        after: int = 0,
    ):
        """Answer the next ``times`` requests with ``status``, once ``after`` more have been answered as usual."""
        with self._lock:
            self._failures.extend([None] * after)
            self._failures.extend(Failure(status, code, message) for _ in range(times))

    def delay(self, seconds: float, *, times: int = 1) -> None:
        with self._lock:
            self._delays.extend([seconds] * times)

    def drop(self, *, times: int = 1, create: bool = True) -> None:
        """Close the connection of the next ``times`` requests without answering; with ``create`` a
        create among them is kept first (Twilio has the message, the client never hears of it)."""
        with self._lock:
            self._drops.extend([create] * times)

    def hold_from(self, number: int) -> None:
        """Keep the ``number``-th create (1-based, counted from now) and every later one, but answer
        none of them until ``release()``: the client waits as if Twilio were slow."""
        with self._lock:
            self._hold_from = self._creates + number
            self._release = threading.Event()

    @property
    def held(self) -> int:
        """Creates kept and waiting for ``release()``."""
        with self._lock:
            return self._held

    def release(self) -> None:
        with self._lock:
            self._hold_from = None
            self._release.set()

    def reset(self) -> None:
        self.release()
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()
            self._drops.clear()
            self._creates = 0
            for records in self._created.values():
                records.clear()

    def messages(self) -> list[RecordedRequest]:
        """The requests that asked for an SMS (list requests are not counted)."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def calls(self) -> list[RecordedRequest]:
        """The requests that asked for a call (list requests are not counted)."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Calls.json")]

    def lists(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET"]

    def created(self, kind: str = "messages") -> list[dict]:
        """What the fake Twilio holds (``messages`` or ``calls``), oldest first, as its JSON."""
        with self._lock:
            return [dict(record) for record in self._created[kind]]

    def clear_start_time(self, sid: str) -> None:
        """A call Twilio has queued and not dialled yet has no start time."""
        with self._lock:
            for record in self._created["calls"]:
                if record["sid"] == sid:
                    record["start_time"] = None

    def set_status(self, sid: str, status: str) -> None:
        """What Twilio would later say of a message or call (e.g. ``failed``)."""
        with self._lock:
            for records in self._created.values():
                for record in records:
                    if record["sid"] == sid:
                        record["status"] = status

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
        parts = urlsplit(handler.path)
        path = parts.path
        recorded = RecordedRequest(
            method=handler.command,
            path=path,
            form=parse_qs(raw, keep_blank_values=True),
            user=user,
            password=password,
            headers={k: v for k, v in handler.headers.items()},
            query=parse_qs(parts.query, keep_blank_values=True),
        )
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        kinds = {prefix + "Messages.json": "messages", prefix + "Calls.json": "calls"}
        kind = kinds.get(path)
        with self._lock:
            self.requests.append(recorded)
            failure = self._failures.pop(0) if self._failures else None
            pause = self._delays.pop(0) if self._delays else 0.0
            drop = self._drops.pop(0) if self._drops else None
            authorised = (user, password) == (self.account_sid, self.auth_token)
            created = None
            hold: threading.Event | None = None
            keep = drop is None or drop
            if failure is None and authorised and kind and handler.command == "POST" and keep:
                created = self._message(recorded) if kind == "messages" else self._call(recorded)
                self._created[kind].append(created)
                self._creates += 1
                if self._hold_from is not None and self._creates >= self._hold_from:
                    hold = self._release
                    self._held += 1
        if hold is not None:
            hold.wait(timeout=60)
            with self._lock:
                self._held -= 1
        if pause:
            time.sleep(pause)
        if drop is not None:
            handler.close_connection = True  # no status line: the client sees the connection closed
            return None
        if failure is not None:
            return self._reply(handler, failure.status, self._error(failure.status, failure.code, failure.message))
        if not authorised:
            return self._reply(handler, 401, self._error(401, 20003, "Authenticate"))
        if created is not None:
            return self._reply(handler, 201, created)
        if kind and handler.command == "GET":
            return self._reply(handler, 200, self._list(kind, recorded))
        return self._reply(handler, 404, self._error(404, 20404, f"The requested resource {path} was not found"))

    def _sid(self, prefix: str) -> str:
        return prefix + uuid.uuid4().hex

    @staticmethod
    def _now() -> str:
        return format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))

    def _message(self, request: RecordedRequest) -> dict:
        sid, now = self._sid("SM"), self._now()
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": request.field("To"),
            "from": request.field("From"),
            "body": request.field("Body"),
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "date_sent": now,  # the fake hands it to the carrier at once
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        }

    def _call(self, request: RecordedRequest) -> dict:
        sid, now = self._sid("CA"), self._now()
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": request.field("To"),
            "to_formatted": request.field("To"),
            "from": request.field("From"),
            "from_formatted": request.field("From"),
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "start_time": now,  # the fake dials at once
            "end_time": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "answered_by": None,
            "parent_call_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
        }

    def _list(self, kind: str, request: RecordedRequest) -> dict:
        """One page of Twilio's list JSON, newest first."""
        when = "date_sent" if kind == "messages" else "start_time"
        name = "DateSent" if kind == "messages" else "StartTime"
        with self._lock:
            records = [dict(record) for record in reversed(self._created[kind])]
        wanted = {"to": request.param("To"), "from": request.param("From"), "status": request.param("Status")}
        records = [r for r in records if all(value is None or r[key] == value for key, value in wanted.items())]
        for suffix, keep in (("", lambda d, day: d == day), (">", lambda d, day: d >= day),
                             ("<", lambda d, day: d <= day)):
            value = request.param(name + suffix)
            if value is not None:
                day = dt.date.fromisoformat(value[:10])
                records = [r for r in records if r[when] and keep(_day(r[when]), day)]
        size = int(request.param("PageSize") or 50)
        page = int(request.param("Page") or 0)
        chunk = records[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/{'Messages' if kind == 'messages' else 'Calls'}.json"
        params = {k: v[0] for k, v in request.query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(number: int) -> str:
            return base + "?" + urlencode({**params, "PageSize": size, "Page": number})

        more = (page + 1) * size < len(records)
        return {
            kind: chunk,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if more else None,
            "previous_page_uri": uri(page - 1) if page else None,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0),
            "uri": uri(page),
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


def _day(rfc2822: str) -> dt.date:
    return parsedate_to_datetime(rfc2822).astimezone(dt.UTC).date()
