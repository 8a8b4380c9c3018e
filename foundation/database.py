"""Reaching either app's database: the engine (SQLite or PostgreSQL), sessions, and
bringing a schema up to date with a message an operator can act on.

Each app keeps its own tables and its own Alembic migrations; only the way to connect
is shared.
"""

from __future__ import annotations

import asyncio
import contextvars
import select
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

#: How long to wait for the database server to accept a connection (PostgreSQL).
CONNECT_TIMEOUT_SECONDS = 10
T = TypeVar("T")


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
    # The connect timeout bounds how long a request waits for a server that does not
    # answer (libpq waits forever).
    if "connect_timeout" not in url:
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", replace_if_closed)
    return engine


def replace_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Before a pooled PostgreSQL connection is used: replace it if the server closed it
    (a restart, `pg_terminate_backend`, an idle timeout), so that the first request after
    a database restart is served, not refused.

    An idle connection has nothing to read: the server sends nothing unasked but on its
    way out (an error, then the end of the stream), or, rarely, a notice or a changed
    setting. So one look at its socket, without waiting, tells a live connection from
    one the server has closed, with no round trip; anything waiting there replaces it
    (`DisconnectionError`: SQLAlchemy opens a new one in its place). This takes the place
    of SQLAlchemy's pre-ping, a `SELECT 1` sent before every use, which cost each request
    a round trip and the database a statement (docs/benchmarks.md, issue 20).
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection, or sent it something")


def make_sessionmaker(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


class DatabaseThreads:
    """The threads in which one worker process's requests use the database: `size` of
    them, so at most `size` requests reach it at once (each with its pooled connection)
    and the others wait their turn in order, in a queue where waiting costs nothing,
    not in threads of their own that would fight over the interpreter lock.

    The database is reached synchronously; this keeps it off the event loop. A plain
    executor of its own hands work to a thread and back for a third to a half of the CPU
    of Starlette's `run_in_threadpool` behind a semaphore, which this replaces: that
    hand-off was about a sixth of a worker's CPU per API report in a profile
    (docs/benchmarks.md, issue 20).
    """

    def __init__(self, size: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="database")

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in one of the threads, once it is its turn, with this task's context
        variables. If the awaiting request is cancelled, work not yet started is dropped;
        work already running finishes, and is never run twice."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, work)

    def close(self) -> None:
        """Wait for work in progress to end (before the engine's pool is closed)."""
        self._executor.shutdown(wait=True)


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
