"""Voice calls through Twilio's REST API: Twilio fetches the call's TwiML from ``message.voice_url``
(``/twilio/voice/<key>``), which says the appointment and offers the confirm/cancel/desk menu."""

import requests
from twilio.base.exceptions import TwilioException

from outreach.channels import twilio_urls
from outreach.channels.base import DeliveryError, OutgoingMessage, SendResult
from outreach.channels.twilio_sms import failure, make_client

CALL_TIMEOUT_SECONDS = 30
"""How long the phone rings before Twilio reports ``no-answer``."""


class TwilioVoiceChannel:
    name = "voice"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "",
        timeout: float = 10,
        public_base_url: str = "",
        secret_key: str = "",
    ) -> None:
        if not from_number:
            raise DeliveryError("Twilio needs TWILIO_FROM_NUMBER")
        self.client = make_client(
            account_sid=account_sid, auth_token=auth_token, base_url=base_url, timeout=timeout
        )
        self.from_number = from_number
        self.public_base_url = public_base_url
        self.secret_key = secret_key

    def urls(self, message: OutgoingMessage) -> tuple[str | None, str | None]:
        """The TwiML and status URLs: the message's own, else built from ``metadata["visit_id"]`` and the
        public base URL (so the dispatcher need not know the webhook routes)."""
        voice_url, callback = message.voice_url, message.status_callback
        if self.public_base_url:
            visit_id = (message.metadata or {}).get("visit_id", "")
            if not voice_url and self.secret_key and str(visit_id).isdigit():
                voice_url = twilio_urls.voice_url(self.public_base_url, self.secret_key, int(visit_id))
            callback = callback or twilio_urls.status_url(self.public_base_url)
        return voice_url, callback

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to:
            return SendResult(ok=False, error="no number", retryable=False)
        voice_url, callback = self.urls(message)
        if not voice_url:
            return SendResult(ok=False, error="a call needs the URL of its TwiML (set PUBLIC_BASE_URL)", retryable=False)
        options: dict = {"url": voice_url, "method": "POST", "timeout": CALL_TIMEOUT_SECONDS}
        if callback:
            options.update(
                status_callback=callback,
                status_callback_event=["completed"],
                status_callback_method="POST",
            )
        try:
            call = self.client.calls.create(to=message.to, from_=self.from_number, **options)
        except (TwilioException, requests.RequestException) as exc:
            return failure(exc)
        return SendResult(ok=True, provider_id=call.sid)
