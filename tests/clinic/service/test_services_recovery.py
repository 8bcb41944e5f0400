"""Recovery gestures: limits per role and calendar month (clinic time), refused-and-pending above a desk
clerk's limit, the coordinator's decisions, audit, and the validated policy file."""

import datetime as dt
from pathlib import Path

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotFound, SeedError, ValidationError
from clinic.service import recovery
from clinic.service.models import GestureStatus, RecoveryGesture
from clinic.users.models import Role
from tests.factories import make_patient, make_unit, make_user, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
SEED = Path(__file__).resolve().parents[3] / "seed_data"
# 23:30 UTC on 31 January is already 1 February in Amsterdam
JAN_LAST_LOCAL = dt.datetime(2027, 1, 31, 22, 30, tzinfo=dt.UTC)  # 23:30 on 31 January, Amsterdam
FEB_FIRST_LOCAL = dt.datetime(2027, 1, 31, 23, 30, tzinfo=dt.UTC)  # 00:30 on 1 February, Amsterdam
MID_FEB = dt.datetime(2027, 2, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def people(session: Session) -> dict:
    return {
        "desk": make_user(session, username="desk-a", role=Role.FRONT_DESK),
        "desk2": make_user(session, username="desk-b", role=Role.FRONT_DESK),
        "coordinator": make_user(session, username="coord", role=Role.COORDINATOR),
        "volunteer": make_user(session, username="vol", role=Role.VOLUNTEER),
        "patient": make_patient(session),
    }


def _grant(session: Session, people: dict, who: str = "desk", *, cost: int | None, now=MID_FEB, **kw):
    values = dict(session=session, actor=people[who], patient_id=people["patient"].id, visit_id=None,
                  kind="meal_voucher", cost_cents=cost, reason="waited two hours for the infusion", now=now)  # fmt: skip
    values.update(kw)
    return recovery.grant(**values, unit=UNIT)


def test_the_shipped_policy() -> None:
    policy = recovery.load_policy(SEED / "service_recovery.yaml")
    assert policy.limit_cents(Role.FRONT_DESK) == 7500 and policy.limit_cents("coordinator") == 100000
    assert policy.limit_cents(Role.VOLUNTEER) is None
    assert policy.kinds["meal_voucher"].default_cents == 1250
    assert set(policy.kinds) == {"parking_refund", "meal_voucher", "taxi_home"}
    assert policy.is_approver(Role.COORDINATOR) and not policy.is_approver(Role.FRONT_DESK)


def test_within_the_limit_is_granted_with_default_cost_and_audited(session: Session, people: dict) -> None:
    outcome = _grant(session, people, cost=None)
    assert outcome.granted and outcome.gesture.cost_cents == 1250
    gesture = session.get(RecoveryGesture, outcome.gesture.id)
    assert (gesture.status, gesture.granted_by, gesture.decided_by, gesture.decided_at) == (
        GestureStatus.GRANTED, people["desk"].id, people["desk"].id, MID_FEB,
    )  # fmt: skip
    assert gesture.reason == "waited two hours for the infusion"
    event = session.exec(select(AuditEvent).where(AuditEvent.entity == "recovery_gesture")).one()
    assert (event.action, event.actor_id, event.details["cost_cents"]) == (
        "gesture.granted",
        people["desk"].id,
        1250,
    )
    assert event.details["reason"] == "waited two hours for the infusion"


def test_above_the_desk_limit_is_refused_and_waits_for_the_coordinator(
    session: Session, people: dict
) -> None:
    assert _grant(session, people, cost=4500, kind="taxi_home").granted
    assert _grant(session, people, cost=3000).granted  # exactly 75.00: still within
    outcome = _grant(session, people, cost=1)
    assert not outcome.granted and outcome.gesture.status == GestureStatus.PENDING
    assert (outcome.budget.limit_cents, outcome.budget.used_cents, outcome.budget.remaining_cents) == (
        7500,
        7500,
        0,
    )
    assert outcome.gesture.decided_by is None
    assert recovery.used_cents(session=session, user_id=people["desk"].id, now=MID_FEB, unit=UNIT) == 7500
    # another clerk has their own budget
    assert _grant(session, people, "desk2", cost=7500).granted
    assert [row.gesture.id for row in recovery.pending(session=session)] == [outcome.gesture.id]
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["gesture.granted", "gesture.granted", "gesture.requested", "gesture.granted"]


def test_the_limit_starts_again_in_the_clinics_next_month(session: Session, people: dict) -> None:
    assert _grant(session, people, cost=7000, now=JAN_LAST_LOCAL).granted  # January in Amsterdam
    assert not _grant(session, people, cost=1000, now=JAN_LAST_LOCAL).granted  # 70 + 10 > 75 in January
    # an hour later it is February in Amsterdam (still 31 January in UTC)
    assert _grant(session, people, cost=7000, now=FEB_FIRST_LOCAL).granted
    assert recovery.used_cents(session=session, user_id=people["desk"].id, now=MID_FEB, unit=UNIT) == 7000
    assert recovery.used_cents(session=session, user_id=people["desk"].id, now=JAN_LAST_LOCAL, unit=UNIT) == 7000
    start, end = recovery.month_bounds(dt.date(2027, 2, 10), TZ)
    assert (start, end) == (
        dt.datetime(2027, 1, 31, 23, 0, tzinfo=dt.UTC),
        dt.datetime(2027, 2, 28, 23, 0, tzinfo=dt.UTC),
    )
    start, end = recovery.month_bounds(dt.date(2027, 3, 31), TZ)  # the clocks go forward on 28 March
    assert end - start == dt.timedelta(days=31, hours=-1)


def test_the_coordinator_approves_within_their_own_limit(session: Session, people: dict) -> None:
    _grant(session, people, cost=7500)
    pending = _grant(session, people, cost=4500, kind="taxi_home").gesture
    later = MID_FEB + dt.timedelta(hours=1)
    approved = recovery.approve(
        session=session, actor=people["coordinator"], gesture_id=pending.id, now=later, unit=UNIT
    )
    assert (approved.status, approved.decided_by, approved.decided_at) == (
        GestureStatus.GRANTED, people["coordinator"].id, later,
    )  # fmt: skip
    # it counts against the coordinator's budget, not the clerk's
    assert recovery.used_cents(session=session, user_id=people["coordinator"].id, now=later, unit=UNIT) == 4500
    assert recovery.used_cents(session=session, user_id=people["desk"].id, now=later, unit=UNIT) == 7500
    with pytest.raises(Conflict) as info:
        recovery.approve(
            session=session, actor=people["coordinator"], gesture_id=pending.id, now=later, unit=UNIT
        )
    assert info.value.code == "not_pending"
    with pytest.raises(NotFound):
        recovery.approve(session=session, actor=people["coordinator"], gesture_id=999_999, now=later, unit=UNIT)


def test_only_an_approver_decides_and_declining_is_audited(session: Session, people: dict) -> None:
    _grant(session, people, cost=7500)
    pending = _grant(session, people, cost=750, kind="parking_refund").gesture
    for who in ("desk", "desk2"):
        with pytest.raises(Conflict) as info:
            recovery.approve(session=session, actor=people[who], gesture_id=pending.id, now=MID_FEB, unit=UNIT)
        assert info.value.code == "not_approver"
    declined = recovery.decline(session=session, actor=people["coordinator"], gesture_id=pending.id, now=MID_FEB,
                                note="parking was free that day")  # fmt: skip
    assert (declined.status, declined.decided_by) == (GestureStatus.DECLINED, people["coordinator"].id)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "gesture.declined")).one()
    assert event.details["note"] == "parking was free that day"
    assert recovery.pending(session=session) == []


