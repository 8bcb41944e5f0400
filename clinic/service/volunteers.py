"""Volunteers who meet patients: the day's matching, the coordinator's overrides, the volunteer's own list,
"met" / "not met" (the SMS with the list the evening before: ``clinic.service.volunteer_notices``).

Who needs a volunteer: every long-distance patient (``clinic.patients.segments``, the same thresholds as
everywhere) with an active visit that day, plus any visit a clerk flagged. One ``VolunteerAssignment``
row per such visit; ``match_day`` (re)writes the automatic rows and never touches the coordinator's
``override`` rows, rows whose meeting is done or already under way.

A volunteer sees only what helping needs (``VolunteerListRow``): first name and initial, arrival time
and meeting place, expected leave time, language, wheelchair and hearing needs. Nothing else about the
patient leaves this module for the volunteer's screens or SMS.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.columns import utcnow
from clinic.errors import Conflict, DomainError, ValidationError, get_or_raise
from clinic.messaging import outreach
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.service.models import (
    AssignmentReason,
    AssignmentSource,
    MeetingOutcome,
    Volunteer,
    VolunteerAssignment,
    VolunteerAvailability,
)
from clinic.translatable import N_
from clinic.unit.context import Unit
from clinic.unit.models import ResourceHours
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitCheckin, VisitStatus
from scheduling import volunteers as matcher

MEET_LEAD_MINUTES = 10
"""The volunteer meets the patient this long before their first step."""
MIN_GAP_MINUTES = 20
"""A volunteer never meets two patients whose meeting times are closer than this."""
MEETING_PLACE = "main_entrance"
NOTICE_TIME = dt.time(18, 0)
"""The evening before, local time: when the volunteer's SMS goes out."""
FLAGGABLE = frozenset({VisitStatus.BOOKED, VisitStatus.CONFIRMED, VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS})


MEETING_PLACES = {MEETING_PLACE: N_("Main entrance")}


class NotYours(DomainError):
    """A volunteer tried to act on another volunteer's patient."""

    default_code = "not_yours"


# --- matching -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchReport:
    day: dt.date
    assigned: int
    unassigned: int
    kept: int
    removed: int
    changed: int


def _code(value: object) -> str:
    return str(getattr(value, "value", value))


