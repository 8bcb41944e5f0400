"""Booking one visit from the front desk.

Two ways in:

- ``book_visit`` lets the engine place the visit on a given day (greedy, around the day's visits);
- the Book flow: ``propose_visits`` asks the engine (``scheduling.propose``) for the best itineraries
  over the coming weeks, honouring the patient's segment and stated availability; the clerk picks one
  and ``book_proposal`` stores exactly that itinerary after re-checking it, under the day's booking
  lock, with the engine's independent validator (``scheduling.check``). Two clerks picking the same
  last chair: the second gets ``SlotTaken`` and fresh proposals.

The day's lock is one ``booking_lock`` row, updated first thing in the booking transaction: on
PostgreSQL the row lock makes the other bookings of that day wait; on SQLite the update takes the
database's write lock, which serialises writers the same way (``busy_timeout`` makes them wait).
"""

import contextlib
import dataclasses
import datetime as dt
import itertools
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from clinic import events, planning
from clinic.audit import record as audit
from clinic.booking.choices import decode_choice
from clinic.booking.models import BookingHold, BookingLock, HoldStatus
from clinic.columns import utcnow
from clinic.errors import Conflict, NotFound, ValidationError, get_or_raise
from clinic.messaging.facts import patient_facts
from clinic.messaging.rules_file import rules_in_force
from clinic.patients import segments
from clinic.patients.models import Patient, normalise_phone
from clinic.patients.services import search_patients
from clinic.unit import booking_rules as br
from clinic.unit.booking_rules import NO_BENDS, Bends, HomeBeforeDark
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, Resource
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitStatus
from outreach.rules import VisitFacts
from scheduling import instance as engine
from scheduling.book import Booking, book
from scheduling.check import check, critical_path, objective
from scheduling.explain import Reason, explain
from scheduling.insert import arrival as arrival_of
from scheduling.insert import leave as leave_of
from scheduling.insert import request_bounds
from scheduling.propose import Itinerary, propose

#: How far ahead proposals look by default, and at most.
HORIZON_DAYS = 28
MAX_HORIZON_DAYS = 90
#: How often a booking waits out SQLite's busy timeout for the day's lock before giving up.
LOCK_ATTEMPTS = 3
#: Solver time limit of each small proposal model (they prove optimality in milliseconds).
PROPOSE_TIME_LIMIT = 0.5
#: Re-arranging for proposals: at most this many days are tried, each with this budget (seconds, always
#: the same so that booking the proposal can reproduce it), and all of them within ``REARRANGE_BUDGET``.
REARRANGE_DAYS = 4
REARRANGE_DAY_SECONDS = 0.2
REARRANGE_BUDGET = 0.7
#: Budget of the re-arrangement when a booking is stored (under the day's lock).
BOOK_TIME_LIMIT = 0.5

PARTS_OF_DAY = ("any", "morning", "afternoon")
MORNING_LEAVE_BY = 12 * 60 + 30
AFTERNOON_ARRIVAL = 12 * 60


class SlotTaken(Conflict):
    """The picked itinerary no longer fits: someone booked that capacity first."""

    default_code = "slot_taken"


@dataclass(frozen=True)
class Availability:
    """When the patient can come: from ``earliest`` to ``latest`` (default: ``HORIZON_DAYS`` later),
    on ``weekdays`` (0 = Monday), in a part of the day (``any``, ``morning``: gone by 12:30,
    ``afternoon``: not before 12:00)."""

    earliest: dt.date
    latest: dt.date | None = None
    weekdays: frozenset[int] = frozenset(range(7))
    part_of_day: str = "any"

    def validate(self) -> None:
        if self.earliest > dt.date.max - dt.timedelta(days=2 * MAX_HORIZON_DAYS) or (
            self.latest is not None and self.latest > dt.date.max - dt.timedelta(days=2 * MAX_HORIZON_DAYS)
        ):
            raise ValidationError("that date is too far ahead", code="too_far_ahead", field="earliest")
        if self.part_of_day not in PARTS_OF_DAY:
            raise ValidationError(f"unknown part of the day {self.part_of_day!r}", field="part_of_day")
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise ValidationError("choose at least one weekday", code="no_weekdays", field="weekdays")
        if self.latest is not None:
            if self.latest < self.earliest:
                raise ValidationError("the latest date is before the earliest date", field="latest")
            if (self.latest - self.earliest).days > MAX_HORIZON_DAYS:
                raise ValidationError(
                    f"look at most {MAX_HORIZON_DAYS} days ahead", code="horizon_too_long", field="latest"
                )

    def days(self, today: dt.date) -> list[dt.date]:
        """The candidate days: from tomorrow at the earliest, in the window, on the chosen weekdays."""
        first = max(self.earliest, today + dt.timedelta(days=1))
        last = self.latest or self.earliest + dt.timedelta(days=HORIZON_DAYS)
        last = min(last, first + dt.timedelta(days=MAX_HORIZON_DAYS))
        out = []
        day = first
        while day <= last:
            if day.weekday() in self.weekdays:
                out.append(day)
            day += dt.timedelta(days=1)
        return out


#: At most this many bent combinations are solved over the days (the others are ruled out by arithmetic).
MAX_BENT_SOLVES = 8
#: What the outreach rules give a patient that helps with a bent itinerary: action -> support code.
SUPPORT_ACTIONS = {"transport_offer": "transport", "volunteer_meet": "volunteer"}


@dataclass(frozen=True)
class ProposedStep:
    """One step of a proposal; ``pause_before`` is the time since the step before it ended, of which
    ``required_pause`` the pathway asks for (lab results, drug preparation), the rest being waiting."""

    code: str
    name: str
    resource: str
    resource_name: str
    start: int
    end: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    pause_before: int = 0
    required_pause: int = 0


