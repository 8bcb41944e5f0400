"""Applying one ADT message: parse, apply through the patient services in one transaction, log, answer.

Every message gets a row in ``hl7_inbound`` with the ACK it was answered with. An applied message (AA) is
applied once: the row is written in the same transaction as the change, and a unique index on sender and
control id lets only one such row exist, so a message sent again (even at the same moment on another
connection) is answered with the stored ACK and changes nothing. A rejected message (AE, AR) changes
nothing: its change is rolled back and its row is written on its own.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from clinic.errors import DomainError, NotFound
from clinic.hl7 import adt
from clinic.hl7.ack import build_ack
from clinic.hl7.models import APPLIED, Hl7Inbound
from clinic.patients.records import merge_patients, upsert_patient

log = logging.getLogger(__name__)

DEFAULT_APPLICATION = "ONEVISIT"


@dataclass(frozen=True)
class FeedConfig:
    """``assigning_authority``: PID-3's authority whose identifier is the record number (empty: the first);
    ``application``: this side's name in the ACK's MSH-3."""

    assigning_authority: str = ""
    application: str = DEFAULT_APPLICATION


def _stored_ack(session: Session, header: adt.Header) -> str | None:
    statement = select(Hl7Inbound.ack).where(
        Hl7Inbound.sending_application == header.sending_application,
        Hl7Inbound.sending_facility == header.sending_facility,
        Hl7Inbound.control_id == header.control_id,
        Hl7Inbound.ack_code == APPLIED,
    )
    return session.exec(statement).first()


def _row(header: adt.Header | None, code: str, ack: str, error: str | None = None) -> Hl7Inbound:
    header = header or adt.Header()
    return Hl7Inbound(
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        control_id=header.control_id,
        trigger=header.trigger,
        ack_code=code,
        error=error,
        ack=ack,
    )


LOCATIONS = {"merged_mrn": ("MRG", 1), "survivor_mrn": ("PID", 3), "mrn": ("PID", 3)}


def _rejection(exc: DomainError, header: adt.Header) -> adt.Rejected:
    """A service's refusal as an AE naming the segment-field it comes from."""
    segment, field = LOCATIONS.get(exc.field or "", adt.FIELD_LOCATIONS.get(exc.field or "", ("PID", None))[:2])
    where = f"{segment}-{field} " if field else ""
    error = adt.UNKNOWN_KEY if isinstance(exc, NotFound) or exc.code == "mrn_merged" else adt.DATA_TYPE_ERROR
    return adt.Rejected("AE", where + exc.message, error=error, segment=segment, field=field, header=header)


def _apply(session: Session, command: adt.Command) -> None:
    source = f"hl7:{command.header.trigger}"
    if command.record is not None:
        upsert_patient(session=session, record=command.record, actor_id=None, source=source, commit=False)
    if isinstance(command, adt.Merge):
        merge_patients(session=session, survivor_mrn=command.survivor_mrn, merged_mrn=command.merged_mrn,
                       actor_id=None, source=source, commit=False)


ATTEMPTS = 3
"""Tries of a message that lost a race: two messages about one new patient on two connections both insert
it; the loser's second try finds the patient and updates it."""


def receive(
    *, session_factory: Callable[[], Session], text: str, config: FeedConfig, now: dt.datetime | None = None
) -> tuple[str, str]:
    """(ACK code, ACK) for one message ``text`` (ER7, without the MLLP frame), applied at most once.

    The unique index decides whether a message was applied before: a message is applied and its row
    inserted; a copy of an applied one fails on the index and is answered with the stored ACK. Only a
    message that fails is looked up first (a copy of an applied message may no longer apply cleanly)."""
    try:
        header, _, _ = adt.read_header(text)
    except adt.Rejected as rejected:
        return _refuse(session_factory, rejected, config, now)
    for attempt in range(1, ATTEMPTS + 1):
        with session_factory() as session:
            try:
                command = adt.parse(text, assigning_authority=config.assigning_authority or None)
            except adt.Rejected as rejected:
                refused = rejected
                break
            ack = build_ack(header, APPLIED, application=config.application, now=now)
            try:
                _apply(session, command)
                session.add(_row(header, APPLIED, ack))
                session.commit()
                return APPLIED, ack
            except DomainError as exc:
                session.rollback()
                refused = _rejection(exc, header)
                break
            except IntegrityError:
                session.rollback()
                stored = _stored_ack(session, header)
                if stored is not None:
                    return APPLIED, stored
                if attempt == ATTEMPTS:
                    raise
                log.info("HL7 message %s lost a race, trying again", header.control_id)
    with session_factory() as session:
        stored = _stored_ack(session, header)
    if stored is not None:
        return APPLIED, stored
    return _refuse(session_factory, refused, config, now)


def _refuse(
    session_factory: Callable[[], Session], rejected: adt.Rejected, config: FeedConfig, now: dt.datetime | None
) -> tuple[str, str]:
    """The AE/AR for ``rejected``, logged in its own transaction."""
    ack = build_ack(rejected.header, rejected.code, application=config.application, rejected=rejected, now=now)
    with session_factory() as session:
        session.add(_row(rejected.header, rejected.code, ack, rejected.text))
        session.commit()
    return rejected.code, ack


def internal_error(exc: BaseException, text: str, config: FeedConfig) -> tuple[str, str]:
    """The AE for a message that failed for a reason of ours (the database down, a bug): not logged in the
    table (it may be what failed), so the sender's retry is applied once the cause is gone."""
    try:
        header, _, _ = adt.read_header(text)
    except adt.Rejected as rejected:
        header = rejected.header
    kind = "the database is not available" if isinstance(exc, OperationalError) else type(exc).__name__
    rejected = adt.Rejected("AE", f"not applied: internal error ({kind}); send it again later",
                            error=adt.INTERNAL_ERROR, header=header)
    return "AE", build_ack(header, "AE", application=config.application, rejected=rejected)


def refusal_without_header(reason: str, config: FeedConfig) -> str:
    """An AR for a frame that cannot be read at all (too long): not logged, nothing in it can be trusted."""
    rejected = adt.Rejected("AR", reason, error=adt.SEGMENT_SEQUENCE_ERROR)
    return build_ack(None, "AR", application=config.application, rejected=rejected)


def recent(*, session: Session, limit: int = 100) -> list[Hl7Inbound]:
    """The last ``limit`` messages received, newest first."""
    statement = select(Hl7Inbound).order_by(col(Hl7Inbound.received_at).desc(), col(Hl7Inbound.id).desc())
    return list(session.exec(statement.limit(limit)))