def _local_minutes(moment: dt.datetime, day: dt.date, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return (local.date() - day).days * 24 * 60 + local.hour * 60 + local.minute


def _stay(visit: Visit, meet_lead: int) -> tuple[dt.datetime, dt.datetime] | None:
    steps = list(visit.steps)
    if not steps:
        return None
    first = visit.arrival_at or min(s.planned_start for s in steps)
    last = max(s.planned_end for s in steps)
    return first - dt.timedelta(minutes=meet_lead), last


def _is_long_distance(patient: Patient, unit: Unit) -> bool:
    region = segments.region_for(patient.distance_km, unit=unit)
    return region is segments.Region.LONG_DISTANCE


def _is_flagged(row: VolunteerAssignment | None) -> bool:
    return row is not None and (row.reason == AssignmentReason.FLAGGED or row.flagged_by is not None)


def _availability(session: Session, day: dt.date) -> list[tuple[Volunteer, list[tuple[dt.time, dt.time]]]]:
    volunteers = session.exec(select(Volunteer).where(col(Volunteer.active).is_(True)).order_by(col(Volunteer.id))).all()
    slots = session.exec(
        select(VolunteerAvailability).where(VolunteerAvailability.weekday == day.weekday())
    ).all()
    windows: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for slot in slots:
        windows.setdefault(slot.volunteer_id, []).append((slot.starts, slot.ends))
    return [(v, sorted(windows.get(v.id, []))) for v in volunteers]


def _volunteer_days(session: Session, day: dt.date) -> list[matcher.VolunteerDay]:
    return [
        matcher.VolunteerDay(
            volunteer_id=v.id,
            windows=tuple((s.hour * 60 + s.minute, e.hour * 60 + e.minute) for s, e in windows),
            languages=tuple(v.languages or ()),
        )
        for v, windows in _availability(session, day)
    ]


def _previous_volunteers(session: Session, patient_ids: Iterable[int], day: dt.date) -> dict[int, tuple[int, ...]]:
    """Per patient, the volunteers who met them before ``day`` (assignments and check-ins), most recent first."""
    patient_ids = list(set(patient_ids))
    if not patient_ids:
        return {}
    seen: dict[int, list[tuple[dt.date, int]]] = {}
    assigned = session.exec(
        select(Visit.patient_id, VolunteerAssignment.day, VolunteerAssignment.volunteer_id)
        .join(Visit, col(Visit.id) == col(VolunteerAssignment.visit_id))
        .where(
            col(Visit.patient_id).in_(patient_ids),
            VolunteerAssignment.day < day,
            col(VolunteerAssignment.volunteer_id).is_not(None),
            sa.or_(col(VolunteerAssignment.outcome).is_(None), VolunteerAssignment.outcome == MeetingOutcome.MET),
        )
    ).all()
    checked_in = session.exec(
        select(Visit.patient_id, Visit.date, VisitCheckin.volunteer_id)
        .join(Visit, col(Visit.id) == col(VisitCheckin.visit_id))
        .where(col(Visit.patient_id).in_(patient_ids), Visit.date < day, col(VisitCheckin.volunteer_id).is_not(None))
    ).all()
    for patient_id, when, volunteer_id in [*assigned, *checked_in]:
        seen.setdefault(patient_id, []).append((when, volunteer_id))
    result = {}
    for patient_id, pairs in seen.items():
        ordered: list[int] = []
        for _when, volunteer_id in sorted(pairs, key=lambda p: p[0], reverse=True):
            if volunteer_id not in ordered:
                ordered.append(volunteer_id)
        result[patient_id] = tuple(ordered)
    return result


def _note(assignment: matcher.Assignment) -> str:
    notes = []
    if not assignment.language_match:
        notes.append("other_language")
    if assignment.returning:
        notes.append("returning")
    return " ".join(notes)


def match_day(
    *,
    session: Session,
    day: dt.date,
    unit: Unit,
    now: dt.datetime,
    min_gap: int = MIN_GAP_MINUTES,
    meet_lead: int = MEET_LEAD_MINUTES,
    time_limit: float = 5.0,
) -> MatchReport:
    """(Re)match ``day``: every long-distance or flagged active visit gets a row; automatic rows get the
    matcher's volunteer (or none, with the reason in ``match_note``); override rows, meetings already
    recorded and meetings whose time has passed stay as they are; rows of cancelled visits go.

    Idempotent: a second run on unchanged data changes nothing (the matcher keeps current choices
    when nothing is better)."""
    zone = ZoneInfo(unit.tz)
    try:
        visits = session.exec(
            select(Visit).where(Visit.date == day, col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)))
        ).all()
        active = {v.id: v for v in visits}
        rows = session.exec(
            select(VolunteerAssignment).where(
                sa.or_(VolunteerAssignment.day == day, col(VolunteerAssignment.visit_id).in_(list(active) or [-1]))
            )
        ).all()
        by_visit = {r.visit_id: r for r in rows}
        removed = 0
        for row in rows:
            if row.visit_id in active:
                continue
            visit = session.get(Visit, row.visit_id)
            if visit is not None and visit.status in ACTIVE_VISIT_STATUSES and visit.date != day:
                row.day, row.source, row.volunteer_id, row.match_note = visit.date, AssignmentSource.AUTO, None, "moved"
                row.outcome, row.outcome_at = None, None
            else:
                session.delete(row)
                removed += 1
            del by_visit[row.visit_id]

        previous = _previous_volunteers(session, [v.patient_id for v in visits], day)
        needs: list[matcher.Need] = []
        fixed: list[matcher.Fixed] = []
        for visit in sorted(visits, key=lambda v: v.id):
            row = by_visit.get(visit.id)
            stay = _stay(visit, meet_lead)
            long_distance = _is_long_distance(visit.patient, unit)
            if stay is None or not (long_distance or _is_flagged(row) or (row and row.source == AssignmentSource.OVERRIDE)):
                if row is not None:
                    session.delete(row)
                    del by_visit[visit.id]
                    removed += 1
                continue
            if row is None:
                row = VolunteerAssignment(
                    visit_id=visit.id, day=day, reason=AssignmentReason.LONG_DISTANCE, meet_at=stay[0],
                    leave_at=stay[1], meeting_place=MEETING_PLACE,
                )
                session.add(row)
                by_visit[visit.id] = row
            elif row.day != day:
                row.day, row.source, row.volunteer_id, row.outcome, row.outcome_at = (
                    day, AssignmentSource.AUTO, None, None, None
                )
            row.reason = AssignmentReason.LONG_DISTANCE if long_distance else AssignmentReason.FLAGGED
            row.meet_at, row.leave_at = stay
            row.meeting_place = row.meeting_place or MEETING_PLACE
            meet = _local_minutes(stay[0], day, zone)
            keep = row.volunteer_id is not None and (
                row.source == AssignmentSource.OVERRIDE or row.outcome is not None or row.meet_at <= now
            )
            if keep:
                fixed.append(matcher.Fixed(visit_id=visit.id, volunteer_id=row.volunteer_id, meet=meet))
            needs.append(
                matcher.Need(
                    visit_id=visit.id,
                    patient_id=visit.patient_id,
                    meet=meet,
                    leave=_local_minutes(stay[1], day, zone),
                    language=_code(visit.patient.language),
                    previous_volunteers=previous.get(visit.patient_id, ()),
                    current_volunteer=row.volunteer_id,
                )
            )
        problem = matcher.Problem(
            needs=tuple(needs), volunteers=tuple(_volunteer_days(session, day)), fixed=tuple(fixed),
            min_gap=min_gap, time_limit=time_limit,
        )
        result = matcher.match(problem)
        changed = 0
        for a in result.assignments:
            row = by_visit[a.visit_id]
            changed += row.volunteer_id != a.volunteer_id
            row.volunteer_id, row.match_note, row.source = a.volunteer_id, _note(a), AssignmentSource.AUTO
        for u in result.unassigned:
            row = by_visit[u.visit_id]
            changed += row.volunteer_id is not None
            row.volunteer_id, row.match_note, row.source = None, u.reason.value, AssignmentSource.AUTO
        _announce(session, {r.visit_id: by_visit.get(r.visit_id) for r in rows} | by_visit, now=now, tz=unit.tz)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("volunteer matching for this day ran twice at once; run it again", code="match_busy") from None
    except Exception:
        session.rollback()
        raise
    return MatchReport(
        day=day, assigned=len(result.assignments), unassigned=len(result.unassigned), kept=len(fixed),
        removed=removed, changed=changed,
    )


