"""Held itineraries: a live hold's capacity is taken for everybody else (proposals, bookings, the day as the
refill and the optimiser see it); an expired one frees it at once; booking by the hold goes through the Book
screen's service, once."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, func, select

from clinic import planning
from clinic.booking import holds
from clinic.booking import services as booking
from clinic.booking.models import BookingHold, HoldStatus
from clinic.errors import Conflict, ValidationError
from clinic.patients.models import Patient
from clinic.visits.models import Visit
from clinic.worker import dispatcher, hold_jobs
from tests.clinic.booking.test_services_booking import TODAY, TUESDAY, TZ, UNIT, chair_unit, propose
from tests.factories import make_patient

THIS_WEEK = booking.Availability(earliest=TODAY, latest=TUESDAY)
#: Monday morning before the one chair slot of the week (Tuesday 09:00).
MONDAY = dt.datetime.combine(TODAY, dt.time(10), ZoneInfo(TZ))


@pytest.fixture
def held(session: Session, clock):
    """The week's only chair slot, held for patient ``a`` for 5 minutes; (hold, pathway, a, b)."""
    clock.move_to(MONDAY)
    pathway = chair_unit(session)
    a, b = make_patient(session), make_patient(session)
    options = propose(session, a, pathway, availability=THIS_WEEK).options
    assert len(options) == 1
    hold = holds.hold_proposal(
        session=session, patient_id=a.id, pathway_id=pathway.id, choice=options[0].choice, unit=UNIT,
        now=MONDAY, minutes=5, actor_id=None, client="test",
    )
    return hold, pathway, a, b


def _count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_a_hold_takes_the_capacity_from_everybody_else(session: Session, held) -> None:
    hold, pathway, _a, b = held
    assert hold.status == HoldStatus.HELD and hold.expires_at == MONDAY + dt.timedelta(minutes=5)
    assert propose(session, b, pathway, availability=THIS_WEEK).options == []
    with pytest.raises(booking.SlotTaken):
        booking.book_proposal(
            session=session, patient_id=b.id, pathway_id=pathway.id, choice=hold.choice, unit=UNIT,
            actor_id=None, today=TODAY,
        )
    with pytest.raises(booking.SlotTaken):
        holds.hold_proposal(
            session=session, patient_id=b.id, pathway_id=pathway.id, choice=hold.choice, unit=UNIT,
            now=MONDAY, actor_id=None,
        )
    day = planning.booking_day(session=session, day=TUESDAY, unit=UNIT, tolerance=15)
    assert [v.request for v in day.instance.booked] == [f"h-{hold.id}"]
    instances = planning.build_instances(session=session, days=[TUESDAY], unit=UNIT)
    assert [v.request for v in instances[TUESDAY].booked] == [f"h-{hold.id}"]
    assert _count(session, Visit) == 0


def test_an_expired_hold_frees_its_place_before_the_job_runs(session: Session, held, clock) -> None:
    hold, pathway, a, b = held
    clock.shift(dt.timedelta(minutes=5))
    options = propose(session, b, pathway, availability=THIS_WEEK).options
    assert [o.choice for o in options] == [hold.choice]
    with pytest.raises(Conflict) as taken:
        holds.book_held(session=session, hold_id=hold.id, unit=UNIT, now=clock.now())
    assert taken.value.code == "hold_expired" and taken.value.field == "hold"
    visit = booking.book_proposal(
        session=session, patient_id=b.id, pathway_id=pathway.id, choice=hold.choice, unit=UNIT,
        actor_id=None, today=TODAY,
    )
    assert visit.patient_id == b.id
    assert holds.release_expired(session=session, now=clock.now()) == 1
    session.refresh(hold)
    assert hold.status == HoldStatus.EXPIRED and hold.visit_id is None


def test_booking_by_the_hold_ignores_its_own_hold_and_only_once(session: Session, held) -> None:
    hold, pathway, a, _b = held
    visit = holds.book_held(session=session, hold_id=hold.id, unit=UNIT, now=MONDAY)
    session.refresh(hold)
    assert (visit.patient_id, visit.pathway_id, visit.date) == (a.id, pathway.id, TUESDAY)
    assert (hold.status, hold.visit_id) == (HoldStatus.BOOKED, visit.id)
    with pytest.raises(Conflict) as twice:
        holds.book_held(session=session, hold_id=hold.id, unit=UNIT, now=MONDAY)
    assert twice.value.code == "hold_booked"
    assert _count(session, Visit) == 1
    # booked: the hold no longer counts, the visit does (once)
    day = planning.booking_day(session=session, day=TUESDAY, unit=UNIT, tolerance=15)
    assert [v.request for v in day.instance.booked] == []
    assert [r.id for r in day.instance.requests] == [f"v-{visit.id}"]


