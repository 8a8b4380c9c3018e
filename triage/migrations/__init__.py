"""Alembic migrations for the console database (its own version table)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "console_alembic_version"


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration for the console migrations (on `engine`, if given)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the console database to the newest schema, or to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def revisions() -> list[str]:
    """Every schema revision this version of Lanthorn knows, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The revision a console database is at (None: no console schema in it)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
