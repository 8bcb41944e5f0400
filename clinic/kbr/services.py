"""The KBR dashboard's data: the definitions in ``seed_data/kbrs.yaml``, the database read into the
plain records of ``clinic.kbr.figures`` (a fixed handful of queries for the last 12 weeks, however many
visits), and the figures, targets and breakdowns the coordinator's dashboard and CSV export show.
"""

import datetime as dt
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic import planning
from clinic.errors import ValidationError
from clinic.feedback.models import FollowUp, Survey
from clinic.kbr import figures as fig
from clinic.kbr.definitions import Kbr, KbrFileError, KbrSet, load_kbrs
from clinic.messaging.models import InboundMessage, OutboxMessage
from clinic.messaging.rules_file import rules_in_force
from clinic.patients import segments as segment_rules
from clinic.patients.models import Patient
from clinic.refill.models import OfferStatus, WaitlistOffer
from clinic.service.models import GestureStatus, MeetingOutcome, RecoveryGesture, VolunteerAssignment
from clinic.unit.context import Unit
from clinic.visits.models import Visit, VisitCheckin, VisitStatus, VisitStep
from scheduling import instance as engine
from scheduling.check import critical_path

KBRS_PATH = Path(__file__).resolve().parents[2] / "seed_data" / "kbrs.yaml"
WEEKS = 12
LEVELS = ("generic", "expected", "augmented", "potential")


# --- definitions --------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _definitions(path: str, mtime: float) -> KbrSet:
    return load_kbrs(path, known_ids=fig.FIGURES)


def definitions(path: Path | None = None) -> KbrSet:
    """The KBRs in force (``seed_data/kbrs.yaml``); a broken file is a ``ValidationError`` listing every
    problem (field ``kbrs``)."""
    path = path or KBRS_PATH
    try:
        return _definitions(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        raise ValidationError(f"{path.name} is missing", code="kbrs_invalid", field="kbrs") from None
    except KbrFileError as exc:
        raise ValidationError(str(exc), code="kbrs_invalid", field="kbrs", problems=exc.problems) from None


# --- database -> records ------------------------------------------------------------------------


def _local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)


class _Segmenter:
    """Segment labels of a patient on a day (the project's own ``segments_for``, KBR segments only)."""

    def __init__(self, unit: Unit):
        self.unit = unit
        self.cache: dict[tuple, frozenset[str]] = {}

    def __call__(self, birth_date: dt.date, distance_km: float, day: dt.date) -> frozenset[str]:
        key = (birth_date, distance_km, day)
        if key not in self.cache:
            patient = SimpleNamespace(
                birth_date=birth_date,
                distance_km=distance_km,
                needs_wheelchair=False,
                needs_interpreter=False,
                needs_hearing=False,
            )
            day = max(day, birth_date)
            labels = segment_rules.segments_for(patient, day, unit=self.unit)
            self.cache[key] = frozenset(labels) & frozenset(fig.SEGMENTS)
        return self.cache[key]


def _critical_paths(session: Session) -> dict[int, int]:
    """Each pathway's critical path in minutes, as the engine defines it (``scheduling.check``)."""
    staff = planning.load_staff(session=session)
    return {
        pathway.id: critical_path(
            engine.Request(id=pathway.code, patient="p", steps=planning.engine_steps(pathway, staff=staff))
        )
        for pathway in planning.load_pathways(session=session).values()
        if pathway.steps
    }


