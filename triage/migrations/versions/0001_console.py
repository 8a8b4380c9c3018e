"""The first console schema: cases, items, set-aside items, outgoing queue, audit, state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("workflow", sa.String(16), nullable=False),
        sa.Column("public_status", sa.String(16), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("facility", sa.String(200), nullable=False),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("unit", sa.String(40), nullable=True),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("portal_box_pk", sa.LargeBinary(32), nullable=False),
        sa.Column("reply_box_pk", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("on", sa.Date, nullable=False),
    )
    op.create_index("ix_items_case_id", "items", ["case_id"])
    op.create_table(
        "set_aside",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("on", sa.Date, nullable=False),
    )
    op.create_table(
        "outgoing",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("sent_on", sa.Date, nullable=True),
    )
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "state",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("state", "audit", "outgoing", "set_aside", "items", "cases"):
        op.drop_table(table)
