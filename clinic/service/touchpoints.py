"""Touch-points: every contact with a patient, with its channel, direction, purpose and whether the
expectation for that purpose was met (``seed_data/touchpoints.yaml`` says what each purpose promises).

Contacts are not recorded by the code that makes them. One session listener, installed on the app's
session factory by ``install(factory)`` (``clinic.bootstrap.make_session_factory`` calls it), turns the domain
records into touch-points as they are written, in the same transaction:

===========================  =====================  =========  ============================================
record                       channel                direction  purpose, met
===========================  =====================  =========  ============================================
OutboxMessage sent,          its channel            outbound   its action; delivered: yes, failed or on the
delivered or failed                                            call list: no, sent: not known yet
InboundMessage (a patient)   sms / voice / email    inbound    inbound_sms / inbound_call / inbound_email (a
                                                               choice on an e-mail's answer page); met
                                                               unless its outcome is in ``unmet_outcomes``
VisitCheckin                 walk_in                inbound    check_in; late_minutes <= late_minutes_max
Invoice (not a credit note)  walk_in                inbound    checkout; yes
WaitlistOffer answered       sms (in) / phone (out)            waitlist_offer; accepted or declined
Survey answered              its channel (tablet:   inbound    two_questions; yes to both
                             walk_in)
FollowUpEvent "called"       phone                  outbound   follow_up_call; called before the due time
VolunteerAssignment outcome  walk_in                outbound   volunteer_meeting; outcome "met"
===========================  =====================  =========  ============================================

Each touch-point's ``ref`` names its record (``outbox:12``); (purpose, ref) is unique and every
write is an upsert, so recording a contact again only brings it up to date. The listener re-reads
the records by id after the flush, so ORM changes and bulk statements are handled the same way:

* ``after_flush``: new objects of a source, and changed ones whose watched attributes changed;
* ``do_orm_execute``: ``update()`` statements run through a session on a source table (ids matched
  by the WHERE clause are read first, their touch-points written after the update), and
  ``insert()`` statements (rows of that source without a touch-point yet);
* ``backfill(session=...)``: every record of every source, for data written around the session
  (raw connections, ``bulk_save_objects``) such as imported history.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field, field_validator
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, sessionmaker
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.billing.models import Invoice
from clinic.columns import utcnow
from clinic.errors import SeedError, ValidationError, get_or_raise
from clinic.feedback.models import FollowUp, FollowUpEvent, Survey
from clinic.messaging.models import InboundMessage, OutboxMessage
from clinic.patients.models import Patient
from clinic.refill.models import WaitlistEntry, WaitlistOffer
from clinic.service.models import TouchChannel, TouchDirection, TouchPoint, VolunteerAssignment
from clinic.visits.models import Visit, VisitCheckin
from clinic.yaml_files import Strict, Texts, file_stamp, read_model, seed_file

FILENAME = "touchpoints.yaml"
PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Purposes the listener records; the file must describe each of them.
RECORDED_PURPOSES = (
    "message",
    "inbound_sms",
    "inbound_call",
    "inbound_email",
    "check_in",
    "checkout",
    "volunteer_meeting",
    "waitlist_offer",
    "two_questions",
    "follow_up_call",
)
#: The purpose of a message from a patient, by the channel it came in on.
INBOUND_PURPOSES = {"sms": "inbound_sms", "voice": "inbound_call", "email": "inbound_email"}
#: Channels a person can log by hand (messages the system sends are recorded by themselves).
MANUAL_CHANNELS = (TouchChannel.PHONE, TouchChannel.WALK_IN, TouchChannel.WEB, TouchChannel.EMAIL)


# --- expectations (seed_data/touchpoints.yaml) -----------------------------------------------------


class Purpose(Strict):
    label: Texts
    expectation: Texts
    met: Texts
    manual: bool = False
    late_minutes_max: int | None = Field(default=None, ge=0, le=600)
    unmet_outcomes: tuple[str, ...] = ()

    def texts(self, language: object) -> dict[str, str]:
        """Label, expectation and what "met" means, in ``language`` (placeholders filled in)."""
        values = {"late_minutes_max": "" if self.late_minutes_max is None else str(self.late_minutes_max)}

        def fill(text: str) -> str:
            for key, value in values.items():
                text = text.replace("{" + key + "}", value)
            return text

        return {
            "label": fill(self.label.get(language)),
            "expectation": fill(self.expectation.get(language)),
            "met": fill(self.met.get(language)),
        }


class Expectations(Strict):
    version: Literal[1]
    purposes: dict[str, Purpose]

    @field_validator("purposes")
    @classmethod
    def _keys(cls, value: dict[str, Purpose]) -> dict[str, Purpose]:
        bad = [key for key in value if not PURPOSE_RE.fullmatch(key)]
        if bad:
            raise ValueError(f"purpose {bad[0]!r}: use 1-40 lower-case letters, digits or underscores")
        return value

    def purpose(self, code: str) -> Purpose:
        """The purpose ``code``; an outbox action not described falls back to ``message``."""
        return self.purposes.get(code) or self.purposes["message"]

    def manual(self) -> list[str]:
        return [code for code, purpose in self.purposes.items() if purpose.manual]

    @property
    def late_minutes_max(self) -> int:
        return self.purposes["check_in"].late_minutes_max or 0


def default_path() -> Path:
    return seed_file(FILENAME)


def load_expectations(path: Path | None = None) -> Expectations:
    """The validated file (cached until it changes); ``SeedError`` names file and key of every problem."""
    path = Path(path) if path is not None else default_path()
    return _load(str(path), file_stamp(path))


@lru_cache(maxsize=8)
def _load(path: str, _stamp: int) -> Expectations:
    expectations = read_model(Path(path), Expectations)
    problems = [
        f"{FILENAME}: purposes.{code}: missing (the app records touch-points with this purpose)"
        for code in RECORDED_PURPOSES
        if code not in expectations.purposes
    ]
    check_in = expectations.purposes.get("check_in")
    if check_in is not None and check_in.late_minutes_max is None:
        problems.append(
            f"{FILENAME}: purposes.check_in.late_minutes_max: required (minutes late still counted as met)"
        )
    for code, purpose in expectations.purposes.items():
        if purpose.manual and code in RECORDED_PURPOSES:
            problems.append(
                f"{FILENAME}: purposes.{code}.manual: recorded by the app, cannot also be logged by hand"
            )
    if not expectations.manual():
        problems.append(
            f"{FILENAME}: purposes: no purpose has manual: true (the log form needs at least one)"
        )
    if problems:
        raise SeedError(problems)
    return expectations


# --- from records to touch-points ------------------------------------------------------------------

Row = Mapping[str, Any]
#: A source's channel as a touch-point channel (a survey on the desk's tablet is a walk-in contact).
_SOURCE_CHANNEL = {**{channel.value: channel for channel in TouchChannel}, "tablet": TouchChannel.WALK_IN}


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


def _touch(
    row: Row,
    *,
    at: dt.datetime | None,
    channel: Any,
    direction: TouchDirection,
    purpose: str,
    met: bool | None,
    user_id: int | None = None,
    note: str = "",
) -> dict[str, Any]:
    return {
        "patient_id": row["patient_id"],
        "visit_id": row.get("visit_id"),
        "at": at or utcnow(),
        "channel": _SOURCE_CHANNEL[str(_value(channel))],
        "direction": direction,
        "purpose": purpose[:40],
        "expectation_met": met,
        "user_id": user_id,
        "note": (note or "")[:500],
    }


def _outbox(row: Row, _expectations: Expectations) -> dict[str, Any]:
    status = str(_value(row["status"]))
    met = {"delivered": True, "failed": False}.get(status)
    if row["on_call_list"]:
        met = False
    return _touch(
        row,
        at=row["sent_at"] or row["updated_at"],
        channel=row["channel"],
        direction=TouchDirection.OUTBOUND,
        purpose=str(row["action"]),
        met=met,
    )


def _inbound(row: Row, expectations: Expectations) -> dict[str, Any]:
    purpose = INBOUND_PURPOSES.get(str(_value(row["channel"])), "inbound_sms")
    met = row["outcome"] not in expectations.purpose(purpose).unmet_outcomes
    return _touch(
        row,
        at=row["received_at"],
        channel=row["channel"],
        direction=TouchDirection.INBOUND,
        purpose=purpose,
        met=met,
        note=row["outcome"],
    )


def _checkin(row: Row, expectations: Expectations) -> dict[str, Any]:
    return _touch(
        row,
        at=row["checked_in_at"],
        channel=TouchChannel.WALK_IN,
        direction=TouchDirection.INBOUND,
        purpose="check_in",
        met=row["late_minutes"] <= expectations.late_minutes_max,
        user_id=row["checked_in_by"],
    )


def _invoice(row: Row, _expectations: Expectations) -> dict[str, Any]:
    return _touch(
        row,
        at=row["issued_at"],
        channel=TouchChannel.WALK_IN,
        direction=TouchDirection.INBOUND,
        purpose="checkout",
        met=True,
    )


def _offer(row: Row, _expectations: Expectations) -> dict[str, Any]:
    phone = str(_value(row["channel"])) == "phone"
    return _touch(
        row,
        at=row["answered_at"],
        channel=row["channel"],
        direction=TouchDirection.OUTBOUND if phone else TouchDirection.INBOUND,
        purpose="waitlist_offer",
        met=str(_value(row["status"])) in ("accepted", "declined"),
        note=str(_value(row["status"])),
    )


def _survey(row: Row, _expectations: Expectations) -> dict[str, Any]:
    return _touch(
        row,
        at=row["answered_at"],
        channel=row["channel"],
        direction=TouchDirection.INBOUND,
        purpose="two_questions",
        met=bool(row["got_what_needed"]) and bool(row["good_job"]),
        note=row["comment"] or "",
    )


def _follow_up_call(row: Row, _expectations: Expectations) -> dict[str, Any]:
    return _touch(
        row,
        at=row["at"],
        channel=TouchChannel.PHONE,
        direction=TouchDirection.OUTBOUND,
        purpose="follow_up_call",
        met=row["at"] <= row["due_at"],
        user_id=row["user_id"],
        note=row["note"] or "",
    )


def _volunteer(row: Row, _expectations: Expectations) -> dict[str, Any]:
    return _touch(
        row,
        at=row["outcome_at"] or row["updated_at"],
        channel=TouchChannel.WALK_IN,
        direction=TouchDirection.OUTBOUND,
        purpose="volunteer_meeting",
        met=str(_value(row["outcome"])) == "met",
    )


@dataclass(frozen=True)
class Source:
    """A kind of record that becomes a touch-point: which rows qualify (``query``), what they become
    (``build``), and which attributes, when they change on an existing row, may change the touch-point."""

    model: type
    prefix: str
    query: Callable[[], sa.Select]
    build: Callable[[Row, Expectations], dict[str, Any]]
    watched: tuple[str, ...]

    @property
    def table(self) -> sa.Table:
        return self.model.__table__  # type: ignore[attr-defined]


def _q_outbox() -> sa.Select:
    o = OutboxMessage.__table__.c
    return sa.select(
        o.id, o.patient_id, o.visit_id, o.action, o.channel, o.status, o.on_call_list, o.sent_at, o.updated_at
    ).where(o.status.in_(["sent", "delivered", "failed"]), o.channel != "hl7")  # the SIU feed is no contact


def _q_inbound() -> sa.Select:
    i = InboundMessage.__table__.c
    return sa.select(i.id, i.patient_id, i.visit_id, i.channel, i.outcome, i.received_at).where(
        i.patient_id.is_not(None), i.outcome != "duplicate"
    )


def _q_checkin() -> sa.Select:
    c, v = VisitCheckin.__table__.c, Visit.__table__.c
    return sa.select(
        c.id, c.visit_id, v.patient_id, c.checked_in_at, c.late_minutes, c.checked_in_by
    ).join_from(VisitCheckin.__table__, Visit.__table__, c.visit_id == v.id)


def _q_invoice() -> sa.Select:
    i = Invoice.__table__.c
    return sa.select(i.id, i.patient_id, i.visit_id, i.issued_at).where(i.credit_for_id.is_(None))


def _q_offer() -> sa.Select:
    o, e = WaitlistOffer.__table__.c, WaitlistEntry.__table__.c
    return (
        sa.select(o.id, e.patient_id, o.booked_visit_id.label("visit_id"), o.channel, o.status, o.answered_at)
        .join_from(WaitlistOffer.__table__, WaitlistEntry.__table__, o.entry_id == e.id)
        .where(o.answered_at.is_not(None))
    )


def _q_survey() -> sa.Select:
    s = Survey.__table__.c
    return sa.select(
        s.id, s.patient_id, s.visit_id, s.channel, s.got_what_needed, s.good_job, s.comment, s.answered_at
    ).where(s.status == "answered")


def _q_follow_up_call() -> sa.Select:
    ev, f = FollowUpEvent.__table__.c, FollowUp.__table__.c
    return (
        sa.select(ev.id, ev.at, ev.user_id, ev.note, f.patient_id, f.visit_id, f.due_at)
        .join_from(FollowUpEvent.__table__, FollowUp.__table__, ev.follow_up_id == f.id)
        .where(ev.kind == "called")
    )


def _q_volunteer() -> sa.Select:
    a, v = VolunteerAssignment.__table__.c, Visit.__table__.c
    return (
        sa.select(a.id, a.visit_id, v.patient_id, a.outcome, a.outcome_at, a.updated_at)
        .join_from(VolunteerAssignment.__table__, Visit.__table__, a.visit_id == v.id)
        .where(a.outcome.is_not(None))
    )


SOURCES: tuple[Source, ...] = (
    Source(OutboxMessage, "outbox", _q_outbox, _outbox, ("status", "on_call_list", "channel", "sent_at")),
    Source(InboundMessage, "inbound", _q_inbound, _inbound, ("outcome", "patient_id")),
    Source(VisitCheckin, "checkin", _q_checkin, _checkin, ("late_minutes",)),
    Source(Invoice, "invoice", _q_invoice, _invoice, ()),
    Source(WaitlistOffer, "offer", _q_offer, _offer, ("status", "answered_at")),
    Source(Survey, "survey", _q_survey, _survey, ("status", "answered_at", "got_what_needed", "good_job")),
    Source(FollowUpEvent, "followup_event", _q_follow_up_call, _follow_up_call, ("kind",)),
    Source(VolunteerAssignment, "volunteer", _q_volunteer, _volunteer, ("outcome", "outcome_at")),
)
_BY_MODEL = {source.model: source for source in SOURCES}
_BY_TABLE = {source.table.name: source for source in SOURCES}
_UPDATED = ("visit_id", "at", "channel", "direction", "expectation_met", "user_id", "note")


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the touch-points, or bring the existing (purpose, ref) ones up to date."""
    if not rows:
        return 0
    unique = list({(row["purpose"], row["ref"]): row for row in rows}.values())
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(TouchPoint.__table__).values(unique)
    statement = statement.on_conflict_do_update(
        index_elements=["purpose", "ref"], set_={name: statement.excluded[name] for name in _UPDATED}
    )
    connection.execute(statement)
    return len(unique)


