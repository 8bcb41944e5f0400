"""Database engine, migrations and the request-scoped session (flaskr's ``db.py``, SQLModel edition).

Flask is imported only inside the functions that need it, so services and scripts can use
``make_engine`` and ``upgrade`` without a web app.
"""

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Where the web app keeps its composition root's container in ``app.extensions`` (``clinic.bootstrap``).
CONTAINER_KEY = "onevisit.container"


class DatabaseURLError(ValueError):
    """The configured database URL cannot be used; the message says why."""


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (psycopg 3 is the driver we ship)."""
    if not url or not isinstance(url, str):
        raise DatabaseURLError(
            "DATABASE_URL is empty; expected e.g. sqlite:///onevisit.db or postgresql://..."
        )
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not (url.startswith("sqlite") or url.startswith("postgresql+")):
        raise DatabaseURLError(
            f"DATABASE_URL {url!r}: only sqlite:/// and postgresql:// databases are supported"
        )
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """Readers do not wait for a writer (two web workers and the scheduler share one file)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite every connection enforces foreign keys."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if engine.url.database not in (None, "", ":memory:"):
            event.listen(engine, "connect", _sqlite_wal)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def alembic_config(url: str) -> "Any":
    """Alembic configured in code: works from any working directory and from an installed wheel."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the newest)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def database_status(engine: Engine) -> dict[str, Any]:
    """Whether the database answers and which migration it is at; never raises."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        revision = current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not fail
        return {
            "database": "error",
            "dialect": engine.dialect.name,
            "detail": f"{type(exc).__name__}: {exc}"[:300],
        }
    status: dict[str, Any] = {"database": "ok", "dialect": engine.dialect.name, "revision": revision}
    head = head_revision()
    if revision != head:
        status["database"] = "error"
        status["detail"] = (
            f"database is at revision {revision}, the code expects {head}: run `flask db-upgrade`"
        )
    return status


def get_engine() -> Engine:
    from flask import current_app

    return current_app.extensions[CONTAINER_KEY].engine


def get_session_factory() -> "sessionmaker[Session]":
    """The app's session factory (for commands and work outside the request's session)."""
    from flask import current_app

    return current_app.extensions[CONTAINER_KEY].session_factory


def get_session() -> Session:
    """The session of the current request (or app context), created on first use."""
    from flask import g

    if "db_session" not in g:
        g.db_session = get_session_factory()()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    from flask import g

    session = g.pop("db_session", None)
    if session is not None:
        session.close()
