"""Fixtures for the clinic's persistence tests: a scratch database for migrations, the loaded demo."""

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from clinic.bootstrap import make_session_factory
from tests.databases import postgres_database
from tests.factories import make_unit

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"
TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def scratch_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    """A brand-new empty database of the same kind as the test database (dropped afterwards)."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    with postgres_database(database_url, f"onevisit_scratch_{uuid.uuid4().hex[:10]}") as url:
        yield url


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[dict]:
    """The demo clinic loaded once for a module (tests must only read it); emptied afterwards."""
    from clinic.demo.seed import load_demo

    _empty(engine)
    now = dt.datetime.now(dt.UTC)
    with make_session_factory(engine)(expire_on_commit=True) as session:
        summary = load_demo(session=session, directory=SEED_DIR, unit=UNIT, now=now)
    yield {"summary": summary, "now": now, "today": now.astimezone(ZoneInfo(TZ)).date()}
    _empty(engine)


@pytest.fixture
def demo_session(demo: dict, engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)(expire_on_commit=True) as session:
        yield session
        session.rollback()
