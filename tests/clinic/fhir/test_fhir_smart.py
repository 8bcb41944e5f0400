"""SMART backend services: a client signs a JWT with its registered key and gets a short-lived token."""

import base64
import datetime as dt
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from clinic.fhir import services
from tests.factories import make_patient

TOKEN_URL = "http://localhost/fhir/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def signed(key, alg: str, *, client: str = "ehr", aud: str = TOKEN_URL, exp_in: int = 240,
           jti: str | None = None, sub: str | None = None, kid: str | None = "k1") -> str:
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    claims = {"iss": client, "sub": sub or client, "aud": aud, "exp": int(time.time()) + exp_in,
              "jti": jti or uuid.uuid4().hex}
    return jwt.encode(header, claims, key, algorithms=["RS384", "ES384"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ask(client, assertion: str, scope: str = "system/Patient.read"):
    return client.post("/fhir/auth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion, "scope": scope,
    })


@pytest.fixture
def rsa_key():
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.fixture
def registered(session, rsa_key):
    """The client ``ehr`` (Patient and Appointment read) with the public half of ``rsa_key`` registered."""
    public = KeySet([rsa_key]).as_dict(private=False)
    return services.create_client(session=session, name="ehr", actor_id=None, jwks=public,
                                  scopes="system/Patient.read system/Appointment.read")


def test_smart_configuration_announces_the_token_endpoint(client) -> None:
    body = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "client-confidential-asymmetric" in body["capabilities"]


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_a_signed_assertion_gets_a_token_that_works(client, session, algorithm) -> None:
    key = (RSAKey.generate_key(2048, parameters={"kid": "k1"}) if algorithm == "RS384"
           else ECKey.generate_key("P-384", parameters={"kid": "k1"}))
    services.create_client(session=session, name="ehr", actor_id=None, scopes="system/*.read",
                           jwks=KeySet([key]).as_dict(private=False))
    patient = make_patient(session)
    response = ask(client, signed(key, algorithm), scope="system/Patient.read")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "system/Patient.read"
    assert 0 < body["expires_in"] <= 300
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"/fhir/Patient/{patient.id}", headers=headers).status_code == 200
    assert client.get("/fhir/Appointment", headers=headers).status_code == 403  # only what it asked for


def test_the_token_expires_with_its_lifetime(client, session, registered, rsa_key, clock) -> None:
    patient = make_patient(session)
    token = ask(client, signed(rsa_key, "RS384")).get_json()["access_token"]
    clock.shift(dt.timedelta(seconds=301))
    response = client.get(f"/fhir/Patient/{patient.id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_a_reused_jti_is_refused(client, registered, rsa_key) -> None:
    assertion = signed(rsa_key, "RS384", jti="once")
    assert ask(client, assertion).status_code == 200
    response = ask(client, assertion)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    other = ask(client, signed(rsa_key, "RS384", jti="once"))  # a new assertion with the same jti
    assert other.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("change", "words"), [
    ({"aud": "https://elsewhere.example/token"}, "aud"),
    ({"exp_in": 3600}, "at most 300 seconds"),
    ({"exp_in": -120}, "expired"),
    ({"sub": "someone-else"}, "sub"),
    ({"client": "unknown"}, "no active API client"),
    ({"kid": None}, "kid"),
])
def test_a_wrong_assertion_is_refused(client, registered, rsa_key, change, words) -> None:
    response = ask(client, signed(rsa_key, "RS384", **change))
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "invalid_client"
    assert words in body["error_description"]


def test_an_assertion_that_is_not_a_jwt_object_is_refused(client, registered) -> None:
    header = _b64(b'{"alg":"RS384","typ":"JWT","kid":"k1"}')
    for payload in (b"[" * 5_000, b"[1, 2]", b"not json"):
        response = ask(client, f"{header}.{_b64(payload)}.{_b64(b'signature')}")
        assert response.status_code == 401, payload[:10]
        assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("crit", [None, 5, True])
def test_a_header_of_the_wrong_shape_is_refused_not_a_500(client, registered, rsa_key, crit) -> None:
    """No key is needed to send one: the client's name is enough to reach the signature check."""
    header = _b64(json.dumps({"alg": "RS384", "typ": "JWT", "kid": "k1", "crit": crit}).encode())
    payload = _b64(json.dumps({"iss": "ehr", "sub": "ehr", "aud": TOKEN_URL, "exp": int(time.time()) + 60}).encode())
    response = ask(client, f"{header}.{payload}.{_b64(b'signature')}")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_a_key_not_registered_is_refused(client, registered) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    response = ask(client, signed(stranger, "RS384"))
    assert response.status_code == 401
    assert "signature" in response.get_json()["error_description"]


def test_scopes_beyond_the_clients_are_refused(client, registered, rsa_key) -> None:
    response = ask(client, signed(rsa_key, "RS384"), scope="system/Patient.write")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_a_deactivated_client_gets_no_token(client, session, registered, rsa_key) -> None:
    services.deactivate_client(session=session, client_id=registered.id, actor_id=None)
    assert ask(client, signed(rsa_key, "RS384")).status_code == 401


def test_other_grants_and_encodings_are_refused(client, registered, rsa_key) -> None:
    response = client.post("/fhir/auth/token", data={"grant_type": "password", "username": "x"})
    assert response.get_json()["error"] == "unsupported_grant_type"
    response = client.post("/fhir/auth/token", json={"grant_type": "client_credentials"})
    assert response.get_json()["error"] == "invalid_request"


def test_a_private_key_is_never_registered(session, rsa_key) -> None:
    from clinic.errors import ValidationError

    with pytest.raises(ValidationError, match="private key"):
        services.create_client(session=session, name="leaky", actor_id=None, scopes="system/*.read",
                               jwks=KeySet([rsa_key]).as_dict(private=True))
