"""Voice calls through Twilio's REST API: Twilio fetches the call's TwiML from ``message.voice_url``
(``/twilio/voice/<key>``), which says the appointment and offers the confirm/cancel/desk menu."""

from typing import Any

import requests
from twilio.base.exceptions import TwilioException

from outreach.channels import twilio_urls
from outreach.channels.base import OutgoingMessage, SendResult
from outreach.channels.twilio_sms import TwilioChannel, failure

CALL_TIMEOUT_SECONDS = 30
"""How long the phone rings before Twilio reports ``no-answer``."""


class TwilioVoiceChannel(TwilioChannel):
    name = "voice"

    def __init__(self, *, secret_key: str = "", **twilio: Any) -> None:
        super().__init__(**twilio)
        self.secret_key = secret_key  # signs the visit key in the call's TwiML URL

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
