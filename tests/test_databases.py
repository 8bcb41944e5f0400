"""The databases the suite runs on: one per pytest-xdist worker, and scratch PostgreSQL databases (tests/databases.py)."""

import os
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.databases import postgres_database, worker_database_name
from tests.unavailable import unavailable


def test_a_worker_database_is_named_after_the_configured_one_and_the_worker() -> None:
    assert worker_database_name("postgresql://postgres@127.0.0.1:5432/onevisit_ci_7", "gw1") == "onevisit_ci_7_gw1"


def test_each_worker_tests_on_a_database_of_its_own(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    configured = os.environ.get("DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not configured or (worker and configured.startswith("sqlite")):
        assert make_url(database_url).database.startswith(str(tmp_path_factory.getbasetemp()))
    elif worker:
        assert make_url(database_url).database == worker_database_name(configured, worker)
    else:
        assert database_url == configured


def _server_url() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgres"):
        return configured
    host, port = os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGPORT", "5432")
    url = f"postgresql+psycopg://{os.environ.get('PGUSER', 'postgres')}@{host}:{port}/postgres"
    try:
        sa.create_engine(url).connect().close()
    except sa.exc.OperationalError:
        unavailable(f"PostgreSQL is not reachable at {host}:{port}", in_ci="CI runs the suite on it")
    return url


def test_a_postgres_database_is_created_empty_replacing_a_leftover_and_dropped_afterwards() -> None:
    server = _server_url()
    name = f"onevisit_test_databases_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    exists = sa.text("SELECT count(*) FROM pg_database WHERE datname = :name").bindparams(name=name)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        leftover = sa.create_engine(make_url(server).set(database=name))
        with leftover.begin() as connection:
            connection.execute(sa.text("CREATE TABLE from_an_interrupted_run (id integer)"))
        leftover.dispose()
        with postgres_database(server, name) as url:
            engine = sa.create_engine(url)
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT current_database()")).scalar() == name
                tables = connection.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
                assert tables.scalar() == 0
            engine.dispose()
        with admin.connect() as connection:
            assert connection.execute(exists).scalar() == 0
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
