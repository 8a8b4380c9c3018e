"""Reaching either app's database: the engine (SQLite or PostgreSQL), sessions, and
bringing a schema up to date with a message an operator can act on.

Each app keeps its own tables and its own Alembic migrations; only the way to connect
is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

#: How long to wait for the database server to accept a connection (PostgreSQL).
CONNECT_TIMEOUT_SECONDS = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, full fsync and secure deletion."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a receipt means the report is on disk
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")  # purged ciphertext is overwritten
            cursor.close()

        return engine
    # Pre-ping replaces connections a database restart closed; the connect timeout bounds
    # how long a request waits for a server that does not answer (libpq waits forever).
    if "connect_timeout" not in url:
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or migrated; the message says what to check."""


def migrate_or_explain(database_url: str, upgrade: Callable[[Engine], None]) -> None:
    """Bring a database to its newest schema with `upgrade`, or explain what failed.

    The driver's message can name the host and user, never the password (SQLAlchemy hides
    it); only its first line is kept, so no SQL with parameters is echoed.
    """
    engine = make_engine(database_url)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        first_line = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
        raise DatabaseUnavailable(
            f"cannot prepare the database ({type(exc).__name__}: {first_line}). "
            "Check LANTHORN_DATABASE_URL and that the database server is running."
        ) from None
    finally:
        engine.dispose()
