"""SMS through Twilio's REST API (``twilio`` client), never raising for a refusal.

``lookup`` tells a recovering dispatcher whether Twilio has a message a dead dispatcher may have handed
over: it lists the latest messages to the number from our number (Twilio's list resource; not filtered by
DateSent, which a message still queued at Twilio does not have yet) and matches the text exactly. Twilio's list does not return the status callback URL or any other field
we could tag, so the match is: same recipient, same sender, outbound, created after the claim (less
``CLOCK_SKEW``), the same body, and a sid no other outbox row holds.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from outreach.channels import twilio_urls
from outreach.channels.base import CannotTell, DeliveryError, OutgoingMessage, SendResult, SentLookup
from outreach.channels.twilio_http import BaseUrlHttpClient

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
CLOCK_SKEW = dt.timedelta(minutes=2)
"""How far Twilio's clock may run behind ours: a message created this long before the claim still counts."""
LOOKUP_LIMIT = 200
"""At most this many list records are read per lookup (a patient gets a handful of messages a day)."""
LOOKUP_PAGE = 50
FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled", "busy", "no-answer"})


def make_client(*, account_sid: str, auth_token: str, base_url: str = "", timeout: float = 10) -> Client:
    if not account_sid or not auth_token:
        raise DeliveryError("Twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    http_client = BaseUrlHttpClient(base_url=base_url, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client, environment={})


def failure(exc: Exception) -> SendResult:
    """A provider error as a ``SendResult``: time-outs, connection errors, 5xx and 429 are retryable. A
    time-out waiting for the answer, or a connection closed once the request was on its way, is an
    answer lost (``answer_lost``): Twilio may have created the message."""
    if isinstance(exc, TwilioRestException):
        retryable = exc.status >= 500 or exc.status in RETRYABLE_STATUSES
        code = f" (Twilio error {exc.code})" if exc.code else ""
        return SendResult(ok=False, error=f"HTTP {exc.status}{code}: {exc.msg}"[:500], retryable=retryable)
    if isinstance(exc, requests.Timeout):
        lost = not isinstance(exc, requests.ConnectTimeout)
        return SendResult(ok=False, error=f"time-out: {exc}"[:500], retryable=True, answer_lost=lost)
    if isinstance(exc, requests.RequestException):
        lost = not _never_connected(exc)
        return SendResult(ok=False, error=f"connection failed: {exc}"[:500], retryable=True, answer_lost=lost)
    return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500], retryable=True)


def _never_connected(exc: BaseException) -> bool:
    """The request never left: no connection was made (refused, unknown host), so Twilio has nothing."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return False


class TwilioChannel:
    """What every Twilio channel holds: the REST client (pointed at ``base_url`` when set), the number
    it sends from, and the public address its status callbacks reach the app at."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "",
        timeout: float = 10,
        public_base_url: str = "",
    ) -> None:
        if not from_number:
            raise DeliveryError("Twilio needs TWILIO_FROM_NUMBER")
        self.client = make_client(
            account_sid=account_sid, auth_token=auth_token, base_url=base_url, timeout=timeout
        )
        self.from_number = from_number
        self.public_base_url = public_base_url

    def _ask(self, fetch: Callable[[], Iterable[Any]]) -> list[Any]:
        """Records from one of Twilio's list resources; a provider error means ``CannotTell``."""
        try:
            return list(fetch())
        except (TwilioException, requests.RequestException) as exc:
            raise CannotTell(failure(exc).error or "Twilio did not answer") from exc

    def _match(self, records: Iterable[Any], query: SentLookup, *, body: str | None = None) -> SendResult | None:
        """The earliest record that is ``query``'s message, as a ``SendResult``; ``None`` when none is."""
        since = query.claimed_at - CLOCK_SKEW
        candidates = [
            record
            for record in records
            if record.sid not in query.known_ids
            and same_number(record.to, query.message.to)
            and same_number(_sender(record), self.from_number)
            and str(record.direction or "").startswith("outbound")
            and (record.date_created is None or record.date_created >= since)
            and (body is None or (record.body or "").strip() == body.strip())
        ]
        if not candidates:
            return None
        found = min(candidates, key=lambda record: (record.date_created or since, record.sid))
        status = str(found.status or "")
        if status in FAILED_STATUSES:
            return SendResult(ok=False, provider_id=found.sid, error=f"provider reported {status}", retryable=True)
        return SendResult(ok=True, provider_id=found.sid)


def same_number(first: str | None, second: str | None) -> bool:
    """Equal phone numbers, whatever spaces or dashes either is written with."""
    digits = _digits(first)
    return bool(digits) and digits == _digits(second)


def _digits(number: str | None) -> str:
    return "".join(ch for ch in str(number or "") if ch.isdigit())


def _sender(record: Any) -> str | None:
    # the client calls it ``from_`` on messages and ``_from`` on calls
    return getattr(record, "from_", None) or getattr(record, "_from", None)


class TwilioSmsChannel(TwilioChannel):
    name = "sms"

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to or not message.body:
            return SendResult(ok=False, error="no number or empty text", retryable=False)
        callback = message.status_callback
        if not callback and self.public_base_url:
            callback = twilio_urls.status_url(self.public_base_url)
        options: dict = {"status_callback": callback} if callback else {}
        try:
            created = self.client.messages.create(
                to=message.to, from_=self.from_number, body=message.body, **options
            )
        except (TwilioException, requests.RequestException) as exc:
            return failure(exc)
        return SendResult(ok=True, provider_id=created.sid)

    def lookup(self, query: SentLookup) -> SendResult | None:
        """Did Twilio get this SMS? Raises ``CannotTell`` when Twilio does not answer."""
        message = query.message
        if not message.to or not message.body:
            return None  # ``send`` refuses such a message before it reaches Twilio
        records = self._ask(
            # No DateSent filter: Twilio sets DateSent only when it hands the SMS on, so a message still
            # queued at Twilio would be missed and sent twice; ``_match`` filters on DateCreated instead.
            lambda: self.client.messages.list(
                to=message.to,
                from_=self.from_number,
                limit=LOOKUP_LIMIT,
                page_size=LOOKUP_PAGE,
            )
        )
        return self._match(records, query, body=message.body)
