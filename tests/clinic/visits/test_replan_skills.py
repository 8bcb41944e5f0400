"""The board's re-plan never moves a step to a resource without the skills it needs."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from clinic.unit.models import ResourceKind
from clinic.visits import journey
from tests.factories import make_pathway, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)  # a Tuesday


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def test_replan_keeps_an_oncology_consult_off_the_rheumatologist(session: Session) -> None:
    """Registration overran: the consult must move past 09:50, when only the rheumatologist is in."""
    mornings = tuple((wd, dt.time(8), dt.time(10)) for wd in range(5))
    resources = {
        ResourceKind.REGISTRATION: make_resource(session, code="desk", kind=ResourceKind.REGISTRATION, capacity=2),
        ResourceKind.CONSULT: make_resource(
            session, code="onc", kind=ResourceKind.CONSULT, skills=["oncology"], hours=mornings
        ),
        ResourceKind.CHECKOUT: make_resource(session, code="out", kind=ResourceKind.CHECKOUT),
    }
    rheum = make_resource(session, code="rheum", name="Dr. Rheum", kind=ResourceKind.CONSULT, skills=["rheumatology"])
    oncology = make_pathway(session, name="Oncology review", skills={"cons": ["oncology"]})
    plain = make_pathway(session, name="Check-up")
    visit = make_visit(session, pathway=oncology, day=DAY, start=_at(9), resources=resources)
    other = make_visit(session, pathway=plain, day=DAY, start=_at(9, 5), resources=resources)
    for v in (visit, other):
        journey.check_in(session=session, visit_id=v.id, actor_id=None, unit=UNIT, now=_at(8, 55))
        journey.step_action(
            session=session, visit_id=v.id, visit_step_id=v.steps[0].id, action="start", actor_id=None, unit=UNIT,
            at=_at(9, 5),
        )

    proposal = journey.propose_replan(session=session, day=DAY, unit=UNIT, now=_at(9, 50), time_limit=0.5)

    mine = [m for m in proposal.moves if m.visit_id == visit.id]
    assert all(m.new_resource_id != rheum.id for m in mine)
    assert visit.id in {visit_id for visit_id, _name in proposal.dropped}, "the oncologist has left by 10:00"
    assert not proposal.conflicts
    theirs = {m.step_name: m for m in proposal.moves if m.visit_id == other.id}
    assert theirs["Cons"].new_resource == "Dr. Rheum", "the rheumatologist was free for a plain consult"
