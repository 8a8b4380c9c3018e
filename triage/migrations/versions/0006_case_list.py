"""Indexes for the case list, which is read a page at a time.

The list's order is urgent first, newest first, then case id (`triage.case_list.ORDER`).
Each index below holds exactly that order, directions included (the id ascends while the
rest descend, so a plain index could not be walked for it), after the column of one exact
filter: none, the unit (every investigator's list), the public status, the stage, the
category, the prison. In a filter's index the other filter columns follow the order, so
that a page, its count and any mix of filters are answered from an index without reading
the table: with two filters, the index of one is walked and the other checked in it.
`ix_cases_list` stays narrow (its pages are walked deepest, by offset) and holds only the
stage after the order, for the count of open urgent cases on the banner.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ORDER = ("urgent DESC", "received_on DESC", "id")
FILTERS = ("public_status", "workflow", "category", "facility", "unit")
#: Index name → the filter column it starts with (None: the order alone).
LISTS = {
    "ix_cases_list": None,
    "ix_cases_unit_list": "unit",
    "ix_cases_status_list": "public_status",
    "ix_cases_workflow_list": "workflow",
    "ix_cases_category_list": "category",
    "ix_cases_facility_list": "facility",
}


def upgrade() -> None:
    for name, first in LISTS.items():
        columns = ([first] if first else []) + list(ORDER)
        columns += [column for column in FILTERS if column != first] if first else ["workflow"]
        op.create_index(name, "cases", [sa.text(column) for column in columns])


def downgrade() -> None:
    for name in reversed(LISTS):
        op.drop_index(name, "cases")
