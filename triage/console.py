"""The unsealed console: taking in reports from the portal, reading cases, replying,
setting the public status — every step recorded in the hash-chained audit log.

It speaks protocol v2 (docs/protocol.md §11–§19): every report and message that comes
with a signed header is verified against the keys inside the report itself (or, in a
case filed under v1, the key a key proof established), and its place in the case's
chain is checked; what does not verify is set aside as a forgery attempt, shown on the
case and audited, never shown as the reporter's words. Every reply, status change and
outcome notice is sealed and signed when it is sent, after the chain as it stands then.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import getpass
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.orm import Session

import crypto
from foundation.blobstore import BlobStore, is_blob_id
from foundation.categories import CATEGORIES
from foundation.database import DatabaseUnavailable, migrate_or_explain

from . import labels, once, sealed_audit, workflow
from .client import PortalClient, PortalError
from .db import (
    AuditRow,
    Base,
    Case,
    CaseEvent,
    FileToFetch,
    Finding,
    Header,
    Item,
    Outgoing,
    SetAside,
    State,
    get_state,
    make_engine,
    make_sessionmaker,
    set_state,
)
from .keys import Unsealed, reload_keys
from .migrations import NeedsKeys, upgrade
from .search import SearchIndex
from .settings import ConsoleError, TriageSettings
from .sync_lock import one_sync_at_a_time

PUBLIC_STATES = ("acknowledged", "in_review", "action_taken", "closed")
#: Outbox items asked for at a time: each page costs two signed requests and a disk flush.
SYNC_PAGE = 200
#: The last migration that needs no keys: 0012 seals officers' words in the audit log.
SEALING_REVISION = "0011"
# Built once: a sync runs these thousands of times, and building a statement costs more
# than running it.
_INSERT_AUDIT = insert(Base.metadata.tables[AuditRow.__tablename__])
_LAST_AUDIT = select(AuditRow.digest).order_by(AuditRow.seq.desc()).limit(1)
_LOCK_AUDIT = text("SELECT pg_advisory_xact_lock(:k)")
_INSERT_CASE = insert(Base.metadata.tables[Case.__tablename__])
_INSERT_ITEM = insert(Base.metadata.tables[Item.__tablename__])
_INSERT_SET_ASIDE = insert(Base.metadata.tables[SetAside.__tablename__])
_INSERT_TO_FETCH = insert(Base.metadata.tables[FileToFetch.__tablename__])
_INSERT_HEADER = insert(Base.metadata.tables[Header.__tablename__])
#: How the audit log names each thing a portal may try that a sync sets aside.
ATTEMPTS = {
    "forged": "forgery attempt",
    "moved": "moved item",
    "replay": "replayed item",
    "second report": "second report",
}
#: The state of a file a sync could not fetch yet; the next sync fetches it again.
TO_FETCH = "still to fetch: "
_AUDIT_LOCK = 0x4C415544  # "LAUD"
_TAKE_WRITE_LOCK = text("UPDATE audit SET seq = seq WHERE seq < 0")  # changes no row


@dataclass
class _CaseKeys:
    """What verifying a case's items needs: its case key (the reporter's box key, from the
    report), the reporter's signing key (None in a case filed under v1 until a key proof
    establishes one), and whether that key was established in this page."""

    case_key: bytes
    reporter_key: bytes | None
    established: bool = False


@dataclass
class _Seen:
    """The item ids (taken or set aside) and case ids a sync found here already, the keys
    of those cases, and the hashes of the item headers held (to find a copy sent again)."""

    items: set[str]
    cases: set[str]
    fetching: set[str]  # items here already whose files are still to fetch
    keys: dict[str, _CaseKeys] = field(default_factory=dict)
    hashes: set[bytes] = field(default_factory=set)


@dataclass
class _Batch:
    """What one outbox page adds: rows for `cases`, `items` and `set_aside`, and the
    audit entries (action, case, detail) that record them, in order."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    to_fetch: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    #: Cases in a v1 filing whose reporter key a key proof established in this page.
    established: dict[str, bytes] = field(default_factory=dict)
    audit: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)


