"""Persons and places of concern, for linking cases that name the same one.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "concerns",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("label", sa.LargeBinary, nullable=False),
        sa.Column("officer", sa.String(80), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
    )
    op.create_index("ix_concerns_case_id", "concerns", ["case_id"])
    op.create_index("ix_concerns_digest", "concerns", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_concerns_digest", "concerns")
    op.drop_index("ix_concerns_case_id", "concerns")
    op.drop_table("concerns")
