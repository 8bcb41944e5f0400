"""Service recovery: small gestures (parking refund, meal voucher, taxi home) staff grant a patient at
their own discretion, up to a limit per role and calendar month (``seed_data/service_recovery.yaml``).

A gesture counts against the budget of the person who authorised it, in the month they did so: a
gesture granted within the granter's limit is theirs (``decided_by`` = ``granted_by``); one above it,
asked for by someone who is not an approver, is refused and recorded as *pending* — that is what "above
it needs the coordinator" means — and once an approver (the coordinator) approves it, it counts against
the approver's budget. An approver above their own limit is refused and nothing is recorded. Months
are calendar months of the clinic's time zone. Every grant, request and decision is audited.
"""

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import Field, field_validator
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.errors import Conflict, SeedError, ValidationError, get_or_raise
from clinic.patients.models import Patient
from clinic.service.models import GestureStatus, RecoveryGesture
from clinic.unit.context import Unit
from clinic.users.models import Role, User
from clinic.visits.models import Visit
from clinic.yaml_files import Strict, Texts, file_stamp, read_model, seed_file

FILENAME = "service_recovery.yaml"
KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_COST_CENTS = 100_000  # one gesture of more than EUR 1000 is a typo, not discretion
MAX_REASON = 500


# --- the policy file ------------------------------------------------------------------------------------


def _cents(euros: Decimal) -> int:
    return int((euros * 100).to_integral_value())


class GestureKind(Strict):
    label: Texts
    default_cost: Decimal = Field(gt=0, le=Decimal(MAX_COST_CENTS) / 100, decimal_places=2)

    @property
    def default_cents(self) -> int:
        return _cents(self.default_cost)


class Policy(Strict):
    version: Literal[1]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    kinds: dict[str, GestureKind] = Field(min_length=1)
    monthly_limits: dict[Role, Decimal]
    approver_roles: tuple[Role, ...] = Field(min_length=1)

    @field_validator("kinds")
    @classmethod
    def _kind_keys(cls, value: dict[str, GestureKind]) -> dict[str, GestureKind]:
        bad = [key for key in value if not KIND_RE.fullmatch(key)]
        if bad:
            raise ValueError(f"kind {bad[0]!r}: use 1-40 lower-case letters, digits or underscores")
        return value

    @field_validator("monthly_limits")
    @classmethod
    def _limits(cls, value: dict[Role, Decimal]) -> dict[Role, Decimal]:
        for role, limit in value.items():
            if limit < 0 or limit != limit.quantize(Decimal("0.01")):
                raise ValueError(f"{role.value}: a limit is an amount of at least 0 with at most 2 decimals")
        return value

    def limit_cents(self, role: object) -> int | None:
        """The monthly limit of ``role`` in cents; ``None`` when the role may not grant gestures."""
        limit = self.monthly_limits.get(Role(str(getattr(role, "value", role))))
        return None if limit is None else _cents(limit)

    def is_approver(self, role: object) -> bool:
        return Role(str(getattr(role, "value", role))) in self.approver_roles


def default_path() -> Path:
    return seed_file(FILENAME)


def load_policy(path: Path | None = None) -> Policy:
    """The validated file (cached until it changes); ``SeedError`` names file and key of every problem."""
    path = Path(path) if path is not None else default_path()
    return _load(str(path), file_stamp(path))


@lru_cache(maxsize=8)
def _load(path: str, _stamp: int) -> Policy:
    policy = read_model(Path(path), Policy)
    problems = [
        f"{FILENAME}: approver_roles: {role.value} has no entry in monthly_limits"
        for role in policy.approver_roles
        if role not in policy.monthly_limits
    ]
    if problems:
        raise SeedError(problems)
    return policy


# --- budgets --------------------------------------------------------------------------------------------


