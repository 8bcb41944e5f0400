"""The development channel: accepts every message and sends nothing; the Outbox screen shows it.

Used when no credentials are configured, so a demo or a developer machine never reaches a patient.
"""

import uuid

from outreach.channels.base import OutgoingMessage, SendResult


class DevelopmentChannel:
    name = "development"

    def __init__(self, serves: str = "sms") -> None:
        self.serves = serves  # "sms" | "voice" | "email": what it stands in for
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(ok=True, provider_id=f"dev-{uuid.uuid4().hex[:16]}")
