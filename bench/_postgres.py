"""A database of the benchmark's own on a PostgreSQL server, dropped afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
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
