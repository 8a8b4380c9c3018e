"""The console acknowledges "everything up to cursor N": it must never acknowledge an item
it has not seen, however submissions and outbox reads interleave (issue 7: items are now
stored in parallel and numbered when the outbox is read)."""

from __future__ import annotations

import datetime
import os
import threading

import pytest
from sqlalchemy import delete

import crypto
from foundation.database import make_engine, make_sessionmaker
from portal.cli import migrate
from portal.db import Blob, Case, Item
from portal.settings import Limits
from portal.store import acknowledge, create_case, outbox

TODAY = datetime.date(2026, 11, 27)


def _submit(sessions: object) -> str:
    with sessions() as session:  # type: ignore[operator]
        return create_case(
            session,
            sealed=os.urandom(crypto.BUCKETS[0] + 48),
            lookup_id=os.urandom(32),
            box_pk=os.urandom(32),
            sign_pk=os.urandom(32),
            blob_ids=[],
            limits=Limits(),
            today=TODAY,
        ).item_id


@pytest.fixture
def sessions(database_url: str) -> object:
    migrate(database_url)
    engine = (
        make_engine(database_url, pool_size=12, max_overflow=4)
        if "postgresql" in (database_url)
        else make_engine(database_url)
    )
    yield make_sessionmaker(engine)
    engine.dispose()


def test_an_item_stored_during_a_read_is_never_acknowledged_unseen(
    sessions: object, database_backend: str
) -> None:
    if database_backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no item commits during a read")
    with sessions() as slow:  # type: ignore[operator]
        # A submission in flight: stored, not yet committed, while the console reads.
        in_flight = Item(id="item-in-flight", case_id="", kind="report", sealed=b"x", on=TODAY)
        case = Case(
            id="SLOW0000000001",
            lookup_id=os.urandom(32),
            box_pk=os.urandom(32),
            sign_pk=os.urandom(32),
            status="received",
            status_on=TODAY,
            created_on=TODAY,
        )
        slow.add(case)
        slow.flush()
        in_flight.case_id = case.id
        slow.add(in_flight)
        slow.flush()  # it has its row (and its `seq`) before the next report is stored
        _submit(sessions)
        with sessions() as console:  # type: ignore[operator]
            page = outbox(console, None, 100)
            assert [item.kind for item in page] == ["report"]
            cursor = page[-1].outbox
            assert cursor is not None
            assert acknowledge(console, cursor, TODAY) == 1
        slow.commit()  # the in-flight report commits after the ack
    with sessions() as console:  # type: ignore[operator]
        page = outbox(console, None, 100)
    assert [item.id for item in page] == ["item-in-flight"]
    assert page[0].outbox is not None
    assert page[0].outbox > cursor


def test_concurrent_submissions_and_reads_lose_nothing(sessions: object) -> None:
    """Eight submitters and a console that reads and acknowledges as fast as it can: every
    acknowledged item was on a page the console read, and every item arrives once."""
    submitted: list[str] = []
    seen: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def submitter() -> None:
        for _ in range(25):
            item = _submit(sessions)
            with lock:
                submitted.append(item)

    def console() -> None:
        while True:
            finished = done.is_set()
            with sessions() as session:  # type: ignore[operator]
                page = outbox(session, None, 50)
                seen.extend(item.id for item in page)
                if page:
                    cursor = page[-1].outbox
                    assert cursor is not None
                    assert acknowledge(session, cursor, TODAY) == len(page)
            if finished and not page:
                return

    reader = threading.Thread(target=console)
    reader.start()
    writers = [threading.Thread(target=submitter) for _ in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=120)
    assert sorted(seen) == sorted(submitted)  # each once: nothing skipped or repeated
    assert len(seen) == 200


def test_numbers_never_go_back_even_after_a_purge(sessions: object) -> None:
    for _ in range(3):
        _submit(sessions)
    with sessions() as session:  # type: ignore[operator]
        top = outbox(session, None, 100)[-1].outbox
        assert top is not None
        acknowledge(session, top, TODAY)
        session.execute(delete(Blob))
        session.execute(delete(Item))  # the portal's purge, all at once
        session.commit()
    _submit(sessions)
    with sessions() as session:  # type: ignore[operator]
        [item] = outbox(session, top, 100)  # a cursor from before the purge still works
    assert item.outbox is not None
    assert item.outbox > top
