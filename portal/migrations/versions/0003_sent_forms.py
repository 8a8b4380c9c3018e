"""Sent forms: a hash of each page's one-time value, so a page is sent only once.

Reloading the receipt page re-posts the report form; pressing "Send" twice posts it
twice. Each report and message is now stored together with BLAKE2b of its page's
one-time value (`portal/once.py`) under a unique key, so the same page sent again is
refused. A row holds the hash and the day, nothing that names a case, and is purged
after a week.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_forms",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("sent_on", sa.Date, nullable=False),
        # Stored in key order (random), not in the order the reports arrived.
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sent_forms_sent_on", "sent_forms", ["sent_on"])


def downgrade() -> None:
    op.drop_index("ix_sent_forms_sent_on", table_name="sent_forms")
    op.drop_table("sent_forms")
