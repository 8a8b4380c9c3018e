"""A new case and its report in one statement on PostgreSQL: one round trip, not four.

`store.create_case` stores a report in a transaction: BEGIN, the case's INSERT, the
item's INSERT, COMMIT, each a round trip to PostgreSQL (psycopg sends BEGIN on its own),
and each costing the portal's worker and the database's backend CPU time that, for a
client-sealed report, is most of the request (docs/benchmarks.md, issue 20). A report
with no attachments and no form's one-time value (the JSON API's usual case) is stored
here instead by one `WITH … INSERT` statement in autocommit mode:

- one statement is atomic in PostgreSQL: the case and its report are stored together or
  not at all, as before;
- with `synchronous_commit` on (PostgreSQL's default, which the deployment keeps), the
  statement's commit is flushed to the write-ahead log before PostgreSQL answers, so the
  201 and its receipt still come only once the report is durably stored;
- the same unique indexes refuse a lookup id in use (409 `lookup_in_use`), and the same
  checks run before it (`store.create_case` calls this after them).

Reports with attachments (blobs to claim and count) or from an HTML form (a sent-form row
to record) keep the general transaction: their extra statements depend on each other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_CASE_AND_REPORT = text(
    """
    WITH new_case AS (
        INSERT INTO cases (id, lookup_id, box_pk, sign_pk, status, status_on, created_on)
        VALUES (:case_id, :lookup_id, :box_pk, :sign_pk, 'received',
                CAST(:today AS date), CAST(:today AS date))
        RETURNING id
    )
    INSERT INTO items (id, case_id, kind, sealed, "on", signed, signature, chain_seq)
    SELECT :item_id, new_case.id, 'report', CAST(:sealed AS bytea), CAST(:today AS date),
           CAST(:signed AS bytea), CAST(:signature AS bytea), CAST(:chain_seq AS integer)
    FROM new_case
    RETURNING seq
    """
)


def in_one_statement(session: Session) -> bool:
    """Whether this session's database stores a case and report in one statement."""
    return session.get_bind().dialect.name == "postgresql"


def insert_case_and_report(session: Session, values: dict[str, Any]) -> None:
    """Store the case and its report (`values`: case_id, lookup_id, box_pk, sign_pk,
    today, item_id, sealed, signed, signature, chain_seq) in one autocommitted statement.
    Must be the session's first use of the database; raises `IntegrityError` as the
    two inserts did."""
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    connection.execute(_CASE_AND_REPORT, values).scalar_one()
