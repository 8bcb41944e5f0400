"""API clients and their bearer tokens: create, issue (shown once), revoke, authenticate, log each call.

A token is 32 random bytes (URL-safe text, ``ovf_`` first so a leaked one is recognisable); only its SHA-256
is stored. Every change an administrator makes is in the audit trail (entity ``api_client``)."""

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from clinic.audit.record import record
from clinic.columns import utcnow
from clinic.errors import Conflict, DomainError, NotFound, ValidationError, get_or_raise
from clinic.fhir.models import ApiCall, ApiClient, ApiToken, UsedAssertion
from clinic.fhir.scopes import Scope, parse_scopes, scope_text, uncovered

TOKEN_PREFIX = "ovf_"
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 730
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{1,79}")


class TokenRefused(DomainError):
    """The bearer token is missing, unknown, expired or revoked, or its client is deactivated."""

    default_code = "invalid_token"


@dataclass(frozen=True)
class Grant:
    """What an authenticated request may do: its client and the token's scopes."""

    client_id: int
    client_name: str
    scopes: tuple[Scope, ...]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_jwks(jwks: Any) -> dict[str, Any]:
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValidationError('expected a JSON Web Key Set: {"keys": [ {public key}, ... ]}', field="jwks", code="jwks")
    try:
        keys = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValidationError(f"the key set cannot be read: {exc}", field="jwks", code="jwks") from None
    for key in keys:
        if key.is_private:
            raise ValidationError("the key set holds a private key: register only the public keys", field="jwks", code="jwks")
    return {"keys": [key.as_dict(private=False) for key in keys]}


def create_client(
    *, session: Session, name: str, scopes: str | list[str], actor_id: int | None, jwks: Any = None
) -> ApiClient:
    """A new active client; ``ValidationError`` naming ``name``/``scope``/``jwks``, ``Conflict`` on a taken name."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ValidationError("use 2-80 letters, digits, spaces, dots, dashes or underscores", field="name",
                              code="client_name")
    parsed = parse_scopes(scopes)
    if not parsed:
        raise ValidationError("give at least one scope, e.g. system/Appointment.read", field="scope", code="scope")
    checked = _check_jwks(jwks) if jwks is not None else None
    if session.exec(select(ApiClient).where(ApiClient.name == name)).first() is not None:
        raise Conflict(f"an API client named {name!r} already exists", field="name", code="client_name_taken")
    client = ApiClient(name=name, scopes=scope_text(parsed), jwks=checked)
    session.add(client)
    session.flush()
    record(session=session, actor_id=actor_id, action="api_client.created", entity="api_client",
           entity_id=client.id, details={"name": name, "scopes": client.scopes, "jwks": checked is not None})
    session.commit()
    return client


def client_named(*, session: Session, name: str) -> ApiClient:
    client = session.exec(select(ApiClient).where(ApiClient.name == name.strip())).first()
    if client is None:
        raise NotFound(f"no API client is named {name!r}", field="name")
    return client


def set_jwks(*, session: Session, client_id: int, jwks: Any, actor_id: int | None) -> ApiClient:
    """Register (or replace) the client's public keys for SMART backend services."""
    client = get_or_raise(session, ApiClient, client_id, what="API client", field="client_id")
    client.jwks = _check_jwks(jwks)
    record(session=session, actor_id=actor_id, action="api_client.keys_registered", entity="api_client",
           entity_id=client.id, details={"kids": [k.get("kid") for k in client.jwks["keys"]]})
    session.commit()
    return client


