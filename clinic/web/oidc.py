"""The hospital's identity provider as an Authlib Flask client, one per app, registered only when
``OIDC_ISSUER`` is set.

The client discovers the provider from ``<issuer>/.well-known/openid-configuration`` on first use, sends
the authorization-code request with PKCE (S256), a ``state`` and a ``nonce`` kept in the Flask session,
and on the way back checks the state, exchanges the code and verifies the ID token (signature, issuer,
audience, expiry and nonce) before ``identity`` returns its claims.
"""

from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError

from clinic.settings import OidcSettings

CLIENT_NAME = "hospital"
EXTENSION_KEY = "onevisit.oidc"
#: The provider could not be reached or answered something unusable.
UNREACHABLE = (requests.RequestException, ValueError)
#: The answer coming back does not prove who signed in (state, code, token or nonce wrong).
NOT_VERIFIED = (OAuthError, JoseError, KeyError)


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    claims: dict[str, Any]


def init_app(app: Flask, config: OidcSettings) -> None:
    if not config.configured:
        return
    oauth = OAuth(app)
    oauth.register(
        CLIENT_NAME,
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=f"{config.issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": config.scopes, "code_challenge_method": "S256",
                       "timeout": config.timeout_seconds},
    )
    app.extensions[EXTENSION_KEY] = oauth


def client() -> FlaskOAuth2App | None:
    """The current app's client, None when the app has no identity provider."""
    oauth = current_app.extensions.get(EXTENSION_KEY)
    return getattr(oauth, CLIENT_NAME) if oauth is not None else None


def identity(hospital: FlaskOAuth2App, *, wanted_claim: str) -> Identity:
    """Finish the authorization-code flow of the current request (the provider's redirect back) and return
    whom the verified ID token names. When ``wanted_claim`` is not in the ID token it is read from the
    provider's userinfo endpoint."""
    token = hospital.authorize_access_token()
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub") or not claims.get("iss"):
        raise KeyError("the provider sent no verified ID token")
    if wanted_claim not in claims and hospital.load_server_metadata().get("userinfo_endpoint"):
        extra = dict(hospital.userinfo(token=token))
        if extra.get("sub") == claims["sub"]:
            claims = {**extra, **claims}
    return Identity(issuer=str(claims["iss"]), subject=str(claims["sub"]), claims=claims)
