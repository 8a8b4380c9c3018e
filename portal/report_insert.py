"""A new case and its report in one statement on PostgreSQL: one round trip, not four,
and checked on the event loop, so that the database thread does nothing else.

`store.create_case` stores a report in a transaction: BEGIN, the case's INSERT, the
item's INSERT, COMMIT, each a round trip to PostgreSQL (psycopg sends BEGIN on its own),
and each costing the portal's worker and the database's backend CPU time that, for a
client-sealed report, is most of the request (docs/benchmarks.md, issue 20). A report
sent to the JSON API with no attachments (its usual case) is stored here instead:

- `check` makes the checks `create_case` makes before it stores anything (the sealed
  document's size, a v2 report's signed header: 422), in the same order, on the event
  loop: they need no database, and handing them to a thread would cost more than they do;
- `store` then runs one `WITH … INSERT` statement in autocommit mode on a pooled
  connection, in one of the worker's database threads, without an ORM session. One
  statement is atomic in PostgreSQL: the case and its report are stored together or not
  at all. With `synchronous_commit` on (PostgreSQL's default, which the deployment
  keeps), its commit is flushed to the write-ahead log before PostgreSQL answers, so the
  201 and its receipt still come only once the report is durably stored. The same
  unique index refuses a lookup id in use (409 `lookup_in_use`).

Reports with attachments (blobs to claim and count), from an HTML form (a sent-form row
to record) or on SQLite keep `create_case`'s transaction: their statements depend on
each other.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from . import store
from .settings import Limits

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


def in_one_statement(engine: Engine) -> bool:
    """Whether this database stores a case and its report in one statement."""
    return engine.dialect.name == "postgresql"


@dataclass(frozen=True)
class CheckedReport:
    """A report without attachments that passed every check but its lookup id's."""

    case_id: str
    item_id: str
    values: dict[str, Any]


def check(
    *,
    sealed: bytes,
    lookup_id: bytes,
    box_pk: bytes,
    sign_pk: bytes,
    limits: Limits,
    today: datetime.date,
    signed: store.SignedHeader | None = None,
) -> CheckedReport:
    """`create_case`'s checks for a report without attachments (422), which need no
    database; its new case and item ids."""
    store.check_sealed_size(sealed, limits.document_bytes)
    header = None
    if signed is not None:
        header = store.check_header(
            signed, kinds=("report",), case_key=box_pk, signer=sign_pk, sealed=sealed
        )
    case_id, item_id = store.new_case_id(), store.new_item_id()
    values = {
        "case_id": case_id,
        "lookup_id": lookup_id,
        "box_pk": box_pk,
        "sign_pk": sign_pk,
        "today": today,
        "item_id": item_id,
        "sealed": sealed,
        "signed": None if signed is None else signed.signed,
        "signature": None if signed is None else signed.signature,
        "chain_seq": None if header is None else header.seq,
    }
    return CheckedReport(case_id, item_id, values)


def store_report(engine: Engine, report: CheckedReport) -> store.NewItem:
    """Store a checked report and its case in one autocommitted statement; 409
    `lookup_in_use` if its lookup id (or, once in 2^50, its case id) is taken."""
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(_CASE_AND_REPORT, report.values).scalar_one()
    except IntegrityError:
        raise store.lookup_in_use() from None
    return store.NewItem(report.case_id, report.item_id)
