"""A database of the benchmark's own on a PostgreSQL server, dropped afterwards, and the
CPU time its backends spend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
from _memory import cpu_seconds
from _report import progress
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """Create `name` (dropping a leftover of an earlier run) on the server `server_url`
    points at; yield its SQLAlchemy URL; drop it at the end. Never touches other databases."""
    url = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def run(statement: str) -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(statement.encode())  # a fixed name, quoted: no user input

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    progress(f"PostgreSQL: created database {name} on {url.host}:{url.port}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        progress(f"PostgreSQL: dropped database {name}")


def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


class BackendCpu:
    """User + system CPU time the PostgreSQL backends serving one database spent during a
    block, from /proc: they run the portal's statements, so they are part of what a
    request costs the machine. None for SQLite, or when the server is not on this
    machine (its backends' /proc entries are not found)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._before: dict[int, float] = {}
        self.seconds: float | None = None

    def _backends(self) -> dict[int, float]:
        url = make_url(self._url).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
            rows = connection.execute(
                b"SELECT pid FROM pg_stat_activity "
                b"WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return {pid: cpu_seconds([pid]) for (pid,) in rows if Path(f"/proc/{pid}").exists()}

    def __enter__(self) -> BackendCpu:
        if is_postgres(self._url):
            self._before = self._backends()
        return self

    def __exit__(self, *exc: object) -> None:
        if not is_postgres(self._url):
            return
        after = self._backends()
        if after:  # a backend started during the block counts whole; one that ended, not
            self.seconds = sum(cpu - self._before.get(pid, 0.0) for pid, cpu in after.items())
