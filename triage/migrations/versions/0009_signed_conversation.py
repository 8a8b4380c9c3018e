"""The signed conversation (protocol v2): every item header the console holds, what is
wrong with a case's chain, the reporter's signing key, and the thread item each queued
reply belongs to.

Replies are signed when they are sent, so a reply queued before the upgrade is sent as
a v2 item: its text is in the thread item it shows as, found here. Each case's queued
replies and outcome notices were stored with their thread items in one transaction, in
the same order, so the n-th is paired with the n-th reply item of the case.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "headers",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("item_id", sa.String(40), nullable=True),
        sa.Column("signed", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
    )
    op.create_index("ix_headers_case_id", "headers", ["case_id"])
    op.create_index("ix_headers_hash", "headers", ["hash"])
    op.create_table(
        "findings",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("chain_seq", sa.Integer, nullable=True),
        sa.Column("until", sa.Integer, nullable=True),
        sa.Column("on", sa.Date, nullable=False),
    )
    op.create_index("ix_findings_case_id", "findings", ["case_id"])
    op.add_column("cases", sa.Column("reply_sign_pk", sa.LargeBinary(32), nullable=True))
    op.add_column("cases", sa.Column("portal_sign_pk", sa.LargeBinary(32), nullable=True))
    op.add_column("outgoing", sa.Column("item_id", sa.String(40), nullable=True))

    connection = op.get_bind()
    replies = sa.text("SELECT case_id, id FROM items WHERE kind = 'reply' ORDER BY case_id, seq")
    queued = sa.text(
        "SELECT case_id, seq FROM outgoing WHERE kind IN ('reply', 'outcome') ORDER BY case_id, seq"
    )
    items: dict[str, list[str]] = {}
    for case_id, item_id in connection.execute(replies):
        items.setdefault(case_id, []).append(item_id)
    rows: dict[str, list[int]] = {}
    for case_id, seq in connection.execute(queued):
        rows.setdefault(case_id, []).append(seq)
    pairs = [
        {"item_id": item_id, "seq": seq}
        for case_id, seqs in rows.items()
        if len(seqs) == len(items.get(case_id, []))
        for seq, item_id in zip(seqs, items[case_id], strict=True)
    ]
    if pairs:
        connection.execute(
            sa.text("UPDATE outgoing SET item_id = :item_id WHERE seq = :seq"), pairs
        )


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35 and later, PostgreSQL): a batch would copy `cases`
    # and drop it, which its foreign keys refuse once items point at it.
    for table, column in (
        ("outgoing", "item_id"),
        ("cases", "portal_sign_pk"),
        ("cases", "reply_sign_pk"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index("ix_findings_case_id", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_headers_hash", table_name="headers")
    op.drop_index("ix_headers_case_id", table_name="headers")
    op.drop_table("headers")
