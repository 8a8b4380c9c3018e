"""An index for the cases due within a window of days, in list order.

"Due within a week" in the default order asks for the cases whose earliest unmet
deadline (`due_on`) falls in the next seven days, urgent first then newest. Migration
0014's indexes carry `due_on` after the list order, so PostgreSQL and SQLite answered
it by reading every case's entry, even when none was due (100,000 entries for an empty
page and its count). This index leads with the day: the few cases due soon are found
by a range, then sorted, and counted from the index alone.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

NAME = "ix_cases_due_on_list_key"


def upgrade() -> None:
    op.create_index(NAME, "cases", ["due_on", "list_key", "id"])


def downgrade() -> None:
    op.drop_index(NAME, "cases")
