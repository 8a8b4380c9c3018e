"""Taking in the portal's outbox (`Console.sync`): page by page, each page stored in one
transaction and made durable before the portal is told it may forget it; then the
queued replies and status changes are pushed (triage/replies.py).

One item at a time is opened and checked by triage/intake.py; interrupting a sync
anywhere and running it again loses and duplicates nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from . import chains, intake, notify, replies
from .client import PortalClient
from .db import (
    Base,
    Case,
    FileToFetch,
    Header,
    Item,
    SetAside,
    State,
    set_state,
)
from .outbox_page import Batch, CaseKeys, Seen, SyncReport
from .sync_lock import one_sync_at_a_time

if TYPE_CHECKING:
    from .console import Console

#: Outbox items asked for at a time: each page costs two signed requests and a disk flush.
SYNC_PAGE = 200
# Built once: a sync runs these thousands of times, and building a statement costs more
# than running it.
_INSERT_CASE = insert(Base.metadata.tables[Case.__tablename__])
_INSERT_ITEM = insert(Base.metadata.tables[Item.__tablename__])
_INSERT_SET_ASIDE = insert(Base.metadata.tables[SetAside.__tablename__])
_INSERT_TO_FETCH = insert(Base.metadata.tables[FileToFetch.__tablename__])
_INSERT_HEADER = insert(Base.metadata.tables[Header.__tablename__])


def sync(
    console: Console, portal_url: str, progress: Callable[[str], None] = lambda _: None
) -> SyncReport:
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
        one_sync_at_a_time(console.settings.data_dir, progress),
        PortalClient(portal_url, console.keys.console, console.clock) as portal,
    ):
        console.blobs.clear_temporary()
        _pull(console, portal, report, progress)
        with console.sessions() as session:
            set_state(session, "portal_url", portal.url)
            console.audit(session, "sync", taken=report.taken, set_aside=len(report.set_aside))
            session.commit()
        console.search.refresh()  # the new items are searchable as soon as the sync ends
        report.pushed, report.queued = replies.push_to(
            console, portal, pull=lambda: _pull(console, portal, report, progress)
        )
        report.held = console.held_because or ""
    return report


def _pull(
    console: Console, portal: PortalClient, report: SyncReport, progress: Callable[[str], None]
) -> None:
    """Take in every outbox page, storing and acknowledging each in turn."""
    after: str | None = None
    holding = False  # an item listed so far still waits for a file
    while True:
        page = portal.outbox(limit=SYNC_PAGE, after=after)
        if not page["items"]:
            break
        seen = _seen(console, page["items"])
        batch = Batch()
        cursor = None  # the last position up to which every item is whole here
        for item in page["items"]:
            if not intake.take(console, portal, item, report, seen, batch):
                holding = True
            elif not holding:
                cursor = item.get("position")  # None from a portal without them
            progress(
                f"{report.taken} new, {report.already} already here, "
                f"{len(report.set_aside)} set aside, {report.files} files"
            )
        _store(console, batch)
        if not holding:
            cursor = page["next"]
        if cursor is not None:
            _durable(console, cursor)  # on the disk before the portal may forget it
            portal.ack(str(cursor))
        after = page["next"]


def _seen(console: Console, items: Iterable[dict[str, Any]]) -> Seen:
    """Which of an outbox page's items and cases are here already: one query each,
    not one per item."""
    listed = list(items)
    ids = sorted({str(item.get("id", "")) for item in listed})
    cases = sorted({str(item.get("case", "")) for item in listed})
    with console.sessions() as session:
        known = set(session.scalars(select(Item.id).where(Item.id.in_(ids))))
        known |= set(session.scalars(select(SetAside.id).where(SetAside.id.in_(ids))))
        rows = session.execute(
            select(Case.id, Case.reply_box_pk, Case.reply_sign_pk).where(Case.id.in_(cases))
        ).all()
        fetching = set(
            session.scalars(select(FileToFetch.item_id).where(FileToFetch.item_id.in_(ids)))
        )
        hashes = {
            bytes(h) for h in session.scalars(select(Header.hash).where(Header.case_id.in_(cases)))
        }
    keys = {
        row.id: CaseKeys(
            bytes(row.reply_box_pk),
            None if row.reply_sign_pk is None else bytes(row.reply_sign_pk),
        )
        for row in rows
    }
    return Seen(known, set(keys), fetching, keys, hashes)


def _store(console: Console, batch: Batch) -> None:
    """Store a page's items, the items set aside and their audit entries in one
    transaction: a few statements a page, not several an item (each a round trip to
    the database server). Killed before this commits, the page is taken again at the
    next sync (the portal forgets nothing before the ack), and files already
    downloaded and verified are kept and not downloaded again."""
    if not (batch.cases or batch.items or batch.set_aside):
        return  # (an item to fetch again is always in `items` too)
    with _relaxed(console) as connection, console.sessions(bind=connection) as session:
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
        console.audit_many(session, batch.audit)
        notify.queue_reports(console, session, batch.cases)  # counts only, sent later
        session.commit()
    chains.check_chains(console, {row["case_id"] for row in batch.headers})


@contextlib.contextmanager
def _relaxed(console: Console) -> Iterator[Connection]:
    """A connection whose commits need not reach the disk before they return: they
    survive the process being killed, not a power cut. `_durable` makes them durable.

    A disk flush per page's transaction would be paid again by `_durable`: the flush
    is owed only before the ack that lets the portal forget the items."""
    with console.engine.connect() as connection:
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


def _durable(console: Console, cursor: object) -> None:
    """Write the outbox cursor with a full commit: that flushes every relaxed commit
    before it too (SQLite syncs its whole write-ahead log; PostgreSQL flushes its
    log up to this commit). A write, so that there is a commit to flush."""
    with console.sessions() as session:
        value = {"key": "outbox_cursor", "value": str(cursor)}
        done = session.execute(update(State).where(State.key == value["key"]).values(value))
        if not getattr(done, "rowcount", 0):
            session.execute(insert(State).values(value))
        session.commit()
