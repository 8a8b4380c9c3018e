"""Alembic migrations for the console database (its own version table)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

VERSION_TABLE = "console_alembic_version"


def upgrade(engine: Engine) -> None:
    """Bring the console database to the newest schema (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["engine"] = engine
    command.upgrade(config, "head")
