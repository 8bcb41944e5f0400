"""``empty_all_tables`` (tests/conftest.py), which runs after every database test, leaves no row behind."""

import sqlalchemy as sa

from clinic.demo.seed import load_demo
from clinic.settings import SEED_DIR
from tests.conftest import empty_all_tables
from tests.factories import make_unit


def _counts(engine) -> dict[str, int]:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in metadata.tables.items() if name != "alembic_version"}


def test_the_demo_clinic_is_emptied_table_by_table_children_first(session, engine):
    load_demo(session=session, directory=SEED_DIR, unit=make_unit())
    session.close()
    before = _counts(engine)
    assert sum(1 for rows in before.values() if rows) >= 10, before
    empty_all_tables(engine)
    assert {name: rows for name, rows in _counts(engine).items() if rows} == {}
    empty_all_tables(engine)  # nothing to delete is no error either