def _record(
    connection: Connection,
    source: Source,
    *,
    ids: Iterable[int] | None = None,
    missing_only: bool = False,
    expectations: Expectations | None = None,
) -> int:
    query = source.query()
    id_column = source.table.c.id
    if ids is not None:
        ids = sorted(set(ids))
        if not ids:
            return 0
        query = query.where(id_column.in_(ids))
    rows = [dict(row._mapping) for row in connection.execute(query)]
    if missing_only and rows:
        prefix = source.prefix
        have = set(
            connection.execute(
                sa.select(TouchPoint.__table__.c.ref).where(TouchPoint.__table__.c.ref.like(f"{prefix}:%"))
            ).scalars()
        )
        rows = [row for row in rows if f"{prefix}:{row['id']}" not in have]
    if not rows:
        return 0
    expectations = expectations or load_expectations()
    touches = [{**source.build(row, expectations), "ref": f"{source.prefix}:{row['id']}"} for row in rows]
    return _upsert(connection, touches)


# --- the session listener ---------------------------------------------------------------------------


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _after_flush(session: OrmSession, _flush_context: Any) -> None:
    pending: dict[Source, set[int]] = {}
    for obj in session.new:
        source = _BY_MODEL.get(type(obj))
        if source is not None and obj.id is not None:
            pending.setdefault(source, set()).add(obj.id)
    for obj in session.dirty:
        source = _BY_MODEL.get(type(obj))
        if source is not None and source.watched and obj.id is not None and _changed(obj, source.watched):
            pending.setdefault(source, set()).add(obj.id)
    if pending:
        connection = session.connection()
        for source, ids in pending.items():
            _record(connection, source, ids=ids)


