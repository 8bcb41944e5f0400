"""The demo clinic loader: reads ``seed_data/``, validates everything, then loads it in one transaction.

Every problem in every file is collected first and reported as ``file: row/path: field: message``;
the database is only touched once all files are valid, and any failure while loading rolls the whole
load back. The two weeks of visits are generated at load time, relative to today in the clinic's
time zone, and placed on the shared resources by the scheduling engine (``planning.plan_day``).
"""

import datetime as dt
import random
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from clinic import planning
from clinic.demo import history as seed_history
from clinic.demo.seed_files import PolicySet, SeedSet, VisitPlanIn, read_policy, read_seed, read_users
from clinic.errors import Conflict, SeedError
from clinic.kbr import figures as kbr_figures
from clinic.kbr.definitions import KbrFileError, load_kbrs
from clinic.messaging import rules_file
from clinic.patients.models import Patient
from clinic.refill.models import WaitlistEntry, WaitlistStatus
from clinic.service import recovery, touchpoints
from clinic.service.models import Volunteer, VolunteerAvailability
from clinic.unit import booking_rules
from clinic.unit.context import Unit
from clinic.unit.models import (
    Pathway,
    PathwayStep,
    PathwayStepDependency,
    Resource,
    ResourceClosure,
    ResourceHours,
    StepType,
)
from clinic.users.models import User
from clinic.users.services import hash_password
from clinic.visits.models import StepStatus, Visit, VisitStatus
from clinic.yaml_files import file_text
from outreach.rules import RuleSetError

__all__ = ["is_empty", "load_demo", "load_policy", "read_seed", "read_users"]


# --- loading -------------------------------------------------------------------------------------


def is_empty(*, session: Session) -> bool:
    """True when no clinic data is stored yet (no resources, patients or users)."""
    return all(session.exec(select(model.id).limit(1)).first() is None for model in (Resource, Patient, User))


def _policy_files(directory: Path) -> tuple[list[str], str | None]:
    """Every problem of the unit's rule files that the app reads while running (booking rules, outreach
    rules, KBRs, touch-points, recovery limits), and the outreach rules' text when that file is valid."""
    problems: list[str] = []
    for filename, load in (
        (booking_rules.FILENAME, booking_rules.load_booking_rules),
        (touchpoints.FILENAME, touchpoints.load_expectations),
        (recovery.FILENAME, recovery.load_policy),
    ):
        try:
            load(directory / filename)
        except SeedError as exc:
            problems += exc.problems
    try:
        load_kbrs(directory / "kbrs.yaml", known_ids=kbr_figures.FIGURES)
    except KbrFileError as exc:
        problems += [str(problem) for problem in exc.problems]
    rules_path = directory / rules_file.RULES_PATH.name
    text: str | None = None
    try:
        text = file_text(rules_path)
        rules_file.parse(text, rules_path.name)
    except SeedError as exc:
        problems += exc.problems
    except RuleSetError as exc:
        problems += [str(problem) for problem in exc.problems]
        text = None
    return problems, text


def load_policy(
    *, session: Session, directory: Path, unit: Unit, now: dt.datetime | None = None
) -> dict[str, int]:
    """The unit's policy from ``directory`` in one transaction, without any demo data: resources (hours and
    closures), step types and pathways into the database, and the outreach rules as the version in force
    when they differ from it. Booking rules, KBRs, touch-points and recovery limits, which the app reads
    from its seed directory (``ONEVISIT_SEED_DIR``) while running, are validated with them.

    Every problem of every file is reported first (``SeedError``) and nothing is stored then; a database
    that already holds resources, step types or pathways is refused (``Conflict``). Patients, volunteers,
    users and visits are never read nor created."""
    directory = Path(directory)
    problems: list[str] = []
    rules_text: str | None = None
    try:
        policy = read_policy(directory)
    except SeedError as exc:
        problems += exc.problems
        policy = None
    if directory.is_dir():
        file_problems, rules_text = _policy_files(directory)
        problems += file_problems
    if problems or policy is None:
        raise SeedError(problems)
    if any(session.exec(select(model.id).limit(1)).first() is not None for model in (Resource, StepType, Pathway)):
        raise Conflict(
            "the database already holds resources, step types or pathways: load the policy into a new database",
            code="policy_not_empty",
        )
    now = now or dt.datetime.now(dt.UTC)
    try:
        resources, step_types, pathways, _closed = _load_unit(
            session, policy, today=now.astimezone(ZoneInfo(unit.tz)).date()
        )
        stored_rules = 0
        if rules_text is not None and rules_text != rules_file.rules_in_force(session=session).text:
            rules_file.save_rules(session=session, text=rules_text, filename=rules_file.RULES_PATH.name, actor_id=None)
            stored_rules = 1
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return {
        "resources": len(resources), "step types": len(step_types), "pathways": len(pathways),
        "outreach rule versions": stored_rules,
    }