def _new_token(
    session: Session, client: ApiClient, scopes: list[Scope], expires_at: dt.datetime, source: str
) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(client_id=client.id, token_hash=hash_token(token), hint=token[:10], scopes=scope_text(scopes),
                   source=source, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def requested_scopes(client: ApiClient, scopes: str | list[str] | None) -> list[Scope]:
    """The scopes asked for (all the client's when None), or ``ValidationError`` naming those it lacks."""
    granted = parse_scopes(client.scopes)
    if scopes is None or (isinstance(scopes, str) and not scopes.strip()):
        return granted
    asked = parse_scopes(scopes)
    missing = uncovered(granted, asked)
    if missing:
        raise ValidationError(
            f"the client {client.name!r} is not allowed {scope_text(missing)} (it has {client.scopes})",
            field="scope", code="invalid_scope",
        )
    return asked


def issue_token(
    *, session: Session, client_id: int, actor_id: int | None, days: int = DEFAULT_TOKEN_DAYS,
    scopes: str | list[str] | None = None,
) -> tuple[ApiToken, str]:
    """A new token for an active client, valid ``days`` days: the row and the token itself, shown only now."""
    client = get_or_raise(session, ApiClient, client_id, what="API client", field="client_id")
    if not client.active:
        raise Conflict(f"the API client {client.name!r} is deactivated", field="client_id", code="client_inactive")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError(f"a token is valid 1 to {MAX_TOKEN_DAYS} days", field="days", code="token_days")
    asked = requested_scopes(client, scopes)
    row, token = _new_token(session, client, asked, utcnow() + dt.timedelta(days=days), "admin")
    record(session=session, actor_id=actor_id, action="api_client.token_issued", entity="api_client",
           entity_id=client.id, details={"token_id": row.id, "hint": row.hint, "scopes": row.scopes,
                                         "expires_at": row.expires_at.isoformat()})
    session.commit()
    return row, token


def issue_access_token(
    *, session: Session, client: ApiClient, scopes: list[Scope], seconds: int
) -> tuple[ApiToken, str]:
    """A short-lived token for a client that proved who it is (SMART backend services); not committed."""
    return _new_token(session, client, scopes, utcnow() + dt.timedelta(seconds=seconds), "smart")


def revoke_token(*, session: Session, token_id: int, actor_id: int | None) -> ApiToken:
    """Revoke a token at once (revoking it again changes nothing)."""
    row = get_or_raise(session, ApiToken, token_id, what="API token", field="token_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session=session, actor_id=actor_id, action="api_client.token_revoked", entity="api_client",
               entity_id=row.client_id, details={"token_id": row.id, "hint": row.hint})
        session.commit()
    return row


def deactivate_client(*, session: Session, client_id: int, actor_id: int | None) -> ApiClient:
    """The client may no longer call the API: its tokens stop working and it gets no new ones."""
    client = get_or_raise(session, ApiClient, client_id, what="API client", field="client_id")
    if client.active:
        now = utcnow()
        client.active = False
        client.revoked_at = now
        for row in session.exec(select(ApiToken).where(ApiToken.client_id == client.id,
                                                       col(ApiToken.revoked_at).is_(None))):
            row.revoked_at = now
        record(session=session, actor_id=actor_id, action="api_client.deactivated", entity="api_client",
               entity_id=client.id, details={"name": client.name})
        session.commit()
    return client


def authenticate(*, session: Session, token: str | None) -> Grant:
    """The grant of a bearer token, or ``TokenRefused`` (no token, unknown, expired, revoked, client off)."""
    if not token:
        raise TokenRefused("no bearer token: send Authorization: Bearer <token>", field="Authorization")
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None:
        raise TokenRefused("the bearer token is not one this server issued", field="Authorization")
    client = session.get(ApiClient, row.client_id)
    if row.revoked_at is not None or client is None or not client.active:
        raise TokenRefused("the bearer token was revoked", field="Authorization")
    if row.expires_at <= utcnow():
        raise TokenRefused("the bearer token has expired", field="Authorization")
    return Grant(client_id=client.id, client_name=client.name, scopes=tuple(parse_scopes(row.scopes)))


def clients(*, session: Session) -> list[ApiClient]:
    return list(session.exec(select(ApiClient).order_by(col(ApiClient.name))))


def tokens(*, session: Session, client_id: int | None = None) -> list[ApiToken]:
    """Tokens, newest first (admin-issued and SMART ones), of one client or all."""
    statement = select(ApiToken).order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    if client_id is not None:
        statement = statement.where(ApiToken.client_id == client_id)
    return list(session.exec(statement))


def record_call(*, session: Session, client_id: int | None, method: str, path: str, status: int) -> None:
    """Log one FHIR request in its own small transaction (one INSERT)."""
    session.execute(insert(ApiCall).values(at=utcnow(), client_id=client_id, method=method[:10],
                                           path=path[:255], status=status))
    session.commit()


def calls(*, session: Session, client_id: int | None = None, limit: int = 100) -> list[ApiCall]:
    statement = select(ApiCall).order_by(col(ApiCall.at).desc(), col(ApiCall.id).desc()).limit(limit)
    if client_id is not None:
        statement = statement.where(ApiCall.client_id == client_id)
    return list(session.exec(statement))


def remember_assertion(*, session: Session, client_id: int, jti: str, expires_at: dt.datetime) -> bool:
    """Keep ``jti`` until ``expires_at``; False when the client already used it (a replay). Not committed."""
    session.execute(delete(UsedAssertion).where(col(UsedAssertion.expires_at) < utcnow()))
    used = session.exec(select(UsedAssertion).where(UsedAssertion.client_id == client_id,
                                                    UsedAssertion.jti == jti)).first()
    if used is not None:
        return False
    session.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
    session.flush()
    return True
