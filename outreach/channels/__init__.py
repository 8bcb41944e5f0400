"""How OneVisit reaches a patient: one small interface, several implementations chosen by configuration."""

from outreach.channels.base import Channel, DeliveryError, OutgoingMessage, SendResult

__all__ = ["Channel", "DeliveryError", "OutgoingMessage", "SendResult"]