def _minutes(value: dt.time) -> int:
    return value.hour * 60 + value.minute


def load_demo(
    *,
    session: Session,
    directory: Path,
    unit: Unit,
    now: dt.datetime | None = None,
    history_weeks: int = 0,
) -> dict[str, int]:
    """Validate ``directory`` and load it in one transaction; returns counts of what was loaded.

    ``history_weeks`` > 0 adds that many ISO weeks of past visits and what happened around them (for the
    KBR dashboard, ``clinic.demo.history``) before the generated weeks; ``flask seed`` asks for 12.
    """
    if not 0 <= history_weeks <= 52:
        raise ValueError(f"history_weeks must be 0-52, not {history_weeks}")
    seed = read_seed(Path(directory))
    if not is_empty(session=session):
        raise Conflict(
            "the database already holds clinic data: load the demo into an empty database (or use --if-empty)",
            code="seed_not_empty",
        )
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    try:
        summary = _load(session, seed, unit=unit, now=now, today=today, history_weeks=history_weeks)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return summary


def _load(
    session: Session,
    seed: SeedSet,
    *,
    unit: Unit,
    now: dt.datetime,
    today: dt.date,
    history_weeks: int = 0,
) -> dict[str, int]:
    resources, step_types, pathways, clinic_closed = _load_unit(session, seed, today=today)
    patients = [Patient(**p.model_dump()) for p in seed.patients]
    session.add_all(patients)
    volunteers = {}
    for v in seed.volunteers.volunteers:
        volunteer = Volunteer(
            name=v.name, phone=v.phone, languages=[lang.value for lang in v.languages], active=v.active
        )
        volunteer.availability = [
            VolunteerAvailability(weekday=a.weekday, starts=a.starts, ends=a.ends) for a in v.availability
        ]
        volunteers[v.name] = volunteer
        session.add(volunteer)
    session.flush()
    for u in seed.users.users:
        session.add(
            User(
                username=u.username,
                display_name=u.display_name,
                password_hash=hash_password(u.password),
                role=u.role,
                language=u.language,
                volunteer_id=volunteers[u.volunteer].id if u.volunteer else None,
            )
        )
    session.flush()
    history: dict[str, int] = {}
    users = {u.role.value: u for u in session.exec(select(User)).all()}
    if history_weeks:
        history = seed_history.generate_history(
            session,
            patients=patients,
            pathways=pathways,
            pathway_mix=dict(seed.visits.pathway_mix),
            arrival_windows=[(_minutes(a), _minutes(b)) for a, b in seed.visits.arrival_windows],
            volunteers=list(volunteers.values()),
            users=users,
            unit=unit,
            today=today,
            before=today - dt.timedelta(days=seed.visits.days_back),
            weeks=history_weeks,
            closed=clinic_closed,
            now=now,
        )
    visits, unplaced = _generate_visits(
        session,
        seed.visits,
        patients,
        pathways,
        unit=unit,
        now=now,
        today=today,
        closed=clinic_closed,
    )
    waitlist = _generate_waitlist(session, seed.visits, patients, pathways, now=now, today=today)
    if history_weeks:
        session.flush()
        recent = seed_history.decorate_recent(
            session,
            session.exec(
                select(Visit).where(
                    Visit.date >= today - dt.timedelta(days=seed.visits.days_back), Visit.date < today
                )
            ).all(),
            patients={p.id: p for p in patients},
            users=users,
            volunteers=list(volunteers.values()),
            unit=unit,
            today=today,
            now=now,
        )
        for name, count in recent.items():
            history[name] = history.get(name, 0) + count
        # the history is written around the session, so its contacts are recorded here, in the same transaction
        history["touch-points"] = touchpoints.backfill(session=session, commit=False)
    session.flush()
    return {
        "resources": len(resources),
        "step types": len(step_types),
        "pathways": len(pathways),
        "patients": len(patients),
        "volunteers": len(volunteers),
        "users": len(seed.users.users),
        "visits": visits,
        "unplaced visit wishes": unplaced,
        "waitlist entries": waitlist,
        **history,
    }



