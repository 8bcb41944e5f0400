"""FHIR fixtures: API clients with tokens (``fhir_headers``), the app served on a real port (``fhir_base``) and
a small unit with a full and a free day (``fhir_day``)."""

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

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


@dataclass
class FhirDay:
    """A small unit: registration, consult and checkout open only 09:00-09:40 on Thursday and Friday, one
    40-minute pathway; Thursday 3 December 2026 is full (one booked visit), Friday 4 December free."""

    pathway: Any
    patient: Any
    visit: Any
    resources: dict


THURSDAY = dt.date(2026, 12, 3)
FRIDAY = dt.date(2026, 12, 4)


@pytest.fixture
def fhir_day(session, clock) -> FhirDay:
    from zoneinfo import ZoneInfo

    from clinic.unit.models import ResourceKind
    from tests.factories import make_pathway, make_patient, make_resource, make_visit

    hours = tuple((weekday, dt.time(9), dt.time(9, 40)) for weekday in (3, 4))
    resources = {
        kind: make_resource(session, code=f"{kind.value}-1", name=f"{kind.value.title()} one", kind=kind, hours=hours)
        for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)
    }
    pathway = make_pathway(session, code="checkup", name="Check-up")
    patient = make_patient(session, mrn="P000123", given_name="Anna", family_name="de Vries",
                           birth_date=dt.date(1958, 3, 14), email="anna@example.org")
    start = dt.datetime.combine(THURSDAY, dt.time(9), ZoneInfo("Europe/Amsterdam"))
    visit = make_visit(session, patient=patient, pathway=pathway, day=THURSDAY, start=start, resources=resources)
    visit.announced_at = start.astimezone(dt.UTC)
    session.add(visit)
    session.commit()
    return FhirDay(pathway=pathway, patient=patient, visit=visit, resources=resources)
