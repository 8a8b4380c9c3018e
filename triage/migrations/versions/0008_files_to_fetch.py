"""Items whose files a sync could not fetch yet (a 503, a reset, a body cut short).

Such an item is stored, so officers read it at once, but it is not acknowledged to the
portal until every one of its files is here and verified: the portal keeps the files
until then, and each sync fetches them again.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files_to_fetch",
        sa.Column("item_id", sa.String(40), sa.ForeignKey("items.id"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("files_to_fetch")