@dataclass(frozen=True)
class Proposal:
    """One bookable itinerary as the clerk sees it; ``choice`` is what the form posts back.

    ``wait_minutes`` is the engine's wait beyond the critical path, which ranks the proposals;
    ``idle_minutes`` is what the patient will spend between steps beyond the pauses the pathway asks for.
    They differ by a constant for steps in no order between them (an ECG and an echo): the critical
    path counts one of them, the patient goes to both in turn without waiting."""

    day: dt.date
    arrival: int
    leave: int
    wait_minutes: int
    arrives_at: dt.datetime
    leaves_at: dt.datetime
    steps: tuple[ProposedStep, ...]
    choice: str
    #: The preferences this itinerary bends (empty: it keeps every rule).
    bends: tuple["BentRule", ...] = ()
    #: What the unit can add for this patient (``SUPPORT_ACTIONS`` codes, ``reminder_call``), shown with bends.
    support: tuple[str, ...] = ()
    #: How many other visits' internal times (steps, rooms) the unit re-arranges for this one; their
    #: patients' arrival times never change.
    moves: int = 0

    @property
    def idle_minutes(self) -> int:
        return sum(s.pause_before - s.required_pause for s in self.steps)


@dataclass(frozen=True)
class BentRule:
    """One preference a proposal bends, by ``minutes``: ``preferred`` is what the rule asks (the earliest
    arrival, the leave-by time to be home before dark, the maximum wait), ``actual`` what the proposal gives."""

    rule: str
    minutes: int
    preferred: int
    actual: int


@dataclass(frozen=True)
class WhyNot:
    """Why nothing fits, as data for the clerk's sentence: the engine's reason code with names filled in
    (a step's and a resource's name as the clinic calls them) and its numbers."""

    code: str
    day: dt.date | None = None
    step: str | None = None
    kind: str | None = None
    resource: str | None = None
    attribute: str | None = None
    window: tuple[int, int] | None = None
    minutes: int | None = None


@dataclass
class Proposals:
    """``options`` keep every rule, or, when none does, bend preferences the least (``bent``).

    When no option keeps every rule, ``why`` says why (``reason`` is the engine's English sentence, kept
    for logs, never shown); ``waitlist`` says whether the patient could ever fit as the rules stand (a
    cancellation may make room), and ``never`` why not even bending every preference fits any day.
    ``unqualified``: steps of the pathway that no active resource has the skills to give (then there
    are no options and ``reason_code`` is ``no-skill``)."""

    options: list[Proposal]
    first_day: dt.date | None
    last_day: dt.date | None
    reason: str | None = None
    reason_code: str | None = None
    why: WhyNot | None = None
    bent: bool = False
    waitlist: bool = False
    never: WhyNot | None = None
    unqualified: list[planning.Unqualified] = dataclasses.field(default_factory=list)


# --- segment and availability rules -------------------------------------------------------------


def _daylight(daylight: HomeBeforeDark | None) -> HomeBeforeDark:
    return daylight or br.load_booking_rules().rules.home_before_dark


def sunset_minutes(day: dt.date, tz: str, daylight: HomeBeforeDark | None = None) -> int:
    """Local wall-clock minutes of sunset on ``day`` at the rule's position (NOAA's approximate solar
    equations, within minutes); ``daylight`` defaults to the rule file's ``home_before_dark``."""
    daylight = _daylight(daylight)
    gamma = 2 * math.pi / 365 * (day.timetuple().tm_yday - 1)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    lat = math.radians(daylight.latitude)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(lat) * math.cos(decl)) - math.tan(lat) * math.tan(
        decl
    )
    ha = math.degrees(math.acos(max(-1.0, min(1.0, cos_ha))))
    utc_minutes = 720 - 4 * daylight.longitude + 4 * ha - eqtime
    instant = dt.datetime.combine(day, dt.time(0), dt.UTC) + dt.timedelta(minutes=utc_minutes)
    local = instant.astimezone(ZoneInfo(tz))
    return local.hour * 60 + local.minute


def home_before_dark(patient: Patient, day: dt.date, tz: str, daylight: HomeBeforeDark | None = None) -> int:
    """The latest time a patient living ``distance_km`` away can leave and still be home by sunset."""
    daylight = _daylight(daylight)
    travel = math.ceil(patient.distance_km / daylight.travel_kmh * 60)
    latest = sunset_minutes(day, tz, daylight) - travel
    latest -= latest % daylight.rounding_minutes
    return max(0, latest)


def visit_wish(
    *,
    patient: Patient,
    pathway: Pathway,
    day: dt.date,
    unit: Unit,
    availability: Availability,
    bends: Bends = NO_BENDS,
) -> planning.VisitWish:
    """The wish for ``day``: the availability's part of the day, plus home before dark for long distance,
    later by ``bends`` when that preference is bent (the other segment rules are applied by
    ``planning.engine_request``)."""
    arrival = (AFTERNOON_ARRIVAL, engine.DAY_MINUTES) if availability.part_of_day == "afternoon" else None
    leave_by = MORNING_LEAVE_BY if availability.part_of_day == "morning" else None
    labels = segments.segments_for(patient, day, unit=unit)
    if segments.Region.LONG_DISTANCE.value in labels:
        dark = home_before_dark(patient, day, unit.tz, unit.booking_rules.rules.home_before_dark)
        dark = min(engine.DAY_MINUTES, dark + bends.get(br.HOME_BEFORE_DARK))
        leave_by = dark if leave_by is None else min(leave_by, dark)
    return planning.VisitWish(key="new", patient=patient, pathway=pathway, arrival=arrival, leave_by=leave_by)


# --- finding the patient ------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y")


def _as_date(word: str) -> dt.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(word, fmt).date()
        except ValueError:
            continue
    return None


