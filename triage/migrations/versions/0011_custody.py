"""Two-person rules: identity requests a custodian decides, and account requests a
second admin decides (triage/custody.py, triage/approvals.py).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("requester", sa.String(40), nullable=False),
        sa.Column("reason", sa.LargeBinary, nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("decided_on", sa.Date, nullable=True),
        sa.Column("answer", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_identity_requests_case_id", "identity_requests", ["case_id"])
    op.create_table(
        "account_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("username", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(40), nullable=True),
        sa.Column("requester", sa.String(40), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("decided_on", sa.Date, nullable=True),
    )
    op.create_index("ix_account_requests_username", "account_requests", ["username"])


def downgrade() -> None:
    op.drop_index("ix_account_requests_username", table_name="account_requests")
    op.drop_table("account_requests")
    op.drop_index("ix_identity_requests_case_id", table_name="identity_requests")
    op.drop_table("identity_requests")
