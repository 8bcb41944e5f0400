"""A patient's answer acted on inside a request, the same way wherever it comes from: Twilio's SMS and call
webhooks, the page an outreach e-mail links to, and the Outbox's development replies."""

import logging
from typing import Any

from sqlmodel import Session

from clinic.db import get_session
from clinic.errors import DomainError
from clinic.messaging import inbound
from clinic.refill.offers_sms import send_offer_wave
from clinic.web.clock import messaging_now
from clinic.web.container import channels, unit
from clinic.web.public_urls import status_callback_url

log = logging.getLogger(__name__)


def next_wave(session: Session) -> Any:
    """After a cancellation or the last "no" of a wave: SMS the next candidates at once (never fails the reply)."""

    def after(visit_id: int) -> None:
        try:
            send_offer_wave(
                session=session, visit_id=visit_id, now=messaging_now(), channels=channels(),
                unit=unit(), status_callback=status_callback_url(),
            )
        except Exception:  # noqa: BLE001 - the patient's reply must still go out; the job retries
            session.rollback()
            log.exception("sending the next wave of offers for visit %s failed", visit_id)

    return after


def answer_sms(*, sender: str, body: str, provider_id: str | None) -> inbound.InboundResult | None:
    """Act on an SMS from ``sender`` as the webhook does (also the Outbox's development replies); ``None``
    when it could not be handled (logged, nothing half-written)."""
    session = get_session()
    try:
        result = inbound.handle_sms(
            session=session,
            from_number=sender,
            body=body,
            now=messaging_now(),
            provider_id=provider_id,
            unit=unit(),
            after_cancel=next_wave(session),
        )
    except DomainError:
        session.rollback()
        log.exception("inbound SMS could not be handled")
        return None
    return result


def answer_call(
    *, visit_id: int, action: str, digits: str, call_sid: str | None, to: str
) -> inbound.InboundResult | None:
    """Act on a key pressed in an outreach call as the webhook does (also the Outbox's development
    replies); ``None`` when the visit is gone."""
    session = get_session()
    try:
        return inbound.handle_call_choice(
            session=session,
            visit_id=visit_id,
            digits=digits,
            now=messaging_now(),
            call_sid=call_sid,
            from_number=to,
            unit=unit(),
            after_cancel=next_wave(session),
            action=action,
        )
    except DomainError:
        session.rollback()
        return None
