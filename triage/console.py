"""The unsealed console: its keys, database and search index, and the hash-chained audit
log every step is recorded in.

`Console` is what the pages and the command line hold. What it does is in the module
of each concern: taking in the portal's outbox (triage/sync.py, triage/intake.py,
triage/signed_items.py, triage/fetching.py), replies and status changes to the reporter
(triage/replies.py), each case's signed chain (triage/chains.py), the workflow steps
(triage/case_steps.py) and reading cases (triage/reading.py). It speaks protocol v2
(docs/protocol.md §11–§19).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import getpass
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

import crypto
from foundation.blobstore import BlobStore
from foundation.database import DatabaseUnavailable, migrate_or_explain

from . import case_steps, once, reading, replies, sealed_audit, sync, workflow
from .db import (
    AuditRow,
    Base,
    Case,
    CaseEvent,
    make_engine,
    make_sessionmaker,
)
from .keys import Unsealed
from .migrations import NeedsKeys, upgrade
from .outbox_page import SyncReport
from .search import SearchIndex
from .settings import ConsoleError, TriageSettings

#: The last migration that needs no keys: 0012 seals officers' words in the audit log.
SEALING_REVISION = "0011"
_INSERT_AUDIT = insert(Base.metadata.tables[AuditRow.__tablename__])
_LAST_AUDIT = select(AuditRow.digest).order_by(AuditRow.seq.desc()).limit(1)
_LOCK_AUDIT = text("SELECT pg_advisory_xact_lock(:k)")
_AUDIT_LOCK = 0x4C415544  # "LAUD"
_TAKE_WRITE_LOCK = text("UPDATE audit SET seq = seq WHERE seq < 0")  # changes no row


class Console:
    #: The one-time value of the form whose action this copy runs (`spending`).
    ticket: once.Ticket | None = None
    #: Why the last push left items queued although the portal answered (its oversight
    #: keys are not this console's current ones, say); None if it was not that.
    held_because: str | None = None

    def __init__(
        self,
        settings: TriageSettings,
        unsealed: Unsealed,
        *,
        who: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.keys = unsealed
        self.who = who
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        upgrade(self.engine, unsealed=unsealed)  # 0012 seals officers' words in the audit log
        if self.engine.dialect.name == "sqlite":
            # Rows an upgrade sealed: their clear pages go from the database file (secure
            # deletion zeroes what is freed) and the write-ahead log is emptied.
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self.sessions = make_sessionmaker(self.engine)
        self.blobs = BlobStore(settings.blob_dir)
        #: Full-text search over the decrypted cases, in memory only (triage/search.py);
        #: built on first use, or in the background once the web console is unsealed.
        self.search = SearchIndex(self.sessions, self._open)
        if unsealed.made_signing_key:  # the first unseal after the upgrade to v2
            with self.sessions() as session:
                self.audit(session, "made oversight signing key", fingerprint=unsealed.fingerprint)
                session.commit()
            self.keys = dataclasses.replace(unsealed, made_signing_key=False)

    def close(self) -> None:
        self.search.close()
        self.engine.dispose()

    def acting_as(self, who: str) -> Console:
        """The same console (engine, keys, search index), recording its actions as `who`."""
        other = copy.copy(self)
        other.who = who
        return other

    def spending(self, ticket: once.Ticket) -> Console:
        """The same console, whose first audit entry also records `ticket`'s form as
        spent, in the same transaction (triage/once.py): an action posted twice is done
        once. Raises `once.Spent` there if another request spent it first."""
        other = copy.copy(self)
        other.ticket = ticket
        return other

    # -- audit -------------------------------------------------------------------------

    def audit(self, session: Session, action: str, case: str | None = None, **detail: Any) -> None:
        """Append an entry, in the caller's transaction, chained to the one before it."""
        self.audit_many(session, [(action, case, detail)])

    def audit_many(
        self, session: Session, entries: Iterable[tuple[str, str | None, dict[str, Any]]]
    ) -> None:
        """Append (action, case, detail) entries in order, in the caller's transaction,
        each chained to the one before it: one read of the last entry and one insert."""
        entries = list(entries)
        if not entries:
            return
        # One appender at a time, or two would chain to the same entry and fork the log:
        # on PostgreSQL an advisory lock; on SQLite the database's write lock, taken by a
        # write before the last entry is read (a transaction that starts with a write
        # waits for the lock, then reads the newest data). The sync thread, the pages and
        # the command line all append.
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_LOCK_AUDIT, {"k": _AUDIT_LOCK})
        else:
            session.execute(_TAKE_WRITE_LOCK)
        if self.ticket is not None and not self.ticket.spent:
            once.spend(session, self.ticket, int(self.clock()))  # under the same lock
        last = session.scalar(_LAST_AUDIT)
        previous = bytes(last) if last is not None else crypto.AUDIT_GENESIS
        at = datetime.datetime.fromtimestamp(self.clock(), datetime.UTC).isoformat(
            timespec="seconds"
        )
        key = self.keys.subkey("audit")
        rows = []
        for action, case, detail in entries:
            # What an officer wrote (reasons, notes, summaries) is stored sealed, and the
            # chain covers it as stored (triage/sealed_audit.py).
            entry = sealed_audit.seal_entry(
                self.keys, {"at": at, "who": self.who, "action": action, "case": case, **detail}
            )
            previous = crypto.audit_digest(previous, entry, key)
            rows.append({"entry": crypto.canonical_entry(entry).decode(), "digest": previous})
        # Written now (not at the next flush): a later entry in this transaction reads them.
        # Without RETURNING, SQLAlchemy hands the rows to the driver's executemany, which
        # runs them one after another (psycopg in one pipeline): `seq` follows the chain.
        session.connection().execute(_INSERT_AUDIT, rows)

    def verify_audit(self) -> tuple[int, bytes]:
        """Check the whole chain; raises `crypto.AuditChainBroken` naming the first bad entry."""
        with self.sessions() as session:
            rows = session.execute(select(AuditRow).order_by(AuditRow.seq)).scalars().all()
            pairs = []
            for index, row in enumerate(rows):
                try:
                    pairs.append((json.loads(row.entry), bytes(row.digest)))
                except ValueError:
                    raise crypto.AuditChainBroken(index) from None
        return crypto.verify_audit_chain(pairs, self.keys.subkey("audit"))

    def audit_entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first, with the officers' words opened for reading."""
        with self.sessions() as session:
            rows = session.execute(select(AuditRow).order_by(AuditRow.seq)).scalars().all()
            return [sealed_audit.open_entry(self.keys, json.loads(row.entry)) for row in rows]

    # -- sealed storage and the case's record ---------------------------------------------

    def _seal(self, value: Any) -> bytes:
        return self.keys.seal("content", json.dumps(value, ensure_ascii=False).encode())

    def _open(self, sealed: bytes) -> Any:
        return json.loads(self.keys.open("content", sealed))

    def _today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.UTC).date()

    def _case(self, session: Session, case_id: str) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise ConsoleError(f"there is no case {case_id!r} on this console")
        return case

    def _event(self, session: Session, case_id: str, kind: str, detail: Any = None) -> None:
        sealed = None if detail is None else self._seal(detail)
        session.add(
            CaseEvent(
                case_id=case_id,
                kind=kind,
                on=self._today(),
                officer=self.who,
                detail=sealed,
                at=int(self.clock() * 1000),
            )
        )

    # -- what the console does, each in the module of its concern ------------------------

    def sync(self, portal_url: str, progress: Callable[[str], None] = lambda _: None) -> SyncReport:
        """Pull every new item, store it, acknowledge it; then push queued replies."""
        return sync.sync(self, portal_url, progress)

    def push(self) -> tuple[int, int]:
        """Send queued replies and status changes to the portal of the last sync."""
        return replies.push(self)

    def reply(self, case_id: str, message: str, *, feedback: bool = False) -> None:
        """Queue a reply to the reporter (`feedback`: it tells them what was done)."""
        replies.reply(self, case_id, message, feedback=feedback)

    def set_public_status(self, case_id: str, state: str) -> None:
        replies.set_public_status(self, case_id, state)

    def acknowledge(self, case_id: str) -> None:
        """Tell the reporter the report was read (the 7-day deadline)."""
        case_steps.acknowledge(self, case_id)

    def assess(
        self, case_id: str, *, category: str, severity: str, urgent: bool, reason: str = ""
    ) -> None:
        """Record the officer's assessment; the category may differ from the reporter's."""
        case_steps.assess(
            self, case_id, category=category, severity=severity, urgent=urgent, reason=reason
        )

    def record(self, case_id: str, kind: str) -> None:
        """Record that something a deadline asks for was done today (police contacted, …)."""
        case_steps.record(self, case_id, kind)

    def close_case(self, case_id: str, *, outcome: str, summary: str, feedback: str) -> None:
        """Close with an outcome; the feedback reply is the outcome notice."""
        case_steps.close_case(self, case_id, outcome=outcome, summary=summary, feedback=feedback)

    def deadlines(self, case_id: str) -> list[workflow.Deadline]:
        return case_steps.deadlines(self, case_id)

    def dashboard(self, unit: str | None = None) -> list[tuple[Case, workflow.Deadline]]:
        """Every deadline not yet met, soonest first: overdue ones lead."""
        return case_steps.dashboard(self, unit)

    def cases(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every case (or the first `limit`), urgent first, then newest first."""
        return reading.cases(self, limit)

    def show(self, case_id: str, *, reveal_identity: bool = False) -> dict[str, Any]:
        """The case, decrypted; who the reporter is stays withheld unless asked for."""
        return reading.show(self, case_id, reveal_identity=reveal_identity)

    def set_aside_items(self) -> list[dict[str, str]]:
        return reading.set_aside_items(self)


def prepare_database(settings: TriageSettings) -> None:
    """Create or upgrade the console database, or explain why it cannot be reached.

    Without the keys (the web console starts sealed), an upgrade that must seal what an
    older console wrote in the clear stops before that migration; `Console` completes it
    once officers unseal."""

    def without_keys(engine: Any) -> None:
        # Up to the last migration that needs no keys first, each step recorded, so that a
        # refused sealing step leaves the schema exactly at SEALING_REVISION (on SQLite a
        # migration's tables outlive a rolled-back run: the driver commits DDL at once).
        upgrade(engine, SEALING_REVISION)
        with contextlib.suppress(NeedsKeys):
            upgrade(engine)

    try:
        migrate_or_explain(settings.database_url, without_keys)
    except DatabaseUnavailable as exc:
        raise ConsoleError(str(exc)) from None


def default_officer() -> str:
    """Who a command-line action is recorded as: the operating-system account."""
    return f"cli:{getpass.getuser()}"