def test_an_approver_above_their_own_limit_is_refused_and_nothing_is_written(
    session: Session, people: dict
) -> None:
    for _ in range(9):
        assert _grant(session, people, "coordinator", cost=10000).granted
    assert _grant(session, people, "coordinator", cost=10000).granted  # exactly 1000.00
    with pytest.raises(Conflict) as info:
        _grant(session, people, "coordinator", cost=750)
    assert info.value.code == "over_limit"
    assert (info.value.params["limit_cents"], info.value.params["used_cents"], info.value.params["remaining_cents"]) == (
        100000, 100000, 0,
    )  # fmt: skip
    pending = _grant(session, people, cost=9000).gesture  # the clerk's request waits...
    with pytest.raises(Conflict) as info:  # ...and the coordinator's own budget is spent this month
        recovery.approve(
            session=session, actor=people["coordinator"], gesture_id=pending.id, now=MID_FEB, unit=UNIT
        )
    assert info.value.code == "over_limit"
    assert session.get(RecoveryGesture, pending.id).status == GestureStatus.PENDING
    next_month = MID_FEB + dt.timedelta(days=20)
    assert recovery.approve(session=session, actor=people["coordinator"], gesture_id=pending.id, now=next_month,
                            unit=UNIT).status == GestureStatus.GRANTED  # fmt: skip
    assert len(session.exec(select(RecoveryGesture)).all()) == 11


