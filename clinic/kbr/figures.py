"""The KBR figures: pure functions on plain records, per ISO week and per segment.

No database, no Flask: ``clinic.kbr.services`` reads the rows into these records (local dates already
taken in the clinic's time zone). A week without anything to measure has **no** figure (it is absent
from the series), never 0. Every KBR id of ``seed_data/kbrs.yaml`` names one entry of ``FIGURES``.

Segments are the project's own (``clinic.patients.segments.segments_for``): ``local``, ``regional``,
``long_distance`` and ``70+``; a patient of 70+ is also in one region segment.
"""

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TypeVar

SEGMENTS = ("local", "regional", "long_distance", "70+")
ANSWER_WINDOW = dt.timedelta(hours=48)
"""An inbound SMS or key press for the visit within this time after a reminder is its answer."""

CANCELLED = "cancelled"
COMPLETED = "completed"
NO_SHOW = "no_show"
TOOK_PLACE = frozenset({COMPLETED, NO_SHOW, "checked_in", "in_progress"})
"""Visits that were due to take place: the no-show rate's denominator."""
ATTEMPTED = frozenset({"sent", "delivered", "failed"})
ENDED = frozenset({COMPLETED, NO_SHOW})
"""Visits whose segment services are counted (``cost_lines``)."""


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    status: str
    actual_start: dt.datetime | None = None
    actual_end: dt.datetime | None = None
    start_day: dt.date | None = None
    """Local date of ``actual_start`` (clinic time zone); ``end_day`` likewise."""
    end_day: dt.date | None = None


@dataclass(frozen=True)
class VisitRecord:
    id: int
    day: dt.date
    status: str
    segments: frozenset[str]
    critical_path: int
    """The pathway's shortest possible span in minutes (``scheduling.check.critical_path``)."""
    steps: tuple[StepRecord, ...] = ()
    coffee_voucher: bool = False
    transport_booked: bool = False
    volunteer_minutes: int = 0
    """Minutes a volunteer spent with the patient (meet to leave), for met meetings only."""

    @cached_property
    def wait(self) -> int | None:
        """``wait_beyond_critical_path``, worked out once: a dashboard asks for it per KBR and segment."""
        return wait_beyond_critical_path(self)


@dataclass(frozen=True)
class CancelRecord:
    """A cancelled visit's freed place and how it was refilled."""

    visit_id: int
    day: dt.date
    segments: frozenset[str]
    freed_minutes: int
    cancelled_at: dt.datetime | None
    first_offer_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    refilled_minutes: int = 0
    """Planned minutes of the visit booked from the accepted offer."""


@dataclass(frozen=True)
class MessageRecord:
    id: int
    day: dt.date
    """Local date the message was due."""
    action: str
    channel: str
    status: str
    segments: frozenset[str]
    answered: bool = False


@dataclass(frozen=True)
class SurveyRecord:
    id: int
    day: dt.date
    """Local date the questions were asked (or, before that, created)."""
    status: str
    segments: frozenset[str]
    got_what_needed: bool | None = None
    good_job: bool | None = None


@dataclass(frozen=True)
class FollowUpRecord:
    id: int
    segments: frozenset[str]
    opened_at: dt.datetime
    closed_at: dt.datetime | None = None
    closed_day: dt.date | None = None


@dataclass(frozen=True)
class GestureRecord:
    id: int
    day: dt.date
    segments: frozenset[str]
    cost_cents: int


@dataclass(frozen=True)
class KbrData:
    visits: tuple[VisitRecord, ...] = ()
    cancellations: tuple[CancelRecord, ...] = ()
    messages: tuple[MessageRecord, ...] = ()
    surveys: tuple[SurveyRecord, ...] = ()
    followups: tuple[FollowUpRecord, ...] = ()
    gestures: tuple[GestureRecord, ...] = ()
    unit_costs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """One week's value of a KBR in its unit, and how many records it was computed from."""

    value: float
    count: int


Series = dict[str, Figure]
"""ISO week label (``2026-W47``) -> figure; weeks without data are absent."""


