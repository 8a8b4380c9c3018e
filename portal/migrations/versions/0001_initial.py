"""The first portal schema: cases, items, blobs, nonces, reporter sessions.

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
        sa.Column("lookup_id", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("box_pk", sa.LargeBinary(32), nullable=False),
        sa.Column("sign_pk", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_on", sa.Date, nullable=False),
        sa.Column("created_on", sa.Date, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(24), nullable=False, unique=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=True),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("acked_on", sa.Date, nullable=True),
        sa.Column("read_on", sa.Date, nullable=True),
    )
    op.create_index("ix_items_case_id", "items", ["case_id"])
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("item_seq", sa.Integer, sa.ForeignKey("items.seq"), nullable=True),
        sa.Column("position", sa.Integer, nullable=True),
        sa.Column("uploaded_on", sa.Date, nullable=False),
    )
    op.create_index("ix_blobs_item_seq", "blobs", ["item_seq"])
    op.create_table(
        "nonces",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("expires_on", sa.Date, nullable=False),
    )
    op.create_index("ix_nonces_expires_on", "nonces", ["expires_on"])
    op.create_table(
        "sessions",
        sa.Column("id_digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("key", sa.LargeBinary(32), nullable=False),
        sa.Column("seen_on", sa.Date, nullable=False),
    )
    op.create_index("ix_sessions_seen_on", "sessions", ["seen_on"])


def downgrade() -> None:
    for table in ("sessions", "nonces", "blobs", "items", "cases"):
        op.drop_table(table)
