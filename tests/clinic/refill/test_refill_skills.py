"""A freed place is only offered to waiting patients whose steps the free resources are qualified to give."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from clinic.refill import services as refill
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.models import ResourceKind
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 2)  # a Wednesday
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def test_ranking_leaves_out_an_oncology_patient_when_only_the_rheumatologist_is_free(session: Session) -> None:
    hours = tuple((wd, dt.time(9), dt.time(9, 40)) for wd in range(5))
    resources = {
        ResourceKind.REGISTRATION: make_resource(session, kind=ResourceKind.REGISTRATION, hours=hours),
        ResourceKind.CONSULT: make_resource(
            session, code="rheum", kind=ResourceKind.CONSULT, skills=["rheumatology"], hours=hours
        ),
        ResourceKind.CHECKOUT: make_resource(session, kind=ResourceKind.CHECKOUT, hours=hours),
    }
    mondays = ((0, dt.time(9), dt.time(17)),)
    make_resource(session, code="onc", kind=ResourceKind.CONSULT, skills=["oncology"], hours=mondays)
    plain = make_pathway(session, name="Check-up")
    oncology = make_pathway(session, name="Oncology review", skills={"cons": ["oncology"]})
    freed = make_visit(session, pathway=plain, day=DAY, start=dt.datetime.combine(DAY, dt.time(9), ZONE), resources=resources)
    waiting = {}
    for name, pathway, priority in (("oncology", oncology, 5), ("plain", plain, 2)):
        waiting[name] = add_to_waitlist(
            session=session,
            patient_id=make_patient(session).id,
            pathway_id=pathway.id,
            priority=priority,
            earliest_date=DAY - dt.timedelta(days=3),
            latest_date=DAY + dt.timedelta(days=10),
            actor_id=None,
        )
    refill.cancel_visit(session=session, visit_id=freed.id, reason="ill", now=NOW)

    ranked = refill.rank_candidates(session=session, visit_id=freed.id, now=NOW, unit=UNIT)

    assert [c.entry.id for c in ranked] == [waiting["plain"].id]
    assert {s.resource for s in ranked[0].visit.steps} >= {"rheum"}