def test_a_stale_hold_under_the_lock_is_refused(session: Session, held) -> None:
    """Two callers booking one hold: the second finds it booked when it reads it again under the day's lock."""
    hold, pathway, a, _b = held
    b = make_patient(session)
    with pytest.raises(Conflict) as other:
        booking.book_proposal(
            session=session, patient_id=b.id, pathway_id=pathway.id, choice=hold.choice, unit=UNIT,
            actor_id=None, today=TODAY, hold_id=hold.id,
        )
    assert other.value.code == "hold_mismatch"
    session.execute(BookingHold.__table__.update().values(status=HoldStatus.BOOKED))
    session.commit()
    with pytest.raises(Conflict) as used:
        booking.book_proposal(
            session=session, patient_id=a.id, pathway_id=pathway.id, choice=hold.choice, unit=UNIT,
            actor_id=None, today=TODAY, hold_id=hold.id,
        )
    assert used.value.code == "hold_booked"
    assert _count(session, Visit) == 0


def test_hold_length_is_bounded_and_a_released_hold_frees_the_place(session: Session, held) -> None:
    hold, pathway, _a, b = held
    with pytest.raises(ValidationError):
        holds.hold_proposal(
            session=session, patient_id=b.id, pathway_id=pathway.id, choice=hold.choice, unit=UNIT,
            now=MONDAY, minutes=61,
        )
    holds.release_hold(session=session, hold_id=hold.id, now=MONDAY)
    assert hold.status == HoldStatus.RELEASED
    assert len(propose(session, b, pathway, availability=THIS_WEEK).options) == 1


def test_the_worker_expires_holds_every_minute(session: Session, held, clock, database_url) -> None:
    from tests.containers import reset_dispatcher, worker_container

    hold = held[0]
    container = worker_container(database_url, tz=TZ)
    dispatcher.configure(container, owner="first")
    try:
        scheduler = dispatcher.build_scheduler(container, blocking=False)
        job = scheduler.get_job(hold_jobs.JOB_ID)
        assert job is not None and job.trigger.interval == dt.timedelta(minutes=1)
        assert hold_jobs.release_expired_holds_job() == {"expired": 0}
        clock.shift(dt.timedelta(minutes=6))
        assert hold_jobs.release_expired_holds_job() == {"expired": 1}
    finally:
        reset_dispatcher()
    session.refresh(hold)
    assert hold.status == HoldStatus.EXPIRED


def test_the_board_shows_held_places_until_they_expire(session: Session, held, clock, desk_client) -> None:
    hold, _pathway, a, _b = held
    html = desk_client.get(f"/board/live?day={TUESDAY.isoformat()}").get_data(as_text=True)
    assert f'data-hold="{hold.id}"' in html and "Held until 10:05" in html and a.display_name in html
    dutch = desk_client.get(f"/board?day={TUESDAY.isoformat()}", headers={"Accept-Language": "nl"})
    assert "Vastgehouden tot 10:05" in dutch.get_data(as_text=True)
    clock.shift(dt.timedelta(minutes=5))
    assert "data-hold" not in desk_client.get(f"/board/live?day={TUESDAY.isoformat()}").get_data(as_text=True)


def test_ten_clients_hold_the_same_last_chair_at_once_and_one_gets_it(session: Session, clean_db, clock) -> None:
    """Each thread has its own session and connection (SQLite file or PostgreSQL), released by a barrier."""
    import threading

    from clinic.errors import DomainError

    clock.move_to(MONDAY)
    pathway = chair_unit(session)
    patients = [make_patient(session).id for _ in range(10)]
    choice = propose(session, session.get(Patient, patients[0]), pathway, availability=THIS_WEEK).options[0].choice
    pathway_id = pathway.id
    barrier = threading.Barrier(len(patients))
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(patient_id: int) -> None:
        with Session(clean_db, expire_on_commit=False) as own:
            try:
                barrier.wait(timeout=30)
                holds.hold_proposal(session=own, patient_id=patient_id, pathway_id=pathway_id, choice=choice,
                                    unit=UNIT, now=MONDAY, client=f"c{patient_id}")
                result = "held"
            except DomainError as exc:
                result = exc.code
            except Exception as exc:  # noqa: BLE001 - the test reports every other failure
                result = repr(exc)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=client, args=(pid,)) for pid in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["held"] + ["slot_taken"] * 9, outcomes
    assert _count(session, BookingHold) == 1


def test_the_hold_length_is_a_setting() -> None:
    from clinic.bootstrap import unit_from
    from clinic.settings import ConfigError, load_settings

    assert unit_from(load_settings({"TESTING": True})).hold_minutes == 5
    assert unit_from(load_settings({"TESTING": True, "HOLD_MINUTES": "10"})).hold_minutes == 10
    with pytest.raises(ConfigError, match="HOLD_MINUTES"):
        load_settings({"TESTING": True, "HOLD_MINUTES": "61"})
