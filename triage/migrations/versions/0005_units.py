"""Units and the routing table move from constants into the database, editable by admins.

The rows inserted are docs/design.md §3's default table, so an existing console routes as it
did. They are copied here by value: a migration must keep meaning what it meant when it
was written, whatever `triage.units` says later.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNITS = [
    ("police_liaison", "Police liaison"),
    ("counter_corruption", "Counter-corruption"),
    ("governor", "Governor"),
    ("ombudsman", "Ombudsman"),
    ("equality_lead", "Equality lead"),
    ("healthcare_provider", "Healthcare provider"),
    ("safeguarding", "Safeguarding"),
    ("retaliation_monitor", "Retaliation monitor"),
]
ROUTING = [
    ("staff_sexual_misconduct", ("police_liaison", "counter_corruption")),
    ("trafficking", ("police_liaison", "counter_corruption")),
    ("corruption", ("counter_corruption",)),
    ("use_of_force", ("governor", "ombudsman")),
    ("bullying", ("governor", "ombudsman")),
    ("discrimination", ("equality_lead", "ombudsman")),
    ("healthcare", ("healthcare_provider",)),
    ("self_harm_risk", ("safeguarding",)),
    ("retaliation", ("retaliation_monitor",)),
]


def upgrade() -> None:
    units = op.create_table(
        "units",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.UniqueConstraint("name", name="uq_units_name"),
    )
    routing = op.create_table(
        "routing",
        sa.Column("category", sa.String(40), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("unit", sa.String(40), sa.ForeignKey("units.id"), nullable=False),
    )
    op.bulk_insert(units, [{"id": id_, "name": name, "active": True} for id_, name in UNITS])
    op.bulk_insert(
        routing,
        [
            {"category": category, "position": position, "unit": unit}
            for category, chain in ROUTING
            for position, unit in enumerate(chain)
        ],
    )


def downgrade() -> None:
    op.drop_table("routing")
    op.drop_table("units")
