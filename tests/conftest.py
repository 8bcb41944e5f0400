"""Shared fixtures: one migrated test database per run, emptied after every test, the web app on it and a clock.

``DATABASE_URL`` from the environment is used when set (CI points it at a fresh PostgreSQL
database); otherwise a SQLite file in a temporary directory.
"""

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from tests.factories import make_unit

if TYPE_CHECKING:  # the engine tests (tests/scheduling) never need the database libraries loaded
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import sessionmaker
    from sqlmodel import Session
    from time_machine import Traveller

    from clinic.events import MessageBus

pytest_plugins = ["tests.peers.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    from tests import quick_hashes, url_builders

    url_builders.install()  # every test app compiles its URL builders once a run, not once a test
    quick_hashes.install()  # cheaper scrypt for the test users' passwords

TEST_SECRET_KEY = "test-secret-key-not-for-production"
DEMO_PASSWORD = "onevisit-demo"
_TABLES: dict[str, tuple] = {}
AFTERNOON = dt.datetime(2026, 12, 2, 14, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
"""Now, under the ``clock`` fixture: a Wednesday afternoon in the clinic, inside the 09:00-20:00 quiet hours."""
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrated once a run. Under pytest-xdist each worker has its own: a SQLite file in the worker's temporary
    directory (also when ``DATABASE_URL`` names a SQLite file, which the workers would share), or a database
    beside ``DATABASE_URL``'s PostgreSQL one, named for the worker and dropped at the end."""
    from clinic.db import upgrade

    url = os.environ.get("DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or (worker and url.startswith("sqlite")):
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'onevisit-test.db'}"
    elif worker:
        from tests.databases import postgres_database, worker_database_name

        with postgres_database(url, worker_database_name(url, worker)) as worker_url:
            upgrade(worker_url)
            yield worker_url
        return
    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator["Engine"]:
    from clinic.db import make_engine

    engine = make_engine(database_url)
    empty_all_tables(engine)  # a reused DATABASE_URL may hold rows from an interrupted run
    yield engine
    engine.dispose()


def empty_all_tables(engine: "Engine") -> None:
    """Every migrated table (read from the database once) that holds a row, children first so foreign keys
    never object, in one transaction. One query finds the tables with rows: a test touches a few of the
    thirty-odd tables, and a DELETE per empty table cost more than the rest of most tests (on PostgreSQL a
    round trip each; on SQLite a write transaction)."""
    import sqlalchemy as sa

    known = _TABLES.get(str(engine.url))
    if known is None:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        tables = [table for table in reversed(metadata.sorted_tables) if table.name != "alembic_version"]
        quote = engine.dialect.identifier_preparer.format_table
        probe = sa.text(" UNION ALL ".join(
            f"SELECT {i} AS n FROM (SELECT 1 FROM {quote(table)} LIMIT 1) AS probe_{i}"
            for i, table in enumerate(tables)
        ))
        known = _TABLES[str(engine.url)] = (tables, probe)
    tables, probe = known
    with engine.begin() as connection:
        holding = {row.n for row in connection.execute(probe)}
        for i in sorted(holding):
            connection.execute(tables[i].delete())


@pytest.fixture
def clean_db(engine: "Engine") -> Iterator["Engine"]:
    yield engine
    empty_all_tables(engine)


@pytest.fixture(scope="session")
def session_factory(engine: "Engine") -> "sessionmaker":
    """The app's kind of session factory (touch-points recorded) with a bus that has no handlers: events are
    recorded and dropped, so a test sees only what the service it calls writes itself."""
    from clinic.bootstrap import make_session_factory
    from clinic.events import MessageBus

    return make_session_factory(engine, MessageBus())


@pytest.fixture
def session(clean_db: "Engine", session_factory: "sessionmaker") -> Iterator["Session"]:
    with session_factory() as session:
        yield session


@pytest.fixture
def bus() -> "MessageBus":
    """A bus with the clinic's handlers (``clinic.handlers``), for ``handled_session``."""
    from clinic import handlers
    from clinic.events import MessageBus

    return handlers.register(MessageBus(), unit=make_unit())


@pytest.fixture
def handled_factory(clean_db: "Engine", bus: "MessageBus") -> "sessionmaker":
    from clinic.bootstrap import make_session_factory

    return make_session_factory(clean_db, bus)


@pytest.fixture
def handled_session(handled_factory: "sessionmaker") -> Iterator["Session"]:
    """A session whose committed events run the clinic's handlers, as the app's sessions do."""
    with handled_factory() as session:
        yield session


@pytest.fixture
def app_config(database_url: str) -> dict:
    """Settings for the test app; a test may change them before asking for ``app``."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "WTF_CSRF_ENABLED": True,
    }


@pytest.fixture
def app(app_config: dict, clean_db: "Engine"):
    from clinic import create_app

    app = create_app(app_config)
    yield app
    from clinic.bootstrap import of_app

    of_app(app).engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token_from(html: str) -> str:
    match = _TOKEN.search(html)
    if not match:
        raise AssertionError("no csrf_token field in the page")
    return match.group(1) or match.group(2)


@pytest.fixture
def form_token() -> Callable:
    """``form_token(client, "/sign-in")``: the CSRF token of the form on that page."""

    def read(client, path: str) -> str:
        response = client.get(path)
        return csrf_token_from(response.get_data(as_text=True))

    return read


@pytest.fixture
def post_form(form_token: Callable) -> Callable:
    """``post_form(client, path, data, form_page=None)``: POST like a browser, with the page's CSRF token."""

    def post(client, path: str, data: dict, *, form_page: str | None = None, **kwargs):
        token = form_token(client, form_page or path)
        return client.post(path, data={**data, "csrf_token": token}, **kwargs)

    return post


@pytest.fixture
def signed_in(session: "Session", post_form: Callable) -> Callable:
    """``signed_in(client, role, **user_fields) -> User``: create a user with that role and sign in."""
    from tests.factories import make_user

    def sign_in(client, role, *, username: str | None = None, password: str = DEMO_PASSWORD, **fields):
        value = getattr(role, "value", role)
        user = make_user(session, username=username or value, password=password, role=role, **fields)
        response = post_form(client, "/sign-in", {"username": user.username, "password": password})
        assert response.status_code == 302, f"sign-in as {user.username} failed: {response.status_code}"
        return user

    return sign_in


@pytest.fixture
def desk_client(client, signed_in: Callable):
    from clinic.users.models import Role

    signed_in(client, Role.FRONT_DESK, username="desk", display_name="Dana Desk")
    return client


@pytest.fixture
def coordinator_client(client, signed_in: Callable):
    from clinic.users.models import Role

    signed_in(client, Role.COORDINATOR, username="coordinator", display_name="Cor Coordinator")
    return client


@pytest.fixture
def volunteer_client(client, session: "Session", signed_in: Callable):
    """Signed in as ``volunteer``, linked to a volunteer record named Vera Volunteer."""
    from clinic.service.models import Volunteer
    from clinic.users.models import Role

    volunteer = Volunteer(name="Vera Volunteer", phone="+31612345678", languages=["nl", "en"])
    session.add(volunteer)
    session.commit()
    signed_in(
        client, Role.VOLUNTEER, username="volunteer", display_name="Vera Volunteer", volunteer_id=volunteer.id
    )
    return client


@pytest.fixture
def admin_client(client, signed_in: Callable):
    from clinic.users.models import Role

    signed_in(client, Role.ADMIN, username="admin", display_name="Ada Admin")
    return client


class Clock:
    """The whole process's clock (``datetime.now``, ``time.time``: every thread, not the database server nor
    subprocesses), stopped at a moment until the test moves it."""

    def __init__(self, traveller: "Traveller") -> None:
        self._traveller = traveller

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def move_to(self, moment: dt.datetime) -> None:
        self._traveller.move_to(_utc(moment))

    def shift(self, delta: dt.timedelta) -> None:
        self._traveller.shift(delta)


def _utc(moment: dt.datetime) -> dt.datetime:
    """An aware moment as UTC: a zone-named destination would also set the process's ``TZ``."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive moment {moment.isoformat()}: give the clock an aware datetime")
    return moment.astimezone(dt.UTC)


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Now is ``AFTERNOON`` and stays there (no ticking) until ``clock.move_to(moment)`` or ``clock.shift(delta)``."""
    import time_machine

    with time_machine.travel(_utc(AFTERNOON), tick=False) as traveller:
        yield Clock(traveller)
