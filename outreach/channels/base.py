"""The channel interface: the dispatcher hands a channel one message and gets back what happened.

Implementations (Twilio SMS, Twilio voice, SMTP e-mail, development) live beside this module and are
picked by configuration, as PyPI's Warehouse picks its mail backend: without credentials the
development channel is used, which keeps every message visible in the Outbox screen.
"""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one patient. ``key`` is the outbox row's unique key, so a retry is recognisable."""

    key: str
    channel: str  # "sms" | "voice" | "email"
    to: str  # E.164 number, or an e-mail address for "email"
    body: str  # the text (SMS, e-mail) or what the voice call says before its menu
    language: str  # "en" | "nl" | "fr"
    subject: str | None = None  # e-mail only
    voice_url: str | None = None  # voice only: where Twilio fetches the call's TwiML
    status_callback: str | None = None  # where the provider reports delivery
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the provider said: accepted (with its id) or refused, and whether a retry may help."""

    ok: bool
    provider_id: str | None = None
    error: str | None = None
    retryable: bool = False


class DeliveryError(Exception):
    """A channel could not be used at all (misconfigured); the dispatcher records it on the message."""


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand ``message`` to the provider; never raises for a refusal, returns ``SendResult(ok=False)``."""
        ...
