"""SMART backend services (SMART App Launch 2, "client-confidential-asymmetric"): a client proves who it is
with a JWT signed by its registered key and gets a short-lived bearer token.

``POST /fhir/auth/token`` with ``grant_type=client_credentials``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``, ``client_assertion`` (the
JWT: ``iss`` = ``sub`` = the client's name, ``aud`` = the token URL, ``exp`` at most 5 minutes ahead, a
``jti`` never used before, signed RS384 or ES384 with a key of the client's JWKS, ``kid`` in its header) and
``scope``. Errors are OAuth 2 errors (RFC 6749 5.2), which is what such clients read at a token endpoint.
joserfc checks the signature; nothing here does cryptography itself.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from clinic import json_text
from clinic.columns import utcnow
from clinic.errors import ValidationError
from clinic.fhir import services
from clinic.fhir.models import ApiClient
from clinic.fhir.scopes import scope_text

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS384", "ES384"]
MAX_ASSERTION_SECONDS = 300
ACCESS_TOKEN_SECONDS = 300
#: Clock difference between client and server tolerated on ``exp``/``nbf``/``iat``.
LEEWAY_SECONDS = 30


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` code, ``description`` for people, HTTP ``status``."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    @property
    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class AccessToken:
    client_id: int
    token: str
    scope: str
    expires_in: int

    @property
    def body(self) -> dict[str, Any]:
        return {"access_token": self.token, "token_type": "bearer", "expires_in": self.expires_in,
                "scope": self.scope}


def _unverified_claims(assertion: str) -> dict[str, Any]:
    from joserfc import jws
    from joserfc.errors import JoseError

    try:
        claims = json_text.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, TypeError, UnicodeDecodeError):
        raise OAuthError("invalid_client", "client_assertion is not a compact JWT", 401) from None
    if not isinstance(claims, dict):
        raise OAuthError("invalid_client", "client_assertion's payload is not a JSON object", 401)
    return claims


def _verified(assertion: str, client: ApiClient) -> tuple[dict[str, Any], dict[str, Any]]:
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        token = jwt.decode(assertion, KeySet.import_key_set(client.jwks or {"keys": []}), algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise OAuthError("invalid_client", f"client_assertion's signature does not verify with the keys "
                                           f"registered for {client.name!r} ({exc})", 401) from None
    except TypeError:  # joserfc reads some header members (crit) before checking their type
        raise OAuthError("invalid_client", "client_assertion's header has a member of the wrong type", 401) from None
    return dict(token.header), dict(token.claims)


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OAuthError("invalid_client", f"client_assertion's {name} is not a number", 401)
    return float(value)


def exchange(*, session: Session, form: Mapping[str, str], token_url: str) -> AccessToken:
    """Check a token request and issue the access token (committed), or ``OAuthError``."""
    if form.get("grant_type") != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = (form.get("client_assertion") or "").strip()
    if not assertion:
        raise OAuthError("invalid_request", "client_assertion is missing")
    if not (form.get("scope") or "").strip():
        raise OAuthError("invalid_scope", "scope is missing: ask for the scopes you need, e.g. system/Appointment.read")
    issuer = _unverified_claims(assertion).get("iss")
    client = session.exec(select(ApiClient).where(ApiClient.name == issuer)).first() if isinstance(issuer, str) else None
    if client is None or not client.active:
        raise OAuthError("invalid_client", f"no active API client is named {issuer!r} (the assertion's iss)", 401)
    if not client.jwks:
        raise OAuthError("invalid_client", f"{client.name!r} has no public keys registered for SMART backend "
                                           "services", 401)
    header, claims = _verified(assertion, client)
    if not header.get("kid"):
        raise OAuthError("invalid_client", "client_assertion's header has no kid", 401)
    if claims.get("sub") != client.name:
        raise OAuthError("invalid_client", "client_assertion's sub must equal its iss (the client's name)", 401)
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if token_url not in audiences:
        raise OAuthError("invalid_client", f"client_assertion's aud must be the token URL {token_url}", 401)
    now = utcnow().timestamp()
    exp = _number(claims, "exp")
    if exp is None:
        raise OAuthError("invalid_client", "client_assertion has no exp", 401)
    if exp <= now - LEEWAY_SECONDS:
        raise OAuthError("invalid_client", "client_assertion has expired", 401)
    if exp > now + MAX_ASSERTION_SECONDS + LEEWAY_SECONDS:
        raise OAuthError("invalid_client", f"client_assertion's exp must be at most {MAX_ASSERTION_SECONDS} "
                                           "seconds ahead", 401)
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + LEEWAY_SECONDS:
        raise OAuthError("invalid_client", "client_assertion is not valid yet (nbf)", 401)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise OAuthError("invalid_client", "client_assertion needs a jti (a unique id, at most 255 characters)", 401)
    try:
        asked = services.requested_scopes(client, form["scope"])
    except ValidationError as exc:
        raise OAuthError("invalid_scope", exc.message) from None
    expires = dt.datetime.fromtimestamp(exp + LEEWAY_SECONDS, dt.UTC)
    try:
        fresh = services.remember_assertion(session=session, client_id=client.id, jti=jti, expires_at=expires)
    except IntegrityError:  # the same assertion in a concurrent request
        session.rollback()
        fresh = False
    if not fresh:
        session.rollback()
        raise OAuthError("invalid_grant", "this client_assertion (its jti) was already used", 400)
    _row, token = services.issue_access_token(session=session, client=client, scopes=asked,
                                              seconds=ACCESS_TOKEN_SECONDS)
    session.commit()
    return AccessToken(client_id=client.id, token=token, scope=scope_text(asked), expires_in=ACCESS_TOKEN_SECONDS)