def _load_unit(
    session: Session, seed: "SeedSet | PolicySet", *, today: dt.date
) -> tuple[dict[str, Resource], dict[str, StepType], dict[str, Pathway], set[dt.date]]:
    """The unit's resources (hours, closures), step types and pathways; returns them and the clinic's closed days."""
    resources = {}
    for r in seed.resources.resources:
        resource = Resource(
            code=r.code,
            name=r.name,
            kind=r.kind,
            capacity=r.capacity,
            attributes=list(r.attributes),
            skills=list(r.skills),
        )
        resource.hours = [
            ResourceHours(weekday=wd, opens=start, closes=end)
            for h in r.hours
            for wd in h.weekdays
            for start, end in h.windows
        ]
        resources[r.code] = resource
        session.add(resource)
    session.flush()
    clinic_closed: set[dt.date] = set()
    for c in seed.resources.closures:
        day = c.date or today + dt.timedelta(days=c.offset_days or 0)
        session.add(
            ResourceClosure(
                resource_id=resources[c.resource].id if c.resource else None,
                date=day,
                starts=c.starts,
                ends=c.ends,
                reason=c.reason,
            )
        )
        if c.resource is None and c.starts is None:
            clinic_closed.add(day)
    step_types = {}
    for t in seed.step_types.step_types:
        step_types[t.code] = StepType(**t.model_dump(exclude={"names"}), names=t.model_dump(mode="json")["names"])
        session.add(step_types[t.code])
    session.flush()
    pathways = _load_pathways(session, seed, step_types, resources)
    return resources, step_types, pathways, clinic_closed


def _load_pathways(
    session: Session, seed: "SeedSet | PolicySet", step_types: dict[str, StepType], resources: dict[str, Resource]
) -> dict[str, Pathway]:
    pathways = {}
    for p in seed.pathways.pathways:
        pathway = Pathway(
            code=p.code, name=p.name, names=p.model_dump(mode="json")["names"], description=p.description,
            max_visit_minutes=p.max_visit_minutes,
        )
        steps = {}
        for sequence, s in enumerate(p.steps, start=1):
            steps[s.code] = PathwayStep(
                code=s.code,
                sequence=sequence,
                step_type=step_types[s.type],
                duration_minutes=s.minutes,
                resource=resources[s.resource] if s.resource else None,
                skills=list(s.skills),
            )
        pathway.steps = list(steps.values())
        session.add(pathway)
        session.flush()
        for s in p.steps:
            steps[s.code].dependencies = [
                PathwayStepDependency(depends_on=steps[name], min_gap=s.min_gap, max_gap=s.max_gap)
                for name in s.after
            ]
        pathways[p.code] = pathway
    session.flush()
    return pathways


