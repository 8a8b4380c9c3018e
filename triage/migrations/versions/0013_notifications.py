"""Email notifications to officers: what each wants to be told, and where (sealed), and
the notifications waiting for the relay (triage/notify.py).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_choices",
        sa.Column("username", sa.String(40), sa.ForeignKey("officers.username"), primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("new_reports", sa.Boolean, nullable=False),
        sa.Column("urgent_reports", sa.Boolean, nullable=False),
        sa.Column("deadlines", sa.Boolean, nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(40), sa.ForeignKey("officers.username"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("new_or_due", sa.Integer, nullable=False),
        sa.Column("urgent_or_missed", sa.Integer, nullable=False),
        sa.Column("queued_at", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failure", sa.String(120), nullable=True),
    )
    op.create_index("ix_notifications_username", "notifications", ["username"])


def downgrade() -> None:
    op.drop_index("ix_notifications_username", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_choices")
