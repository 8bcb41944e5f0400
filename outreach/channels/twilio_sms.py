"""SMS through Twilio's REST API (``twilio`` client), never raising for a refusal."""

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from outreach.channels import twilio_urls
from outreach.channels.base import DeliveryError, OutgoingMessage, SendResult
from outreach.channels.twilio_http import BaseUrlHttpClient

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def make_client(*, account_sid: str, auth_token: str, base_url: str = "", timeout: float = 10) -> Client:
    if not account_sid or not auth_token:
        raise DeliveryError("Twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    http_client = BaseUrlHttpClient(base_url=base_url, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client, environment={})


def failure(exc: Exception) -> SendResult:
    """A provider error as a ``SendResult``: time-outs, connection errors, 5xx and 429 are retryable."""
    if isinstance(exc, TwilioRestException):
        retryable = exc.status >= 500 or exc.status in RETRYABLE_STATUSES
        code = f" (Twilio error {exc.code})" if exc.code else ""
        return SendResult(ok=False, error=f"HTTP {exc.status}{code}: {exc.msg}"[:500], retryable=retryable)
    if isinstance(exc, requests.Timeout):
        return SendResult(ok=False, error=f"time-out: {exc}"[:500], retryable=True)
    if isinstance(exc, requests.RequestException):
        return SendResult(ok=False, error=f"connection failed: {exc}"[:500], retryable=True)
    return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500], retryable=True)


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