def _announce(
    session: Session, rows: dict[int, VolunteerAssignment | None], *, now: dt.datetime, tz: str
) -> None:
    """Bring each visit's announcement to its patient (``clinic.messaging.outreach``) up to date with its
    assignment: the volunteer's first name, the place and the time; withdrawn when nobody meets the visit
    (``None``: its row went) or the row is not on the visit's day (moved, not matched yet)."""
    session.flush()
    volunteer_ids = {r.volunteer_id for r in rows.values() if r is not None and r.volunteer_id is not None}
    names = {
        v.id: v.name
        for v in session.exec(select(Volunteer).where(col(Volunteer.id).in_(list(volunteer_ids) or [-1])))
    }
    meetings: dict[int, outreach.Meeting | None] = {}
    for visit_id, row in rows.items():
        name = names.get(row.volunteer_id) if row is not None and row.volunteer_id is not None else None
        meetings[visit_id] = None if row is None or not name else outreach.Meeting(
            first_name=name.split()[0], place=MEETING_PLACES.get(row.meeting_place, row.meeting_place),
            meet_at=row.meet_at,
        )
    outreach.plan_volunteer_announcements(session=session, meetings=meetings, now=now, tz=tz)


def match_visit_day(
    *,
    session: Session,
    visit_id: int,
    unit: Unit,
    now: dt.datetime,
    time_limit: float = 2.0,
) -> list[MatchReport]:
    """After a visit was booked, cancelled or moved: re-match its day (and the day its volunteer row was on,
    when that differs), unless the day is past."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    days = {visit.date}
    row = visit_assignment(session=session, visit_id=visit_id)
    if row is not None:
        days.add(row.day)
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    return [
        match_day(session=session, day=day, unit=unit, now=now,
                  time_limit=time_limit)
        for day in sorted(days)
        if day >= today
    ]


def next_clinic_day(*, session: Session, after: dt.date) -> dt.date:
    """The first day after ``after`` on a weekday the clinic opens (any resource has opening hours)."""
    weekdays = set(session.exec(select(ResourceHours.weekday).distinct()).all()) or {0, 1, 2, 3, 4}
    day = after + dt.timedelta(days=1)
    while day.weekday() not in weekdays:
        day += dt.timedelta(days=1)
    return day


# --- flags, overrides, outcomes -------------------------------------------------------------------------


def _row(session: Session, assignment_id: int) -> VolunteerAssignment:
    row = get_or_raise(
        session, VolunteerAssignment, assignment_id, what="volunteer assignment", field="assignment_id"
    )
    return row


def flag_visit(
    *,
    session: Session,
    visit_id: int,
    actor_id: int | None,
    unit: Unit,
    now: dt.datetime,
    meet_lead: int = MEET_LEAD_MINUTES,
) -> VolunteerAssignment:
    """A clerk asks for a volunteer for this visit (idempotent). Matching is the caller's next step."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status not in FLAGGABLE:
        raise Conflict("only a booked or running visit can get a volunteer", code="not_flaggable", field="visit_id")
    if visit.date < now.astimezone(ZoneInfo(unit.tz)).date():
        raise Conflict("this visit is in the past", code="past_visit", field="visit_id")
    stay = _stay(visit, meet_lead)
    if stay is None:
        raise Conflict("this visit has no planned steps yet", code="no_steps", field="visit_id")
    row = session.exec(select(VolunteerAssignment).where(VolunteerAssignment.visit_id == visit_id)).first()
    if row is None:
        long_distance = _is_long_distance(visit.patient, unit)
        row = VolunteerAssignment(
            visit_id=visit_id, day=visit.date, meet_at=stay[0], leave_at=stay[1], meeting_place=MEETING_PLACE,
            reason=AssignmentReason.LONG_DISTANCE if long_distance else AssignmentReason.FLAGGED,
        )
        session.add(row)
    if row.flagged_by is None:
        row.flagged_by = actor_id
    if row.reason != AssignmentReason.LONG_DISTANCE:
        row.reason = AssignmentReason.FLAGGED
    session.flush()
    audit.record(session=session, actor_id=actor_id, action="volunteer.flag", entity="visit", entity_id=visit_id)
    session.commit()
    return row