@dataclass
class SyncReport:
    taken: int = 0
    already: int = 0
    set_aside: list[str] = field(default_factory=list)
    files: int = 0
    bad_files: list[str] = field(default_factory=list)
    files_to_fetch: list[str] = field(default_factory=list)
    pushed: int = 0
    queued: int = 0
    #: Why queued items wait, when the portal answered and it is not that it is
    #: unreachable (`Console.held_because`); "" otherwise.
    held: str = ""


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

    # -- sealed storage ----------------------------------------------------------------

    def _seal(self, value: Any) -> bytes:
        return self.keys.seal("content", json.dumps(value, ensure_ascii=False).encode())

    def _open(self, sealed: bytes) -> Any:
        return json.loads(self.keys.open("content", sealed))

    def _today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.UTC).date()

    # -- sync --------------------------------------------------------------------------

    def sync(self, portal_url: str, progress: Callable[[str], None] = lambda _: None) -> SyncReport:
        """Pull every new item, store it, acknowledge it; then push queued replies.

        Interrupting this anywhere and running it again loses and duplicates nothing:
        each outbox page is stored in one transaction, its items under the portal's item
        ids, and the portal forgets them only after the ack that follows. A file a
        killed sync was writing is deleted here, under the lock that keeps any other
        sync from writing now.

        An item whose files could not all be fetched (a 503, a reset, a body cut short)
        is stored, so officers can read it, but nothing from it on is acknowledged: the
        portal keeps its files, and the next sync lists it again and fetches them.
        """
        report = SyncReport()
        with (
            one_sync_at_a_time(self.settings.data_dir, progress),
            PortalClient(portal_url, self.keys.console, self.clock) as portal,
        ):
            self.blobs.clear_temporary()
            self._pull(portal, report, progress)
            with self.sessions() as session:
                set_state(session, "portal_url", portal.url)
                self.audit(session, "sync", taken=report.taken, set_aside=len(report.set_aside))
                session.commit()
            self.search.refresh()  # the new items are searchable as soon as the sync ends
            report.pushed, report.queued = self._push(
                portal, pull=lambda: self._pull(portal, report, progress)
            )
            report.held = self.held_because or ""
        return report

    def _pull(
        self, portal: PortalClient, report: SyncReport, progress: Callable[[str], None]
    ) -> None:
        """Take in every outbox page, storing and acknowledging each in turn."""
        after: str | None = None
        holding = False  # an item listed so far still waits for a file
        while True:
            page = portal.outbox(limit=SYNC_PAGE, after=after)
            if not page["items"]:
                break
            seen = self._seen(page["items"])
            batch = _Batch()
            cursor = None  # the last position up to which every item is whole here
            for item in page["items"]:
                if not self._take(portal, item, report, seen, batch):
                    holding = True
                elif not holding:
                    cursor = item.get("position")  # None from a portal without them
                progress(
                    f"{report.taken} new, {report.already} already here, "
                    f"{len(report.set_aside)} set aside, {report.files} files"
                )
            self._store(batch)
            if not holding:
                cursor = page["next"]
            if cursor is not None:
                self._durable(cursor)  # on the disk before the portal may forget it
                portal.ack(str(cursor))
            after = page["next"]

    def _seen(self, items: Iterable[dict[str, Any]]) -> _Seen:
        """Which of an outbox page's items and cases are here already: one query each,
        not one per item."""
        listed = list(items)
        ids = sorted({str(item.get("id", "")) for item in listed})
        cases = sorted({str(item.get("case", "")) for item in listed})
        with self.sessions() as session:
            known = set(session.scalars(select(Item.id).where(Item.id.in_(ids))))
            known |= set(session.scalars(select(SetAside.id).where(SetAside.id.in_(ids))))
            rows = session.execute(
                select(Case.id, Case.reply_box_pk, Case.reply_sign_pk).where(Case.id.in_(cases))
            ).all()
            fetching = set(
                session.scalars(select(FileToFetch.item_id).where(FileToFetch.item_id.in_(ids)))
            )
            hashes = {
                bytes(h)
                for h in session.scalars(select(Header.hash).where(Header.case_id.in_(cases)))
            }
        keys = {
            row.id: _CaseKeys(
                bytes(row.reply_box_pk),
                None if row.reply_sign_pk is None else bytes(row.reply_sign_pk),
            )
            for row in rows
        }
        return _Seen(known, set(keys), fetching, keys, hashes)

    def _store(self, batch: _Batch) -> None:
        """Store a page's items, the items set aside and their audit entries in one
        transaction: a few statements a page, not several an item (each a round trip to
        the database server). Killed before this commits, the page is taken again at the
        next sync (the portal forgets nothing before the ack), and files already
        downloaded and verified are kept and not downloaded again."""
        if not (batch.cases or batch.items or batch.set_aside):
            return  # (an item to fetch again is always in `items` too)
        with self._relaxed() as connection, self.sessions(bind=connection) as session:
            for statement, rows in (
                (_INSERT_CASE, batch.cases),
                (_INSERT_ITEM, batch.items),
                (_INSERT_SET_ASIDE, batch.set_aside),
                (_INSERT_TO_FETCH, batch.to_fetch),
                (_INSERT_HEADER, batch.headers),
            ):
                if rows:
                    session.connection().execute(statement, rows)
            for case_id, key in batch.established.items():
                session.execute(update(Case).where(Case.id == case_id).values(reply_sign_pk=key))
            self.audit_many(session, batch.audit)
            session.commit()
        self._check_chains({row["case_id"] for row in batch.headers})

    @contextlib.contextmanager
    def _relaxed(self) -> Iterator[Connection]:
        """A connection whose commits need not reach the disk before they return: they
        survive the process being killed, not a power cut. `_durable` makes them durable.

        A disk flush per page's transaction would be paid again by `_durable`: the flush
        is owed only before the ack that lets the portal forget the items."""
        with self.engine.connect() as connection:
            dialect = connection.dialect.name
            if dialect == "sqlite":  # outside a transaction: SQLite refuses it inside one
                level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
                relax, restore = "PRAGMA synchronous=NORMAL", f"PRAGMA synchronous={level:d}"
            elif dialect == "postgresql":
                relax, restore = "SET synchronous_commit TO off", "RESET synchronous_commit"
            else:
                relax = restore = ""
            if relax:
                connection.exec_driver_sql(relax)
                connection.commit()
            try:
                yield connection
            finally:
                try:  # the pooled connection goes back as durable as every other one
                    connection.rollback()
                    if restore:
                        connection.exec_driver_sql(restore)
                        connection.commit()
                except BaseException:
                    connection.invalidate()  # never reused
                    raise

    def _durable(self, cursor: object) -> None:
        """Write the outbox cursor with a full commit: that flushes every relaxed commit
        before it too (SQLite syncs its whole write-ahead log; PostgreSQL flushes its
        log up to this commit). A write, so that there is a commit to flush."""
        with self.sessions() as session:
            value = {"key": "outbox_cursor", "value": str(cursor)}
            done = session.execute(update(State).where(State.key == value["key"]).values(value))
            if not getattr(done, "rowcount", 0):
                session.execute(insert(State).values(value))
            session.commit()

    def _take(
        self,
        portal: PortalClient,
        item: dict[str, Any],
        report: SyncReport,
        seen: _Seen,
        batch: _Batch,
    ) -> bool:
        """Open and check one outbox item, download its files, and add what is to be
        stored to `batch` (`_store` writes it). False while a file is still to fetch:
        the item must not be acknowledged yet."""
        item_id = str(item.get("id", ""))
        if item_id in seen.items:
            report.already += 1
            if item_id in seen.fetching:
                return self._fetch_again(portal, item_id, report)
            return True
        seen.items.add(item_id)
        try:
            sealed = crypto.b64u_decode(item.get("sealed", ""))
            document = self._open_sealed(sealed)
        except crypto.CryptoError:
            self._set_aside(
                item,
                "could not be opened with the oversight key: damaged, or sealed to another key",
                report,
                batch,
            )
            return True
        kind = item.get("kind")
        case_id = str(item.get("case", ""))
        case_here = case_id in seen.cases
        if document["type"] != kind:
            reason = f"the portal called it a {kind} but it is a {document['type']}"
            self._set_aside(item, reason, report, batch)
            return True
        if kind == "message" and not case_here:
            reason = "a message for a case this console does not have"
            self._set_aside(item, reason, report, batch)
            return True
        if kind == "report" and case_here:
            reason = "a second report for a case that already exists"
            self._set_aside(item, reason, report, batch, attempt="second report")
            return True
        if kind == "report" and self._case_key_taken(document, seen):
            reason = (
                "a second report for a case key another case already has: the same report "
                "filed again, so that items could be moved between the copies"
            )
            self._set_aside(item, reason, report, batch, attempt="second report")
            return True
        header, problem = self._verify(item, sealed, document, seen, batch)
        if problem is not None:
            self._set_aside(item, problem[1], report, batch, attempt=problem[0])
            return True
        files = self._fetch_files(portal, document, item.get("blob_ids", []), report)
        today = self._today()
        stored_kind = "unsigned" if kind == "message" and header is None else kind
        if kind == "report":
            reply_box_pk = crypto.b64u_decode(document["reply_box_pk"], length=32)
            portal_sign_pk = _key_or_none(item.get("sign_pk"))
            reply_sign_pk = None if header is None else header.signer
            batch.cases.append(
                {
                    "id": item["case"],
                    # Kept unsealed, so in text columns: PostgreSQL refuses a NUL there,
                    # and one report holding one would stop every sync.
                    "category": document["category"].replace("\x00", "")[:40],
                    "facility": document["facility"].replace("\x00", "")[:200],
                    "urgent": bool(document["urgent"]),
                    "received_on": today,
                    "portal_box_pk": crypto.b64u_decode(item.get("box_pk", ""), length=32),
                    "reply_box_pk": reply_box_pk,
                    "reply_sign_pk": reply_sign_pk,
                    "portal_sign_pk": portal_sign_pk,
                    "workflow": "new",
                    "public_status": "received",
                }
            )
            seen.keys[case_id] = _CaseKeys(reply_box_pk, reply_sign_pk)
            if reply_sign_pk is not None and portal_sign_pk != reply_sign_pk:
                # The portal checks the reporter's requests with another key than the
                # one in the report: it (or whoever wrote its database) can act for them.
                batch.audit.append(("reporter key differs from the portal's", case_id, {}))
        content = {"document": document, "files": files, "portal_on": item.get("on")}
        batch.items.append(
            {
                "id": item_id,
                "case_id": item["case"],
                "kind": stored_kind,
                "content": self._seal(content),
                "on": today,
            }
        )
        if header is not None:
            signed = str(item["signed"]).encode("ascii")
            digest = hashlib.sha256(signed).digest()
            seen.hashes.add(digest)
            batch.headers.append(
                {
                    "case_id": case_id,
                    "kind": kind,
                    "item_id": item_id,
                    "signed": signed,
                    "signature": crypto.b64u_decode(item["signature"], length=64),
                    "hash": digest,
                    "on": today,
                }
            )
        batch.audit.append(
            (f"received {stored_kind}", item["case"], {"signed": header is not None})
        )
        seen.cases.add(item["case"])
        report.taken += 1
        if any(state.startswith(TO_FETCH) for state in files.values()):
            batch.to_fetch.append({"item_id": item_id})
            return False
        return True

    def _verify(
        self,
        item: dict[str, Any],
        sealed: bytes,
        document: dict[str, Any],
        seen: _Seen,
        batch: _Batch,
    ) -> tuple[crypto.ItemHeader | None, tuple[str, str] | None]:
        """Check an outbox item's signed header (docs/protocol.md §15, §17.2) against
        what this console knows of its case, never against what the portal says.

        Returns (header, None) for an item that verifies, (None, None) for an item
        written under v1 (no header, a v1 document), or (None, (attempt, reason)) for
        one to set aside: "forged", "moved" or "replay"."""
        kind = item["kind"]
        case_id = str(item.get("case", ""))
        if "signed" not in item:
            if document["v"] != 1:
                return None, ("forged", "a signed document arrived without its signed header")
            return None, None
        try:
            signed = str(item["signed"]).encode("ascii")
            signature = crypto.b64u_decode(item.get("signature", ""), length=64)
            header = crypto.parse_item(signed)
        except (crypto.CryptoError, UnicodeEncodeError):
            return None, ("forged", "its signed header does not parse: a forgery attempt")
        if document["v"] != 2:
            return None, ("forged", "a v1 document under a signed header: a forgery attempt")
        reporter_key: bytes | None
        if kind == "report":
            case_key, reporter_key = header.case_key, header.signer  # the report names both
        else:
            keys = seen.keys[case_id]
            case_key, reporter_key = keys.case_key, keys.reporter_key
            if reporter_key is None:  # a case filed under v1: the message proves its key
                proven = self._proven_key(sealed, header, case_key)
                if isinstance(proven, tuple):
                    return None, proven
                reporter_key = proven
        try:
            crypto.verify_item(
                signed,
                signature,
                case_key=case_key,
                reporter_key=reporter_key,
                oversight=self.keys.generations,
                sealed=sealed,
            )
            crypto.open_item(sealed, self.keys.oversight_keys, header)
        except crypto.ItemRejected as exc:
            return None, _rejected(exc.kind, kind)
        except crypto.CryptoError:
            return None, ("forged", "its sealed text does not open as a v2 document")
        if hashlib.sha256(signed).digest() in seen.hashes:
            return None, (
                "replay",
                f"a copy of a {kind} this console already has, sent again: a replay",
            )
        if kind != "report" and seen.keys[case_id].reporter_key is None:
            seen.keys[case_id] = _CaseKeys(case_key, reporter_key, established=True)
            batch.established[case_id] = reporter_key
        return header, None

    def _proven_key(
        self, sealed: bytes, header: crypto.ItemHeader, case_key: bytes
    ) -> bytes | tuple[str, str]:
        """The reporter key a message's key proof establishes in a case filed under v1
        (§17.2), or (attempt, reason) when it does not establish one."""
        try:
            doc = crypto.open_item(sealed, self.keys.oversight_keys, header)
        except crypto.ItemRejected as exc:
            return _rejected(exc.kind, "message")
        except crypto.CryptoError:
            return "forged", "its sealed text does not open as a v2 document"
        proof, key = doc.get("key_proof"), doc.get("reply_sign_pk")
        if not isinstance(proof, str) or not isinstance(key, str):
            return (
                "forged",
                "a signed message in a case filed under v1 without a key proof: a forgery attempt",
            )
        reporter_key = crypto.b64u_decode(key, length=32)
        if not crypto.check_key_proof(
            crypto.b64u_decode(proof, length=32), case_key, reporter_key, self.keys.oversight_keys
        ):
            return "forged", "its key proof does not verify: a forgery attempt"
        return reporter_key

    def _case_key_taken(self, document: dict[str, Any], seen: _Seen) -> bool:
        """One case per case key (§16.4): another case already has this report's key."""
        key = crypto.b64u_decode(document["reply_box_pk"], length=32)
        if any(k.case_key == key for k in seen.keys.values()):
            return True
        with self.sessions() as session:
            return session.scalar(select(Case.id).where(Case.reply_box_pk == key)) is not None

    def _fetch_again(self, portal: PortalClient, item_id: str, report: SyncReport) -> bool:
        """Fetch the files an item stored by an earlier sync still lacks; True once it
        has them all (then it may be acknowledged)."""
        with self.sessions() as session:
            content = self._open(
                session.scalars(select(Item.content).where(Item.id == item_id)).one()
            )
        states: dict[str, str] = content["files"]
        for descriptor in content["document"].get("attachments", []):
            if states.get(descriptor["blob_id"], "").startswith(TO_FETCH):
                self._note_file(
                    descriptor["blob_id"], self._fetch_file(portal, descriptor), states, report
                )
        whole = not any(state.startswith(TO_FETCH) for state in states.values())
        with self.sessions() as session:
            session.execute(
                update(Item).where(Item.id == item_id).values(content=self._seal(content))
            )
            if whole:
                session.execute(delete(FileToFetch).where(FileToFetch.item_id == item_id))
            session.commit()
        return whole

    def _open_sealed(self, sealed: bytes) -> dict[str, Any]:
        """Open with the oversight key, then each previous one (`rotate-key` keeps them:
        a kiosk page loaded before a rotation still seals to the old key). If none opens
        it, `keys.sealed` is read again with the vault key held in memory, in case
        another process rotated the key since this console was unsealed."""
        try:
            return self.keys.open_document(sealed)
        except crypto.CryptoError:
            newer = reload_keys(self.settings, self.keys)
            if newer is None:
                raise
            self.keys = newer
            return newer.open_document(sealed)

    def _set_aside(
        self,
        item: dict[str, Any],
        reason: str,
        report: SyncReport,
        batch: _Batch,
        attempt: str | None = None,
    ) -> None:
        """Keep an item that is not taken in, with the reason, and audit it. `attempt`
        names what the portal (or whoever wrote its database) tried: "forged", "moved",
        "replay", "second report"; it is shown on the case as such."""
        case_id = str(item.get("case", ""))[:16]
        batch.set_aside.append(
            {
                "id": str(item.get("id", ""))[:40],
                "case_id": case_id,
                "kind": str(item.get("kind", ""))[:8],
                "reason": reason,
                "content": self._seal(item),
                "on": self._today(),
            }
        )
        action = ATTEMPTS.get(attempt or "", "set aside")
        batch.audit.append((action, case_id, {"reason": reason, "kind": str(item.get("kind"))}))
        report.set_aside.append(f"{item.get('id')}: {reason}")

    def _fetch_files(
        self,
        portal: PortalClient,
        document: dict[str, Any],
        blob_ids: list[str],
        report: SyncReport,
    ) -> dict[str, str]:
        """Download, verify and keep each attachment's stored form; note what failed."""
        states: dict[str, str] = {}
        for descriptor in document.get("attachments", []):
            blob_id = descriptor["blob_id"]
            if not is_blob_id(blob_id):
                states[blob_id] = "missing: not a blob id this portal could have issued"
            elif blob_id not in blob_ids:
                states[blob_id] = "missing: the portal did not list this file with the item"
            else:
                states[blob_id] = self._fetch_file(portal, descriptor)
            self._note_file(blob_id, states[blob_id], states, report)
        return states

    @staticmethod
    def _note_file(blob_id: str, state: str, states: dict[str, str], report: SyncReport) -> None:
        states[blob_id] = state
        if state == "stored":
            report.files += 1
        elif state.startswith(TO_FETCH):
            report.files_to_fetch.append(f"{blob_id}: {state}")
        else:
            report.bad_files.append(f"{blob_id}: {state}")

    def _fetch_file(self, portal: PortalClient, descriptor: dict[str, Any]) -> str:
        if self.blobs.exists(descriptor["blob_id"]):
            return "stored"  # an interrupted earlier sync already verified and kept it
        pending = self.blobs.start()
        reader = crypto.BlobReader(crypto.b64u_decode(descriptor["key"], length=32))
        received = 0
        try:
            for chunk in portal.blob(descriptor["blob_id"]):
                pending.write(chunk)
                received += len(chunk)
                reader.feed(chunk)  # verify as it arrives; the plaintext is not kept
            summary = reader.finish()
        except PortalError as exc:
            # Unavailable or cut off on the way: the portal still holds it (it is not
            # acknowledged), so the next sync asks again.
            pending.abort()
            return f"{TO_FETCH}{exc}"
        except crypto.CryptoError:
            pending.abort()
            if received < crypto.stored_size(descriptor["size"]):
                return f"{TO_FETCH}it arrived cut short"  # the rest may come next time
            return "not kept: the file is damaged"  # all of it came, and it is not the file
        if summary.size != descriptor["size"] or summary.sha256 != descriptor["sha256"]:
            pending.abort()
            return "not kept: the file is not the one the report describes"
        pending.blob_id = descriptor["blob_id"]
        pending.commit(self._today())
        return "stored"

    # -- replies and status --------------------------------------------------------------

    def _case(self, session: Session, case_id: str) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise ConsoleError(f"there is no case {case_id!r} on this console")
        return case

    def _event(self, session: Session, case_id: str, kind: str, detail: Any = None) -> None:
        sealed = None if detail is None else self._seal(detail)
        session.add(
            CaseEvent(case_id=case_id, kind=kind, on=self._today(), officer=self.who, detail=sealed)
        )

    def reply(self, case_id: str, message: str, *, feedback: bool = False) -> None:
        """Queue a reply to the reporter; it is sealed to the reporter's own key (from
        the report) and signed when it is sent.

        `feedback`: the reply tells the reporter what was done (the 3-month deadline)."""
        with self.sessions() as session:
            case = self._case(session, case_id)
            # A reply acknowledges the report: the status the reporter sees and the
            # 7-day deadline (met by a reply, triage/workflow.py) must agree. The reply
            # itself carries the new state (one signed item, not two).
            state = "acknowledged" if case.public_status == "received" else None
            self._reply(session, case_id, message, kind="reply", state=state)
            if state is not None:
                if case.workflow == "new":
                    case.workflow = "acknowledged"
                case.public_status = state
            self._event(session, case_id, "feedback" if feedback else "reply")
            self.audit(session, "reply", case_id, feedback=feedback)
            session.commit()

    def _reply(
        self, session: Session, case_id: str, message: str, *, kind: str, state: str | None
    ) -> None:
        if not message.strip():
            raise ConsoleError("the reply is empty")
        case = self._case(session, case_id)
        purged = select(CaseEvent.seq).where(
            CaseEvent.case_id == case_id, CaseEvent.kind == "purged"
        )
        if session.scalar(purged.limit(1)) is not None:
            raise ConsoleError("this case was purged at the end of its retention period")
        document = {"type": kind, "text": message, "sent_on": self._today().isoformat()}
        item_id = "reply-" + secrets.token_hex(8)
        session.add(
            Item(
                id=item_id,
                case_id=case.id,
                kind="reply",
                content=self._seal({"document": document}),
                on=self._today(),
            )
        )
        self._queue(session, case.id, kind, message, state, item_id)

    def _queue(
        self,
        session: Session,
        case_id: str,
        kind: str,
        text: str,
        state: str | None,
        item_id: str | None = None,
    ) -> None:
        """Queue an item for the portal. It is sealed and signed only when it is sent
        (`_push`), after whatever the chain holds by then (docs/protocol.md §16.1)."""
        body = {"case": case_id, "text": text, "state": state}
        session.add(Outgoing(case_id=case_id, kind=kind, payload=self._seal(body), item_id=item_id))

    def set_public_status(self, case_id: str, state: str) -> None:
        if state not in PUBLIC_STATES:
            raise ConsoleError(f"unknown status {state!r}: use one of {', '.join(PUBLIC_STATES)}")
        with self.sessions() as session:
            self._status(session, self._case(session, case_id), state)
            if state == "acknowledged":
                self._event(session, case_id, "acknowledged")
            self.audit(session, "status", case_id, state=state)
            session.commit()

    def _status(self, session: Session, case: Case, state: str) -> None:
        case.public_status = state
        self._queue(session, case.id, "status", "", state)

    # -- workflow ------------------------------------------------------------------------

    def acknowledge(self, case_id: str) -> None:
        """Tell the reporter the report was read (the 7-day deadline)."""
        with self.sessions() as session:
            case = self._case(session, case_id)
            if case.workflow == "new":
                case.workflow = "acknowledged"
            self._status(session, case, "acknowledged")
            self._event(session, case_id, "acknowledged")
            self.audit(session, "acknowledge", case_id)
            session.commit()

    def assess(
        self, case_id: str, *, category: str, severity: str, urgent: bool, reason: str = ""
    ) -> None:
        """Record the officer's assessment; the category may differ from the reporter's."""
        if category not in CATEGORIES:
            raise ConsoleError(f"unknown category {category!r}")
        if severity not in workflow.SEVERITIES:
            raise ConsoleError(f"choose a severity: {', '.join(workflow.SEVERITIES)}")
        with self.sessions() as session:
            case = self._case(session, case_id)
            before = {"category": case.category, "severity": case.severity, "urgent": case.urgent}
            case.category, case.severity, case.urgent = category, severity, urgent
            if case.workflow in ("new", "acknowledged"):
                case.workflow = "assessed"
            self.audit(
                session,
                "assess",
                case_id,
                category=category,
                severity=severity,
                urgent=urgent,
                before=before,
                reason=reason,
            )
            session.commit()

    def record(self, case_id: str, kind: str) -> None:
        """Record that something a deadline asks for was done today (police contacted, …)."""
        if kind not in workflow.RECORDABLE:
            raise ConsoleError(
                "choose what was done from the list, then record it"
                if not kind
                else f"nothing called {kind!r} can be recorded"
            )
        with self.sessions() as session:
            self._case(session, case_id)
            self._event(session, case_id, kind)
            self.audit(session, "record", case_id, what=kind)
            session.commit()

    def close_case(self, case_id: str, *, outcome: str, summary: str, feedback: str) -> None:
        """Close with an outcome; the feedback reply tells the reporter (PREA 115.73) and is
        recorded as the outcome notification once the portal has it."""
        if outcome not in workflow.OUTCOMES:
            raise ConsoleError(f"choose an outcome: {', '.join(workflow.OUTCOMES)}")
        if not summary.strip():
            raise ConsoleError("write a summary of the outcome for the record")
        with self.sessions() as session:
            case = self._case(session, case_id)
            if case.workflow == "closed":
                raise ConsoleError("the case is already closed")
            # One outcome notice: the feedback, closing the case (its state is "closed").
            self._reply(session, case_id, feedback, kind="outcome", state="closed")
            case.public_status = "closed"
            case.workflow, case.outcome, case.closed_on = "closed", outcome, self._today()
            self._event(session, case_id, "closed", {"summary": summary})
            self.audit(session, "close", case_id, outcome=outcome)
            session.commit()

    def deadlines(self, case_id: str) -> list[workflow.Deadline]:
        with self.sessions() as session:
            return self._deadlines(session, self._case(session, case_id))

    def _deadlines(self, session: Session, case: Case) -> list[workflow.Deadline]:
        events = [
            workflow.Event(row.kind, row.on)
            for row in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))
        ]
        return workflow.deadlines(
            received_on=case.received_on,
            category=case.category,
            urgent=case.urgent,
            events=events,
            today=self._today(),
        )

    def dashboard(self, unit: str | None = None) -> list[tuple[Case, workflow.Deadline]]:
        """Every deadline not yet met, soonest first: overdue ones lead."""
        with self.sessions() as session:
            query = select(Case).where(Case.workflow != "closed")
            if unit is not None:
                query = query.where(Case.unit == unit)
            rows = [
                (case, deadline)
                for case in session.scalars(query)
                for deadline in workflow.open_deadlines(self._deadlines(session, case))
            ]
            closed = select(Case).where(Case.workflow == "closed")
            if unit is not None:
                closed = closed.where(Case.unit == unit)
            for case in session.scalars(closed):  # the outcome notification is still owed
                rows += [
                    (case, d)
                    for d in workflow.open_deadlines(self._deadlines(session, case))
                    if d.name == "outcome_notified_by"
                ]
            self.audit(session, "dashboard")
            session.commit()
        return sorted(rows, key=lambda row: (row[1].date, row[0].id))

    def push(self) -> tuple[int, int]:
        """Send queued replies and status changes to the portal of the last sync."""
        with self.sessions() as session:
            url = get_state(session, "portal_url")
        if url is None:
            return 0, self._queued()
        with PortalClient(url, self.keys.console, self.clock) as portal:
            return self._push(portal)

    def _queued(self) -> int:
        with self.sessions() as session:
            return len(
                session.scalars(select(Outgoing.seq).where(Outgoing.sent_on.is_(None))).all()
            )

    def _push(
        self, portal: PortalClient, pull: Callable[[], object] | None = None
    ) -> tuple[int, int]:
        """Send queued items in order, each sealed and signed now, after the case's chain
        as this console holds it; return (sent, still queued).

        One the portal refuses (a case it does not know, say) stays queued with the rest
        of its case's, in order, and the other cases' go on. If the portal cannot be
        reached, or refuses the console itself, everything waits for the next sync.

        A 409 `thread_moved_on` says the portal's chain ends elsewhere than this
        console's. During a sync (`pull` given), the outbox is read once more, for a
        message that arrived a moment ago, and the item signed again; if the portal's
        head is still one this console neither wrote nor received, that is shown on the
        case and audited, and the case's items wait."""
        newer = reload_keys(self.settings, self.keys)
        if newer is not None:  # rotated by another process: sign with the new key
            self.keys = newer
        self._vouch_for_history()
        self.held_because = None
        pushed = 0
        held: set[str] = set()  # cases whose earlier item was refused: keep their order
        pulled = False
        with self.sessions() as session:
            queue = session.scalars(
                select(Outgoing).where(Outgoing.sent_on.is_(None)).order_by(Outgoing.seq)
            ).all()
            for outgoing in queue:
                if outgoing.case_id in held:
                    continue
                try:
                    try:
                        signed = self._send(session, portal, outgoing)
                    except PortalError as exc:
                        if exc.code != "thread_moved_on" or pull is None or pulled:
                            raise
                        pulled = True
                        pull()  # a message may have arrived since the outbox was read
                        signed = self._send(session, portal, outgoing)
                except PortalError as exc:
                    if exc.code == "thread_moved_on":
                        if pull is not None:
                            self._moved_on(session, outgoing.case_id, exc.body.get("head"))
                        held.add(outgoing.case_id)
                        continue
                    if exc.code == "bad_item" and self._portal_keys_differ(session, portal):
                        break  # none would be taken: all wait for the portal's new keys
                    if exc.refused_this_request:
                        held.add(outgoing.case_id)
                        continue
                    break  # keep it, and everything after it, for the next sync
                except ConsoleError:
                    held.add(outgoing.case_id)  # e.g. a case whose report key is unusable
                    continue
                outgoing.sent_on = self._today()
                session.add(signed)
                if outgoing.kind == "outcome":
                    self._event(session, outgoing.case_id, "outcome_notified")
                session.commit()
                pushed += 1
        return pushed, self._queued()

    def _send(self, session: Session, portal: PortalClient, outgoing: Outgoing) -> Header:
        """Seal and sign a queued item after the case's chain as held now, and send it;
        return the header row to keep once it is sent."""
        case = self._case(session, outgoing.case_id)
        body = self._open(outgoing.payload)
        kind, text, state = outgoing.kind, body.get("text"), body.get("state")
        if kind == "status" and state is None:
            raise ConsoleError("a status change without a state")
        if text is None:  # queued before v2: the request body held the v1 sealed reply
            text = self._queued_text(session, outgoing)
        if kind == "outcome":
            state = "closed"
        document: dict[str, Any] = {
            "v": 2,
            "type": kind,
            "case_key": crypto.b64u_encode(case.reply_box_pk),
            "text": text,
            "sent_on": self._today().isoformat(),
        }
        history = self._history(session, case.id)
        if history.replies or history.received:
            document["history"] = history.as_json()  # §17.1: what this console vouches for
        try:
            sealed, item = crypto.seal_item(
                document,
                crypto.PublicKey(case.reply_box_pk),
                self.keys.signing_key,
                after=self._chain(session, case).head,
                state=state,
            )
        except (ValueError, crypto.CryptoError) as exc:  # an InvalidDocument, say
            raise ConsoleError(f"cannot seal this item: {exc}") from None
        portal.item({"case": case.id, "sealed": crypto.b64u_encode(sealed), **item.as_json()})
        return Header(
            case_id=case.id,
            kind=kind,
            item_id=outgoing.item_id,
            signed=item.signed,
            signature=item.signature,
            hash=item.hash,
            on=self._today(),
        )

    def _portal_keys_differ(self, session: Session, portal: PortalClient) -> bool:
        """After a signed item was refused: does the portal hold other oversight keys
        than this console's current ones? Between `triage rotate-key` and `portal
        set-oversight-key` it holds the retired ones, and says so; any other keys are
        not this console's (a portal whose configuration was altered), which is audited.
        Sets `held_because`."""
        try:
            served = portal.config()
        except PortalError:
            return False
        ours = self.keys.generations
        sign_pk = _key_or_none(served.get("oversight_sign_key"))
        box_pk = _key_or_none(served.get("oversight_public_key"))
        if (box_pk, sign_pk) == (ours.current.box_pk, ours.current.sign_pk):
            return False
        if any((box_pk, sign_pk) == (k.box_pk, k.sign_pk) for k in ours.keys[1:]):
            self.held_because = (
                "the portal still uses the oversight keys this console retired: give it "
                "the new public/oversight.json (lanthorn portal set-oversight-key) and "
                "restart it; replies and status changes wait here until then"
            )
            return True
        self.held_because = (
            "the portal serves oversight keys that are not this console's (fingerprint "
            f"{served.get('oversight_fingerprint', '?')}, this console's is "
            f"{ours.current.fingerprint}): its configuration may have been altered. "
            "Nothing is sent to it"
        )
        self.audit(
            session,
            "portal keys differ",
            served=str(served.get("oversight_fingerprint", ""))[:40],
            ours=ours.current.fingerprint,
        )
        session.commit()
        return True

    def _queued_text(self, session: Session, outgoing: Outgoing) -> str:
        """The text of a reply queued before v2, from the thread item it shows as."""
        if outgoing.item_id is not None:
            row = session.scalar(select(Item.content).where(Item.id == outgoing.item_id))
            if row is not None:
                return str(self._open(row).get("document", {}).get("text", ""))
        raise ConsoleError("a reply queued before protocol v2 whose text is not here")

    def _history(self, session: Session, case_id: str) -> crypto.History:
        """What this console vouches for of a case's v1 items (§17.1): the SHA-256 of the
        sealed text of each v1 reply it sent, and the portal id of each report and
        message it received without a signed header."""
        replies = set()
        for outgoing in session.scalars(
            select(Outgoing).where(
                Outgoing.case_id == case_id,
                Outgoing.kind.in_(("reply", "outcome")),
                Outgoing.sent_on.is_not(None),
            )
        ):
            sealed = self._open(outgoing.payload).get("sealed")
            if isinstance(sealed, str):  # sent before v2, as a v1 reply
                replies.add(hashlib.sha256(crypto.b64u_decode(sealed)).digest())
        signed = select(Header.item_id).where(
            Header.case_id == case_id, Header.item_id.is_not(None)
        )
        received = set(
            session.scalars(
                select(Item.id).where(
                    Item.case_id == case_id,
                    Item.kind.in_(("report", "message", "unsigned")),
                    Item.id.not_in(signed),
                )
            )
        )
        return crypto.History(frozenset(replies), frozenset(received))

    def _chain(self, session: Session, case: Case) -> crypto.ThreadCheck:
        """The case's chain as this console holds it: every header it received and
        verified, and every one it signed, in the order it got them (§16.2)."""
        rows = session.scalars(
            select(Header).where(Header.case_id == case.id).order_by(Header.seq)
        ).all()
        return crypto.check_thread(
            [crypto.Entry(signed=bytes(r.signed), signature=bytes(r.signature)) for r in rows],
            case_key=case.reply_box_pk,
            reporter_key=case.reply_sign_pk or bytes(32),
            oversight=self.keys.generations,
        )

    def _check_chains(self, case_ids: Iterable[str]) -> None:
        """Check each case's chain after new items arrived; record and audit each gap,
        fork or item out of order not recorded before (§16.3)."""
        for case_id in sorted(case_ids):
            with self.sessions() as session:
                case = self._case(session, case_id)
                check = self._chain(session, case)
                for finding in check.findings:
                    if finding.kind in ("gap", "fork", "out_of_order"):
                        self._record_finding(
                            session, case_id, finding.kind, finding.seq, finding.until
                        )
                session.commit()

    def _record_finding(
        self,
        session: Session,
        case_id: str,
        kind: str,
        seq: int | None,
        until: int | None = None,
    ) -> None:
        """Keep a finding on the case, and audit it, unless it is known already."""
        known = select(Finding.seq).where(
            Finding.case_id == case_id,
            Finding.kind == kind,
            Finding.chain_seq.is_(None) if seq is None else Finding.chain_seq == seq,
            Finding.until.is_(None) if until is None else Finding.until == until,
        )
        if session.scalar(known.limit(1)) is not None:
            return
        session.add(
            Finding(case_id=case_id, kind=kind, chain_seq=seq, until=until, on=self._today())
        )
        detail: dict[str, Any] = {"kind": kind, "seq": seq}
        if until is not None:
            detail["until"] = until
        self.audit(session, "thread finding", case_id, **detail)

    def _moved_on(self, session: Session, case_id: str, head: object) -> None:
        """The portal's chain for the case ends at an item this console neither wrote
        nor received (a forged item, most likely), or the portal lost items it holds."""
        seq = head.get("seq") if isinstance(head, dict) else None
        ours = self._chain(session, self._case(session, case_id)).head
        behind = isinstance(seq, int) and ours is not None and seq < ours.seq
        self._record_finding(
            session,
            case_id,
            "portal_behind" if behind else "unknown_head",
            seq if isinstance(seq, int) else None,
        )
        session.commit()

    def _vouch_for_history(self) -> None:
        """Once, when this console first speaks v2: queue a status item (restating the
        state the reporter sees) for every case with items from before v2 and no signed
        item of this console's yet, so that it vouches for its history (§17.1)."""
        with self.sessions() as session:
            if get_state(session, "vouched_for_history") is not None:
                return
            signed = select(Header.case_id).where(Header.kind.in_(crypto.OVERSIGHT_KINDS))
            purged = select(CaseEvent.case_id).where(CaseEvent.kind == "purged")
            cases = session.scalars(
                select(Case).where(Case.id.not_in(signed), Case.id.not_in(purged))
            ).all()
            queued = 0
            for case in cases:
                history = self._history(session, case.id)
                if history.replies or history.received:
                    self._queue(session, case.id, "status", "", case.public_status)
                    queued += 1
            set_state(session, "vouched_for_history", self._today().isoformat())
            if queued:
                self.audit(session, "vouch for history", cases=queued)
            session.commit()

    # -- reading -----------------------------------------------------------------------

    def cases(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every case (or the first `limit`), urgent first, then newest first."""
        with self.sessions() as session:
            rows = session.scalars(
                select(Case)
                .order_by(Case.urgent.desc(), Case.received_on.desc(), Case.id)
                .limit(limit)
            ).all()
            self.audit(session, "list cases")
            session.commit()
            return [_case_summary(case) for case in rows]

    def show(self, case_id: str, *, reveal_identity: bool = False) -> dict[str, Any]:
        """The case, decrypted: report, messages and replies in order.

        What the reporter disclosed about who they are stays "withheld" unless asked for,
        and asking is its own audit entry.
        """
        with self.sessions() as session:
            case = self._case(session, case_id)
            items = session.scalars(
                select(Item).where(Item.case_id == case.id).order_by(Item.seq)
            ).all()
            self.audit(session, "view", case.id)
            if reveal_identity:
                self.audit(session, "reveal identity", case.id)
            found = self._deadlines(session, case)
            warnings = self._warnings(session, case.id)
            session.commit()
            opened = [(item, self._open(item.content)) for item in items]
        sealed: dict[str, Any] = next((c for i, c in opened if i.kind == "report"), {})
        report: dict[str, Any] = sealed.get("document", {})
        thread = [
            {
                "kind": item.kind,
                "on": item.on.isoformat(),
                "text": content["document"].get("text", content["document"].get("description")),
                "files": [
                    {
                        "name": d["name"],
                        "size": d["size"],
                        "mime": d.get("mime", ""),
                        "sha256": d.get("sha256", ""),
                        "blob_id": d["blob_id"],
                        "state": content["files"][d["blob_id"]],
                    }
                    for d in content["document"].get("attachments", [])
                ]
                if "files" in content
                else [],
            }
            for item, content in opened
        ]
        return {
            **_case_summary(case),
            "description": report.get("description", ""),
            "location": report.get("location", ""),
            "occurred": report.get("occurred", ""),
            "subjects": report.get("subjects", ""),
            "witnesses": report.get("witnesses", ""),
            "channel": report.get("channel", ""),
            "lang": report.get("lang", ""),
            # What a kiosk's "Today" meant: the day the report reached the portal.
            "reached_portal_on": labels.sent_day(sealed, case.received_on).isoformat(),
            "identity": (report.get("identity") if reveal_identity else "withheld")
            if report.get("identity")
            else None,
            "reply_key_mismatch": case.portal_box_pk != case.reply_box_pk,
            # The portal checks the reporter's requests with a key other than the one the
            # report names: it (or whoever wrote its database) could act as the reporter.
            "sign_key_mismatch": case.reply_sign_pk is not None
            and case.portal_sign_pk != case.reply_sign_pk,
            "signed": case.reply_sign_pk is not None,
            "warnings": warnings,
            "reported_category": report.get("category", ""),
            "severity": case.severity,
            "outcome": case.outcome,
            "closed_on": case.closed_on.isoformat() if case.closed_on else None,
            "deadlines": {d.name: d.as_json() for d in found},
            "messages": thread,
            # Set once retention.purge_expired has replaced the content with a tombstone.
            "purged_on": next((c["purged_on"] for _, c in opened if "purged_on" in c), None),
        }

    def _warnings(self, session: Session, case_id: str) -> list[dict[str, Any]]:
        """What is wrong with the case's conversation, oldest first: each item set aside
        (a forgery attempt, an item of another case, a copy sent again, a second report)
        and each finding about its chain (a gap, a fork, an item out of order, a portal
        whose thread ends at an item this console does not know)."""
        found: list[dict[str, Any]] = [
            {"on": row.on, "kind": "set_aside", "reason": row.reason}
            for row in session.scalars(
                select(SetAside).where(SetAside.case_id == case_id).order_by(SetAside.on)
            )
        ]
        found += [
            {"on": row.on, "kind": row.kind, "seq": row.chain_seq, "until": row.until}
            for row in session.scalars(
                select(Finding).where(Finding.case_id == case_id).order_by(Finding.seq)
            )
        ]
        return sorted(found, key=lambda w: w["on"])

    def set_aside_items(self) -> list[dict[str, str]]:
        with self.sessions() as session:
            rows = session.scalars(select(SetAside)).all()
            return [{"id": r.id, "case": r.case_id, "reason": r.reason} for r in rows]


def _rejected(verdict: str, kind: str) -> tuple[str, str]:
    """(attempt, reason) for an item `check_thread` or `verify_item` would not show."""
    if verdict == "moved":
        return "moved", f"a {kind} signed for another case, listed under this one: moved"
    return "forged", f"a {kind} whose signature does not verify with the reporter's key: forged"


def _key_or_none(value: object) -> bytes | None:
    try:
        return crypto.b64u_decode(value, length=32) if isinstance(value, str) else None
    except crypto.CryptoError:
        return None


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


def _case_summary(case: Case) -> dict[str, Any]:
    return {
        "case": case.id,
        "status": case.public_status,
        "workflow": case.workflow,
        "category": case.category,
        "facility": case.facility,
        "urgent": case.urgent,
        "received_on": case.received_on.isoformat(),
    }


def default_officer() -> str:
    """Who a command-line action is recorded as: the operating-system account."""
    return f"cli:{getpass.getuser()}"