def find_patients(*, session: Session, text: str, limit: int = 20) -> list[Patient]:
    """Patients matching a clerk's search: a date of birth (``1958-10-12``, ``12-10-1958``), a phone
    number in any usual form, and/or words of the name, record number or postcode."""
    text = (text or "").strip()[:100]
    words = text.split()
    dates = [d for d in (_as_date(w) for w in words) if d is not None]
    rest = [w for w in words if _as_date(w) is None]
    if rest and sum(ch.isdigit() for ch in "".join(rest)) >= 6:
        with contextlib.suppress(ValueError):
            rest = [normalise_phone(" ".join(rest))]
    if not rest:
        if not dates:
            return []
        statement = (
            select(Patient)
            .where(col(Patient.birth_date).in_(dates))
            .order_by(col(Patient.family_name), col(Patient.given_name), col(Patient.id))
            .limit(limit)
        )
        return list(session.exec(statement))
    found = search_patients(session=session, text=" ".join(rest), limit=limit if not dates else limit * 20)
    if dates:
        found = [p for p in found if p.birth_date in dates][:limit]
    return found


# --- proposals ----------------------------------------------------------------------------------


def _load(session: Session, patient_id: int, pathway_id: int) -> tuple[Patient, Pathway]:
    patient = get_or_raise(session, Patient, patient_id, what="patient")
    pathway = planning.load_pathway(session=session, pathway_id=pathway_id)
    if pathway is None or not pathway.active:
        raise NotFound(f"pathway {pathway_id} does not exist", field="pathway_id")
    return patient, pathway


def _days_already_coming(
    session: Session, patient_id: int, days: Sequence[dt.date], ignore: Iterable[int] = ()
) -> set[dt.date]:
    if not days:
        return set()
    statement = select(Visit.date).where(
        Visit.patient_id == patient_id,
        col(Visit.date).between(min(days), max(days)),
        col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)),
    )
    skip = list(ignore)
    if skip:
        statement = statement.where(col(Visit.id).not_in(skip))
    return set(session.exec(statement))


def day_instance(
    *, session: Session, day: dt.date, unit: Unit, ignore: Iterable[int] = ()
) -> engine.Instance:
    """The day as the engine sees it, without the visits in ``ignore`` (a visit being moved frees its place)."""
    skip = list(ignore)
    if not skip:
        return planning.build_instance(session=session, day=day, unit=unit)
    return engine.Instance(
        name=f"clinic-{day.isoformat()}",
        date=day,
        resources=planning.engine_resources(session=session, day=day),
        requests=(),
        booked=planning.engine_booked(session=session, day=day, tz=unit.tz, exclude=skip),
    )


def encode_choice(itinerary: Itinerary, bends: Bends = NO_BENDS) -> str:
    """``2026-12-01|reg@desk-1@480-490|lab@lab@490-500|...``: the picked itinerary as a form value; the
    preferences it may bend follow the date (``2026-12-01;home_before_dark=90|...``)."""
    steps = "|".join(f"{s.id}@{s.resource}@{s.start}-{s.end}" for s in itinerary.visit.steps)
    head = itinerary.date.isoformat() + (f";{bends.encode()}" if bends else "")
    return f"{head}|{steps}"


def choice_bends(choice: str) -> Bends:
    """The bends an encoded choice asks for (``ValidationError`` when unreadable); they are checked
    against the rules by ``book_proposal``."""
    head = (choice or "").split("|", 1)[0]
    _, _, bends = head.partition(";")
    try:
        return Bends.decode(bends)
    except ValueError:
        raise ValidationError(
            "the chosen itinerary is not readable", code="bad_choice", field="choice"
        ) from None


def pauses(placed: Sequence[engine.PlacedStep], steps: Sequence[engine.Step]) -> dict[str, tuple[int, int]]:
    """Per placed step: minutes since the previous step (in time) ended, and how many of them the pathway
    makes necessary (a step starts ``min_gap`` after the latest of its ``after`` steps, the engine's rule),
    so that a clerk can tell a planned pause from waiting."""
    rules = {s.id: s for s in steps}
    ends = {s.id: s.end for s in placed}
    out: dict[str, tuple[int, int]] = {}
    previous_end: int | None = None
    for s in sorted(placed, key=lambda s: (s.start, s.id)):
        if previous_end is None or s.start <= previous_end:
            out[s.id] = (0, 0)
        else:
            rule = rules.get(s.id)
            before = [ends[a] for a in rule.after if a in ends] if rule else []
            ready = max(before) + rule.min_gap if rule and before else previous_end
            out[s.id] = (s.start - previous_end, min(s.start, max(ready, previous_end)) - previous_end)
        previous_end = s.end if previous_end is None else max(previous_end, s.end)
    return out


def _proposal(
    itinerary: Itinerary,
    pathway: Pathway,
    rules: Sequence[engine.Step],
    resources: dict[str, Resource],
    tz: str,
    bends: Bends = NO_BENDS,
    bent: tuple[BentRule, ...] = (),
    support: tuple[str, ...] = (),
    moves: int = 0,
) -> Proposal:
    names = {s.code: s.step_type.named if s.step_type else s.code for s in pathway.steps}
    day = itinerary.date
    pause = pauses(itinerary.visit.steps, rules)
    steps = tuple(
        ProposedStep(
            code=s.id,
            name=names.get(s.id, s.id),
            resource=s.resource,
            resource_name=resources[s.resource].name if s.resource in resources else s.resource,
            start=s.start,
            end=s.end,
            starts_at=planning.instant_at(day, s.start, tz),
            ends_at=planning.instant_at(day, s.end, tz),
            pause_before=pause[s.id][0],
            required_pause=pause[s.id][1],
        )
        for s in sorted(itinerary.visit.steps, key=lambda s: (s.start, s.id))
    )
    return Proposal(
        day=day,
        arrival=itinerary.arrival,
        leave=itinerary.leave,
        wait_minutes=itinerary.wait_minutes,
        arrives_at=planning.instant_at(day, itinerary.arrival, tz),
        leaves_at=planning.instant_at(day, itinerary.leave, tz),
        steps=steps,
        choice=encode_choice(itinerary, bends),
        bends=bent,
        support=support if bent else (),
        moves=moves,
    )


