"""Sign-in guards: each officer's failures in a row, the lock they set, and the last
TOTP time step that signed in (a code works once).

Stored, not kept in a process's memory, so that a lock holds across requests sent in
parallel, restarts and workers (triage/signin.py).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_guards",
        sa.Column("username", sa.String(40), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.Integer, nullable=False, server_default="0"),
        sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_by", sa.LargeBinary(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signin_guards")
