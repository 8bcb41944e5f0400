"""Optimising a day never moves a step to a resource without the skills it needs."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from clinic.unit.models import ResourceKind
from clinic.visits import optimise
from tests.factories import make_pathway, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)  # a Tuesday
NOW = dt.datetime(2026, 11, 30, 20, 0, tzinfo=ZoneInfo(TZ))


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def test_optimising_keeps_oncology_consults_off_the_free_rheumatologist(session: Session) -> None:
    """Two oncology patients told 08:00 share the one oncologist, so one waits; the rheumatologist's room
    is free all morning and would take that wait away if skills did not count."""
    resources = {
        ResourceKind.REGISTRATION: make_resource(session, code="desk", kind=ResourceKind.REGISTRATION, capacity=2),
        ResourceKind.CONSULT: make_resource(session, code="onc", kind=ResourceKind.CONSULT, skills=["oncology"]),
        ResourceKind.CHECKOUT: make_resource(session, code="out", kind=ResourceKind.CHECKOUT, capacity=2),
    }
    rheum = make_resource(session, code="rheum", name="Dr. Rheum", kind=ResourceKind.CONSULT, skills=["rheumatology"])
    oncology = make_pathway(session, name="Oncology review", skills={"cons": ["oncology"]})
    make_visit(session, pathway=oncology, day=DAY, start=_at(8), resources=resources)
    second = make_visit(session, pathway=oncology, day=DAY, start=_at(8), resources=resources)
    reg, cons, out = second.steps
    cons.planned_start, cons.planned_end = _at(8, 30), _at(8, 50)
    out.planned_start, out.planned_end = _at(8, 50), _at(9)
    session.add_all([cons, out])
    session.commit()

    preview = optimise.preview_optimisation(session=session, day=DAY, unit=UNIT, now=NOW, time_limit=1.0)

    assert preview.wait_before == 20
    assert all(move.new_resource_id != rheum.id for move in preview.moves)
    assert preview.wait_after > 0, "only the oncologist may give these consults, so one of them still waits"