def _leave_by(unit: Unit):
    """Home before dark for long-distance patients, as ``planning.booking_day`` applies it to booked visits
    (never tighter than where a visit already leaves: a booked visit bending it keeps its bend)."""

    def leave_by(patient: Patient, day: dt.date) -> int | None:
        if segments.Region.LONG_DISTANCE.value in segments.segments_for(patient, day, unit=unit):
            return home_before_dark(patient, day, unit.tz, unit.booking_rules.rules.home_before_dark)
        return None

    return leave_by


def _rearranged_options(
    *,
    session: Session,
    unit: Unit,
    requests: dict[dt.date, engine.Request],
    found: Sequence[Itinerary],
) -> list[tuple[Itinerary, int]]:
    """Itineraries that re-arrange other visits' internal times, on the days where that may help most:
    the days where the frozen day fits with waiting (least waiting first), then the days where nothing
    fits (soonest first); each kept only when it fits where nothing did or waits less."""
    best: dict[dt.date, int] = {}
    for itinerary in found:
        best[itinerary.date] = min(best.get(itinerary.date, itinerary.wait_minutes), itinerary.wait_minutes)
    waiting = sorted((w, d) for d, w in best.items() if w > 0)
    empty = sorted(d for d in requests if d not in best)
    tries = [d for _w, d in waiting][: REARRANGE_DAYS // 2] + empty
    tries += [d for _w, d in waiting][REARRANGE_DAYS // 2 :]
    deadline = time.monotonic() + REARRANGE_BUDGET
    out: list[tuple[Itinerary, int]] = []
    for day in tries[:REARRANGE_DAYS]:
        if deadline - time.monotonic() < REARRANGE_DAY_SECONDS:
            break
        bday = planning.booking_day(
            session=session,
            day=day,
            unit=unit,
            tolerance=unit.arrival_tolerance_minutes,
            leave_by=_leave_by(unit),
        )
        if not bday.instance.requests:
            continue
        request = requests[day]
        booking = book(bday.instance, request, current=bday.current, time_limit=REARRANGE_DAY_SECONDS)
        if (
            booking is None
            or not booking.moved
            or booking.wait_minutes >= best.get(day, booking.wait_minutes + 1)
        ):
            continue
        visit = booking.visit
        itinerary = Itinerary(
            day, visit, arrival_of(visit), leave_of(visit), booking.wait_minutes, bday.instance.name
        )
        out.append((itinerary, len(booking.moved)))
    return out


def bent_rules(
    *, day: dt.date, arrival: int, leave: int, patient: Patient, steps: Sequence[engine.Step], unit: Unit
) -> tuple[BentRule, ...]:
    """Which preferences a visit arriving at ``arrival`` and leaving at ``leave`` bends, and by how much:
    measured on the itinerary itself, so a proposal found with room to bend says only what it bends."""
    labels = segments.segments_for(patient, day, unit=unit)
    rules = unit.booking_rules.rules
    out: list[BentRule] = []
    earliest = planning.preferred_earliest(labels, unit)
    if earliest is not None and arrival < earliest:
        out.append(BentRule(br.LONG_DISTANCE_EARLIEST, earliest - arrival, earliest, arrival))
    if segments.Region.LONG_DISTANCE.value in labels:
        dark = home_before_dark(patient, day, unit.tz, rules.home_before_dark)
        if leave > dark:
            out.append(BentRule(br.HOME_BEFORE_DARK, leave - dark, dark, leave))
    cap = planning.senior_cap(steps, labels, unit)
    if cap is not None and leave - arrival > cap:
        over = leave - arrival - cap
        preferred = rules.senior_max_wait.minutes
        out.append(BentRule(br.SENIOR_MAX_WAIT, over, preferred, preferred + over))
    return tuple(out)


def visit_bends(*, session: Session, visit: Visit, unit: Unit) -> tuple[BentRule, ...]:
    """Which preferences a stored visit bends (measured on its planned steps, as ``bent_rules``)."""
    if not visit.steps:
        return ()
    patient, pathway = _load(session, visit.patient_id, visit.pathway_id)
    starts = [planning.minutes_at(s.planned_start, visit.date, unit.tz) for s in visit.steps]
    ends = [planning.minutes_at(s.planned_end, visit.date, unit.tz) for s in visit.steps]
    return bent_rules(
        day=visit.date,
        arrival=min(starts),
        leave=max(ends),
        patient=patient,
        steps=planning.engine_steps(pathway),
        unit=unit,
    )


def bent_note(bending: Sequence[BentRule], unit: Unit) -> str:
    """``Bends preferences: Home before dark (90 min)``: the visit's note, in the rule file's English."""
    rules = unit.booking_rules
    parts = [f"{rules.rule(b.rule).label.en} ({b.minutes} min)" for b in bending]
    return "Bends preferences: " + "; ".join(parts)


def _combinations(unit: Unit, applying: Sequence[str]) -> list[Bends]:
    """Every way to bend the patient's preferences, fewest bent first, then least bent in all."""
    rules = unit.booking_rules
    bendable = [r for r in applying if rules.rule(r).bendable]
    levels = [rules.rule(r).levels() for r in bendable]
    combos = [Bends.of(zip(bendable, amounts, strict=True)) for amounts in itertools.product(*levels)]
    return sorted((c for c in combos if c), key=lambda b: (b.count, b.total, b.minutes))


def _could_fit(request: engine.Request) -> bool:
    """Whether the request's own windows leave room for its steps (arithmetic, no solver)."""
    shortest = critical_path(request)
    if request.max_visit_minutes is not None and shortest > request.max_visit_minutes:
        return False
    lo, hi = request_bounds(request)
    return lo + shortest <= hi


def _why(reason: Reason, day: dt.date, pathway: Pathway, resources: dict[str, Resource]) -> WhyNot:
    names = {s.code: s.step_type.named if s.step_type else s.code for s in pathway.steps}
    resource = None
    if reason.resource:
        resource = ", ".join(
            resources[r].name if r in resources else r for r in reason.resource.replace(" ", "").split(",")
        )
    return WhyNot(
        code=reason.code,
        day=day,
        step=names.get(reason.step or "", reason.step),
        kind=reason.kind,
        resource=resource,
        attribute=reason.attribute,
        window=reason.window,
        minutes=reason.minutes,
    )


def _explain(instance: engine.Instance, request: engine.Request) -> Reason | None:
    try:
        return explain(instance, (), request)
    except Exception:  # noqa: BLE001 - an explanation is a courtesy; never fail the page over it
        return None


def _fits_on_an_empty_day(groups: dict[engine.Request, list[engine.Instance]]) -> bool:
    """Whether some day could take the request if nothing else were booked (a cancellation may do)."""
    for request, group in groups.items():
        reason = _explain(dataclasses.replace(group[0], booked=()), request)
        if reason is not None and reason.code == "fits":
            return True
    return False


def _support(
    session: Session, patient: Patient, pathway: Pathway, day: dt.date, unit: Unit
) -> tuple[str, ...]:
    """What the outreach rules give this patient that helps with a bent itinerary (transport, a volunteer
    at the entrance, a reminder call), as codes for the screen."""
    ruleset = rules_in_force(session=session).rules
    facts = VisitFacts(date=day, pathway=pathway.code)
    fired = ruleset.evaluate(patient_facts(patient, unit=unit), facts, now=utcnow()).fired
    out = []
    for firing in fired:
        code = SUPPORT_ACTIONS.get(firing.action)
        if code is None and firing.action == "reminder" and firing.rule.channel == "voice":
            code = "reminder_call"
        if code and code not in out:
            out.append(code)
    return tuple(out)


def propose_visits(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    unit: Unit,
    availability: Availability,
    today: dt.date,
    k: int = 5,
    per_day: int | None = 2,
    exclude: Iterable[str] = (),
    ignore_visits: Iterable[int] = (),
    rearrange: bool = True,
) -> Proposals:
    """The best ``k`` itineraries (least waiting, then soonest) over the patient's available days.

    Every booking rule is kept first. When nothing fits that way, the patient's preferences
    (``Unit.booking_rules``) are bent, fewest and least first, hard rules never: the options are then
    ranked by how many preferences they bend and by how much, then waiting, then date; each says what
    it bends and what the unit can add for the patient. ``why`` says why nothing keeps every rule.

    Keeping every rule, the days are first taken as booked (nothing moves); when fewer than ``k`` options
    are without waiting, ``rearrange`` also tries, on a few promising days, re-arranging the internal
    times of visits that have not started (``planning.booking_day``: never their announced arrival);
    such an option says how many other visits it moves (``Proposal.moves``).

    Reads only. ``exclude`` drops itineraries with these choices (e.g. the one just taken); ``ignore_visits``
    are visits being moved: their days and places count as free.
    """
    availability.validate()
    patient, pathway = _load(session, patient_id, pathway_id)
    days = availability.days(today)
    ignore = list(ignore_visits)
    coming = _days_already_coming(session, patient.id, days, ignore)  # type: ignore[arg-type]
    days = [d for d in days if d not in coming]
    result = Proposals(options=[], first_day=days[0] if days else None, last_day=days[-1] if days else None)
    staff = planning.load_staff(session=session)
    if unqualified := planning.unqualified_steps(pathway, staff):
        result.unqualified = unqualified
        result.reason = "; ".join(u.describe() for u in unqualified)
        result.reason_code = "no-skill"
        return result
    if not days:
        result.reason = "no day in the chosen period and weekdays is left"
        result.reason_code = "no-days"
        result.why = WhyNot(code="no-days")
        return result
    instances = planning.build_instances(session=session, days=days, unit=unit, exclude=ignore)

    def grouped(bends: Bends) -> dict[engine.Request, list[engine.Instance]]:
        groups: dict[engine.Request, list[engine.Instance]] = {}
        for day in days:
            wish = visit_wish(
                patient=patient, pathway=pathway, day=day, unit=unit, availability=availability, bends=bends
            )
            request = planning.engine_request(wish=wish, day=day, unit=unit, staff=staff, bends=bends)
            groups.setdefault(request, []).append(instances[day])
        return groups

    skip = set(exclude)
    resources = {r.code: r for r in session.exec(select(Resource))}
    rules = planning.engine_steps(pathway, staff=staff)

    def solve(groups: dict[engine.Request, list[engine.Instance]]) -> list[Itinerary]:
        found: list[Itinerary] = []
        for request, group in groups.items():
            found += propose(group, request, k=k + len(skip), per_day=per_day, time_limit=PROPOSE_TIME_LIMIT)
        return found

    strict = grouped(NO_BENDS)
    found = solve(strict)
    options = [(itinerary, 0) for itinerary in found]
    if rearrange and not ignore and sum(1 for it in found if it.wait_minutes == 0) < k:
        requests = {instance.date: request for request, group in strict.items() for instance in group}
        options += _rearranged_options(session=session, unit=unit, requests=requests, found=found)
    options.sort(key=lambda option: (option[0].wait_minutes, option[0].date, option[0].arrival, option[1]))
    for itinerary, moves in options:
        if len(result.options) >= k:
            break
        proposal = _proposal(itinerary, pathway, rules, resources, unit.tz, moves=moves)
        if proposal.choice not in skip:
            result.options.append(proposal)
    if result.options:
        return result

    request, group = next(iter(strict.items()))
    reason = _explain(group[0], request)
    if reason is None:
        result.reason, result.reason_code = "no free itinerary on any day you can come", "unexplained"
        result.why = WhyNot(code="unexplained")
    else:
        result.reason = f"{group[0].date.isoformat()}: {reason.text}"
        result.reason_code = reason.code
        result.why = _why(reason, group[0].date, pathway, resources)
    result.waitlist = _fits_on_an_empty_day(strict)

    applying = planning.applying_rules(segments.segments_for(patient, days[0], unit=unit))
    bent: dict[str, tuple[tuple[int, int, int, dt.date, int], Itinerary, Bends, tuple[BentRule, ...]]] = {}
    solved = 0
    for bends in _combinations(unit, applying):
        groups = {r: g for r, g in grouped(bends).items() if _could_fit(r)}
        if not groups:
            continue
        solved += 1
        for itinerary in solve(groups):
            choice = encode_choice(itinerary, bends)
            if choice in skip:
                continue
            bending = bent_rules(
                day=itinerary.date,
                arrival=itinerary.arrival,
                leave=itinerary.leave,
                patient=patient,
                steps=rules,
                unit=unit,
            )
            key = (
                len(bending),
                sum(b.minutes for b in bending),
                itinerary.wait_minutes,
                itinerary.date,
                itinerary.arrival,
            )
            place = encode_choice(itinerary)
            if place not in bent or key < bent[place][0]:
                bent[place] = (key, itinerary, bends, bending)
        if len(bent) >= k or solved >= MAX_BENT_SOLVES:
            break
    if bent:
        support = _support(session, patient, pathway, days[0], unit)
        ranked = sorted(bent.values(), key=lambda item: item[0])[:k]
        result.options = [
            _proposal(it, pathway, rules, resources, unit.tz, bends, bending, support)
            for _, it, bends, bending in ranked
        ]
        result.bent = True
        return result
    if not result.waitlist:
        most = _combinations(unit, applying)
        loosest = grouped(most[-1]) if most else strict
        if not _fits_on_an_empty_day(loosest):
            request, group = next(iter(loosest.items()))
            never = _explain(dataclasses.replace(group[0], booked=()), request)
            result.never = (
                _why(never, group[0].date, pathway, resources) if never else WhyNot(code="unexplained")
            )
    return result


# --- booking ------------------------------------------------------------------------------------


def lock_day(*, session: Session, day: dt.date) -> int:
    """Take the day's booking lock inside the session's transaction (held until commit or rollback).

    Must be the transaction's first write: on SQLite it acquires the database's write lock, so the
    reads that follow see every booking committed before and none can commit until this one ends.
    Returns the lock's new version.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        now = utcnow()
        try:
            session.execute(
                insert(BookingLock)
                .values(day=day, version=0, updated_at=now)
                .on_conflict_do_nothing(index_elements=["day"])
            )
            session.execute(
                sa.update(BookingLock)
                .where(col(BookingLock.day) == day)
                .values(version=col(BookingLock.version) + 1, updated_at=now)
            )
            break
        except OperationalError as exc:  # SQLite: busy_timeout ran out while other clerks booked
            session.rollback()
            if dialect != "sqlite" or "locked" not in str(exc):
                raise
            if attempt == LOCK_ATTEMPTS:
                raise Conflict(
                    "many bookings at once: please try again", code="busy", field="choice"
                ) from None
    version = session.exec(select(BookingLock.version).where(BookingLock.day == day)).one()
    return version


def problems(instance: engine.Instance, placed: engine.Visit) -> list[str]:
    schedule = engine.Schedule(
        instance=instance.name,
        status=engine.FEASIBLE,
        visits=(placed,),
        unscheduled=(),
        objective=objective(instance, (placed,)),
    )
    return [v.message for v in check(instance, schedule)]


def _rearrange_for(
    bday: planning.BookingDay, request: engine.Request, placed: engine.Visit, clash: Sequence[str]
) -> tuple[engine.Visit, dict[str, engine.Visit]]:
    """The new visit arriving exactly when chosen, and the visits re-arranged for it (by request key),
    checked as a whole day by the engine's validator; ``SlotTaken`` when no arrangement fits."""
    chosen = min(s.start for s in placed.steps)
    narrowed = dataclasses.replace(request, arrival=(chosen, chosen))
    booking: Booking | None = None
    # first exactly as the proposal was made (the engine is deterministic: an unchanged day gives the same
    # arrangement, unless a loaded machine stopped it by the wall clock), then for the chosen arrival
    # alone, then with twice the time
    attempts = ((request, REARRANGE_DAY_SECONDS), (narrowed, BOOK_TIME_LIMIT), (narrowed, 2 * BOOK_TIME_LIMIT))
    for attempt, limit in attempts:
        booking = book(bday.instance, attempt, current=bday.current, time_limit=limit)
        if booking is not None and arrival_of(booking.visit) == chosen:
            break
        booking = None
    if booking is None:
        raise SlotTaken(
            "just taken: another booking got this slot first", field="choice", details="; ".join(clash[:3])
        )
    request = narrowed
    others = {v.request: v for v in booking.others}
    whole = dataclasses.replace(bday.instance, requests=(*bday.instance.requests, request))
    visits = (*booking.others, dataclasses.replace(booking.visit, request=request.id))
    schedule = engine.Schedule(
        instance=whole.name,
        status=engine.FEASIBLE,
        visits=visits,
        unscheduled=(),
        objective=objective(whole, visits),
    )
    problems = [v.message for v in check(whole, schedule)]
    if problems:
        raise SlotTaken(
            "just taken: the day cannot be re-arranged for this itinerary any more",
            field="choice",
            details="; ".join(problems[:3]),
        )
    current = {v.request: v for v in bday.current}
    moved = {key: others[key] for key in booking.moved if key in others and key in bday.visits}
    for key, visit in others.items():
        if key in current and set(visit.steps) != set(current[key].steps):
            moved[key] = visit
    return dataclasses.replace(booking.visit, request=request.id), moved


def _store_moves(
    *,
    session: Session,
    bday: planning.BookingDay,
    moved: dict[str, engine.Visit],
    tz: str,
    actor_id: int | None,
    for_visit: Visit,
) -> None:
    """Write the re-arranged steps of other visits (one audit row and event per visit). Their announced
    arrival never changes: each first step still starts in ``[announced, announced + tolerance]``."""
    windows = {r.id: r.arrival for r in bday.instance.requests}
    codes = {s.resource for v in moved.values() for s in v.steps}
    resources = {r.code: r for r in session.exec(select(Resource).where(col(Resource.code).in_(codes)))}
    for key, placement in sorted(moved.items(), key=lambda item: bday.visits[item[0]].id or 0):
        row = bday.visits[key]
        announced = row.announced_at
        by_code = {s.pathway_step.code: s for s in row.steps}
        changes = []
        for step in placement.steps:
            stored = by_code[step.id]
            start = planning.instant_at(row.date, step.start, tz)
            end = planning.instant_at(row.date, step.end, tz)
            resource = resources[step.resource]
            if (stored.planned_start, stored.planned_end, stored.resource_id) == (start, end, resource.id):
                continue
            changes.append(
                {
                    "step": step.id,
                    "from": f"{stored.resource.code}@{stored.planned_start.isoformat()}",
                    "to": f"{step.resource}@{start.isoformat()}",
                }
            )
            stored.planned_start, stored.planned_end, stored.resource_id = start, end, resource.id
            session.add(stored)
        if announced is None:  # stored before arrivals were kept: what the patient was told is its first step
            row.announced_at = planning.instant_at(row.date, bday.announced[key], tz)
            session.add(row)
        window = windows[key]
        first = min(s.start for s in placement.steps)
        assert announced is None or row.announced_at == announced, "a booking changed an announced arrival"
        assert window is not None and window[0] <= first <= window[1], (
            "a step moved out of the arrival window"
        )
        if not changes:
            continue
        audit.record(
            session=session,
            actor_id=actor_id,
            action="visit.rearranged",
            entity="visit",
            entity_id=row.id,  # type: ignore[arg-type]
            details={"for_visit": for_visit.id, "moves": changes},
            flush=False,
        )
        events.record(session, events.VisitRearranged(visit_id=row.id, actor_id=actor_id))  # type: ignore[arg-type]
    session.flush()


@dataclass(frozen=True)
class CheckedChoice:
    """A picked itinerary checked against the pathway and the patient's rules (not yet the day's other
    bookings), as ``book_proposal`` and ``clinic.booking.holds.hold_proposal`` store it."""

    day: dt.date
    patient: Patient
    pathway: Pathway
    wish: planning.VisitWish
    request: engine.Request
    placed: engine.Visit
    alone: engine.Instance


def check_choice(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    choice: str,
    unit: Unit,
    availability: Availability | None = None,
    today: dt.date | None = None,
) -> CheckedChoice:
    """Take the chosen day's lock and check ``choice`` on its own: readable, in the future, bending only
    preferences that may bend, fitting the pathway and the patient, and the patient not already coming
    that day. Raises (``ValidationError``, ``Conflict``) without rolling back: the caller does."""
    day, steps = decode_choice(choice)
    bends = choice_bends(choice)
    patient, pathway = _load(session, patient_id, pathway_id)
    if today is not None and day <= today:
        raise ValidationError("the chosen day has passed", code="day_passed", field="choice")
    applying = planning.applying_rules(segments.segments_for(patient, day, unit=unit))
    if not bends.allowed_by(unit.booking_rules, applying):
        raise ValidationError(
            "the chosen itinerary bends a rule that may not be bent", code="bad_choice", field="choice"
        )
    wanted = availability or Availability(earliest=day)
    wish = visit_wish(patient=patient, pathway=pathway, day=day, unit=unit, availability=wanted, bends=bends)
    request = planning.engine_request(
        wish=wish, day=day, unit=unit, staff=planning.load_staff(session=session), bends=bends
    )
    placed = engine.Visit(request=request.id, steps=steps)
    lock_day(session=session, day=day)
    resources = planning.engine_resources(session=session, day=day)
    alone = engine.Instance(name=f"book-{day.isoformat()}", date=day, resources=resources, requests=(request,))
    own = problems(alone, placed)
    if own:
        raise ValidationError(
            "the chosen itinerary does not fit the pathway or the patient: " + "; ".join(own[:3]),
            code="bad_choice",
            field="choice",
        )
    if day in _days_already_coming(session, patient.id, [day]):  # type: ignore[arg-type]
        raise Conflict("the patient already has a visit on that day", code="already_booked", field="choice")
    return CheckedChoice(
        day=day, patient=patient, pathway=pathway, wish=wish, request=request, placed=placed, alone=alone
    )


def _claim_hold(session: Session, hold_id: int, checked: CheckedChoice) -> BookingHold:
    """The hold being booked, read again under the day's lock: still held, not expired, and for exactly
    this patient, pathway and itinerary (``Conflict`` otherwise: booked twice, expired, released)."""
    hold = session.exec(
        select(BookingHold).where(BookingHold.id == hold_id).execution_options(populate_existing=True)
    ).first()
    if hold is None:
        raise NotFound(f"hold {hold_id} does not exist", field="hold")
    if hold.status != HoldStatus.HELD:
        raise Conflict(f"hold {hold_id} is {hold.status.value} already", code=f"hold_{hold.status.value}", field="hold")
    if hold.expires_at <= utcnow():
        raise Conflict(f"hold {hold_id} has expired", code="hold_expired", field="hold")
    if (hold.patient_id, hold.pathway_id, hold.day) != (checked.patient.id, checked.pathway.id, checked.day) or (
        decode_choice(hold.choice)[1] != checked.placed.steps
    ):
        raise Conflict(f"hold {hold_id} is for another itinerary", code="hold_mismatch", field="hold")
    return hold


def book_proposal(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    choice: str,
    unit: Unit,
    actor_id: int | None,
    availability: Availability | None = None,
    today: dt.date | None = None,
    hold_id: int | None = None,
) -> Visit:
    """Store the picked itinerary (``choice`` from a ``Proposal``) as a booked visit with all its steps,
    in one transaction, after re-checking it under the day's lock (committed, audited).

    A choice that bends preferences is checked with those preferences bent (only preferences that apply
    to the patient, within the rule file's maximum; hard rules never); the visit's notes and the audit
    row say which preferences the booked visit bends.

    ``hold_id``: the itinerary was held (``clinic.booking.holds``): that hold's own place does not count
    as taken, and it is marked booked in the same transaction (``Conflict`` when it is not live any more).

    ``SlotTaken`` when capacity it needs was booked meanwhile; ``ValidationError`` when the choice is
    malformed or breaks the patient's own rules; nothing is written in either case.
    """
    try:
        checked = check_choice(
            session=session,
            patient_id=patient_id,
            pathway_id=pathway_id,
            choice=choice,
            unit=unit,
            availability=availability,
            today=today,
        )
        day, patient, pathway, wish, request, placed = (
            checked.day, checked.patient, checked.pathway, checked.wish, checked.request, checked.placed
        )
        hold = _claim_hold(session, hold_id, checked) if hold_id is not None else None
        booked = planning.engine_booked(session=session, day=day, tz=unit.tz, ignore_hold=hold_id)
        clash = problems(dataclasses.replace(checked.alone, booked=booked), placed)
        moved: dict[str, engine.Visit] = {}
        bday: planning.BookingDay | None = None
        if clash:
            bday = planning.booking_day(
                session=session,
                day=day,
                unit=unit,
                tolerance=unit.arrival_tolerance_minutes,
                leave_by=_leave_by(unit),
                ignore_hold=hold_id,
            )
            placed, moved = _rearrange_for(bday, request, placed, clash)
        visit = planning.store_visit(session=session, wish=wish, placed=placed, day=day, tz=unit.tz)
        if bday is not None and moved:
            _store_moves(
                session=session, bday=bday, moved=moved, tz=unit.tz, actor_id=actor_id, for_visit=visit
            )
        if hold is not None:
            hold.status, hold.visit_id, hold.ended_at = HoldStatus.BOOKED, visit.id, utcnow()
            session.add(hold)
        bending = bent_rules(
            day=day,
            arrival=min(s.start for s in placed.steps),
            leave=max(s.end for s in placed.steps),
            patient=patient,
            steps=request.steps,
            unit=unit,
        )
        if bending:
            visit.notes = bent_note(bending, unit)[:1000]
            session.add(visit)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="visit.booked",
            entity="visit",
            entity_id=visit.id,  # type: ignore[arg-type]
            details={
                "day": day.isoformat(),
                "pathway": pathway.code,
                "steps": [f"{s.id}@{s.resource}@{s.start}-{s.end}" for s in placed.steps],
                "rearranged": sorted(bday.visits[key].id for key in moved) if bday is not None else [],
                **({"bent": {b.rule: b.minutes for b in bending}} if bending else {}),
                **({"hold": hold_id} if hold_id is not None else {}),
            },
        )
        events.record(session, events.VisitBooked(visit_id=visit.id, actor_id=actor_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return visit


def book_visit(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    day: dt.date,
    unit: Unit,
    actor_id: int | None,
    arrival: planning.Window | None = None,
    priority: int = 1,
) -> Visit:
    """Place and store the visit (committed, audited); ``Conflict`` with the engine's reason if it does not fit."""
    patient = get_or_raise(session, Patient, patient_id, what="patient")
    pathway = planning.load_pathway(session=session, pathway_id=pathway_id)
    if pathway is None or not pathway.active:
        raise NotFound(f"pathway {pathway_id} does not exist", field="pathway_id")
    if unqualified := planning.unqualified_steps(pathway, planning.load_staff(session=session)):
        raise Conflict(
            "; ".join(u.describe() for u in unqualified),
            code="no_skill",
            field="pathway_id",
            day=day.isoformat(),
        )
    wish = planning.VisitWish(key="new", patient=patient, pathway=pathway, priority=priority, arrival=arrival)
    try:
        lock_day(session=session, day=day)
        result = planning.plan_day(
            session=session, day=day, unit=unit, wishes=[wish], status=VisitStatus.BOOKED
        )
    except BaseException:
        session.rollback()
        raise
    if "new" not in result.visits:
        session.rollback()
        reason = result.unscheduled[0].reason if result.unscheduled else "no room on that day"
        raise Conflict(reason, code="no_room", field="day", day=day.isoformat())
    visit = result.visits["new"]
    audit.record(
        session=session,
        actor_id=actor_id,
        action="visit.booked",
        entity="visit",
        entity_id=visit.id,
        details={"day": day.isoformat(), "pathway": pathway.code},
    )
    events.record(session, events.VisitBooked(visit_id=visit.id, actor_id=actor_id))
    session.commit()
    return visit


def home_before_dark_rule(unit: Unit) -> planning.LeaveBy:
    """The leave-by rule ``planning.booking_day`` applies to booked visits (home before dark for
    long-distance patients), for the other callers of the booking day: optimising a day, the refill."""
    return _leave_by(unit)


def store_rearranged(
    *,
    session: Session,
    bday: planning.BookingDay,
    moved: dict[str, engine.Visit],
    tz: str,
    actor_id: int | None,
    for_visit: Visit,
) -> None:
    """Write the re-arranged steps of other visits made room for ``for_visit`` (see ``_store_moves``)."""
    _store_moves(session=session, bday=bday, moved=moved, tz=tz, actor_id=actor_id, for_visit=for_visit)