def load_data(
    *,
    session: Session,
    unit: Unit,
    today: dt.date,
    weeks: int = WEEKS,
    unit_costs: dict[str, int] | None = None,
) -> fig.KbrData:
    """The records of the ``weeks`` ISO weeks up to ``today`` (clinic time zone), in nine queries."""
    zone = ZoneInfo(unit.tz)
    first, last = fig.week_bounds(today, weeks)
    since, until = _local_midnight(first, zone), _local_midnight(last + dt.timedelta(days=1), zone)
    segs = _Segmenter(unit)

    def local_day(instant: dt.datetime) -> dt.date:
        return instant.astimezone(zone).date()

    cps = _critical_paths(session)
    visit_rows = session.exec(
        select(
            Visit.id,
            Visit.date,
            Visit.status,
            Visit.pathway_id,
            Visit.cancelled_at,
            Patient.birth_date,
            Patient.distance_km,
        )  # fmt: skip
        .join(Patient, col(Patient.id) == Visit.patient_id)
        .where(col(Visit.date) >= first, col(Visit.date) <= last)
    ).all()
    in_range = select(Visit.id).where(col(Visit.date) >= first, col(Visit.date) <= last)
    steps: dict[int, list[fig.StepRecord]] = defaultdict(list)
    planned: dict[int, int] = defaultdict(int)
    for visit_id, status, p_start, p_end, a_start, a_end in session.exec(
        select(
            VisitStep.visit_id,
            VisitStep.status,
            VisitStep.planned_start,
            VisitStep.planned_end,
            VisitStep.actual_start,
            VisitStep.actual_end,
        ).where(col(VisitStep.visit_id).in_(in_range))  # fmt: skip
    ):
        planned[visit_id] += int((p_end - p_start).total_seconds() // 60)
        steps[visit_id].append(
            fig.StepRecord(
                status=str(status.value if hasattr(status, "value") else status),
                actual_start=a_start,
                actual_end=a_end,
                start_day=local_day(a_start) if a_start else None,
                end_day=local_day(a_end) if a_end else None,
            )
        )
    checkins = {
        visit_id: (voucher is not None, transport)
        for visit_id, voucher, transport in session.exec(
            select(VisitCheckin.visit_id, VisitCheckin.coffee_voucher, VisitCheckin.transport_booked).where(
                col(VisitCheckin.visit_id).in_(in_range)
            )
        )
    }
    volunteer_minutes: dict[int, int] = defaultdict(int)
    for visit_id, meet_at, leave_at in session.exec(
        select(VolunteerAssignment.visit_id, VolunteerAssignment.meet_at, VolunteerAssignment.leave_at).where(
            col(VolunteerAssignment.visit_id).in_(in_range),
            VolunteerAssignment.outcome == MeetingOutcome.MET,
        )
    ):
        volunteer_minutes[visit_id] += max(0, int((leave_at - meet_at).total_seconds() // 60))

    first_offer: dict[int, dt.datetime] = {}
    accepted: dict[int, tuple[dt.datetime | None, int | None]] = {}
    for source_id, sent_at, status, answered_at, booked_id in session.exec(
        select(
            WaitlistOffer.source_visit_id,
            WaitlistOffer.sent_at,
            WaitlistOffer.status,
            WaitlistOffer.answered_at,
            WaitlistOffer.booked_visit_id,
        ).where(col(WaitlistOffer.source_visit_id).in_(in_range))  # fmt: skip
    ):
        if source_id not in first_offer or sent_at < first_offer[source_id]:
            first_offer[source_id] = sent_at
        if status == OfferStatus.ACCEPTED:
            accepted[source_id] = (answered_at, booked_id)

    visits: list[fig.VisitRecord] = []
    cancellations: list[fig.CancelRecord] = []
    for visit_id, day, status, pathway_id, cancelled_at, birth, distance in visit_rows:
        labels = segs(birth, distance, day)
        status_value = status.value if hasattr(status, "value") else str(status)
        coffee, transport = checkins.get(visit_id, (False, False))
        visits.append(
            fig.VisitRecord(
                id=visit_id,
                day=day,
                status=status_value,
                segments=labels,
                critical_path=cps.get(pathway_id, 0),
                steps=tuple(steps.get(visit_id, ())),
                coffee_voucher=coffee,
                transport_booked=transport,
                volunteer_minutes=volunteer_minutes.get(visit_id, 0),
            )
        )
        if status_value == VisitStatus.CANCELLED.value:
            answered_at, booked_id = accepted.get(visit_id, (None, None))
            cancellations.append(
                fig.CancelRecord(
                    visit_id=visit_id,
                    day=day,
                    segments=labels,
                    freed_minutes=planned.get(visit_id, 0),
                    cancelled_at=cancelled_at,
                    first_offer_at=first_offer.get(visit_id),
                    accepted_at=answered_at if visit_id in accepted else None,
                    refilled_minutes=planned.get(booked_id, 0) if booked_id else 0,
                )
            )

    messages = _messages(session, since, until, local_day, segs)
    surveys = [
        fig.SurveyRecord(
            id=survey_id,
            day=local_day(asked_at or created_at),
            status=status.value if hasattr(status, "value") else str(status),
            segments=segs(birth, distance, local_day(asked_at or created_at)),
            got_what_needed=got,
            good_job=good,
        )
        for survey_id, asked_at, created_at, status, got, good, birth, distance in session.exec(
            select(
                Survey.id,
                Survey.asked_at,
                Survey.created_at,
                Survey.status,
                Survey.got_what_needed,
                Survey.good_job,
                Patient.birth_date,
                Patient.distance_km,
            )  # fmt: skip
            .join(Patient, col(Patient.id) == Survey.patient_id)
            .where(
                sa.func.coalesce(Survey.asked_at, Survey.created_at) >= since,
                sa.func.coalesce(Survey.asked_at, Survey.created_at) < until,
            )
        )
    ]
    followups = [
        fig.FollowUpRecord(
            id=followup_id,
            segments=segs(birth, distance, local_day(closed_at)),
            opened_at=created_at,
            closed_at=closed_at,
            closed_day=local_day(closed_at),
        )
        for followup_id, created_at, closed_at, birth, distance in session.exec(
            select(
                FollowUp.id, FollowUp.created_at, FollowUp.closed_at, Patient.birth_date, Patient.distance_km
            )
            .join(Patient, col(Patient.id) == FollowUp.patient_id)
            .where(col(FollowUp.closed_at) >= since, col(FollowUp.closed_at) < until)
        )
    ]
    gestures = []
    for gesture_id, created_at, cost, birth, distance, visit_day in session.exec(
        select(
            RecoveryGesture.id,
            RecoveryGesture.created_at,
            RecoveryGesture.cost_cents,
            Patient.birth_date,
            Patient.distance_km,
            Visit.date,
        )  # fmt: skip
        .join(Patient, col(Patient.id) == RecoveryGesture.patient_id)
        .outerjoin(Visit, col(Visit.id) == RecoveryGesture.visit_id)
        .where(RecoveryGesture.status == GestureStatus.GRANTED)
        .where(
            sa.or_(
                sa.and_(col(Visit.date) >= first, col(Visit.date) <= last),
                sa.and_(
                    col(Visit.id).is_(None),
                    col(RecoveryGesture.created_at) >= since,
                    col(RecoveryGesture.created_at) < until,
                ),
            )
        )
    ):
        day = visit_day or local_day(created_at)
        gestures.append(
            fig.GestureRecord(id=gesture_id, day=day, segments=segs(birth, distance, day), cost_cents=cost)
        )
    return fig.KbrData(
        visits=tuple(visits),
        cancellations=tuple(cancellations),
        messages=tuple(messages),
        surveys=tuple(surveys),
        followups=tuple(followups),
        gestures=tuple(gestures),
        unit_costs=dict(unit_costs or {}),
    )


def _messages(
    session: Session, since: dt.datetime, until: dt.datetime, local_day, segs
) -> list[fig.MessageRecord]:
    """Outbox rows due in the period; answered when an inbound SMS or key press for the same visit came
    within ``figures.ANSWER_WINDOW`` after the message was sent."""
    rows = session.exec(
        select(
            OutboxMessage.id,
            OutboxMessage.visit_id,
            OutboxMessage.action,
            OutboxMessage.channel,
            OutboxMessage.status,
            OutboxMessage.due_at,
            OutboxMessage.sent_at,
            Visit.date,
            Patient.birth_date,
            Patient.distance_km,
        )  # fmt: skip
        .join(Visit, col(Visit.id) == OutboxMessage.visit_id)
        .join(Patient, col(Patient.id) == OutboxMessage.patient_id)
        .where(col(OutboxMessage.due_at) >= since, col(OutboxMessage.due_at) < until)
    ).all()
    answers: dict[int, list[dt.datetime]] = defaultdict(list)
    for visit_id, received_at in session.exec(
        select(InboundMessage.visit_id, InboundMessage.received_at).where(
            col(InboundMessage.visit_id).is_not(None),
            col(InboundMessage.received_at) >= since,
            col(InboundMessage.received_at) < until + fig.ANSWER_WINDOW,
        )
    ):
        answers[visit_id].append(received_at)
    for times in answers.values():
        times.sort()
    out = []
    for row_id, visit_id, action, channel, status, due_at, sent_at, visit_day, birth, distance in rows:
        sent = sent_at or due_at
        times = answers.get(visit_id, [])
        index = bisect_left(times, sent)
        answered = index < len(times) and times[index] <= sent + fig.ANSWER_WINDOW
        out.append(
            fig.MessageRecord(
                id=row_id,
                day=local_day(due_at),
                action=action,
                channel=channel.value if hasattr(channel, "value") else str(channel),
                status=status.value if hasattr(status, "value") else str(status),
                segments=segs(birth, distance, visit_day),
                answered=answered,
            )
        )
    return out


# --- the dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    week: str
    figure: fig.Figure | None


@dataclass(frozen=True)
class Breakdown:
    label: str
    key: str
    current: fig.Figure | None
    period: fig.Figure | None


@dataclass(frozen=True)
class KbrView:
    kbr: Kbr
    points: tuple[Point, ...]
    current: fig.Figure | None
    target_met: bool | None
    promise_kept: bool | None
    segments: tuple[Breakdown, ...]
    channels: tuple[Breakdown, ...] = ()

    @property
    def has_data(self) -> bool:
        return any(p.figure is not None for p in self.points)


@dataclass(frozen=True)
class RuleLevel:
    id: str
    level: str
    in_force: bool
    description: str
    layer: str = ""
    segment: str = ""


@dataclass(frozen=True)
class Dashboard:
    weeks: tuple[str, ...]
    current_week: str
    segment: str | None
    kbrs: tuple[KbrView, ...]
    costs: tuple[tuple[str, fig.CostLine], ...]
    """(segment or ``all``, the services' cost over the 12 weeks)."""
    rules: tuple[RuleLevel, ...] = ()
    level_counts: dict[str, int] = field(default_factory=dict)

    def view(self, kbr_id: str) -> KbrView:
        for view in self.kbrs:
            if view.kbr.id == kbr_id:
                return view
        raise KeyError(kbr_id)


CHANNELS = ("sms", "voice", "email")


def kbr_view(
    kbr: Kbr,
    data: fig.KbrData,
    weeks: list[str],
    segment: str | None,
    *,
    partial: bool = True,
    minimum: int = fig.MIN_PARTIAL_COUNT,
) -> KbrView:
    """One KBR's weekly series (of ``segment``, or everyone), the current week against target and
    promise, and its breakdown per segment (and per channel for reminders). The last week is still under
    way when ``partial``: there a figure on fewer than ``minimum`` records is left out
    ("not measured yet"), never shown as a misleading 0."""
    compute = fig.FIGURES[kbr.id]
    last = weeks[-1]

    def now(**kw) -> fig.Figure | None:
        return fig.measured(compute(data, **kw).get(last), partial=partial, minimum=minimum)

    series = compute(data, segment)
    series[last] = now(segment=segment)  # type: ignore[assignment]
    current = series[last]
    wanted = set(weeks)

    def period(**kw) -> fig.Figure | None:
        return compute(data, group=lambda day: fig.ALL if fig.week_of(day) in wanted else None, **kw).get(
            fig.ALL
        )

    rows = [Breakdown("all", "all", current if segment is None else now(segment=None), period(segment=None))]
    for name in fig.SEGMENTS:
        rows.append(Breakdown(name, name, now(segment=name), period(segment=name)))
    channels: list[Breakdown] = []
    if kbr.id in fig.BY_CHANNEL:
        for channel in CHANNELS:
            channels.append(
                Breakdown(
                    channel,
                    channel,
                    now(segment=segment, channel=channel),
                    period(segment=segment, channel=channel),
                )
            )
    return KbrView(
        kbr=kbr,
        points=tuple(Point(week, series.get(week)) for week in weeks),
        current=current,
        target_met=kbr.met(current.value if current else None, kbr.target),
        promise_kept=kbr.met(current.value if current else None, kbr.promise),
        segments=tuple(rows),
        channels=tuple(channels),
    )


def rule_levels(*, session: Session) -> tuple[tuple[RuleLevel, ...], dict[str, int]]:
    """Each outreach rule in force with its service level, then the potential ideas not in force."""
    ruleset = rules_in_force(session=session).rules
    rows = [
        RuleLevel(
            id=rule.id,
            level=rule.level,
            in_force=True,
            description=rule.description,
            layer=rule.layer,
            segment=rule.condition.describe() if rule.condition else "",
        )
        for rule in ruleset.rules
    ]
    rows += [
        RuleLevel(
            id=idea.id,
            level="potential",
            in_force=False,
            description=idea.description,
            segment=idea.condition.describe() if idea.condition else "",
        )
        for idea in ruleset.potential
    ]
    counts = {level: sum(1 for r in rows if r.level == level) for level in LEVELS}
    return tuple(rows), counts


def dashboard(
    *,
    session: Session,
    unit: Unit,
    today: dt.date,
    segment: str | None = None,
    kbrs: KbrSet | None = None,
    minimum: int = fig.MIN_PARTIAL_COUNT,
) -> Dashboard:
    """The dashboard for the 12 weeks up to ``today``; ``today``'s week is under way, so its figures need
    ``minimum`` records (``kbr_view``)."""
    if segment is not None and segment not in fig.SEGMENTS:
        raise ValidationError(f"unknown segment {segment!r}", code="unknown_segment", field="segment")
    kbrs = kbrs or definitions()
    data = load_data(
        session=session,
        unit=unit,
        today=today,
        unit_costs=dict(kbrs.unit_costs),
    )
    weeks = fig.last_weeks(today, WEEKS)
    wanted = set(weeks)

    def in_period(day: dt.date) -> str | None:
        return fig.ALL if fig.week_of(day) in wanted else None

    costs = [("all", fig.cost_lines(data, None, group=in_period).get(fig.ALL, fig.CostLine()))]
    costs += [
        (name, fig.cost_lines(data, name, group=in_period).get(fig.ALL, fig.CostLine()))
        for name in fig.SEGMENTS
    ]
    rules, counts = rule_levels(session=session)
    return Dashboard(
        weeks=tuple(weeks),
        current_week=weeks[-1],
        segment=segment,
        kbrs=tuple(kbr_view(kbr, data, weeks, segment, minimum=minimum) for kbr in kbrs.kbrs),
        costs=tuple(costs),
        rules=rules,
        level_counts=counts,
    )


# --- CSV ----------------------------------------------------------------------------------------

CSV_HEADER = (
    "kbr_id", "kbr", "unit", "direction", "week", "segment", "channel", "value", "count", "target", "promise",
    "target_met",
)  # fmt: skip


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _met(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _csv_row(kbr: Kbr, week: str, segment: str, channel: str, figure: fig.Figure | None) -> list[str]:
    value = figure.value if figure else None
    return [
        kbr.id, kbr.name, kbr.unit, kbr.direction, week, segment, channel, _fmt(value),
        str(figure.count if figure else 0), _fmt(kbr.target), _fmt(kbr.promise), _met(kbr.met(value, kbr.target)),
    ]  # fmt: skip


def csv_rows(*, board: Dashboard, kbr_id: str | None = None) -> list[list[str]]:
    """The figures of the page: per KBR each week of the chart (everyone, or the filtered segment), then the
    breakdown per segment (and channel) for the current week and for the whole period (``first/last`` week).
    ``value`` is empty where there is no figure; ``count`` is how many records it was computed from."""
    rows: list[list[str]] = [list(CSV_HEADER)]
    period = f"{board.weeks[0]}/{board.weeks[-1]}"
    shown = board.segment or "all"
    for view in board.kbrs:
        kbr = view.kbr
        if kbr_id is not None and kbr.id != kbr_id:
            continue
        for point in view.points:
            rows.append(_csv_row(kbr, point.week, shown, "", point.figure))
        for b in view.segments:
            rows.append(_csv_row(kbr, board.current_week, b.key, "", b.current))
            rows.append(_csv_row(kbr, period, b.key, "", b.period))
        for b in view.channels:
            rows.append(_csv_row(kbr, board.current_week, shown, b.key, b.current))
            rows.append(_csv_row(kbr, period, shown, b.key, b.period))
    return rows
