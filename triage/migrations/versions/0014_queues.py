"""Queues and keyset paging for the case list: who a case is assigned to, the reporter's
language, and the stored sort keys and deadline summary of triage/list_keys.py.

The list pages by keyset on `list_key` (urgent, newest, id) or `due_key` (soonest
deadline, then the same), so each has an index alone and one after each exact filter's
column (unit, stage, status, category, prison, assignee, language, urgency), which
answers a page, its count and its position from the index. The `list_key` indexes carry
the id and every filter column (`CARRIED`), so that a mix of filters is checked in the
index; the `due_key` ones only the id (a mix of filters in deadline order reads the
rows), to keep what each new case costs to index in bounds. "All met" and "none owed"
have an index of their own. Migration 0006's indexes followed the old
order, which no query uses any more: they go.

Existing cases get their keys computed here from their events; their language is inside
the sealed report, which a migration cannot open, so it stays empty ("not recorded" in
the list's language filter); cases stored from now on carry it.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triage import list_keys, workflow

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FILTERS = (
    "unit",
    "workflow",
    "public_status",
    "category",
    "facility",
    "assignee",
    "lang",
    "urgent",
)
OLD = {
    "ix_cases_list": None,
    "ix_cases_unit_list": "unit",
    "ix_cases_status_list": "public_status",
    "ix_cases_workflow_list": "workflow",
    "ix_cases_category_list": "category",
    "ix_cases_facility_list": "facility",
}
OLD_ORDER = ("urgent DESC", "received_on DESC", "id")
OLD_FILTERS = ("public_status", "workflow", "category", "facility", "unit")


#: Carried in every index of the default order, so that any mix of filters, the page's
#: ids and its counts are read from the index alone (PostgreSQL's index-only scans, and
#: SQLite's covering indexes): with two filters, one's index is walked and the other
#: checked in it.
CARRIED = ("id", *FILTERS, "due_on", "deadlines")


def indexes() -> dict[str, list[str]]:
    """Index name → its columns."""
    found = {
        "ix_cases_list_key": ["list_key", *CARRIED],
        "ix_cases_due_key": ["due_key", "id"],
    }
    for column in FILTERS:
        found[f"ix_cases_{column}_list_key"] = [column, "list_key"]
        found[f"ix_cases_{column}_list_key"] += [c for c in CARRIED if c != column]
        found[f"ix_cases_{column}_due_key"] = [column, "due_key", "id"]
    found["ix_cases_deadlines_list_key"] = ["deadlines", "list_key", "id"]
    return found


def upgrade() -> None:
    for name in OLD:
        op.drop_index(name, "cases")
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("assignee", sa.String(40), nullable=True))
        batch.add_column(sa.Column("lang", sa.String(16), nullable=True))
        batch.add_column(sa.Column("list_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("due_key", sa.String(80), nullable=True))
        batch.add_column(sa.Column("due_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("deadlines", sa.String(8), nullable=True))
    fill_keys(op.get_bind())
    for name, columns in indexes().items():
        op.create_index(name, "cases", columns)


def fill_keys(connection: sa.Connection) -> None:
    """Compute every existing case's keys from its events, a batch at a time."""
    # Typed, so that SQLite's dates come back as dates.
    cases = sa.table(
        "cases",
        sa.column("id", sa.String),
        sa.column("urgent", sa.Boolean),
        sa.column("received_on", sa.Date),
        sa.column("category", sa.String),
        sa.column("list_key", sa.String),
        sa.column("due_key", sa.String),
        sa.column("due_on", sa.Date),
        sa.column("deadlines", sa.String),
    )
    events = sa.table(
        "case_events",
        sa.column("case_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("on", sa.Date),
    )
    done = ""
    while True:
        rows = connection.execute(
            sa.select(cases.c.id, cases.c.urgent, cases.c.received_on, cases.c.category)
            .where(cases.c.id > done)
            .order_by(cases.c.id)
            .limit(2000)
        ).all()
        if not rows:
            return
        found: dict[str, list[workflow.Event]] = {}
        query = sa.select(events.c.case_id, events.c.kind, events.c.on).where(
            events.c.case_id.in_([row.id for row in rows])
        )
        for case_id, kind, on in connection.execute(query):
            found.setdefault(case_id, []).append(workflow.Event(kind, on))
        for row in rows:
            due_on, state = list_keys.summary(
                row.received_on, row.category, bool(row.urgent), found.get(row.id, [])
            )
            key = list_keys.list_key(bool(row.urgent), row.received_on, row.id)
            connection.execute(
                cases.update()
                .where(cases.c.id == row.id)
                .values(
                    list_key=key,
                    due_key=list_keys.due_key(due_on, key),
                    due_on=due_on,
                    deadlines=state,
                )
            )
        done = rows[-1].id


def downgrade() -> None:
    for name in reversed(indexes()):
        op.drop_index(name, "cases")
    # Not a batch: on SQLite that would copy the table, which the foreign keys to it
    # refuse; SQLite drops a column in place since 3.35.
    for column in ("deadlines", "due_on", "due_key", "list_key", "lang", "assignee"):
        op.drop_column("cases", column)
    for name, first in OLD.items():
        columns = ([first] if first else []) + list(OLD_ORDER)
        columns += [c for c in OLD_FILTERS if c != first] if first else ["workflow"]
        op.create_index(name, "cases", [sa.text(column) for column in columns])
