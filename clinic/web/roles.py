"""Role checks for views: ``@roles_required("front_desk", "admin")``.

Roles are compared as their string values ("front_desk", "coordinator", "volunteer", "admin"), so
views can pass either ``Role`` members or plain strings.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from clinic.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])

FRONT_DESK = "front_desk"
COORDINATOR = "coordinator"
VOLUNTEER = "volunteer"
ADMIN = "admin"
ALL_STAFF = frozenset({FRONT_DESK, COORDINATOR, ADMIN})

ROLE_LABELS = {
    FRONT_DESK: _l("Front desk"),
    COORDINATOR: _l("Coordinator"),
    VOLUNTEER: _l("Volunteer"),
    ADMIN: _l("Administrator"),
}


def role_value(role: object) -> str:
    return str(getattr(role, "value", role))


def roles_required(*roles: object) -> Callable[[F], F]:
    """Anonymous visitors are sent to sign in; signed-in people without one of ``roles`` get 403."""
    allowed = frozenset(role_value(role) for role in roles)
    if not allowed:
        raise ValueError("roles_required needs at least one role")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
