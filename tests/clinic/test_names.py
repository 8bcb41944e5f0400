"""Pathway and step-type names in the patient's language: the seed files carry them (the demo's are checked in
``test_seed.py``), messages and invoices use them, and a language without a translation falls back to the
default name."""

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.billing.checkout import invoice_document
from clinic.billing.invoices import issue_invoice
from clinic.demo import seed
from clinic.errors import SeedError
from clinic.messaging import outreach
from clinic.messaging.models import OutboxMessage
from clinic.visits.models import VisitStatus
from tests.clinic.conftest import SEED_DIR, TZ
from tests.factories import make_pathway, make_patient, make_unit, make_visit

UNIT = make_unit()

ZONE = ZoneInfo(TZ)
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 12, 9)


def test_a_name_in_a_language_the_app_does_not_speak_is_refused(session: Session, tmp_path: Path) -> None:
    directory = tmp_path / "seed"
    shutil.copytree(SEED_DIR, directory)
    path = directory / "pathways.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("fr: Journée diabète", "de: Diabetestag"),
                    encoding="utf-8")
    with pytest.raises(SeedError) as info:
        seed.load_demo(session=session, directory=directory, unit=UNIT)
    assert "pathways.yaml: pathways[2].names.de" in str(info.value)
    assert seed.is_empty(session=session)


def test_messages_name_the_pathway_in_the_patients_language(session: Session) -> None:
    pathway = make_pathway(session, name="Check-up", names={"nl": "Controle"})
    for language, expected in (("nl", "(Controle)"), ("fr", "(Check-up)")):
        patient = make_patient(session, language=language)
        visit = make_visit(session, patient=patient, pathway=pathway, day=DAY,
                           start=dt.datetime.combine(DAY, dt.time(10), ZONE))
        visit.booked_at = NOW
        session.add(visit)
        session.commit()
        outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
        row = session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit.id,
                                                       OutboxMessage.action == "confirmation")).one()
        assert expected in row.body


def test_invoice_lines_and_pathway_read_in_the_patients_language(session: Session) -> None:
    pathway = make_pathway(session, names={"nl": "Controle"})
    for step, dutch in zip(pathway.steps, ("Aanmelding", "Consult", None), strict=True):
        step.step_type.names = {"nl": dutch} if dutch else {}
    session.commit()
    patient = make_patient(session, language="nl")
    visit = make_visit(session, patient=patient, pathway=pathway, start=dt.datetime.combine(DAY, dt.time(10), ZONE),
                       status=VisitStatus.COMPLETED)
    invoice = issue_invoice(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert [line.description for line in invoice.lines] == ["Aanmelding", "Consult", "Out"]
    assert invoice_document(session=session, invoice_id=invoice.id).pathway_name == "Controle"
