"""Fixtures of the booking tests."""

import pytest
from sqlmodel import Session

from clinic.unit.models import Pathway, ResourceKind
from tests.factories import make_pathway, make_resource


@pytest.fixture
def infusion(session: Session) -> Pathway:
    """A desk, a doctor and a checkout (one of each, open Monday-Friday 08:00-17:00) and a three-step pathway
    over them: one patient at a time per step, so the same itinerary can be booked only once."""
    for code, kind in (("desk", ResourceKind.REGISTRATION), ("doc", ResourceKind.CONSULT), ("out", ResourceKind.CHECKOUT)):
        make_resource(session, code=code, kind=kind)
    return make_pathway(session, name="Infusion")