def _covers(windows: Sequence[tuple[dt.time, dt.time]], row: VolunteerAssignment, zone: ZoneInfo) -> bool:
    meet = _local_minutes(row.meet_at, row.day, zone)
    leave = _local_minutes(row.leave_at, row.day, zone)
    return any(s.hour * 60 + s.minute <= meet and leave <= e.hour * 60 + e.minute for s, e in windows)


def override(
    *,
    session: Session,
    assignment_id: int,
    volunteer_id: int | None,
    actor_id: int | None,
    tz: str,
    now: dt.datetime | None = None,
) -> VolunteerAssignment:
    """The coordinator's choice: ``volunteer_id`` meets this patient whatever the matching says (it must be
    available for the whole stay). ``None`` hands the row back to automatic matching."""
    row = _row(session, assignment_id)
    if row.outcome is not None:
        raise Conflict("the meeting is already recorded", code="already_recorded")
    if volunteer_id is None:
        row.source, row.match_note = AssignmentSource.AUTO, ""
    else:
        choices = {v.id: w for v, w in _availability(session, row.day)}
        if volunteer_id not in choices:
            raise ValidationError("no such active volunteer", field="volunteer_id")
        if not _covers(choices[volunteer_id], row, ZoneInfo(tz)):
            raise ValidationError("this volunteer is not available for the whole stay", field="volunteer_id",
                                  code="not_available")
        row.volunteer_id, row.source, row.match_note = volunteer_id, AssignmentSource.OVERRIDE, ""
    audit.record(
        session=session, actor_id=actor_id, action="volunteer.override", entity="visit", entity_id=row.visit_id,
        details={"volunteer_id": volunteer_id},
    )
    _announce(session, {row.visit_id: row}, now=now or utcnow(), tz=tz)
    session.commit()
    return row