def month_bounds(moment: dt.datetime | dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (clinic time) holding ``moment`` as a half-open UTC interval."""
    zone = ZoneInfo(tz)
    day = moment.astimezone(zone).date() if isinstance(moment, dt.datetime) else moment
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    start = dt.datetime.combine(first, dt.time(0), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(following, dt.time(0), zone).astimezone(dt.UTC)
    return start, end


@dataclass(frozen=True)
class Budget:
    """One person's month: their role's limit, what they authorised, what remains (cents)."""

    user_id: int
    limit_cents: int | None
    used_cents: int

    @property
    def remaining_cents(self) -> int:
        return max(0, (self.limit_cents or 0) - self.used_cents)


def used_cents(*, session: Session, user_id: int, now: dt.datetime, unit: Unit) -> int:
    """What ``user_id`` authorised in the month of ``now``."""
    start, end = month_bounds(now, unit.tz)
    statement = select(sa.func.coalesce(sa.func.sum(RecoveryGesture.cost_cents), 0)).where(
        RecoveryGesture.status == GestureStatus.GRANTED,
        RecoveryGesture.decided_by == user_id,
        col(RecoveryGesture.decided_at) >= start,
        col(RecoveryGesture.decided_at) < end,
    )
    return int(session.exec(statement).one())


def budget(
    *, session: Session, user: User, now: dt.datetime, unit: Unit, policy: Policy | None = None
) -> Budget:
    policy = policy or load_policy()
    return Budget(
        user_id=user.id,
        limit_cents=policy.limit_cents(user.role),
        used_cents=used_cents(session=session, user_id=user.id, now=now, unit=unit),
    )


# --- granting and deciding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantOutcome:
    """What became of a grant: granted, or refused and waiting for an approver (``budget`` is the
    granter's month before this gesture, for the message)."""

    gesture: RecoveryGesture
    budget: Budget

    @property
    def granted(self) -> bool:
        return self.gesture.status == GestureStatus.GRANTED


def _check_request(
    session: Session,
    *,
    patient_id: int,
    visit_id: int | None,
    kind: str,
    cost_cents: int | None,
    reason: str,
    policy: Policy,
) -> tuple[int, str]:
    get_or_raise(session, Patient, patient_id, what="patient")
    if visit_id is not None:
        visit = session.get(Visit, visit_id)
        if visit is None or visit.patient_id != patient_id:
            raise ValidationError(f"visit {visit_id} is not a visit of this patient", field="visit_id")
    if kind not in policy.kinds:
        raise ValidationError(f"{kind!r} is not a kind of gesture", field="kind")
    cost = policy.kinds[kind].default_cents if cost_cents is None else cost_cents
    if not 0 < cost <= MAX_COST_CENTS:
        raise ValidationError(
            f"the cost must be more than 0 and at most {MAX_COST_CENTS / 100:.2f}",
            field="cost",
            max_cents=MAX_COST_CENTS,
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("give the reason for the gesture", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"the reason is longer than {MAX_REASON} characters", field="reason")
    return cost, reason


def grant(
    *,
    session: Session,
    actor: User,
    patient_id: int,
    visit_id: int | None,
    kind: str,
    cost_cents: int | None,
    reason: str,
    now: dt.datetime,
    unit: Unit,
    policy: Policy | None = None,
) -> GrantOutcome:
    """Grant a gesture within the actor's monthly limit, else record it as pending for an approver.

    ``cost_cents`` ``None`` takes the kind's default cost. Raises ``Conflict`` (``cannot_grant``) for a
    role without a limit, and (``over_limit``, with ``limit_cents``/``used_cents``/``remaining_cents``)
    for an approver above their own limit; nothing is written then."""
    policy = policy or load_policy()
    try:
        cost, reason = _check_request(
            session,
            patient_id=patient_id,
            visit_id=visit_id,
            kind=kind,
            cost_cents=cost_cents,
            reason=reason,
            policy=policy,
        )
        mine = budget(session=session, user=actor, now=now, unit=unit, policy=policy)
        if mine.limit_cents is None:
            raise Conflict(f"the role {actor.role} may not grant gestures", code="cannot_grant", field="kind")
        within = mine.used_cents + cost <= mine.limit_cents
        if not within and policy.is_approver(actor.role):
            raise _over_limit(mine, cost)
        gesture = RecoveryGesture(
            patient_id=patient_id,
            visit_id=visit_id,
            kind=kind,
            cost_cents=cost,
            reason=reason,
            status=GestureStatus.GRANTED if within else GestureStatus.PENDING,
            granted_by=actor.id,
            decided_by=actor.id if within else None,
            decided_at=now if within else None,
            created_at=now,
        )
        session.add(gesture)
        session.flush()
        audit.record(
            session=session,
            actor_id=actor.id,
            action="gesture.granted" if within else "gesture.requested",
            entity="recovery_gesture",
            entity_id=gesture.id,
            details={
                "patient": patient_id,
                "visit": visit_id,
                "kind": kind,
                "cost_cents": cost,
                "reason": reason,
                "limit_cents": mine.limit_cents,
                "used_cents": mine.used_cents,
            },
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return GrantOutcome(gesture=gesture, budget=mine)


def _over_limit(mine: Budget, cost: int) -> Conflict:
    return Conflict(
        f"{cost / 100:.2f} is above the monthly limit of {(mine.limit_cents or 0) / 100:.2f} "
        f"({mine.used_cents / 100:.2f} used, {mine.remaining_cents / 100:.2f} left)",
        code="over_limit",
        field="cost",
        limit_cents=mine.limit_cents or 0,
        used_cents=mine.used_cents,
        remaining_cents=mine.remaining_cents,
        cost_cents=cost,
    )


def _pending(session: Session, gesture_id: int) -> RecoveryGesture:
    gesture = get_or_raise(session, RecoveryGesture, gesture_id, what="gesture")
    if gesture.status != GestureStatus.PENDING:
        raise Conflict(
            f"the gesture is already {gesture.status.value}", code="not_pending", status=gesture.status.value
        )
    return gesture


def _approver(actor: User, policy: Policy) -> None:
    if not policy.is_approver(actor.role):
        raise Conflict("only an approver (the coordinator) decides on pending gestures", code="not_approver")


def approve(
    *,
    session: Session,
    actor: User,
    gesture_id: int,
    now: dt.datetime,
    unit: Unit,
    policy: Policy | None = None,
) -> RecoveryGesture:
    """An approver grants a pending gesture; it counts against the approver's budget for this month."""
    policy = policy or load_policy()
    try:
        _approver(actor, policy)
        gesture = _pending(session, gesture_id)
        mine = budget(session=session, user=actor, now=now, unit=unit, policy=policy)
        if mine.used_cents + gesture.cost_cents > (mine.limit_cents or 0):
            raise _over_limit(mine, gesture.cost_cents)
        gesture.status, gesture.decided_by, gesture.decided_at = GestureStatus.GRANTED, actor.id, now
        session.add(gesture)
        audit.record(
            session=session,
            actor_id=actor.id,
            action="gesture.approved",
            entity="recovery_gesture",
            entity_id=gesture.id,
            details={"cost_cents": gesture.cost_cents, "requested_by": gesture.granted_by},
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return gesture


def decline(
    *,
    session: Session,
    actor: User,
    gesture_id: int,
    now: dt.datetime,
    note: str = "",
    policy: Policy | None = None,
) -> RecoveryGesture:
    """An approver turns a pending gesture down (``note`` goes to the audit trail)."""
    policy = policy or load_policy()
    note = (note or "").strip()
    try:
        _approver(actor, policy)
        if len(note) > MAX_REASON:
            raise ValidationError(f"the note is longer than {MAX_REASON} characters", field="note")
        gesture = _pending(session, gesture_id)
        gesture.status, gesture.decided_by, gesture.decided_at = GestureStatus.DECLINED, actor.id, now
        session.add(gesture)
        audit.record(
            session=session,
            actor_id=actor.id,
            action="gesture.declined",
            entity="recovery_gesture",
            entity_id=gesture.id,
            details={"note": note, "requested_by": gesture.granted_by},
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return gesture


# --- screens ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GestureRow:
    gesture: RecoveryGesture
    patient: Patient
    granted_by: User | None
    decided_by: User | None


@dataclass(frozen=True)
class PersonTotal:
    user: User
    budget: Budget
    granted: int
    pending: int


@dataclass(frozen=True)
class MonthOverview:
    start: dt.datetime
    end: dt.datetime
    rows: list[GestureRow]
    people: list[PersonTotal]
    pending: list[GestureRow]

    @property
    def granted_cents(self) -> int:
        return sum(r.gesture.cost_cents for r in self.rows if r.gesture.status == GestureStatus.GRANTED)


def _rows(session: Session, gestures: Iterable[RecoveryGesture]) -> list[GestureRow]:
    gestures = list(gestures)
    users = {
        u.id: u
        for u in session.exec(
            select(User).where(
                col(User.id).in_({g.granted_by for g in gestures} | {g.decided_by for g in gestures})
            )
        )
    }
    patients = {
        p.id: p
        for p in session.exec(select(Patient).where(col(Patient.id).in_({g.patient_id for g in gestures})))
    }
    return [
        GestureRow(g, patients[g.patient_id], users.get(g.granted_by), users.get(g.decided_by))
        for g in gestures
    ]


def pending(*, session: Session) -> list[GestureRow]:
    """Requests waiting for an approver, oldest first."""
    statement = (
        select(RecoveryGesture)
        .where(RecoveryGesture.status == GestureStatus.PENDING)
        .order_by(col(RecoveryGesture.created_at), col(RecoveryGesture.id))
    )
    return _rows(session, session.exec(statement))


def month_overview(
    *,
    session: Session,
    month: dt.date,
    viewer: User | None = None,
    unit: Unit,
    policy: Policy | None = None,
) -> MonthOverview:
    """The month's gestures (asked for or decided in it), each person's total against their limit, and
    what waits for an approver."""
    policy = policy or load_policy()
    start, end = month_bounds(month, unit.tz)
    in_month = sa.or_(
        sa.and_(col(RecoveryGesture.created_at) >= start, col(RecoveryGesture.created_at) < end),
        sa.and_(col(RecoveryGesture.decided_at) >= start, col(RecoveryGesture.decided_at) < end),
    )
    gestures = session.exec(
        select(RecoveryGesture)
        .where(in_month)
        .order_by(col(RecoveryGesture.created_at).desc(), col(RecoveryGesture.id).desc())
    ).all()
    rows = _rows(session, gestures)
    granted: dict[int, int] = {}
    asked: dict[int, int] = {}
    for g in gestures:
        if g.status == GestureStatus.GRANTED and g.decided_by is not None and start <= g.decided_at < end:
            granted[g.decided_by] = granted.get(g.decided_by, 0) + 1
        if g.status == GestureStatus.PENDING and g.granted_by is not None:
            asked[g.granted_by] = asked.get(g.granted_by, 0) + 1
    ids = set(granted) | set(asked) | ({viewer.id} if viewer is not None else set())
    people = []
    for user in session.exec(select(User).where(col(User.id).in_(ids)).order_by(col(User.display_name))):
        used = used_cents(session=session, user_id=user.id, now=start, unit=unit)
        people.append(
            PersonTotal(
                user=user,
                budget=Budget(user.id, policy.limit_cents(user.role), used),
                granted=granted.get(user.id, 0),
                pending=asked.get(user.id, 0),
            )
        )
    return MonthOverview(start=start, end=end, rows=rows, people=people, pending=pending(session=session))


def for_patient(*, session: Session, patient_id: int, limit: int = 50) -> list[GestureRow]:
    """The patient's gestures, newest first."""
    statement = (
        select(RecoveryGesture)
        .where(RecoveryGesture.patient_id == patient_id)
        .order_by(col(RecoveryGesture.created_at).desc(), col(RecoveryGesture.id).desc())
        .limit(limit)
    )
    return _rows(session, session.exec(statement))
