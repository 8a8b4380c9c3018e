"""One-time values of the console's action forms, once spent, so that a form sent twice
(a reload, a double click, a second tab) acts once.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_forms",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("body", sa.LargeBinary(32), nullable=False),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("officer", sa.String(80), nullable=False),
        sa.Column("at", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("spent_forms")
