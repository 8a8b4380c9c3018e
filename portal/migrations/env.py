"""Alembic environment: the engine is handed in by `portal.migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from portal.db import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    context.run_migrations()
