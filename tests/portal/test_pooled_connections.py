"""The portal's pooled PostgreSQL connections after the database dropped them.

A connection that sat idle in the pool is pinged before use and replaced if the database
closed it (a restart, an idle timeout, an administrator): the request that takes it
succeeds. A connection used a moment ago is not pinged (a round trip per request saved,
issue 20), and one closed in that moment costs only the request that meets it.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from portal import db
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="LANTHORN_TEST_POSTGRES_URL is not set")


def _drop_backend(pid: int) -> None:
    """Close one server connection from outside, as a restart or an administrator does."""
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _backend_pid(engine: db.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_the_database_closed_is_replaced_before_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every connection counts as idle
    engine = db.make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        _drop_backend(first)
        assert _backend_pid(engine) != first  # a new connection, and no error
    finally:
        engine.dispose()


def test_a_connection_closed_a_moment_after_use_fails_one_request_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never idle long enough
    engine = db.make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        _drop_backend(first)
        with pytest.raises(OperationalError):  # the portal answers this one with a 503
            _backend_pid(engine)
        assert _backend_pid(engine) != first  # the pool was invalidated: the next is fine
    finally:
        engine.dispose()
