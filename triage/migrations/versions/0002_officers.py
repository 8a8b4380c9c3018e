"""Officers with passwords and TOTP, and their server-side sessions.

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
    op.create_table(
        "officers",
        sa.Column("username", sa.String(40), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(40), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary, nullable=True),
        sa.Column("setup_code_hash", sa.String(200), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "officer_sessions",
        sa.Column("id_digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("username", sa.String(40), sa.ForeignKey("officers.username"), nullable=False),
        sa.Column("expires", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("officer_sessions")
    op.drop_table("officers")
