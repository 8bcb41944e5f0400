"""Staff and volunteer accounts: creation, sign-in and the preferred language."""

from collections.abc import Iterable

from pydantic import ValidationError as PydanticValidationError
from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash, generate_password_hash

from clinic.columns import Language
from clinic.errors import Conflict, SignInError, ValidationError, get_or_raise
from clinic.service.models import Volunteer
from clinic.users.models import Role, User, UserCreate

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
