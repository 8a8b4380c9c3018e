"""Signed items: the header and signature of each protocol v2 item, and its place in the
case's chain (docs/protocol.md §14, §19).

The header stays when the sealed text is purged, so the chain can be checked for as long
as the case exists. `chain_seq` is unique within a case: of two writers that sign after
the same item, the second is refused (409 `thread_moved_on`) instead of forking the
chain. Items written under v1 have none of the three.

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
    op.add_column("items", sa.Column("signed", sa.LargeBinary, nullable=True))
    op.add_column("items", sa.Column("signature", sa.LargeBinary, nullable=True))
    op.add_column("items", sa.Column("chain_seq", sa.Integer, nullable=True))
    # Rows with no place (v1 items, NULL) never clash: NULLs are distinct in both databases.
    op.create_index("uq_items_chain", "items", ["case_id", "chain_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_items_chain", table_name="items")
    # Plain ALTER TABLE (SQLite 3.35 and later, PostgreSQL): a batch would copy `items`
    # and drop it, which the blobs' foreign keys refuse.
    for column in ("chain_seq", "signature", "signed"):
        op.execute(f"ALTER TABLE items DROP COLUMN {column}")
