"""Outbox numbers given when the console reads the outbox, not when an item is stored.

Until now a report or message took its outbox number (`items.seq`) inside the
transaction that stored it, under one advisory lock held until commit, so that numbers
and commits came in the same order: every submission on PostgreSQL waited for the one
before it to reach the disk. Now items are stored unnumbered and in parallel, and the
outbox read numbers whatever has been committed since, in one short transaction; the
counter lives in `counters` so that a number is never given twice, even after a purge.
Existing reports and messages keep their `seq` as their number.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("outbox", sa.Integer, nullable=True))
    op.create_index("ix_items_outbox", "items", ["outbox"], unique=True)
    op.create_table(
        "counters",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.execute("UPDATE items SET outbox = seq WHERE kind IN ('report', 'message')")
    op.execute(
        "INSERT INTO counters (name, value) SELECT 'outbox', COALESCE(MAX(seq), 0) FROM items"
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_index("ix_items_outbox", table_name="items")
    op.drop_column("items", "outbox")