def _statement_table(statement: Any) -> sa.Table | None:
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    return _BY_TABLE[name].table if name in _BY_TABLE else None


def _assigned(state: ORMExecuteState) -> set[str] | None:
    """Column names an UPDATE sets, or ``None`` when that cannot be told."""
    names: set[str] = set()
    values = getattr(state.statement, "_values", None) or {}
    for key in values:
        names.add(str(getattr(key, "key", None) or getattr(key, "name", None) or key))
    parameters = state.parameters
    if isinstance(parameters, list):
        for item in parameters[:1]:
            names.update(item)
    elif isinstance(parameters, dict):
        names.update(parameters)
    return names or None


def _on_execute(state: ORMExecuteState) -> Any:
    if not (state.is_update or state.is_insert):
        return None
    table = _statement_table(state.statement)
    if table is None:
        return None
    source = _BY_TABLE[table.name]
    connection = state.session.connection()
    if state.is_insert:
        result = state.invoke_statement()
        _record(connection, source, missing_only=True)
        return result
    assigned = _assigned(state)
    if assigned is not None and not assigned & {*source.watched, "id"}:
        return None
    parameters = state.parameters
    if isinstance(parameters, list):  # ORM bulk UPDATE by primary key
        ids = {item["id"] for item in parameters if "id" in item}
    else:
        where = state.statement.whereclause
        query = sa.select(table.c.id)
        if where is not None:
            query = query.where(where)
        ids = set(connection.execute(query, parameters or {}).scalars())
    result = state.invoke_statement()
    if ids:
        _record(connection, source, ids=ids)
    return result


