"""An index on the case key, which every report a sync takes in is looked up by.

A sync refuses a second case for a case key already in use (docs/protocol.md §16.4):
for each new report it asks whether any case has its `reply_box_pk`. Without an index
that question read the whole `cases` table, once per report: on PostgreSQL at 100,000
cases a sync of 1,000 reports took 20 s, where it took under a second before the check
existed (docs/benchmarks.md, 2026-12-07).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NAME = "ix_cases_reply_box_pk"


def upgrade() -> None:
    op.create_index(NAME, "cases", ["reply_box_pk"])


def downgrade() -> None:
    op.drop_index(NAME, "cases")
