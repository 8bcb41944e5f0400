"""What the per-test fixtures cost: a test app (``create_app``), a test user's password hash and emptying the
database after a test.

``python -m tests.fixture_costs [DATABASE_URL]`` prints a table (no test asserts on time). Without a URL it
migrates a SQLite file in a temporary directory; with a PostgreSQL URL, that database must exist (it is
migrated, then emptied).
"""

import sys
import tempfile
import time
from collections.abc import Callable

import sqlalchemy as sa
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

from clinic.db import make_engine, upgrade
from tests import quick_hashes, url_builders
from tests.conftest import empty_all_tables

ROUNDS = 20


def _ms(action: Callable[[], object]) -> float:
    action()
    start = time.perf_counter()
    for _ in range(ROUNDS):
        action()
    return (time.perf_counter() - start) / ROUNDS * 1000


def _every_table_deleted(engine: sa.Engine, tables: list[sa.Table]) -> None:
    """The former cleanup: a DELETE for each of the thirty-odd tables, children first."""
    with engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())


def main(url: str | None) -> None:
    from clinic import create_app

    url = url or f"sqlite:///{tempfile.mkdtemp()}/fixture-costs.db"
    upgrade(url)
    engine = make_engine(url)
    config = {"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "x" * 32, "WTF_CSRF_ENABLED": True}
    rows = [("create_app, werkzeug compiling every URL builder", _ms(lambda: create_app(config)))]
    url_builders.install()
    rows.append(("create_app, URL builders compiled once a run", _ms(lambda: create_app(config))))
    Rule._compile_builder = url_builders._ORIGINAL  # type: ignore[method-assign]
    rows.append(("a password hash, werkzeug's scrypt (n = 2^15)",
                 _ms(lambda: generate_password_hash("secret-pass", method="scrypt"))))
    rows.append((f"a password hash, the tests' {quick_hashes.TEST_METHOD}",
                 _ms(lambda: generate_password_hash("secret-pass", method=quick_hashes.TEST_METHOD))))
    metadata = sa.MetaData()
    metadata.reflect(engine)
    tables = [table for table in reversed(metadata.sorted_tables) if table.name != "alembic_version"]
    rows.append(("empty the database: a DELETE per table", _ms(lambda: _every_table_deleted(engine, tables))))
    rows.append(("empty the database: the tables holding rows", _ms(lambda: empty_all_tables(engine))))
    engine.dispose()
    print(f"{engine.dialect.name}, mean of {ROUNDS} after one warm-up\n")
    print("| fixture step | ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
