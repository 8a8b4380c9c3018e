"""The portal's database: exactly what docs/design.md §2 allows, and nothing else.

A case is a random id, its `lookup_id`, the reporter's two public keys, the public
status and *dates* (never a time of day). Items are sealed documents, with the signed
header of protocol v2 beside them (kept when the sealed text is purged); blobs are rows
pointing at stored-form files. Nonces, reporter sessions and sent forms hold no reporter
identifier that can be tied to a case without the reporter's own secrets.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    box_pk: Mapped[bytes] = mapped_column(LargeBinary(32))
    sign_pk: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16))
    status_on: Mapped[datetime.date] = mapped_column(Date)
    created_on: Mapped[datetime.date] = mapped_column(Date)


class Item(Base):
    """A sealed document in a case's thread: the report, a reporter message, or a reply,
    status change or outcome notice from the oversight body."""

    __tablename__ = "items"
    #: One item per place in a case's chain: of two writers at once, one is refused.
    __table_args__ = (Index("uq_items_chain", "case_id", "chain_seq", unique=True),)

    #: Arrival order (a thread's items are listed in it).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(24), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # report | message | reply | status | outcome
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once purged
    on: Mapped[datetime.date] = mapped_column(Date)
    acked_on: Mapped[datetime.date | None] = mapped_column(Date)  # console has it
    read_on: Mapped[datetime.date | None] = mapped_column(Date)  # reporter has read it
    #: A report's or message's place in the console's outbox, and the cursor: given when
    #: the console reads the outbox, in commit order (store.number_outbox); None until then.
    outbox: Mapped[int | None] = mapped_column(Integer, unique=True)
    #: A v2 item's signed header (docs/protocol.md §14.1) and its Ed25519 signature, kept
    #: as long as the case; None for an item written under v1.
    signed: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The header's SEQ: the item's place in the case's chain (None under v1).
    chain_seq: Mapped[int | None] = mapped_column(Integer)


class Counter(Base):
    """A number that only grows: `outbox`, the last outbox number given."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Blob(Base):
    """A stored-form attachment file in `DATA/blobs/`, unreferenced until an item claims it."""

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    item_seq: Mapped[int | None] = mapped_column(ForeignKey("items.seq"), index=True)
    position: Mapped[int | None] = mapped_column(Integer)
    uploaded_on: Mapped[datetime.date] = mapped_column(Date)


class Nonce(Base):
    """A signed request's nonce, kept until the day its timestamp goes stale is over.

    Stored as BLAKE2b(key id || nonce), so the row cannot say which case signed it, and
    with a *day*, not a time: keeping a nonce longer than 120 s only makes replay
    protection stricter, while a precise expiry would record when a reporter was active.
    """

    __tablename__ = "nonces"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_on: Mapped[datetime.date] = mapped_column(Date, index=True)


class ReporterSession(Base):
    """The server half of a follow-up session: the key that opens the reporter's cookie.

    The cookie holds the sealed session (keys and last-seen time); this row holds its
    key, found by a hash of the cookie's id, and the *day* it was last used so that
    abandoned rows can be purged. Neither half opens anything alone, and no time of day
    is stored.
    """

    __tablename__ = "sessions"

    id_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(32))
    seen_on: Mapped[datetime.date] = mapped_column(Date, index=True)


class SentForm(Base):
    """A page's one-time value, once the report or message it carried was stored
    (`portal/once.py`): so that the same page sent again is refused, not filed twice.

    Stored as BLAKE2b of the value's random bytes, with the *day* it was sent and nothing
    else: no case id, no time of day. It is written in the transaction that stores the
    report or message, and purged after `once.KEEP_DAYS`.
    """

    __tablename__ = "sent_forms"
    #: SQLite keeps the rows in key order, random, not in the order reports arrived.
    __table_args__ = {"sqlite_with_rowid": False}

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    sent_on: Mapped[datetime.date] = mapped_column(Date, index=True)


#: How long to wait for the database server to accept a connection (PostgreSQL).
CONNECT_TIMEOUT_SECONDS = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, full fsync and secure deletion."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a receipt means the report is on disk
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")  # purged ciphertext is overwritten
            cursor.close()

        return engine
    # The connect timeout bounds how long a request waits for a server that does not
    # answer (libpq waits forever).
    if "connect_timeout" not in url:
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


#: A pooled connection left unused longer than this is pinged before a request uses it.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """Replace pooled connections a database restart closed, as `pool_pre_ping` does, but
    ping only a connection that has sat unused in the pool for a while.

    Under load every connection goes back and out again within milliseconds, and a ping
    before each use was one round trip more per request (issue 20). A connection used a
    moment ago is used without one: if the database restarted in that moment, the request
    meets the closed connection, is answered 503 like those in flight at the restart, and
    SQLAlchemy then invalidates every connection of the pool, so the next request opens a
    new one. A connection that sat idle is pinged, and replaced if the ping fails.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # just opened, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection did not answer a ping") from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or migrated; the message says what to check."""


def migrate_or_explain(database_url: str, upgrade: Callable[[Engine], None]) -> None:
    """Bring a database to its newest schema with `upgrade`, or explain what failed.

    The driver's message can name the host and user, never the password (SQLAlchemy hides
    it); only its first line is kept, so no SQL with parameters is echoed.
    """
    engine = make_engine(database_url)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        first_line = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
        raise DatabaseUnavailable(
            f"cannot prepare the database ({type(exc).__name__}: {first_line}). "
            "Check LANTHORN_DATABASE_URL and that the database server is running."
        ) from None
    finally:
        engine.dispose()
