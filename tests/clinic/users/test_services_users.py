"""Accounts: creation rules, sign-in with one message for every failure, language, audit trail."""

import pytest
from sqlmodel import Session

from clinic.audit import record as audit
from clinic.columns import Language
from clinic.errors import Conflict, NotFound, SignInError, ValidationError
from clinic.users.models import Role
from clinic.users.services import authenticate, create_user, get_user, set_language
from tests.factories import make_user


def test_create_and_authenticate(session: Session) -> None:
    user = make_user(session, username="Desk", password="secret-pass", role=Role.FRONT_DESK)
    assert user.username == "desk"
    assert user.password_hash != "secret-pass" and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert authenticate(session=session, username=" desk ", password="secret-pass").id == user.id
    assert get_user(session=session, user_id=user.id).role is Role.FRONT_DESK
    assert get_user(session=session, user_id=user.id + 1000) is None


def test_unknown_user_and_wrong_password_look_the_same(session: Session) -> None:
    make_user(session, username="desk")
    with pytest.raises(SignInError) as wrong:
        authenticate(session=session, username="desk", password="not-it-at-all")
    with pytest.raises(SignInError) as unknown:
        authenticate(session=session, username="nobody", password="secret-pass")
    assert str(wrong.value) == str(unknown.value)


def test_inactive_users_cannot_sign_in(session: Session) -> None:
    user = make_user(session, username="gone")
    user.active = False
    session.add(user)
    session.commit()
    with pytest.raises(SignInError):
        authenticate(session=session, username="gone", password="secret-pass")


def test_duplicate_username_is_a_conflict(session: Session) -> None:
    make_user(session, username="desk")
    with pytest.raises(Conflict) as info:
        make_user(session, username="desk", role=Role.ADMIN)
    assert info.value.field == "username"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"password": "short"}, "password"),
        ({"username": "no spaces please"}, "username"),
        ({"role": "superuser"}, "role"),
        ({"language": "de"}, "language"),
    ],
)
def test_bad_account_input_names_the_field(session: Session, kw: dict, field: str) -> None:
    values = {"username": "newbie", "password": "long-enough", "role": Role.ADMIN, "display_name": "New"}
    with pytest.raises(ValidationError) as info:
        create_user(session=session, **{**values, **kw})
    assert info.value.field == field


def test_volunteer_link_must_exist(session: Session) -> None:
    with pytest.raises(NotFound):
        make_user(session, username="vol", role=Role.VOLUNTEER, volunteer_id=424242)


def test_set_language(session: Session) -> None:
    user = make_user(session, username="desk")
    assert set_language(session=session, user_id=user.id, language="fr").language is Language.FR
    session.expire_all()
    assert get_user(session=session, user_id=user.id).language is Language.FR
    with pytest.raises(ValidationError):
        set_language(session=session, user_id=user.id, language="xx")


def test_audit_record_and_history(session: Session) -> None:
    user = make_user(session, username="admin", role=Role.ADMIN)
    audit.record(session=session, actor_id=user.id, action="user.created", entity="user", entity_id=user.id)
    audit.record(
        session=session,
        actor_id=None,
        action="user.reminded",
        entity="user",
        entity_id=user.id,
        details={"n": 1},
    )
    session.commit()
    events = audit.history(session=session, entity="user", entity_id=user.id)
    assert [e.action for e in events] == ["user.created", "user.reminded"]
    assert events[1].actor_id is None and events[1].details == {"n": 1}
    assert events[0].at.tzinfo is not None
