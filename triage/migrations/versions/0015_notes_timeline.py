"""Internal notes on cases and reply templates per language, both vault-sealed
(triage/notes.py); and the time of day each item and case event was stored, so that a
case's timeline orders what happened on one day (triage/timeline.py).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_notes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("officer", sa.String(80), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("text", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("officer", sa.String(80), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
    )
    op.create_index("ix_reply_templates_lang", "reply_templates", ["lang"])
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("at", sa.BigInteger, nullable=True))
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("at")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("at")
    op.drop_index("ix_reply_templates_lang", table_name="reply_templates")
    op.drop_table("reply_templates")
    op.drop_index("ix_case_notes_case_id", table_name="case_notes")
    op.drop_table("case_notes")
