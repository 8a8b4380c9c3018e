"""Alembic migrations for the console database (its own version table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "console_alembic_version"


def alembic_config(engine: Engine | None = None, unsealed: Any = None) -> Config:
    """Alembic's configuration for the console migrations (on `engine`, if given; with
    the unsealed keys, for the migrations that seal what was stored in the clear)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["engine"] = engine
    config.attributes["unsealed"] = unsealed
    return config


def upgrade(engine: Engine, revision: str = "head", unsealed: Any = None) -> None:
    """Bring the console database to the newest schema, or to `revision` (idempotent).

    Without `unsealed` (triage.keys.Unsealed), a migration that must seal rows written in
    the clear (0012) refuses with `NeedsKeys` if there are any."""
    command.upgrade(alembic_config(engine, unsealed), revision)


class NeedsKeys(RuntimeError):
    """The upgrade must seal rows and was run without the console's keys."""


def revisions() -> list[str]:
    """Every schema revision this version of Lanthorn knows, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The revision a console database is at (None: no console schema in it)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
