"""Extra PostgreSQL databases beside the one ``DATABASE_URL`` names, on the same server: a scratch database
for a migration test, and one database per pytest-xdist worker (``make test`` runs the suite in parallel)."""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from clinic.db import normalise_url


@contextmanager
def postgres_database(url: str, name: str) -> Iterator[str]:
    """A new empty database ``name`` on ``url``'s server (one left by an interrupted run is dropped first);
    yields its URL and drops it afterwards."""
    server = make_url(normalise_url(url))
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    drop = sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    try:
        with admin.connect() as connection:
            connection.execute(drop)
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


def worker_database_name(url: str, worker: str) -> str:
    """``onevisit_ci`` run by worker ``gw1`` tests on ``onevisit_ci_gw1``."""
    return f"{make_url(normalise_url(url)).database}_{worker}"