def _generate_visits(
    session: Session,
    plan: VisitPlanIn,
    patients: list[Patient],
    pathways: dict[str, Pathway],
    *,
    unit: Unit,
    now: dt.datetime,
    today: dt.date,
    closed: set[dt.date],
) -> tuple[int, int]:
    """Visits on every open weekday around ``today``, placed day by day with the engine's greedy placer."""
    rng = random.Random(plan.random_seed)
    codes = list(plan.pathway_mix)
    weights = [plan.pathway_mix[c] for c in codes]
    windows = [(_minutes(a), _minutes(b)) for a, b in plan.arrival_windows]
    stored = unplaced = 0
    for offset in range(-plan.days_back, plan.days_ahead + 1):
        day = today + dt.timedelta(days=offset)
        if day.weekday() >= 5 or day in closed:
            continue
        count = rng.randint(plan.visits_per_day.min, plan.visits_per_day.max)
        wishes = [
            planning.VisitWish(
                key=f"seed-{day.isoformat()}-{n}",
                patient=patient,
                pathway=pathways[rng.choices(codes, weights)[0]],
                priority=rng.choices([1, 2, 3], [5, 3, 2])[0],
                arrival=rng.choice(windows),
            )
            for n, patient in enumerate(rng.sample(patients, count))
        ]
        result = planning.plan_day(session=session, day=day, unit=unit, wishes=wishes)
        unplaced += len(result.unscheduled)
        for key in sorted(result.visits, key=lambda k: int(k.rsplit("-", 1)[1])):
            _set_history(result.visits[key], plan, rng, now=now, day=day, today=today)
            stored += 1
    return stored, unplaced


def _set_history(
    visit: Visit, plan: VisitPlanIn, rng: random.Random, *, now: dt.datetime, day: dt.date, today: dt.date
) -> None:
    """Statuses as the demo day finds them: the past happened, today is under way, the future is booked."""
    steps = sorted(visit.steps, key=lambda s: s.planned_start)
    draw = rng.random()
    if day < today:
        if draw < plan.past_no_show:
            visit.status = VisitStatus.NO_SHOW
        elif draw < plan.past_no_show + plan.past_cancelled:
            visit.status = VisitStatus.CANCELLED
            visit.cancelled_at = visit.booked_at
            visit.cancelled_reason = rng.choice(
                ["Patient ill", "Treatment postponed", "Transport unavailable"]
            )
        else:
            visit.status = VisitStatus.COMPLETED
            for step in steps:
                _done(step)
        return
    if day > today:
        visit.status = VisitStatus.CONFIRMED if draw < plan.future_confirmed else VisitStatus.BOOKED
        return
    if steps[-1].planned_end <= now:
        visit.status = VisitStatus.COMPLETED
    elif steps[0].planned_start <= now:
        visit.status = VisitStatus.IN_PROGRESS
    elif steps[0].planned_start <= now + dt.timedelta(minutes=30):
        visit.status = VisitStatus.CHECKED_IN
    else:
        visit.status = VisitStatus.CONFIRMED if draw < plan.future_confirmed else VisitStatus.BOOKED
    for step in steps:
        if step.planned_end <= now:
            _done(step)
        elif step.planned_start <= now:
            step.status = StepStatus.IN_PROGRESS
            step.actual_start = step.planned_start


def _done(step: Any) -> None:
    step.status = StepStatus.DONE
    step.actual_start = step.planned_start
    step.actual_end = step.planned_end


def _generate_waitlist(
    session: Session,
    plan: VisitPlanIn,
    patients: list[Patient],
    pathways: dict[str, Pathway],
    *,
    now: dt.datetime,
    today: dt.date,
) -> int:
    rng = random.Random(plan.random_seed + 1)
    booked_ahead = set(
        session.exec(
            select(Visit.patient_id).where(Visit.date >= today, Visit.status != VisitStatus.CANCELLED)
        )
    )
    candidates = [p for p in patients if p.id not in booked_ahead and not p.opted_out]
    codes = list(plan.pathway_mix)
    priorities = list(plan.waitlist.priority_weights)
    for patient in rng.sample(candidates, min(plan.waitlist.entries, len(candidates))):
        earliest = today + dt.timedelta(days=rng.randint(0, 5))
        session.add(
            WaitlistEntry(
                patient_id=patient.id,
                pathway_id=pathways[rng.choices(codes, [plan.pathway_mix[c] for c in codes])[0]].id,
                priority=rng.choices(priorities, [plan.waitlist.priority_weights[p] for p in priorities])[0],
                added_at=now - dt.timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 600)),
                earliest_date=earliest,
                latest_date=earliest + dt.timedelta(days=rng.randint(7, 28)),
                min_notice_hours=rng.choice([2, 24, 48, 72]),
                accepts_short_notice=rng.random() < 0.4,
                status=WaitlistStatus.WAITING,
            )
        )
    return min(plan.waitlist.entries, len(candidates))
