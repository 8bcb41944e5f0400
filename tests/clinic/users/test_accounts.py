"""Account administration: the password policy, creating accounts, roles, disabling, resets, own changes."""

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, Forbidden, SignInError, ValidationError
from clinic.users import passwords
from clinic.users import services as accounts
from clinic.users.models import Role, SignInFailure
from tests.factories import make_user

GOOD = "lantern-orchard-47"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short-one-1", "password_too_short"),
        ("x" * 201, "password_too_long"),
        ("Password1234", "password_common"),
        ("onevisit-demo", "password_common"),
        ("ONEVISIT DEMO", "password_common"),
        ("my-name-is-Kees-2026", "password_has_username"),
    ],
)
def test_the_policy_refuses_short_common_and_named_passwords(password: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        passwords.check(password, username="kees")
    assert info.value.code == code and info.value.field == "password"


def test_the_policy_accepts_a_long_uncommon_password() -> None:
    passwords.check(GOOD, username="kees")
    passwords.check("exactly-12ch", username="kees")


def test_every_published_demo_password_is_refused() -> None:
    users = yaml.safe_load((Path(__file__).parents[3] / "seed_data" / "users.yaml").read_text())["users"]
    assert {u["password"] for u in users} <= passwords.PUBLISHED_PASSWORDS


def test_one_time_passwords_meet_the_policy_and_differ() -> None:
    seen = {passwords.one_time_password() for _ in range(50)}
    assert len(seen) == 50
    for password in seen:
        passwords.check(password, username="someone")


def test_create_user_checks_the_policy_by_default(session: Session) -> None:
    with pytest.raises(ValidationError) as info:
        accounts.create_user(session=session, username="kees", password="onevisit-demo", role=Role.FRONT_DESK,
                             display_name="Kees")
    assert info.value.code == "password_common"


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_admin_creates_an_account_with_a_one_time_password(session: Session) -> None:
    admin = make_user(session, username="root", role=Role.ADMIN)
    user, one_time = accounts.create_account(
        session=session, actor=admin, username="Kees", display_name="Kees Jansen", role="front_desk"
    )
    assert user.username == "kees" and user.must_change_password and user.password_meets_policy
    assert accounts.authenticate(session=session, username="kees", password=one_time).id == user.id
    [event] = _audit(session, "user.created")
    assert (event.actor_id, event.entity, event.entity_id) == (admin.id, "user", user.id)
    assert event.details == {"username": "kees", "via": "web", "role": "front_desk"}
    assert one_time not in str(event.details)


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.COORDINATOR, Role.VOLUNTEER])
def test_only_admins_manage_accounts_at_the_service(session: Session, role: Role) -> None:
    actor = make_user(session, username="someone", role=role)
    target = make_user(session, username="target")
    calls = [
        lambda: accounts.create_account(session=session, actor=actor, username="new", display_name="N", role="admin"),
        lambda: accounts.set_role(session=session, actor=actor, user_id=target.id, role="admin"),
        lambda: accounts.set_active(session=session, actor=actor, user_id=target.id, active=False),
        lambda: accounts.reset_password(session=session, actor=actor, user_id=target.id),
        lambda: accounts.set_password(session=session, actor=actor, user_id=target.id, password=GOOD),
        lambda: accounts.list_accounts(session=session, actor=actor),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
    session.refresh(target)
    assert target.active and target.role == Role.FRONT_DESK


def test_a_disabled_admin_can_no_longer_manage(session: Session) -> None:
    admin = make_user(session, username="root", role=Role.ADMIN)
    make_user(session, username="other", role=Role.ADMIN)
    admin.active = False
    with pytest.raises(Forbidden):
        accounts.list_accounts(session=session, actor=admin)


def test_disabling_ends_sessions_and_is_audited(session: Session) -> None:
    admin = make_user(session, username="root", role=Role.ADMIN)
    user = make_user(session, username="kees")
    version = user.session_version
    accounts.set_active(session=session, actor=admin, user_id=user.id, active=False)
    assert not user.active and user.session_version > version
    with pytest.raises(SignInError):
        accounts.authenticate(session=session, username="kees", password="secret-pass")
    accounts.set_active(session=session, actor=None, user_id=user.id, active=True)
    assert [e.details["via"] for e in _audit(session, "user.disabled") + _audit(session, "user.enabled")] == [
        "web", "cli"]


def test_the_last_active_admin_is_kept(session: Session) -> None:
    admin = make_user(session, username="root", role=Role.ADMIN)
    for call in (
        lambda: accounts.set_active(session=session, actor=admin, user_id=admin.id, active=False),
        lambda: accounts.set_role(session=session, actor=None, user_id=admin.id, role="coordinator"),
    ):
        with pytest.raises(Conflict) as info:
            call()
        assert info.value.code == "last_admin"
    second = make_user(session, username="second", role=Role.ADMIN)
    accounts.set_role(session=session, actor=second, user_id=admin.id, role="coordinator")
    assert admin.role == Role.COORDINATOR
    [event] = _audit(session, "user.role_changed")
    assert event.details["role_from"] == "admin" and event.details["role_to"] == "coordinator"


def test_an_unknown_role_names_the_choices(session: Session) -> None:
    user = make_user(session, username="kees")
    with pytest.raises(ValidationError, match="front_desk, coordinator, volunteer, admin"):
        accounts.set_role(session=session, user_id=user.id, role="boss")


def test_a_reset_gives_a_one_time_password_ends_sessions_and_clears_the_throttle(session: Session) -> None:
    import datetime as dt

    user = make_user(session, username="kees")
    session.add(SignInFailure(key="account:kees", at=dt.datetime.now(dt.UTC)))
    session.commit()
    version = user.session_version
    one_time = accounts.reset_password(session=session, user_id=user.id)
    assert user.must_change_password and user.session_version > version
    assert accounts.authenticate(session=session, username="kees", password=one_time)
    with pytest.raises(SignInError):
        accounts.authenticate(session=session, username="kees", password="secret-pass")
    assert session.exec(select(SignInFailure)).all() == []
    [event] = _audit(session, "user.password_reset")
    assert event.actor_id is None and event.details["via"] == "cli"


def test_changing_ones_own_password(session: Session) -> None:
    user = make_user(session, username="kees")
    accounts.reset_password(session=session, user_id=user.id)
    with pytest.raises(SignInError):
        accounts.change_password(session=session, user_id=user.id, current_password="wrong", password=GOOD)
    session.rollback()
    user = accounts.user_by_name(session=session, username="kees")
    one_time_hash = user.password_hash
    with pytest.raises(ValidationError) as info:
        accounts.change_password(session=session, user_id=user.id, password="kees-has-a-long-one")
    assert info.value.code == "password_has_username"
    assert user.password_hash == one_time_hash
    version = user.session_version
    accounts.change_password(session=session, user_id=user.id, password=GOOD)
    assert not user.must_change_password and user.password_meets_policy and user.session_version > version
    assert accounts.authenticate(session=session, username="kees", password=GOOD)
    [event] = _audit(session, "user.password_changed")
    assert event.actor_id == user.id


def test_accounts_with_a_published_password_are_found(session: Session) -> None:
    make_user(session, username="desk", password="onevisit-demo")
    make_user(session, username="admin", password="onevisit-demo", role=Role.ADMIN)
    gone = make_user(session, username="gone", password="onevisit-demo")
    accounts.set_active(session=session, user_id=gone.id, active=False)
    make_user(session, username="fine", password="something-else")
    assert accounts.accounts_with_demo_password(session=session) == ["admin", "desk"]
    accounts.reset_password(session=session, user_id=accounts.user_by_name(session=session, username="desk").id)
    assert accounts.accounts_with_demo_password(session=session) == ["admin"]


def test_a_chosen_password_follows_the_policy_and_is_audited(session: Session) -> None:
    user = make_user(session, username="kees")
    with pytest.raises(ValidationError):
        accounts.set_password(session=session, user_id=user.id, password="onevisit-demo")
    version = user.session_version
    accounts.set_password(session=session, user_id=user.id, password=GOOD)
    assert user.session_version > version and not user.must_change_password
    [event] = _audit(session, "user.password_set")
    assert event.details == {"username": "kees", "via": "cli"}