def install(factory: sessionmaker) -> None:
    """Record touch-points in every session ``factory`` makes (idempotent)."""
    if not event.contains(factory, "after_flush", _after_flush):
        event.listen(factory, "after_flush", _after_flush)
    if not event.contains(factory, "do_orm_execute", _on_execute):
        event.listen(factory, "do_orm_execute", _on_execute)


def backfill(*, session: Session, commit: bool = True) -> int:
    """Every record of every source made (or brought up to date as) a touch-point; the number written.

    For records written around the session (raw connections such as the demo history, imports).
    ``commit=False`` leaves the caller's transaction open (e.g. inside a larger load); on an error the
    caller rolls back."""
    try:
        session.flush()
        connection = session.connection()
        expectations = load_expectations()
        count = sum(_record(connection, source, expectations=expectations) for source in SOURCES)
        if commit:
            session.commit()
    except Exception:
        if commit:
            session.rollback()
        raise
    return count


# --- staff: logging by hand, and the patient's history ------------------------------------------


def log_contact(
    *,
    session: Session,
    patient_id: int,
    channel: str,
    direction: str,
    purpose: str,
    met: bool | None,
    note: str,
    actor_id: int | None,
    now: dt.datetime,
    visit_id: int | None = None,
    expectations: Expectations | None = None,
) -> TouchPoint:
    """A contact a person had with the patient (a call, a walk-in, an e-mail, the web), logged by hand."""
    expectations = expectations or load_expectations()
    get_or_raise(session, Patient, patient_id, what="patient")
    if channel not in {c.value for c in MANUAL_CHANNELS}:
        raise ValidationError(f"{channel!r} is not a channel for logged contacts", field="channel")
    if direction not in {d.value for d in TouchDirection}:
        raise ValidationError(f"{direction!r} is not inbound or outbound", field="direction")
    if purpose not in expectations.manual():
        raise ValidationError(f"{purpose!r} is not a purpose that can be logged", field="purpose")
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError("the note is longer than 500 characters", field="note")
    if visit_id is not None:
        visit = session.get(Visit, visit_id)
        if visit is None or visit.patient_id != patient_id:
            raise ValidationError(f"visit {visit_id} is not a visit of this patient", field="visit_id")
    try:
        touch = TouchPoint(
            patient_id=patient_id,
            visit_id=visit_id,
            at=now,
            channel=TouchChannel(channel),
            direction=TouchDirection(direction),
            purpose=purpose,
            expectation_met=met,
            user_id=actor_id,
            note=note,
        )
        session.add(touch)
        session.flush()
        audit.record(
            session=session,
            actor_id=actor_id,
            action="touchpoint.logged",
            entity="touch_point",
            entity_id=touch.id,
            details={"patient": patient_id, "purpose": purpose, "channel": channel},
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return touch


def for_patient(*, session: Session, patient_id: int, limit: int = 100) -> list[TouchPoint]:
    """The patient's touch-points, newest first."""
    statement = (
        select(TouchPoint)
        .where(TouchPoint.patient_id == patient_id)
        .order_by(col(TouchPoint.at).desc(), col(TouchPoint.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement))
