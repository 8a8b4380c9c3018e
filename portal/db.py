"""The portal's database: exactly what docs/design.md §2 allows, and nothing else.

A case is a random id, its `lookup_id`, the reporter's two public keys, the public
status and *dates* (never a time of day). Items are sealed documents, with the signed
header of protocol v2 beside them (kept when the sealed text is purged); blobs are rows
pointing at stored-form files. Nonces, reporter sessions and sent forms hold no reporter
identifier that can be tied to a case without the reporter's own secrets.
"""

from __future__ import annotations

import datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
