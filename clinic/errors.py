"""Domain errors raised by the services; the web layer turns them into translated messages.

Each error carries a stable ``code`` (for translation and tests), an optional ``field`` naming the
input that is wrong, and ``params`` for the message.
"""

import datetime as dt
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlmodel import Session

T = TypeVar("T")


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    default_code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, **params: Any):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.params = params

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationError(DomainError):
    """Input is malformed or breaks a rule (``field`` says which)."""

    default_code = "invalid"

    @classmethod
    def from_pydantic(cls, exc: Any) -> "ValidationError":
        """The first problem of a pydantic ``ValidationError``, naming its field in the validator's words."""
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        return cls(first["msg"].removeprefix("Value error, "), field=field)


class NotFound(DomainError):
    """The thing asked for does not exist."""

    default_code = "not_found"


def get_or_raise(
    session: "Session", model: type[T], row_id: int, *, what: str, field: str | None = None
) -> T:
    """The ``model`` row with id ``row_id``, or ``NotFound`` worded "visit 7 does not exist" naming
    ``field`` (default ``visit_id``, from ``what``). Ids outside PostgreSQL's ``integer`` range are not
    looked up: they would be a database error rather than a missing row."""
    row = session.get(model, row_id) if 0 < row_id < 2**31 else None
    if row is None:
        field = field or what.replace(" ", "_").replace("-", "_") + "_id"
        raise NotFound(f"{what} {row_id} does not exist", field=field)
    return row


class SignInError(DomainError):
    """Unknown user, wrong password or inactive account: always the same message on purpose."""

    default_code = "sign_in_failed"

    def __init__(self, message: str = "Wrong user name or password.", **kw: Any):
        super().__init__(message, **kw)


class SignInThrottled(DomainError):
    """Too many wrong passwords for the account or from the address lately: wait ``retry_after`` first."""

    default_code = "sign_in_throttled"

    def __init__(self, retry_after: dt.timedelta, **kw: Any):
        super().__init__(f"too many failed sign-ins; try again in {retry_after}", **kw)
        self.retry_after = retry_after


class Conflict(DomainError):
    """The request clashes with existing data (duplicate, capacity taken, wrong state)."""

    default_code = "conflict"


class Forbidden(DomainError):
    """The acting user's role may not do this (checked by the service, not only by hiding a button)."""

    default_code = "forbidden"


class SeedError(DomainError):
    """A seed file is wrong; ``problems`` lists every ``file:row: field: message`` found."""

    default_code = "bad_seed"

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = self.problems[:20]
        more = f"\n... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__("Seed data rejected:\n" + "\n".join(shown) + more)
