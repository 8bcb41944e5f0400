"""Eight clerks book the same six-cycle series for eight patients at the same moment: exactly one series is
booked, whole; the others book nothing and hear which cycle was taken.

Each thread has its own session and connection, released together by a barrier; every series takes its
days' locks in date order, so on PostgreSQL no two transactions wait on each other's days (no deadlock).
"""

import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from clinic.booking import series
from clinic.booking.models import TreatmentSeries
from clinic.errors import DomainError
from clinic.visits.models import Visit
from tests.clinic.booking.test_services_series import SIX, TODAY, UNIT, WEEKDAYS, propose
from tests.factories import make_patient

THREADS = 8


def test_eight_clerks_one_series(session: Session, clean_db: Engine, infusion) -> None:
    patients = [make_patient(session) for _ in range(THREADS)]
    choices = [c.proposal.choice for c in propose(session, patients[0], infusion).cycles]
    assert len(choices) == 6
    pathway_id, patient_ids = infusion.id, [p.id for p in patients]
    barrier = threading.Barrier(THREADS)
    outcomes: list[tuple[str, object]] = []
    lock = threading.Lock()

    def clerk(patient_id: int) -> None:
        with Session(clean_db, expire_on_commit=False) as own:
            try:
                barrier.wait(timeout=30)
                booked = series.book_series(
                    session=own, patient_id=patient_id, pathway_id=pathway_id, choices=choices, unit=UNIT,
                    actor_id=None, availability=WEEKDAYS, today=TODAY, **SIX,
                )
                result: tuple[str, object] = ("booked", booked.id)
            except DomainError as exc:
                result = (exc.code, exc.params.get("cycle"))
            except Exception as exc:  # noqa: BLE001 - the test reports every other failure
                result = ("error", repr(exc))
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=clerk, args=(pid,)) for pid in patient_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(t.is_alive() for t in threads)
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds.count("booked") == 1, outcomes
    assert kinds.count("slot_taken") == THREADS - 1, outcomes
    assert all(cycle == 1 for kind, cycle in outcomes if kind == "slot_taken"), outcomes
    session.expire_all()
    assert session.exec(select(func.count()).select_from(TreatmentSeries)).one() == 1
    assert session.exec(select(func.count()).select_from(Visit)).one() == 6
