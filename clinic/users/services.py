"""Staff and volunteer accounts: creation, sign-in and the preferred language."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func
from sqlmodel import Session, col, delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from clinic.columns import Language
from clinic.errors import Conflict, SignInError, SignInThrottled, ValidationError, get_or_raise
from clinic.service.models import Volunteer
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


def change_password(*, session: Session, user_id: int, password: str) -> User:
    """A new password (8-200 characters); every session of the user ends."""
    if not 8 <= len(password) <= 200:
        raise ValidationError("use 8 to 200 characters", field="password")
    user = end_sessions(session=session, user_id=user_id, commit=False)
    user.password_hash = hash_password(password)
    session.commit()
    return user


def set_active(*, session: Session, user_id: int, active: bool) -> User:
    """Enable or disable an account; disabling (or enabling) ends every session of the user."""
    user = end_sessions(session=session, user_id=user_id, commit=False)
    user.active = active
    session.commit()
    return user


def user_by_name(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


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
) -> User:
    """Validate and store a new account; ``Conflict`` when the user name is taken."""
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
