"""Migrations build exactly the models' schema, and the database enforces the model's constraints."""

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from clinic import db
from clinic.unit.models import Resource, ResourceKind
from clinic.users.models import Role, User
from clinic.visits.models import VisitStep
from tests.factories import make_pathway, make_patient, make_resource, make_user, make_visit


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_upgrade_downgrade_upgrade_gives_the_models_schema(scratch_url: str) -> None:
    engine = db.make_engine(scratch_url)
    try:
        db.upgrade(scratch_url)
        assert _differences(engine) == []
        assert db.current_revision(engine) == db.head_revision()

        db.downgrade(scratch_url, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}

        db.upgrade(scratch_url)
        assert _differences(engine) == []
        assert db.database_status(engine)["database"] == "ok"
    finally:
        engine.dispose()


def test_an_unmigrated_database_reports_its_state(scratch_url: str) -> None:
    engine = db.make_engine(scratch_url)
    status = db.database_status(engine)
    engine.dispose()
    assert status["database"] == "error"
    assert "db-upgrade" in status["detail"]


def test_an_unreachable_database_reports_an_error_without_raising() -> None:
    engine = db.make_engine("postgresql://nobody@127.0.0.1:1/none")
    status = db.database_status(engine)
    assert status["database"] == "error" and status["detail"]


def test_postgres_urls_use_psycopg_and_bad_urls_are_refused() -> None:
    assert db.normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    with pytest.raises(db.DatabaseURLError, match="mysql"):
        db.normalise_url("mysql://u@h/d")


def test_test_database_matches_the_models(engine: sa.Engine) -> None:
    assert _differences(engine) == []


def test_migrated_check_constraints_are_the_models(engine: sa.Engine) -> None:
    """``compare_metadata`` ignores CHECK constraints, so compare their names table by table."""
    inspector = sa.inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        expected = {str(c.name) for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        found = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert found == expected, table.name
    assert "ck_visit_step_planned_end_after_start" in {
        c["name"] for c in inspector.get_check_constraints("visit_step")
    }


def _rejects(session: Session, statement: str, params: dict) -> None:
    with pytest.raises(IntegrityError):
        session.execute(sa.text(statement), params)
        session.flush()
    session.rollback()


def test_duplicate_user_name_is_rejected(session: Session) -> None:
    make_user(session, username="desk")
    session.add(User(username="desk", display_name="Again", password_hash="x", role=Role.ADMIN))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_check_constraints_reject_bad_enum_values_and_ranges(session: Session) -> None:
    _rejects(
        session,
        "INSERT INTO user_account (username, display_name, password_hash, role, active, created_at) "
        "VALUES ('x', 'X', 'h', 'superuser', true, :at)",
        {"at": dt.datetime(2026, 1, 1)},
    )
    _rejects(
        session,
        "INSERT INTO resource (code, name, kind, capacity, attributes, active) "
        "VALUES ('r', 'R', 'consult', -1, '[]', true)",
        {},
    )
    _rejects(
        session,
        "INSERT INTO resource (code, name, kind, capacity, attributes, active) "
        "VALUES ('r', 'R', 'teleporter', 1, '[]', true)",
        {},
    )
    resource = make_resource(session, kind=ResourceKind.LAB)
    _rejects(
        session,
        "INSERT INTO resource_hours (resource_id, weekday, opens, closes) VALUES (:r, 7, '08:00:00', '09:00:00')",
        {"r": resource.id},
    )
    _rejects(
        session,
        "INSERT INTO resource_hours (resource_id, weekday, opens, closes) VALUES (:r, 1, '10:00:00', '09:00:00')",
        {"r": resource.id},
    )


def test_orm_rejects_negative_capacity(session: Session) -> None:
    session.add(Resource(code="bad", name="Bad", kind=ResourceKind.CHAIR, capacity=0))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_foreign_keys_are_enforced(session: Session) -> None:
    _rejects(
        session,
        "INSERT INTO visit (patient_id, pathway_id, date, status, priority, notes, created_at, updated_at) "
        "VALUES (999999, 999999, '2026-12-01', 'booked', 1, '', :at, :at)",
        {"at": dt.datetime(2026, 1, 1)},
    )


def test_a_step_must_end_after_it_starts(session: Session) -> None:
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    visit = make_visit(session, patient=make_patient(session), pathway=make_pathway(session), start=start)
    step = session.get(VisitStep, visit.steps[0].id)
    step.planned_end = step.planned_start
    session.add(step)
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_an_outbox_row_can_be_unknown_but_not_anything(session: Session) -> None:
    """Migration 0011 widens the status CHECK constraints of the outbox and the volunteer notices."""
    visit = make_visit(session, patient=make_patient(session), pathway=make_pathway(session))
    insert = (
        "INSERT INTO outbox_message (visit_id, patient_id, action, rule_id, due_at, next_attempt_at, status, "
        "channel, language, essential, recipient, body, attempts, on_call_list, created_at, updated_at) "
        "VALUES (:v, :p, :action, 'r', :at, :at, :status, 'sms', 'en', true, '+3212', 'b', 0, true, :at, :at)"
    )
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    params = {"v": visit.id, "p": visit.patient_id, "at": at}
    session.execute(sa.text(insert), {**params, "action": "reminder", "status": "unknown"})
    session.commit()
    _rejects(session, insert, {**params, "action": "other", "status": "lost"})
    constraints = {
        c["name"]: c["sqltext"] for c in sa.inspect(session.get_bind()).get_check_constraints("volunteer_notice")
    }
    assert "'unknown'" in constraints["ck_volunteer_notice_status"]


def test_0015_stores_record_numbers_in_capitals_and_refuses_case_twins(scratch_url: str) -> None:
    from clinic.patients.models import Patient

    engine = db.make_engine(scratch_url)
    try:
        db.upgrade(scratch_url, "0011_unknown_outcome")
        with Session(engine) as session:
            make_patient(session, mrn="p000123")
        db.upgrade(scratch_url, "0015_sessions")
        with Session(engine) as session:
            assert session.exec(sa.select(Patient.mrn)).scalars().all() == ["P000123"]
        db.downgrade(scratch_url, "0011_unknown_outcome")
        with Session(engine) as session:
            make_patient(session, mrn="p000123")
        with pytest.raises(RuntimeError, match="P000123"):
            db.upgrade(scratch_url, "0015_sessions")
    finally:
        engine.dispose()


def test_0012_backfills_the_announced_arrival_from_the_first_planned_step(scratch_url: str) -> None:
    from clinic.visits.models import Visit, VisitStatus

    db.upgrade(scratch_url)
    engine = db.make_engine(scratch_url)
    try:
        first = dt.datetime(2026, 12, 22, 8, 30, tzinfo=dt.UTC)
        with Session(engine) as session:
            pathway = make_pathway(session)
            booked = make_visit(session, pathway=pathway, day=first.date(), start=first)
            requested = make_visit(session, pathway=pathway, day=first.date(), status=VisitStatus.REQUESTED)
            ids = booked.id, requested.id
        db.downgrade(scratch_url, "0015_sessions")
        assert "announced_at" not in {c["name"] for c in sa.inspect(engine).get_columns("visit")}
        db.upgrade(scratch_url)
        with Session(engine) as session:
            assert session.get(Visit, ids[0]).announced_at == first
            assert session.get(Visit, ids[1]).announced_at is None
    finally:
        engine.dispose()