def record_outcome(
    *,
    session: Session,
    assignment_id: int,
    volunteer_id: int,
    outcome: MeetingOutcome | str,
    now: dt.datetime,
    tz: str,
    actor_id: int | None = None,
) -> VolunteerAssignment:
    """The assigned volunteer marks "met" or "not met", on the day itself (and may correct it that day)."""
    try:
        outcome = MeetingOutcome(outcome)
    except ValueError:
        raise ValidationError("choose met or not met", field="outcome") from None
    row = _row(session, assignment_id)
    if row.volunteer_id != volunteer_id:
        raise NotYours("this patient is on another volunteer's list", field="assignment_id")
    if row.day != now.astimezone(ZoneInfo(tz)).date():
        raise Conflict("a meeting can only be marked on its day", code="not_today", field="assignment_id")
    row.outcome, row.outcome_at = outcome, now
    audit.record(
        session=session, actor_id=actor_id, action=f"volunteer.{outcome.value}", entity="visit",
        entity_id=row.visit_id,
    )
    session.commit()
    return row


# --- what a volunteer sees ----------------------------------------------------------------------------


LEFT = frozenset({VisitStatus.COMPLETED, VisitStatus.CANCELLED, VisitStatus.NO_SHOW})
"""Visits whose patient a volunteer no longer meets or accompanies."""


@dataclass(frozen=True)
class VolunteerListRow:
    """One patient on a volunteer's list: only what meeting and helping them needs."""

    assignment_id: int
    day: dt.date
    first_name: str
    family_initial: str
    meet_at: dt.datetime
    leave_at: dt.datetime
    meeting_place: str
    language: str
    wheelchair: bool
    hearing: bool
    outcome: str | None

    @property
    def short_name(self) -> str:
        return f"{self.first_name} {self.family_initial}." if self.family_initial else self.first_name


def volunteer_list(*, session: Session, volunteer_id: int, days: Iterable[dt.date]) -> list[VolunteerListRow]:
    """The volunteer's own patients on ``days``, by day and meeting time; patients who have gone home
    (checked out, completed) or will not come (cancelled, no-show) are off the list."""
    days = list(days)
    rows = session.exec(
        select(VolunteerAssignment, Patient)
        .join(Visit, col(Visit.id) == col(VolunteerAssignment.visit_id))
        .join(Patient, col(Patient.id) == col(Visit.patient_id))
        .where(
            VolunteerAssignment.volunteer_id == volunteer_id,
            col(VolunteerAssignment.day).in_(days),
            col(Visit.status).not_in(list(LEFT)),
        )
        .order_by(col(VolunteerAssignment.day), col(VolunteerAssignment.meet_at), col(VolunteerAssignment.id))
    ).all()
    return [
        VolunteerListRow(
            assignment_id=row.id,
            day=row.day,
            first_name=patient.given_name,
            family_initial=patient.family_name.strip()[:1].upper(),
            meet_at=row.meet_at,
            leave_at=row.leave_at,
            meeting_place=row.meeting_place,
            language=_code(patient.language),
            wheelchair=patient.needs_wheelchair,
            hearing=patient.needs_hearing,
            outcome=row.outcome.value if row.outcome else None,
        )
        for row, patient in rows
    ]


# --- the coordinator's day ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    volunteer_id: int
    name: str
    speaks: bool
    close_meetings: int
    """How many of this volunteer's other patients are met less than the minimum gap apart."""


