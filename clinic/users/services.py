"""Staff and volunteer accounts: sign-in, the preferred language, and their administration.

Accounts are created, given roles, disabled or enabled and their passwords reset by an administrator (the
Accounts screen) or on the command line (``flask users ...``: ``actor`` None); every change is audited, and
disabling or resetting ends the user's sessions. Passwords chosen by people follow ``clinic.users.passwords``.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func
from sqlmodel import Session, col, delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from clinic.audit import record as audit
from clinic.columns import Language
from clinic.errors import (
    Conflict,
    Forbidden,
    NotFound,
    SignInError,
    SignInThrottled,
    ValidationError,
    get_or_raise,
)
from clinic.service.models import Volunteer
from clinic.users import passwords
from clinic.users.models import Role, SignInFailure, User, UserCreate

# A real hash to compare against when the user is unknown, so both failures take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The active user with these credentials; ``SignInError`` (one message for every failure) otherwise."""
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise SignInError()
    if not check_password_hash(user.password_hash, password) or not user.active:
        raise SignInError()
    return user


@dataclass(frozen=True)
class Throttle:
    """How many wrong passwords per account and per address a window allows (settings ``SIGN_IN_*``)."""

    account_failures: int = 5
    address_failures: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)


def _wait(session: Session, key: str, limit: int, now: dt.datetime, window: dt.timedelta) -> dt.timedelta:
    """How long until fewer than ``limit`` failures of ``key`` are inside the window (zero: not throttled)."""
    recent = session.exec(
        select(SignInFailure.at)
        .where(SignInFailure.key == key, col(SignInFailure.at) > now - window)
        .order_by(col(SignInFailure.at).desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return dt.timedelta(0)
    oldest = recent[-1] if recent[-1].tzinfo else recent[-1].replace(tzinfo=dt.UTC)
    return max(oldest + window - now, dt.timedelta(seconds=1))


def sign_in(
    *, session: Session, username: str, password: str, address: str, now: dt.datetime, throttle: Throttle
) -> User:
    """``authenticate`` behind a throttle kept in the database, so it holds across every worker process.

    ``SignInThrottled`` (without checking the password, so scrypt does not even run) when the account or
    the address has had too many wrong passwords within the window. Each attempt is stored as a failure
    (and counted) before its password is checked, so parallel guesses in several workers cannot slip past
    the limit together; a throttled attempt is not kept (it does not make the wait longer), and a right
    password removes the account's failures (the address keeps its other ones)."""
    name = username.strip().lower()[:60]
    keys = (f"account:{name}", f"address:{address[:60]}")
    limits = {keys[0]: throttle.account_failures, keys[1]: throttle.address_failures}
    session.exec(delete(SignInFailure).where(col(SignInFailure.at) <= now - throttle.window))
    attempts = [SignInFailure(key=key, at=now) for key in keys]
    session.add_all(attempts)
    session.commit()
    counts = dict(session.exec(
        select(SignInFailure.key, func.count()).where(col(SignInFailure.key).in_(keys))
        .group_by(SignInFailure.key)
    ).all())
    if any(counts.get(key, 0) > limit for key, limit in limits.items()):
        for attempt in attempts:
            session.delete(attempt)
        session.commit()
        wait = max(_wait(session, key, limit, now, throttle.window) for key, limit in limits.items())
        raise SignInThrottled(max(wait, dt.timedelta(seconds=1)))
    user = authenticate(session=session, username=name, password=password)
    session.exec(delete(SignInFailure).where(SignInFailure.key == keys[0]))
    session.delete(attempts[1])
    session.commit()
    return user


def end_sessions(*, session: Session, user_id: int, commit: bool = True) -> User:
    """End every session of the user on every device (their cookies no longer open a page)."""
    user = get_or_raise(session, User, user_id, what="user")
    user.session_version += 1
    session.add(user)
    if commit:
        session.commit()
    return user


def _require_admin(actor: User | None) -> None:
    """``actor`` None is the command line (whoever runs it has the server); a person must be an active admin."""
    if actor is not None and (actor.role != Role.ADMIN or not actor.active):
        raise Forbidden("only an administrator manages accounts", code="not_admin")


def _audit(session: Session, actor: User | None, action: str, user: User, **details: object) -> None:
    audit.record(
        session=session, actor_id=actor.id if actor is not None else None, action=action, entity="user",
        entity_id=user.id, details={"username": user.username, "via": "web" if actor else "cli", **details},
    )


def _other_active_admins(session: Session, user: User) -> int:
    return len(session.exec(
        select(User.id).where(User.role == Role.ADMIN, User.active == True, User.id != user.id)  # noqa: E712
    ).all())


def _keep_an_admin(session: Session, user: User) -> None:
    if user.role == Role.ADMIN and user.active and not _other_active_admins(session, user):
        raise Conflict("this is the last active administrator: make another one first", code="last_admin")


def _set_password(user: User, password: str, *, one_time: bool) -> None:
    user.password_hash = hash_password(password)
    user.password_meets_policy = True
    user.must_change_password = one_time
    user.session_version += 1


def change_password(
    *, session: Session, user_id: int, password: str, current_password: str | None = None
) -> User:
    """The user's own new password, under the password policy (``passwords.check``); every session of the
    user ends (the view that asked keeps its own). With ``current_password`` it must be right first
    (``SignInError``). A new password equal to the current one is refused."""
    user = get_or_raise(session, User, user_id, what="user")
    if current_password is not None and not check_password_hash(user.password_hash, current_password):
        raise SignInError("the current password is wrong", field="current_password")
    passwords.check(password, username=user.username)
    if check_password_hash(user.password_hash, password):
        raise ValidationError("choose a password you did not use just now", code="password_same", field="password")
    _set_password(user, password, one_time=False)
    _audit(session, user, "user.password_changed", user)
    session.commit()
    return user


def set_active(*, session: Session, user_id: int, active: bool, actor: User | None = None) -> User:
    """Enable or disable an account (admin or command line); either ends every session of the user. The last
    active administrator cannot be disabled."""
    _require_admin(actor)
    user = get_or_raise(session, User, user_id, what="user")
    if not active:
        _keep_an_admin(session, user)
    changed = user.active != active
    user = end_sessions(session=session, user_id=user_id, commit=False)
    user.active = active
    if changed:
        _audit(session, actor, "user.enabled" if active else "user.disabled", user)
    session.commit()
    return user


def set_role(*, session: Session, user_id: int, role: Role | str, actor: User | None = None) -> User:
    """Give the account another role (admin or command line); the last active administrator keeps theirs."""
    _require_admin(actor)
    try:
        new_role = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationError(f"unknown role {role!r}: choose {choices}", code="unknown_role", field="role") from None
    user = get_or_raise(session, User, user_id, what="user")
    if user.role == new_role:
        return user
    if new_role != Role.ADMIN:
        _keep_an_admin(session, user)
    before = user.role
    user.role = new_role
    if new_role != Role.VOLUNTEER:
        user.volunteer_id = None
    session.add(user)
    _audit(session, actor, "user.role_changed", user, role_from=before.value, role_to=new_role.value)
    session.commit()
    return user


def reset_password(*, session: Session, user_id: int, actor: User | None = None) -> str:
    """A one-time password for the account (returned once, stored only as a hash): every session of the user
    ends, their sign-in throttle is cleared, and the next sign-in must choose a new password."""
    _require_admin(actor)
    user = get_or_raise(session, User, user_id, what="user")
    password = passwords.one_time_password()
    _set_password(user, password, one_time=True)
    session.add(user)
    session.exec(delete(SignInFailure).where(SignInFailure.key == f"account:{user.username}"))
    _audit(session, actor, "user.password_reset", user)
    session.commit()
    return password


def set_password(*, session: Session, user_id: int, password: str, actor: User | None = None) -> User:
    """A password chosen for the account by an administrator or on the command line, under the policy: every
    session of the user ends and their sign-in throttle is cleared."""
    _require_admin(actor)
    user = get_or_raise(session, User, user_id, what="user")
    passwords.check(password, username=user.username)
    _set_password(user, password, one_time=False)
    session.add(user)
    session.exec(delete(SignInFailure).where(SignInFailure.key == f"account:{user.username}"))
    _audit(session, actor, "user.password_set", user)
    session.commit()
    return user


def create_account(
    *,
    session: Session,
    username: str,
    display_name: str,
    role: Role | str,
    language: Language | str | None = None,
    volunteer_id: int | None = None,
    actor: User | None = None,
) -> tuple[User, str]:
    """A new account (admin or command line) with a one-time password, returned once: the first sign-in
    must choose the real one."""
    _require_admin(actor)
    password = passwords.one_time_password()
    user = create_user(
        session=session, username=username, password=password, role=role, display_name=display_name,
        language=language, volunteer_id=volunteer_id, commit=False, check_policy=False,
    )
    user.must_change_password = True
    user.password_meets_policy = True
    _audit(session, actor, "user.created", user, role=user.role.value)
    session.commit()
    return user, password


def list_accounts(*, session: Session, actor: User | None = None) -> list[User]:
    """Every account, active ones first, by user name (admin or command line)."""
    _require_admin(actor)
    return list(session.exec(select(User).order_by(col(User.active).desc(), col(User.username))))


def user_by_name(*, session: Session, username: str) -> User:
    """The account with this user name; ``NotFound`` naming it otherwise."""
    name = username.strip().lower()
    user = session.exec(select(User).where(User.username == name)).first()
    if user is None:
        raise NotFound(f"no user {name!r}", field="username")
    return user


def accounts_with_demo_password(*, session: Session) -> list[str]:
    """User names of active accounts whose password is a published one (``passwords.PUBLISHED_PASSWORDS``).

    Only accounts whose password was never set under the policy are hashed (the policy refuses published
    passwords), so after the first fix this costs nothing at start-up."""
    suspects = session.exec(
        select(User).where(User.active == True, User.password_meets_policy == False)  # noqa: E712
        .order_by(col(User.username))
    ).all()
    return [
        user.username for user in suspects
        if any(check_password_hash(user.password_hash, known) for known in passwords.PUBLISHED_PASSWORDS)
    ]


def get_user(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def display_names(*, session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Each existing user's display name by id."""
    ids = set(user_ids)
    if not ids:
        return {}
    return {u.id: u.display_name for u in session.exec(select(User).where(col(User.id).in_(ids)))}


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    display_name: str,
    language: Language | str | None = None,
    volunteer_id: int | None = None,
    commit: bool = True,
    check_policy: bool = True,
) -> User:
    """Validate and store a new account; ``Conflict`` when the user name is taken.

    The password must meet the policy (``passwords.check``) unless ``check_policy`` is false: the demo clinic,
    tests and benchmarks, whose published passwords the start-up check then finds outside development."""
    try:
        data = UserCreate(
            username=username.strip().lower(),
            password=password,
            role=role,
            display_name=display_name,
            language=language,
            volunteer_id=volunteer_id,
        )
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc) from None
    if check_policy:
        passwords.check(data.password, username=data.username)
    if session.exec(select(User.id).where(User.username == data.username)).first() is not None:
        raise Conflict(f"user name {data.username!r} is taken", code="username_taken", field="username")
    if data.volunteer_id is not None:
        get_or_raise(session, Volunteer, data.volunteer_id, what="volunteer")
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=hash_password(data.password),
        role=data.role,
        language=data.language,
        volunteer_id=data.volunteer_id,
        active=data.active,
        password_meets_policy=check_policy,
    )
    session.add(user)
    if commit:
        session.commit()
    else:
        session.flush()
    return user


def set_language(*, session: Session, user_id: int, language: Language | str) -> User:
    """Remember the user's interface language for their next sign-in."""
    try:
        chosen = Language(language)
    except ValueError:
        raise ValidationError(f"unknown language {language!r}", field="language") from None
    user = get_or_raise(session, User, user_id, what="user")
    user.language = chosen
    session.add(user)
    session.commit()
    return user


def volunteer_choices(*, session: Session) -> list[tuple[int, str]]:
    """Active volunteers' records (id, name) a volunteer account can be linked to."""
    rows = session.exec(select(Volunteer.id, Volunteer.name).where(Volunteer.active == True)  # noqa: E712
                        .order_by(col(Volunteer.name))).all()
    return [(row[0], row[1]) for row in rows]


def get_account(*, session: Session, user_id: int) -> User:
    """The account with this id; ``NotFound`` otherwise."""
    return get_or_raise(session, User, user_id, what="user")
