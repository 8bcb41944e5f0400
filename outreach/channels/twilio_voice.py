"""Voice calls through Twilio's REST API: Twilio fetches the call's TwiML from ``message.voice_url``
(``/twilio/voice/<key>``), which says the appointment and offers the confirm/cancel/desk menu.

``lookup`` finds a call a dead dispatcher may have placed in Twilio's call list. A call record holds
no text and no URL of ours, so it matches on number, sender, direction and time, and never a sid the
outbox already holds: each call Twilio has is credited to one outbox row at most.
"""

from typing import Any

import requests
from twilio.base.exceptions import TwilioException

from outreach.channels import twilio_sms, twilio_urls
from outreach.channels.base import OutgoingMessage, SendResult, SentLookup
from outreach.channels.twilio_sms import CLOCK_SKEW, TwilioChannel, failure

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
            metadata = message.metadata or {}
            visit_id = metadata.get("visit_id", "")
            if not voice_url and self.secret_key and str(visit_id).isdigit():
                voice_url = twilio_urls.voice_url(
                    self.public_base_url, self.secret_key, int(visit_id), metadata.get("action") or "reminder"
                )
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

    def lookup(self, query: SentLookup) -> SendResult | None:
        """Did Twilio get this call? Raises ``CannotTell`` when Twilio does not answer.

        Calls that started since the claim, plus calls still queued (no start time yet, so the time
        filter cannot see them)."""
        message = query.message
        if not message.to:
            return None
        options = {
            "to": message.to,
            "from_": self.from_number,
            "limit": twilio_sms.LOOKUP_LIMIT,
            "page_size": twilio_sms.LOOKUP_PAGE,
        }
        started = self._ask(
            lambda: self.client.calls.list(start_time_after=query.claimed_at - CLOCK_SKEW, **options)
        )
        queued = self._ask(lambda: self.client.calls.list(status="queued", **options))
        return self._match([*started, *queued], query)