@dataclass(frozen=True)
class AssignmentView:
    id: int
    visit_id: int
    patient_id: int
    patient_name: str
    mrn: str
    language: str
    wheelchair: bool
    hearing: bool
    meet_at: dt.datetime
    leave_at: dt.datetime
    meeting_place: str
    reason: str
    source: str
    volunteer_id: int | None
    volunteer_name: str | None
    note: str
    outcome: str | None
    options: tuple[Option, ...]


@dataclass(frozen=True)
class VolunteerLoad:
    volunteer_id: int
    name: str
    windows: tuple[tuple[dt.time, dt.time], ...]
    languages: tuple[str, ...]
    patients: int


@dataclass
class DayOverview:
    day: dt.date
    assigned: list[AssignmentView] = field(default_factory=list)
    unassigned: list[AssignmentView] = field(default_factory=list)
    volunteers: list[VolunteerLoad] = field(default_factory=list)


def day_overview(*, session: Session, day: dt.date, tz: str, min_gap: int = MIN_GAP_MINUTES) -> DayOverview:
    """The coordinator's view of ``day``: who meets whom, who is left and why, each volunteer's load, and
    for every row the volunteers available for the whole stay (for an override)."""
    zone = ZoneInfo(tz)
    available = _availability(session, day)
    names = {v.id: v.name for v, _w in available}
    rows = session.exec(
        select(VolunteerAssignment, Patient)
        .join(Visit, col(Visit.id) == col(VolunteerAssignment.visit_id))
        .join(Patient, col(Patient.id) == col(Visit.patient_id))
        .where(VolunteerAssignment.day == day)
        .order_by(col(VolunteerAssignment.meet_at), col(VolunteerAssignment.id))
    ).all()
    missing = {r.volunteer_id for r, _p in rows if r.volunteer_id is not None and r.volunteer_id not in names}
    for volunteer in session.exec(select(Volunteer).where(col(Volunteer.id).in_(list(missing) or [-1]))):
        names[volunteer.id] = volunteer.name
    overview = DayOverview(day=day)
    for row, patient in rows:
        options = []
        for volunteer, windows in available:
            if not windows or not _covers(windows, row, zone):
                continue
            close = sum(
                1
                for other, _p in rows
                if other.id != row.id and other.volunteer_id == volunteer.id
                and matcher.conflicts(
                    _local_minutes(other.meet_at, day, zone), _local_minutes(row.meet_at, day, zone), min_gap
                )
            )
            options.append(Option(volunteer.id, volunteer.name, _code(patient.language) in (volunteer.languages or []), close))
        view = AssignmentView(
            id=row.id, visit_id=row.visit_id, patient_id=patient.id, patient_name=patient.display_name, mrn=patient.mrn,
            language=_code(patient.language), wheelchair=patient.needs_wheelchair, hearing=patient.needs_hearing,
            meet_at=row.meet_at, leave_at=row.leave_at, meeting_place=row.meeting_place, reason=row.reason.value,
            source=row.source.value, volunteer_id=row.volunteer_id,
            volunteer_name=names.get(row.volunteer_id) if row.volunteer_id else None, note=row.match_note,
            outcome=row.outcome.value if row.outcome else None, options=tuple(options),
        )
        (overview.assigned if row.volunteer_id else overview.unassigned).append(view)
    loads: dict[int, int] = {}
    for row, _p in rows:
        if row.volunteer_id:
            loads[row.volunteer_id] = loads.get(row.volunteer_id, 0) + 1
    overview.volunteers = [
        VolunteerLoad(v.id, v.name, tuple(w), tuple(v.languages or ()), loads.get(v.id, 0))
        for v, w in available
        if w or loads.get(v.id)
    ]
    return overview


def visit_assignment(*, session: Session, visit_id: int) -> VolunteerAssignment | None:
    return session.exec(select(VolunteerAssignment).where(VolunteerAssignment.visit_id == visit_id)).first()


def active_volunteers(*, session: Session) -> list[Volunteer]:
    """The volunteers on the roster, by name."""
    return list(session.exec(select(Volunteer).where(col(Volunteer.active).is_(True)).order_by(col(Volunteer.name))))


def get_volunteer(*, session: Session, volunteer_id: int) -> Volunteer:
    return get_or_raise(session, Volunteer, volunteer_id, what="volunteer")
