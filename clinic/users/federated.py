"""Accounts of people who sign in through the hospital's identity provider (OpenID Connect).

The provider vouches for the person (its issuer and ``sub``); the app keeps a local account for them, found
by that pair only (never by a user name, so nobody takes over a local password account by choosing its name
at the provider). The role comes from a claim at every sign-in, so a change at the provider applies at the
next one; a disabled local account stays refused whatever the provider says.
"""

import re
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from clinic.audit import record as audit
from clinic.errors import Forbidden, SignInError
from clinic.users.models import Role, User

#: Several mapped groups: the account gets the widest of their roles.
ROLE_ORDER = (Role.ADMIN, Role.COORDINATOR, Role.FRONT_DESK, Role.VOLUNTEER)
#: Not a werkzeug hash, so no password ever matches it: such an account signs in only through the provider.
NO_LOCAL_PASSWORD = "!oidc"


def role_from_claims(claims: Mapping[str, Any], *, roles_claim: str, role_map: Mapping[str, str]) -> Role:
    """The role the claim ``roles_claim`` (a list of values or one value) maps to; ``Forbidden``
    (code ``oidc_no_role``) when none of its values is in ``role_map``."""
    raw = claims.get(roles_claim)
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list | tuple) else []
    roles = {Role(role_map[value]) for value in values if isinstance(value, str) and value in role_map}
    if not roles:
        raise Forbidden(f"no role for this person: none of their {roles_claim!r} values is mapped",
                        code="oidc_no_role")
    return next(role for role in ROLE_ORDER if role in roles)


def _free_username(session: Session, claims: Mapping[str, Any], subject: str) -> str:
    wanted = str(claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0] or subject)
    base = re.sub(r"[^a-z0-9._-]+", "-", wanted.strip().lower()).strip("._-")[:34] or "staff"
    if len(base) < 2:
        base = f"{base}-staff"
    candidate, n = base, 1
    while session.exec(select(User.id).where(User.username == candidate)).first() is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def sign_in_federated(
    *,
    session: Session,
    issuer: str,
    subject: str,
    claims: Mapping[str, Any],
    roles_claim: str,
    role_map: Mapping[str, str],
) -> User:
    """The local account of the person the provider ``issuer`` vouched for as ``subject``, created on their
    first sign-in and given the role of ``claims`` each time (audited).

    ``SignInError`` (code ``account_disabled``) for a disabled account; ``Forbidden`` (``oidc_no_role``)
    when the claims map to no role."""
    if not issuer or not subject:
        raise SignInError("the identity provider named nobody", code="oidc_no_subject")
    user = session.exec(select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)).first()
    if user is not None and not user.active:
        raise SignInError("this account is disabled", code="account_disabled")
    role = role_from_claims(claims, roles_claim=roles_claim, role_map=role_map)
    name = str(claims.get("name") or claims.get("preferred_username") or subject)[:120]
    if user is None:
        user = User(
            username=_free_username(session, claims, subject), display_name=name, role=role,
            password_hash=NO_LOCAL_PASSWORD, password_meets_policy=True, oidc_issuer=issuer, oidc_subject=subject,
        )
        session.add(user)
        session.flush()
        _audit(session, "user.created", user, role=role.value)
    else:
        if user.role != role:
            _audit(session, "user.role_changed", user, role_from=user.role.value, role_to=role.value)
            user.role = role
            if role != Role.VOLUNTEER:
                user.volunteer_id = None
        user.display_name = name
        session.add(user)
    session.commit()
    return user


def _audit(session: Session, action: str, user: User, **details: object) -> None:
    audit.record(session=session, actor_id=user.id, action=action, entity="user", entity_id=user.id,
                 details={"username": user.username, "via": "oidc", **details})
