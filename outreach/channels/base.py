"""The channel interface: the dispatcher hands a channel one message and gets back what happened.

Implementations (Twilio SMS, Twilio voice, SMTP e-mail, development) live beside this module and are
picked by configuration, as PyPI's Warehouse picks its mail backend: without credentials the
development channel is used, which keeps every message visible in the Outbox screen.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    """A file an e-mail carries (the visit's calendar file); ``params`` go on its Content-Type
    (``{"method": "REQUEST"}`` for ``text/calendar``). Other channels ignore attachments."""

    filename: str
    content_type: str  # "text/calendar"
    data: bytes
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one patient. ``key`` is the outbox row's unique key, so a retry is recognisable."""

    key: str
    channel: str  # "sms" | "voice" | "email" | "hl7"
    to: str  # E.164 number, an e-mail address for "email", the receiver's host:port for "hl7"
    body: str  # the text (SMS, e-mail) or what the voice call says before its menu
    language: str  # "en" | "nl" | "fr"
    subject: str | None = None  # e-mail only
    voice_url: str | None = None  # voice only: where Twilio fetches the call's TwiML
    status_callback: str | None = None  # where the provider reports delivery
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()  # e-mail only


@dataclass(frozen=True)
class SendResult:
    """What the provider said: accepted (with its id) or refused, and whether a retry may help.

    ``answer_lost``: no answer came back although the request may have reached the provider (a read
    time-out, a connection closed after sending): "cannot tell", not "refused". The provider may have the
    message, so the dispatcher asks it (``lookup``) before any retry."""

    ok: bool
    provider_id: str | None = None
    error: str | None = None
    retryable: bool = False
    answer_lost: bool = False


@dataclass(frozen=True)
class SentLookup:
    """The question a channel's optional ``lookup`` answers after a dispatcher died between claiming a
    message and recording what the provider said: did the provider accept ``message``?

    ``claimed_at`` is when the dead dispatcher claimed it (the provider cannot have it from before, give
    or take the clocks); ``known_ids`` are provider ids the outbox already holds for this patient or
    number, so one provider message is never credited to two outbox rows.
    """

    message: OutgoingMessage
    claimed_at: dt.datetime
    known_ids: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.message.key


class CannotTell(Exception):
    """``lookup`` got no answer from the provider: whether the message went out stays unknown."""


class DeliveryError(Exception):
    """A channel could not be used at all (misconfigured); the dispatcher records it on the message."""


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand ``message`` to the provider; never raises for a refusal, returns ``SendResult(ok=False)``."""
        ...

    # Optional: ``lookup(query: SentLookup) -> SendResult | None``. ``SendResult(ok=True, provider_id)``:
    # the provider has the message; ``ok=False`` with a provider id: it has it, and it failed; ``None``:
    # it never got it; raising (``CannotTell``): no answer. Without ``lookup`` a message whose outcome
    # a crash lost goes to the front desk's call list.