def test_a_role_without_a_limit_cannot_grant(session: Session, people: dict) -> None:
    with pytest.raises(Conflict) as info:
        _grant(session, people, "volunteer", cost=100)
    assert info.value.code == "cannot_grant"
    assert session.exec(select(RecoveryGesture)).all() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "spa_day"}, "kind"),
        ({"cost": 0}, "cost"),
        ({"cost": -500}, "cost"),
        ({"cost": 100_001}, "cost"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
    ],
)
def test_bad_requests_name_their_field_and_write_nothing(
    session: Session, people: dict, changes: dict, field: str
) -> None:
    cost = changes.pop("cost", None)
    with pytest.raises(ValidationError) as info:
        _grant(session, people, cost=cost, **changes)
    assert info.value.field == field
    assert session.exec(select(RecoveryGesture)).all() == []


def test_the_visit_must_be_the_patients_own(session: Session, people: dict) -> None:
    own = make_visit(session, patient=people["patient"])
    other = make_visit(session)
    assert _grant(session, people, cost=None, visit_id=own.id).gesture.visit_id == own.id
    with pytest.raises(ValidationError) as info:
        _grant(session, people, cost=None, visit_id=other.id)
    assert info.value.field == "visit_id"
    with pytest.raises(NotFound):
        _grant(session, people, cost=None, patient_id=999_999)


def test_the_month_overview_totals_per_person(session: Session, people: dict) -> None:
    _grant(session, people, cost=5000)
    _grant(session, people, "desk2", cost=1250)
    pending = _grant(session, people, cost=5000).gesture
    _grant(session, people, cost=1000, now=MID_FEB + dt.timedelta(days=30))  # March: not in February
    overview = recovery.month_overview(
        session=session, month=dt.date(2027, 2, 1), viewer=people["coordinator"], unit=UNIT
    )
    assert len(overview.rows) == 3 and overview.granted_cents == 6250
    totals = {
        p.user.username: (p.budget.used_cents, p.budget.remaining_cents, p.granted, p.pending)
        for p in overview.people
    }
    assert totals == {"desk-a": (5000, 2500, 1, 1), "desk-b": (1250, 6250, 1, 0), "coord": (0, 100000, 0, 0)}
    assert [row.gesture.id for row in overview.pending] == [pending.id]
    assert [
        row.gesture.cost_cents
        for row in recovery.for_patient(session=session, patient_id=people["patient"].id)
    ][0] == 1000


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("front_desk: 75", "frontdesk: 75"), "service_recovery.yaml: monthly_limits.frontdesk.[key]: "),
        (lambda t: t.replace("front_desk: 75", "front_desk: -75"), "service_recovery.yaml: monthly_limits: Value error, front_desk"),
        (lambda t: t.replace("default_cost: 12.50", "default_cost: 0"), "service_recovery.yaml: kinds.meal_voucher.default_cost: "),
        (lambda t: t.replace("currency: EUR", "currency: euro"), "service_recovery.yaml: currency: "),
        (lambda t: t.replace("approver_roles: [coordinator, admin]", "approver_roles: [coordinator, volunteer]"),
         "service_recovery.yaml: approver_roles: volunteer has no entry in monthly_limits"),
        (lambda t: t.replace("  taxi_home:\n", "  taxi home:\n"), "service_recovery.yaml: kinds: Value error, kind 'taxi home'"),
    ],
)  # fmt: skip
def test_a_bad_policy_file_is_refused_with_file_and_key(tmp_path: Path, edit, expected: str) -> None:
    path = tmp_path / "service_recovery.yaml"
    path.write_text(edit((SEED / "service_recovery.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(SeedError) as info:
        recovery.load_policy(path)
    assert any(problem.startswith(expected) for problem in info.value.problems), info.value.problems