# --- helpers ------------------------------------------------------------------------------------


ALL = "all"
Group = Callable[[dt.date], str | None]
"""Which group (an ISO week by default) a record's date falls in; ``None`` leaves the record out."""


@lru_cache(maxsize=4096)
def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def last_weeks(today: dt.date, count: int = 12) -> list[str]:
    """The ISO weeks ending with the one holding ``today``, oldest first."""
    monday = today - dt.timedelta(days=today.weekday())
    return [week_of(monday - dt.timedelta(weeks=n)) for n in range(count - 1, -1, -1)]


def week_bounds(today: dt.date, count: int = 12) -> tuple[dt.date, dt.date]:
    """First (a Monday) and last (``today``) local date of ``last_weeks(today, count)``."""
    monday = today - dt.timedelta(days=today.weekday())
    return monday - dt.timedelta(weeks=count - 1), today


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by the nearest-rank method: the ``ceil(0.9 n)``-th smallest value, so at least
    90 % of the values are at or below it (1 value: that value; 5 values: the largest; 10: the 9th)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


R = TypeVar("R")


def only(records: Iterable[R], segment: str | None) -> list[R]:
    """The records of ``segment`` (all of them for ``None``)."""
    if segment is None:
        return list(records)
    if segment not in SEGMENTS:
        raise ValueError(f"unknown segment {segment!r} (use {', '.join(SEGMENTS)})")
    return [r for r in records if segment in r.segments]  # type: ignore[attr-defined]


def _by_week(
    records: Iterable[R], day: Callable[[R], dt.date | None], group: Group = week_of
) -> dict[str, list[R]]:
    weeks: dict[str, list[R]] = defaultdict(list)
    for record in records:
        when = day(record)
        key = group(when) if when is not None else None
        if key is not None:
            weeks[key].append(record)
    return weeks


def _share(
    groups: Mapping[str, list[R]], counts: Callable[[R], bool], included: Callable[[R], bool]
) -> Series:
    """Per week: the percentage of ``included`` records for which ``counts`` holds."""
    out: Series = {}
    for week, records in groups.items():
        base = [r for r in records if included(r)]
        if base:
            out[week] = Figure(100.0 * sum(1 for r in base if counts(r)) / len(base), len(base))
    return out


def _mean(groups: Mapping[str, list[float]]) -> Series:
    return {week: Figure(sum(values) / len(values), len(values)) for week, values in groups.items() if values}


# --- visits -------------------------------------------------------------------------------------


def within_one_visit(visit: VisitRecord) -> bool:
    """Every step done, started and ended on the visit day (a skipped or unfinished step means coming back)."""
    return bool(visit.steps) and all(
        s.status == "done" and s.start_day == visit.day and s.end_day == visit.day for s in visit.steps
    )


