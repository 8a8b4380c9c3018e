"""Alembic environment: the engine is handed in by `triage.migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from triage.db import Base
from triage.migrations import VERSION_TABLE

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE
    )
    context.run_migrations()
