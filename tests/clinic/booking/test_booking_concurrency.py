"""Twenty clerks pick the same last chair at the same moment: exactly one gets it.

Runs on whatever database the suite runs on (SQLite file or the PostgreSQL named by DATABASE_URL):
each thread has its own session and connection, released together by a barrier.
"""

import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from clinic.audit.models import AuditEvent
from clinic.booking import services as booking
from clinic.errors import DomainError
from clinic.visits.models import Visit, VisitStep
from tests.clinic.booking.test_services_booking import TODAY, TUESDAY, chair_unit, propose
from tests.factories import make_patient, make_unit

UNIT = make_unit()

THREADS = 20


def test_twenty_clerks_one_last_chair(session: Session, clean_db: Engine) -> None:
    pathway = chair_unit(session)
    patients = [make_patient(session) for _ in range(THREADS)]
    this_week = booking.Availability(earliest=TODAY, latest=TUESDAY)
    options = propose(session, patients[0], pathway, availability=this_week).options
    assert len(options) == 1, "the unit has exactly one free chair slot"
    choice = options[0].choice
    pathway_id = pathway.id
    patient_ids = [p.id for p in patients]

    barrier = threading.Barrier(THREADS)
    outcomes: list[tuple[str, object]] = []
    lock = threading.Lock()

    def clerk(patient_id: int) -> None:
        with Session(clean_db, expire_on_commit=False) as own:
            try:
                barrier.wait(timeout=30)
                visit = booking.book_proposal(
                    session=own,
                    patient_id=patient_id,
                    pathway_id=pathway_id,
                    choice=choice,
                    unit=UNIT,
                    actor_id=None,
                    today=TODAY,
                )
                result: tuple[str, object] = ("booked", visit.id)
            except DomainError as exc:
                result = (exc.code, str(exc))
            except Exception as exc:  # noqa: BLE001 - the test reports every other failure
                result = ("error", repr(exc))
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=clerk, args=(pid,)) for pid in patient_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds.count("booked") == 1, outcomes
    assert kinds.count("slot_taken") == THREADS - 1, outcomes
    assert all("just taken" in str(detail) for kind, detail in outcomes if kind == "slot_taken")

    session.expire_all()
    assert session.exec(select(func.count()).select_from(Visit)).one() == 1
    assert session.exec(select(func.count()).select_from(VisitStep)).one() == 2
    booked = session.exec(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "visit.booked")
    )
    assert booked.one() == 1
    fresh = propose(session, patients[1], pathway, availability=this_week)
    assert fresh.options == [] and fresh.reason