def wait_beyond_critical_path(visit: VisitRecord) -> int | None:
    """First actual start to last actual end, minus the critical path, in whole minutes (at least 0);
    ``None`` unless the visit is completed with actual times on every step that was done."""
    done = [s for s in visit.steps if s.status == "done"]
    if (
        visit.status != COMPLETED
        or not done
        or any(s.actual_start is None or s.actual_end is None for s in done)
    ):
        return None
    span = max(s.actual_end for s in done) - min(s.actual_start for s in done)  # type: ignore[type-var]
    return max(0, int(span.total_seconds() // 60) - visit.critical_path)


def one_visit_share(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    groups = _by_week(only(data.visits, segment), lambda v: v.day, group)
    return _share(groups, within_one_visit, lambda v: v.status == COMPLETED)


def _waits(data: KbrData, segment: str | None, group: Group) -> dict[str, list[float]]:
    weeks: dict[str, list[float]] = defaultdict(list)
    for key, visits in _by_week(only(data.visits, segment), lambda v: v.day, group).items():
        for visit in visits:
            wait = visit.wait
            if wait is not None:
                weeks[key].append(wait)
    return weeks


def wait_mean(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    return _mean(_waits(data, segment, group))


def wait_p90(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    return {
        week: Figure(p90(values), len(values))
        for week, values in _waits(data, segment, group).items()
        if values
    }  # type: ignore[arg-type]


def no_show_rate(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    groups = _by_week(only(data.visits, segment), lambda v: v.day, group)
    return _share(groups, lambda v: v.status == NO_SHOW, lambda v: v.status in TOOK_PLACE)


# --- refill -------------------------------------------------------------------------------------


def refill_share(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    """Per week of the freed day: refilled minutes (capped at what was freed) / freed minutes, in %."""
    out: Series = {}
    for week, records in _by_week(only(data.cancellations, segment), lambda c: c.day, group).items():
        freed = sum(c.freed_minutes for c in records)
        if freed > 0:
            refilled = sum(min(c.refilled_minutes, c.freed_minutes) for c in records)
            out[week] = Figure(100.0 * refilled / freed, len(records))
    return out


def _minutes_after_cancel(
    data: KbrData, segment: str | None, group: Group, moment: Callable[[CancelRecord], dt.datetime | None]
) -> Series:
    weeks: dict[str, list[float]] = defaultdict(list)
    for key, records in _by_week(only(data.cancellations, segment), lambda c: c.day, group).items():
        for c in records:
            when = moment(c)
            if c.cancelled_at is not None and when is not None:
                weeks[key].append(max(0.0, (when - c.cancelled_at).total_seconds() / 60))
    return _mean(weeks)


def refill_first_offer(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    return _minutes_after_cancel(data, segment, group, lambda c: c.first_offer_at)


def refill_accepted(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    return _minutes_after_cancel(data, segment, group, lambda c: c.accepted_at)


# --- reminders ----------------------------------------------------------------------------------


def reminders(data: KbrData, segment: str | None = None, channel: str | None = None) -> list[MessageRecord]:
    """Reminders that were attempted (sent, delivered or failed), of ``segment`` and ``channel``."""
    return [
        m
        for m in only(data.messages, segment)
        if m.action == "reminder" and m.status in ATTEMPTED and (channel is None or m.channel == channel)
    ]


def reminder_delivered(
    data: KbrData, segment: str | None = None, *, group: Group = week_of, channel: str | None = None
) -> Series:
    """Reminders the provider reported delivered, in % of those attempted."""
    groups = _by_week(reminders(data, segment, channel), lambda m: m.day, group)
    return _share(groups, lambda m: m.status == "delivered", lambda m: True)


def reminder_answered(
    data: KbrData, segment: str | None = None, *, group: Group = week_of, channel: str | None = None
) -> Series:
    """Delivered reminders the patient answered (``ANSWER_WINDOW``), in % of those delivered."""
    groups = _by_week(reminders(data, segment, channel), lambda m: m.day, group)
    return _share(groups, lambda m: m.answered, lambda m: m.status == "delivered")


# --- two questions and follow-ups ---------------------------------------------------------------


def yes_rate(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    """Answered surveys with yes to both questions, in % of answered surveys."""
    groups = _by_week(only(data.surveys, segment), lambda s: s.day, group)
    return _share(
        groups,
        lambda s: s.got_what_needed is True and s.good_job is True,
        lambda s: s.status == "answered",
    )


def followup_hours(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    """Mean hours from opening to closing, over the follow-ups closed in the week."""
    weeks: dict[str, list[float]] = defaultdict(list)
    closed = [f for f in only(data.followups, segment) if f.closed_at is not None]
    for key, records in _by_week(closed, lambda f: f.closed_day, group).items():
        weeks[key] = [max(0.0, (f.closed_at - f.opened_at).total_seconds() / 3600) for f in records]  # type: ignore[operator]
    return _mean(weeks)


# --- cost of segment services -------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """Segment services and what they are set against, for one group of visits (cents and counts)."""

    coffee_cents: int = 0
    volunteer_cents: int = 0
    transport_cents: int = 0
    gesture_cents: int = 0
    completed: int = 0
    no_shows: int = 0
    rebooked: int = 0
    """Freed places booked again from the waitlist."""

    @property
    def total_cents(self) -> int:
        return self.coffee_cents + self.volunteer_cents + self.transport_cents + self.gesture_cents

    @property
    def per_visit_eur(self) -> float | None:
        return self.total_cents / 100 / self.completed if self.completed else None


def cost_lines(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> dict[str, CostLine]:
    """Per week: the cost of coffee vouchers, volunteer hours (met meetings), transport rides and granted
    recovery gestures, with the week's completed visits, no-shows and rebooked places. A visit's services
    count once it has ended (completed or no-show): those of a visit still under way would otherwise be set
    against completed visits that do not include it (today's figure would jump)."""
    costs = data.unit_costs
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, visits in _by_week(only(data.visits, segment), lambda v: v.day, group).items():
        line = acc[key]
        for v in visits:
            if v.status not in ENDED:
                continue
            line["coffee"] += costs.get("coffee_voucher", 0) if v.coffee_voucher else 0
            line["transport"] += costs.get("transport_ride", 0) if v.transport_booked else 0
            line["volunteer"] += costs.get("volunteer_hour", 0) * v.volunteer_minutes / 60
            line["completed"] += v.status == COMPLETED
            line["no_shows"] += v.status == NO_SHOW
    for key, gestures in _by_week(only(data.gestures, segment), lambda g: g.day, group).items():
        acc[key]["gestures"] += sum(g.cost_cents for g in gestures)
    for key, cancels in _by_week(only(data.cancellations, segment), lambda c: c.day, group).items():
        acc[key]["rebooked"] += sum(1 for c in cancels if c.accepted_at is not None)
    return {
        week: CostLine(
            coffee_cents=round(line["coffee"]),
            volunteer_cents=round(line["volunteer"]),
            transport_cents=round(line["transport"]),
            gesture_cents=round(line["gestures"]),
            completed=int(line["completed"]),
            no_shows=int(line["no_shows"]),
            rebooked=int(line["rebooked"]),
        )
        for week, line in acc.items()
    }


def service_cost(data: KbrData, segment: str | None = None, *, group: Group = week_of) -> Series:
    """Euros of segment services per completed visit (no figure in a week without completed visits)."""
    return {
        week: Figure(line.per_visit_eur, line.completed)  # type: ignore[arg-type]
        for week, line in cost_lines(data, segment, group=group).items()
        if line.completed
    }


FIGURES: dict[str, Callable[..., Series]] = {
    "one_visit_share": one_visit_share,
    "wait_mean": wait_mean,
    "wait_p90": wait_p90,
    "refill_share": refill_share,
    "refill_first_offer": refill_first_offer,
    "refill_accepted": refill_accepted,
    "no_show_rate": no_show_rate,
    "reminder_delivered": reminder_delivered,
    "reminder_answered": reminder_answered,
    "yes_rate": yes_rate,
    "followup_hours": followup_hours,
    "service_cost": service_cost,
}
BY_CHANNEL = frozenset({"reminder_delivered", "reminder_answered"})
"""KBRs that are also broken down by channel."""


MIN_PARTIAL_COUNT = 10
"""A week still under way shows a figure only when it rests on at least this many records."""


def measured(figure: Figure | None, *, partial: bool, minimum: int = MIN_PARTIAL_COUNT) -> Figure | None:
    """``figure``, unless its week is still under way (``partial``) and it rests on fewer than ``minimum``
    records: a figure on almost no data would mislead (a 0 % or 0 € that is only "nothing yet")."""
    if figure is None or (partial and figure.count < minimum):
        return None
    return figure


def over_period(
    kbr_id: str, data: KbrData, weeks: Sequence[str], segment: str | None = None
) -> Figure | None:
    """The KBR over all of ``weeks`` taken together (records of other weeks ignored): the tables' total."""
    wanted = set(weeks)
    return FIGURES[kbr_id](data, segment, group=lambda day: ALL if week_of(day) in wanted else None).get(ALL)
