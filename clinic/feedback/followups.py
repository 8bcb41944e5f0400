"""Follow-ups: a patient's "no" to one of the two questions (or no answer after two attempts) put in
someone's hands until the patient says "yes" to both.

Rules:

* one open follow-up per patient: a further "no" (or a further silence) while one is open adds an event
  to it instead of opening a second one;
* the owner is the least loaded active front-desk user (fewest open follow-ups, then the lowest id);
  nobody when the clinic has no active front-desk user (the board shows "unassigned");
* it is due ``Unit.follow_up_due_working_days`` working days (Monday-Friday, clinic time) after it opened;
* it closes only when the patient answers "yes" to both questions in a survey asked after it opened
  (``closing_survey_id``); staff cannot close it by hand, they re-ask;
* ``escalate_overdue`` (a job) stamps ``escalated_at`` on open follow-ups past their due time, which
  puts them on the coordinator's view of the board.

Every change writes a ``FollowUpEvent`` (opened, note, called, re-asked, answered, no_answer,
reassigned, escalated, closed), which is the follow-up's history.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic.columns import utcnow
from clinic.errors import Conflict, ValidationError, get_or_raise
from clinic.feedback.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpReason,
    FollowUpStatus,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.feedback.survey_channel import channel_for
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.users.models import Role, User

NOTE_KINDS = ("note", "called")
EVENT_KINDS = ("opened", "note", "called", "re-asked", "answered", "no_answer", "reassigned", "escalated", "closed")
MAX_NOTE = 1000
CLOSED_SHOWN = dt.timedelta(days=14)
"""The board shows closed follow-ups for this long after they closed."""


def add_working_days(start: dt.datetime, days: int, tz: str) -> dt.datetime:
    """``start`` moved ``days`` working days (Mon-Fri in the clinic's zone) on, same wall-clock time;
    a start in a weekend counts from the next Monday morning's time of ``start``."""
    if start.tzinfo is None:
        raise ValueError("give an aware datetime")
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    day = local.date()
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    left = max(int(days), 0)
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return dt.datetime.combine(day, local.time().replace(tzinfo=None), zone).astimezone(dt.UTC)


def _event(session: Session, follow_up: FollowUp, kind: str, *, user_id: int | None = None, note: str = "",
           at: dt.datetime | None = None) -> FollowUpEvent:
    event = FollowUpEvent(follow_up_id=follow_up.id, kind=kind, user_id=user_id, note=note[:MAX_NOTE], at=at or utcnow())
    session.add(event)
    return event


def least_loaded_desk_user(*, session: Session) -> User | None:
    """The active front-desk user with the fewest open follow-ups (ties: the lowest id)."""
    load = (
        select(FollowUp.owner_id, sa.func.count().label("n"))
        .where(FollowUp.status == FollowUpStatus.OPEN)
        .group_by(FollowUp.owner_id)
        .subquery()
    )
    return session.exec(
        select(User)
        .outerjoin(load, load.c.owner_id == col(User.id))
        .where(User.role == Role.FRONT_DESK, col(User.active).is_(True))
        .order_by(sa.func.coalesce(load.c.n, 0), col(User.id))
    ).first()


def open_for_patient(*, session: Session, patient_id: int) -> FollowUp | None:
    return session.exec(
        select(FollowUp)
        .where(FollowUp.patient_id == patient_id, FollowUp.status == FollowUpStatus.OPEN)
        .order_by(col(FollowUp.id))
    ).first()


def describe_answer(survey: Survey) -> str:
    """``needed: no, good job: yes — "comment"`` (kept in English in the history: it is data, not UI)."""

    def word(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    text = f"needed: {word(survey.got_what_needed)}, good job: {word(survey.good_job)}"
    return text + (f' — "{survey.comment}"' if survey.comment else "")


def open_or_add(
    *,
    session: Session,
    survey: Survey,
    reason: FollowUpReason,
    now: dt.datetime,
    unit: Unit,
) -> FollowUp:
    """Open a follow-up for ``survey``'s patient, or add the event to the one already open. Flushes; the
    caller commits (it is part of recording the answer or giving up)."""
    kind = "answered" if reason == FollowUpReason.ANSWERED_NO else "no_answer"
    note = describe_answer(survey) if reason == FollowUpReason.ANSWERED_NO else f"survey {survey.id}: no answer"
    existing = open_for_patient(session=session, patient_id=survey.patient_id)
    if existing is not None:
        _event(session, existing, kind, note=note, at=now)
        session.flush()
        return existing
    owner = least_loaded_desk_user(session=session)
    follow_up = FollowUp(
        patient_id=survey.patient_id,
        visit_id=survey.visit_id,
        survey_id=survey.id,
        reason=reason,
        owner_id=owner.id if owner else None,
        due_at=add_working_days(now, unit.follow_up_due_working_days, unit.tz),
        summary=note[:500],
        created_at=now,
    )
    session.add(follow_up)
    session.flush()
    _event(session, follow_up, "opened", note=note, at=now)
    session.flush()
    return follow_up


def answered(*, session: Session, survey: Survey, now: dt.datetime, unit: Unit) -> FollowUp | None:
    """React to an answered survey (the caller commits): yes+yes closes the patient's open follow-up if
    it opened before the survey was made; any "no" opens one or adds to the open one."""
    if survey.got_what_needed and survey.good_job:
        follow_up = open_for_patient(session=session, patient_id=survey.patient_id)
        if follow_up is None or follow_up.created_at > survey.created_at:
            return follow_up
        _event(session, follow_up, "answered", note=describe_answer(survey), at=now)
        follow_up.status = FollowUpStatus.CLOSED
        follow_up.closed_at = now
        follow_up.closing_survey_id = survey.id
        session.add(follow_up)
        session.flush()
        _event(session, follow_up, "closed", note=f"survey {survey.id}: yes to both", at=now)
        session.flush()
        return follow_up
    return open_or_add(session=session, survey=survey, reason=FollowUpReason.ANSWERED_NO, now=now, unit=unit)


def get_follow_up(*, session: Session, follow_up_id: int) -> FollowUp:
    return get_or_raise(session, FollowUp, follow_up_id, what="follow-up")


def add_note(*, session: Session, follow_up_id: int, user_id: int | None, note: str, kind: str = "note",
             now: dt.datetime | None = None) -> FollowUpEvent:
    """A note, or a logged call (``kind="called"``) with what was said."""
    if kind not in NOTE_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(NOTE_KINDS)}", field="kind")
    text = (note or "").strip()
    if not text and kind == "note":
        raise ValidationError("write a note", field="note", code="empty_note")
    if len(text) > MAX_NOTE:
        raise ValidationError(f"at most {MAX_NOTE} characters", field="note", code="note_too_long")
    follow_up = get_follow_up(session=session, follow_up_id=follow_up_id)
    event = _event(session, follow_up, kind, user_id=user_id, note=text, at=now)
    session.commit()
    return event


def reassign(*, session: Session, follow_up_id: int, owner_id: int, user_id: int | None,
             now: dt.datetime | None = None) -> FollowUp:
    follow_up = get_follow_up(session=session, follow_up_id=follow_up_id)
    owner = session.get(User, owner_id) if 0 < owner_id < 2**31 else None
    if owner is None or not owner.active or owner.role not in (Role.FRONT_DESK, Role.COORDINATOR, Role.ADMIN):
        raise ValidationError("choose an active staff member", field="owner_id", code="bad_owner")
    if follow_up.status != FollowUpStatus.OPEN:
        raise Conflict("this follow-up is closed", code="closed")
    if follow_up.owner_id == owner.id:
        return follow_up
    follow_up.owner_id = owner.id
    session.add(follow_up)
    _event(session, follow_up, "reassigned", user_id=user_id, note=owner.display_name, at=now)
    session.commit()
    return follow_up


def re_ask(*, session: Session, follow_up_id: int, user_id: int | None, now: dt.datetime,
           tablet: bool = False, unit: Unit) -> Survey:
    """A new survey (trigger ``follow_up``) by the patient's channel, or on the tablet; any other survey
    still pending for the patient is withdrawn (this one replaces it). Committed; the caller (or the
    survey job) sends it."""
    follow_up = get_follow_up(session=session, follow_up_id=follow_up_id)
    if follow_up.status != FollowUpStatus.OPEN:
        raise Conflict("this follow-up is closed", code="closed")
    patient = session.get(Patient, follow_up.patient_id)
    channel = SurveyChannel.TABLET if tablet else channel_for(patient)
    if channel is None:
        raise Conflict("the patient opted out of messages: ask on the tablet", code="opted_out")
    for pending in session.exec(
        select(Survey).where(Survey.patient_id == patient.id, Survey.status == SurveyStatus.PENDING)
    ):
        pending.status = SurveyStatus.WITHDRAWN
        session.add(pending)
    count = session.exec(
        select(sa.func.count()).select_from(FollowUpEvent).where(
            FollowUpEvent.follow_up_id == follow_up.id, FollowUpEvent.kind == "re-asked")
    ).one()
    survey = Survey(
        patient_id=patient.id,
        visit_id=follow_up.visit_id,
        trigger=SurveyTrigger.FOLLOW_UP,
        source_ref=f"follow_up:{follow_up.id}:{count + 1}",
        channel=channel,
        language=patient.language,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(survey)
    session.flush()
    _event(session, follow_up, "re-asked", user_id=user_id, note=f"survey {survey.id} by {channel.value}", at=now)
    session.commit()
    return survey


def escalate_overdue(*, session: Session, now: dt.datetime) -> list[int]:
    """Stamp ``escalated_at`` on every open follow-up past its due time; returns their ids."""
    overdue = list(
        session.exec(
            select(FollowUp).where(
                FollowUp.status == FollowUpStatus.OPEN, col(FollowUp.due_at) < now, col(FollowUp.escalated_at).is_(None)
            )
        )
    )
    for follow_up in overdue:
        follow_up.escalated_at = now
        session.add(follow_up)
        _event(session, follow_up, "escalated", note="overdue: shown to the coordinator", at=now)
    session.commit()
    return [f.id for f in overdue]


# --- screens ------------------------------------------------------------------------------------

BOARD_FILTERS = ("all", "mine", "escalated", "closed")


@dataclass(frozen=True)
class BoardRow:
    follow_up: FollowUp
    patient: Patient
    owner: User | None
    overdue: bool
    last_event: FollowUpEvent | None


def board(*, session: Session, now: dt.datetime, show: str = "all", user_id: int | None = None) -> list[BoardRow]:
    """Open follow-ups first (earliest due first), then those closed in the last two weeks (latest first).
    ``show``: ``all``, ``mine`` (owned by ``user_id``), ``escalated`` (open and escalated), ``closed``."""
    if show not in BOARD_FILTERS:
        raise ValidationError(f"show must be one of {', '.join(BOARD_FILTERS)}", field="show")
    statement = select(FollowUp, Patient).join(Patient, col(Patient.id) == col(FollowUp.patient_id))
    recent = sa.or_(FollowUp.status == FollowUpStatus.OPEN, col(FollowUp.closed_at) >= now - CLOSED_SHOWN)
    if show == "mine":
        statement = statement.where(FollowUp.owner_id == user_id, recent)
    elif show == "escalated":
        statement = statement.where(FollowUp.status == FollowUpStatus.OPEN, col(FollowUp.escalated_at).is_not(None))
    elif show == "closed":
        statement = statement.where(FollowUp.status == FollowUpStatus.CLOSED, col(FollowUp.closed_at) >= now - CLOSED_SHOWN)
    else:
        statement = statement.where(recent)
    pairs = list(session.exec(statement))
    open_pairs = sorted((p for p in pairs if p[0].status == FollowUpStatus.OPEN), key=lambda p: (p[0].due_at, p[0].id))
    closed_pairs = sorted((p for p in pairs if p[0].status != FollowUpStatus.OPEN),
                          key=lambda p: (p[0].closed_at or now, p[0].id), reverse=True)
    pairs = open_pairs + closed_pairs
    owners = _users(session, {f.owner_id for f, _ in pairs})
    last = _last_events(session, [f.id for f, _ in pairs])
    return [
        BoardRow(f, p, owners.get(f.owner_id), f.status == FollowUpStatus.OPEN and f.due_at < now, last.get(f.id))
        for f, p in pairs
    ]


def _users(session: Session, ids: set[int | None]) -> dict[int, User]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {u.id: u for u in session.exec(select(User).where(col(User.id).in_(wanted)))}


def _last_events(session: Session, ids: list[int]) -> dict[int, FollowUpEvent]:
    if not ids:
        return {}
    found: dict[int, FollowUpEvent] = {}
    for event in session.exec(
        select(FollowUpEvent).where(col(FollowUpEvent.follow_up_id).in_(ids)).order_by(col(FollowUpEvent.at), col(FollowUpEvent.id))
    ):
        found[event.follow_up_id] = event
    return found


@dataclass(frozen=True)
class FollowUpDetail:
    follow_up: FollowUp
    patient: Patient
    owner: User | None
    events: list[tuple[FollowUpEvent, User | None]]
    surveys: list[Survey]
    overdue: bool


def detail(*, session: Session, follow_up_id: int, now: dt.datetime) -> FollowUpDetail:
    follow_up = get_follow_up(session=session, follow_up_id=follow_up_id)
    patient = session.get(Patient, follow_up.patient_id)
    events = list(
        session.exec(
            select(FollowUpEvent).where(FollowUpEvent.follow_up_id == follow_up.id)
            .order_by(col(FollowUpEvent.at), col(FollowUpEvent.id))
        )
    )
    users = _users(session, {e.user_id for e in events} | {follow_up.owner_id})
    prefix = f"follow_up:{follow_up.id}:"
    surveys = list(
        session.exec(
            select(Survey).where(
                Survey.patient_id == patient.id,
                sa.or_(Survey.id == follow_up.survey_id, col(Survey.source_ref).startswith(prefix)),
            ).order_by(col(Survey.created_at), col(Survey.id))
        )
    )
    return FollowUpDetail(
        follow_up=follow_up,
        patient=patient,
        owner=users.get(follow_up.owner_id),
        events=[(e, users.get(e.user_id)) for e in events],
        surveys=surveys,
        overdue=follow_up.status == FollowUpStatus.OPEN and follow_up.due_at < now,
    )


def staff_owners(*, session: Session) -> list[User]:
    """Who may own a follow-up: active front-desk staff, coordinators and administrators."""
    return list(
        session.exec(
            select(User).where(
                col(User.active).is_(True), col(User.role).in_([Role.FRONT_DESK, Role.COORDINATOR, Role.ADMIN])
            ).order_by(col(User.display_name), col(User.id))
        )
    )
