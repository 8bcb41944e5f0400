"""FHIR fixtures: API clients with tokens (``fhir_headers``), the app served on a real port (``fhir_base``)."""

from collections.abc import Callable, Iterator
from itertools import count

import pytest

from tests.browser.conftest import live_server  # noqa: F401  (the app served for real on 127.0.0.1)

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def api_token(session) -> Callable[..., str]:
    """``api_token("system/Patient.read ...", name=None) -> token``: a new API client with those scopes and an
    administrator-issued token for it (the client's name is ``test-client-<n>`` unless given)."""
    from clinic.fhir import services

    numbers = count(1)

    def make(scopes: str, *, name: str | None = None, days: int = 1) -> str:
        client = services.create_client(session=session, name=name or f"test-client-{next(numbers)}",
                                        scopes=scopes, actor_id=None)
        _row, token = services.issue_token(session=session, client_id=client.id, actor_id=None, days=days)
        return token

    return make


@pytest.fixture
def fhir_headers(api_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``fhir_headers("system/Appointment.read system/Patient.read")``: request headers with a bearer token of
    a new client holding exactly those scopes, asking for ``application/fhir+json``."""

    def headers(scopes: str, **kwargs) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_token(scopes, **kwargs)}", "Accept": FHIR_JSON}

    return headers


@pytest.fixture
def fhir_base(live_server: str) -> Iterator[str]:  # noqa: F811
    """The FHIR API's base URL on the live server (``http://127.0.0.1:<port>/fhir``)."""
    yield live_server + "/fhir"
