"""What the portal does with its database: cases, thread items, blob claims, the outbox.

Plain functions over a SQLAlchemy `Session`, called from a worker thread. They check in
the order docs/protocol.md §9.5 fixes (400 → 422 → 409), and a refused request changes
nothing: every change happens in one transaction, committed only when all checks pass.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import cast

from nacl.exceptions import BadSignatureError
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import crypto
from foundation.blobstore import is_blob_id
from foundation.errors import Conflict, NotFound, Unacceptable

from .db import Blob, Case, Counter, Item, SentForm
from .errors import AlreadySent
from .settings import Limits

STATES = crypto.PUBLIC_STATES
#: The kinds of item the oversight body writes (the thread's `"from": "oversight"`).
OVERSIGHT_KINDS = crypto.OVERSIGHT_KINDS
_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
#: `items.outbox` is a 32-bit integer on PostgreSQL: a larger cursor would be a database
#: error (a 500), though it means the same as this one.
_SEQ_MAX = 2**31 - 1


def utc_day(timestamp: float) -> datetime.date:
    """The UTC date of a Unix time: the only precision the portal stores."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).date()


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE touched (`CursorResult.rowcount`)."""
    return int(getattr(result, "rowcount", 0))


def new_case_id() -> str:
    """Ten characters an officer can read aloud (50 random bits), five bits each: one
    read from the system's generator, not one or two for each character as
    `secrets.choice` would make (each a system call, on the event loop for API reports)."""
    bits = secrets.randbits(50)
    return "".join(_CASE_ALPHABET[(bits >> shift) & 31] for shift in range(0, 50, 5))


def new_item_id() -> str:
    return crypto.b64u_encode(secrets.token_bytes(12))


def check_sealed_size(sealed: bytes, limit: int) -> None:
    """A sealed document must be one v1 bucket plus the sealed-box overhead, within `limit`."""
    if len(sealed) > limit:
        raise Unacceptable(
            f"The sealed document is {len(sealed)} bytes; this portal accepts at most {limit}.",
            code="document_too_large",
        )
    if len(sealed) - 48 not in crypto.BUCKETS:
        raise Unacceptable(
            "The sealed document has a length no v1 document can have: it must be one of "
            "the v1 padding buckets plus 48 bytes.",
            code="bad_sealed_document",
        )


@dataclass(frozen=True)
class NewItem:
    case_id: str
    item_id: str


@dataclass(frozen=True)
class SignedHeader:
    """A v2 item's signed header and signature as a client sent them (§19.3)."""

    signed: bytes
    signature: bytes


def _bad_item(why: str) -> Unacceptable:
    return Unacceptable(f"The signed header {why}.", code="bad_item")


def check_header(
    item: SignedHeader,
    *,
    kinds: Collection[str],
    case_key: bytes,
    signer: bytes,
    sealed: bytes,
) -> crypto.ItemHeader:
    """The header of an item sent for a case whose box key is `case_key`, to be signed by
    `signer`, beside `sealed`; 422 `bad_item` for anything else (docs/protocol.md §19.3).

    These checks keep the chain straight for honest writers and stop junk early. What
    protects reporters is that both sides check every item themselves (§15, §16)."""
    try:
        header = crypto.parse_item(item.signed)
    except crypto.CryptoError:
        raise _bad_item("is not a protocol v2 item header, in its one spelling") from None
    if header.kind not in kinds:
        raise _bad_item(f"is a {header.kind}, which this endpoint does not take")
    if header.case_key != case_key:
        raise _bad_item("names another case's key")
    if header.signer != signer:
        raise _bad_item("names a signer other than the key this portal holds for it")
    if header.body != hashlib.sha256(sealed).digest():
        raise _bad_item('names a BODY that is not the SHA-256 of "sealed"')
    try:
        crypto.VerifyKey(signer).verify(item.signed, item.signature)
    except (ValueError, crypto.CryptoError, BadSignatureError):
        raise _bad_item("has a signature that does not verify") from None
    return header


def chain_head(session: Session, case_id: str) -> crypto.Head | None:
    """The last signed item of a case's chain, as this portal holds it (None: no item)."""
    row = session.execute(
        select(Item.chain_seq, Item.signed)
        .where(Item.case_id == case_id, Item.chain_seq.is_not(None))
        .order_by(Item.chain_seq.desc())
        .limit(1)
    ).first()
    if row is None or row.signed is None:
        return None
    return crypto.Head(int(row.chain_seq), hashlib.sha256(row.signed).digest())


def head_json(head: crypto.Head | None) -> dict[str, object] | None:
    return None if head is None else {"seq": head.seq, "hash": head.hash.hex()}


class ThreadMovedOn(Conflict):
    """An item that does not follow the chain's head: the writer reads again and re-signs."""

    def __init__(self, head: crypto.Head | None) -> None:
        super().__init__(
            "The thread has moved on since this item was signed: read the thread again, "
            "then sign the item after its new head.",
            code="thread_moved_on",
        )
        self.extra = {"head": head_json(head)}


def _follow_head(
    session: Session, case_id: str, header: crypto.ItemHeader, *, ahead: bool = False
) -> None:
    """409 `thread_moved_on` unless the item is the next after the chain's head.

    With `ahead` (the console's items), an item whose SEQ is beyond the next place is
    taken too: its writer holds items this portal lost (a portal restored from a backup,
    docs/protocol.md §16.1). It leaves a gap that the reporter sees, rather than have the
    console sign again after the older head and hide what was lost."""
    head = chain_head(session, case_id)
    expected = (0, crypto.GENESIS) if head is None else (head.seq + 1, head.hash)
    if ahead and header.seq > expected[0]:
        return
    if (header.seq, header.prev) != expected:
        raise ThreadMovedOn(head)


def _check_blobs(session: Session, blob_ids: Sequence[str], submission_limit: int) -> None:
    """422 unless every blob exists, is unreferenced, and together they fit the limit."""
    if len(set(blob_ids)) != len(blob_ids):
        raise Unacceptable("The same blob id is listed twice.", code="blob_repeated")
    if not blob_ids:
        return
    # Ids that cannot be blob ids never reach the database (PostgreSQL refuses a NUL in
    # text with an error, which would be a 500): they are unknown ids like any other.
    known = [blob_id for blob_id in blob_ids if is_blob_id(blob_id)]
    rows = session.execute(select(Blob).where(Blob.id.in_(known))).scalars().all()
    found = {row.id: row for row in rows}
    for blob_id in blob_ids:
        row = found.get(blob_id)
        if row is None or row.item_seq is not None:
            raise Unacceptable(
                f"Blob {blob_id} is unknown or already used by another report or message. "
                "Upload it again.",
                code="blob_unavailable",
            )
    total = sum(row.size for row in rows)
    if total > submission_limit:
        raise Unacceptable(
            f"The attachments total {total} bytes; one submission may carry at most "
            f"{submission_limit}.",
            code="submission_too_large",
        )


def _claim_blobs(session: Session, item_seq: int, blob_ids: Sequence[str]) -> None:
    """Attach checked blobs to `item`, in order, unless another request just took one."""
    for position, blob_id in enumerate(blob_ids):
        claimed = session.execute(
            update(Blob)
            .where(Blob.id == blob_id, Blob.item_seq.is_(None))
            .values(item_seq=item_seq, position=position)
        )
        if rowcount(claimed) != 1:
            raise Unacceptable(
                f"Blob {blob_id} was used by another submission a moment ago.",
                code="blob_unavailable",
            )


def number_outbox(session: Session, at_most: int = 10_000) -> int:
    """Give the reports and messages committed since the last call their outbox numbers,
    in arrival order, each above every number given before; commits. Returns how many.

    The console acknowledges "everything up to cursor N", so a number must never go to
    an item after a larger one was read: were numbers taken when items are stored, two
    transactions could take 7 and 8 and commit as 8, then 7, and a console reading
    between the commits would acknowledge 7 unseen. Here only committed items are
    numbered, one numbering at a time (an advisory lock on PostgreSQL; SQLite has one
    writer at a time), so an item committed later always gets a later number. Items are
    stored without waiting for one another, and the counter never goes back, even when
    a purge has deleted the highest-numbered items.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK})
    counter = session.get(Counter, "outbox")
    if counter is None:
        counter = Counter(name="outbox", value=0)
        session.add(counter)
    waiting = session.scalars(
        select(Item.seq)
        .where(Item.outbox.is_(None), Item.kind.in_(("report", "message")))
        .order_by(Item.seq)
        .limit(at_most)
    ).all()
    if waiting:
        first = counter.value + 1
        session.execute(
            update(Item),
            [{"seq": seq, "outbox": first + n} for n, seq in enumerate(waiting)],
        )
        counter.value = first + len(waiting) - 1
    session.commit()
    return len(waiting)


_OUTBOX_LOCK = 0x4C414E54  # "LANT": the portal's only advisory lock


def _check_submission(
    session: Session, sealed: bytes, blob_ids: Sequence[str], limits: Limits
) -> None:
    """422 unless the sealed document and the blobs it names are acceptable."""
    check_sealed_size(sealed, limits.document_bytes)
    _check_blobs(session, blob_ids, limits.submission_bytes)


#: Plain inserts, not ORM objects: they are most of what a submission costs the portal.
_CASES, _ITEMS = Case.metadata.tables["cases"], Item.metadata.tables["items"]
_INSERT_CASE = insert(_CASES)
_INSERT_ITEM = insert(_ITEMS).returning(_ITEMS.c.seq)


def _add_item(
    session: Session,
    case_id: str,
    kind: str,
    sealed: bytes,
    blob_ids: Sequence[str],
    today: datetime.date,
    signed: SignedHeader | None = None,
    header: crypto.ItemHeader | None = None,
) -> str:
    """Add an item (with its checked signed header, if any) and claim its checked blobs;
    return the item's id. (A report's or message's outbox number is given later, when
    the console reads the outbox.)

    The caller has checked sizes, blobs and the header, and commits (or rolls back) the
    transaction. A place in the chain that another writer took a moment ago is an
    `IntegrityError` (the unique index on the case and `chain_seq`).
    """
    item_id = new_item_id()
    values = {"id": item_id, "case_id": case_id, "kind": kind, "sealed": sealed, "on": today}
    if signed is not None and header is not None:
        values |= {
            "signed": signed.signed,
            "signature": signed.signature,
            "chain_seq": header.seq,
        }
    seq = session.connection().execute(_INSERT_ITEM, values).scalar_one()
    _claim_blobs(session, seq, blob_ids)
    return item_id


_SENT_FORMS = SentForm.metadata.tables["sent_forms"]
_INSERT_SENT_FORM = insert(_SENT_FORMS)


def _record_sent_form(session: Session, digest: bytes | None, today: datetime.date) -> None:
    """Mark a page's form as sent, inside the transaction that stores what it carried.

    The digest is the table's key: of two requests carrying the same page (a double
    click), the second waits for the first's commit and then finds its row. Its insert
    fails, and nothing of its transaction is kept.
    """
    if digest is None:
        return
    try:
        session.connection().execute(_INSERT_SENT_FORM, {"digest": digest, "sent_on": today})
    except IntegrityError:  # the caller rolls the whole transaction back
        raise AlreadySent("This form was sent before.") from None


def form_was_sent(session: Session, digest: bytes) -> bool:
    return session.get(SentForm, digest) is not None


def forget_sent_forms(session: Session, before: datetime.date) -> int:
    """Delete the sent-form rows of days before `before` (the caller commits)."""
    return rowcount(session.execute(delete(SentForm).where(SentForm.sent_on < before)))


def lookup_in_use() -> Conflict:
    return Conflict(
        "A case with this lookup id already exists: derive keys from a new receipt.",
        code="lookup_in_use",
    )


def create_case(
    session: Session,
    *,
    sealed: bytes,
    lookup_id: bytes,
    box_pk: bytes,
    sign_pk: bytes,
    blob_ids: Sequence[str],
    limits: Limits,
    today: datetime.date,
    sent_form: bytes | None = None,
    signed: SignedHeader | None = None,
) -> NewItem:
    """Store a new case and its report in one transaction; 422 or 409 change nothing.

    `signed` is a v2 report's header: a `report` for `box_pk`, signed by `sign_pk`, over
    `sealed` (a report is always the first item of its chain). Without it the report is
    a v1 item.

    `sent_form` is the digest of the one-time value of the page that sent it (HTML
    forms only): recorded in the same transaction, so that page cannot file a second
    report (409 `already_sent`), and a report that is not stored leaves it unused.

    A lookup id already in use is found by its unique index when the case is inserted,
    not by a query before: one round trip fewer for every report. (The portal's database
    role logs no errors, so the refused insert leaves no trace in the server's log.) On
    PostgreSQL the JSON API stores a report with no attachments by one statement instead
    (`report_insert`), after the same checks.
    """
    case_id = new_case_id()
    try:
        _check_submission(session, sealed, blob_ids, limits)
        header = None
        if signed is not None:
            header = check_header(
                signed, kinds=("report",), case_key=box_pk, signer=sign_pk, sealed=sealed
            )
        _record_sent_form(session, sent_form, today)
        session.connection().execute(
            _INSERT_CASE,
            {
                "id": case_id,
                "lookup_id": lookup_id,
                "box_pk": box_pk,
                "sign_pk": sign_pk,
                "status": "received",
                "status_on": today,
                "created_on": today,
            },
        )
        item_id = _add_item(session, case_id, "report", sealed, blob_ids, today, signed, header)
        session.commit()
    except IntegrityError:
        session.rollback()  # the lookup id is taken (or, once in 2^50, the case id)
        raise lookup_in_use() from None
    except BaseException:
        session.rollback()
        raise
    return NewItem(case_id, item_id)


def find_case(session: Session, lookup_id: bytes) -> Case | None:
    return session.scalar(select(Case).where(Case.lookup_id == lookup_id))


def add_message(
    session: Session,
    case: Case,
    *,
    sealed: bytes,
    blob_ids: Sequence[str],
    limits: Limits,
    today: datetime.date,
    sent_form: bytes | None = None,
    signed: SignedHeader | None = None,
) -> NewItem:
    """Store a reporter's follow-up message with its attachments (and, from the HTML
    form, its page's sent-form digest: see `create_case`).

    `signed` is a v2 message's header: a `message` for the case's `box_pk`, signed by
    its `sign_pk`, over `sealed`, following the chain's head (else 409
    `thread_moved_on`). Without it the message is a v1 item, outside the chain."""
    try:
        _check_submission(session, sealed, blob_ids, limits)
        header = None
        if signed is not None:
            header = check_header(
                signed,
                kinds=("message",),
                case_key=case.box_pk,
                signer=case.sign_pk,
                sealed=sealed,
            )
            _follow_head(session, case.id, header)
        _record_sent_form(session, sent_form, today)
        item_id = _add_item(session, case.id, "message", sealed, blob_ids, today, signed, header)
        session.commit()
    except IntegrityError:
        session.rollback()  # another writer took this place in the chain a moment ago
        raise ThreadMovedOn(chain_head(session, case.id)) from None
    except BaseException:
        session.rollback()
        raise
    return NewItem(case.id, item_id)


def add_signed_message(
    session: Session,
    case: Case,
    *,
    box_pk: bytes,
    sign: crypto.SigningKey,
    oversight: crypto.PublicKey,
    after: crypto.Head | None,
    key_proof: bytes | None,
    text: str,
    attachments: list[dict[str, object]],
    limits: Limits,
    today: datetime.date,
    sent_form: bytes | None = None,
) -> NewItem:
    """A message from the server-rendered pages, which hold the reporter's signing key
    for the session: sealed to the oversight key and signed after `after`, the last item
    of the thread that verified (`portal.thread_view`), never blindly after the head this
    portal holds (docs/protocol.md §19.3). In a case filed under v1 it carries
    `key_proof` (§17.2). 409 `thread_moved_on` if that is not the head the portal holds:
    the caller checks the thread again, and signs again."""
    document: dict[str, object] = {
        "v": 2,
        "type": "message",
        "case_key": crypto.b64u_encode(box_pk),
        "text": text,
        "attachments": attachments,
        "sent_on": today.isoformat(),
    }
    if key_proof is not None:
        document |= {
            "reply_sign_pk": crypto.b64u_encode(bytes(sign.verify_key)),
            "key_proof": crypto.b64u_encode(key_proof),
        }
    sealed, item = crypto.seal_item(document, oversight, sign, after=after)
    return add_message(
        session,
        case,
        sealed=sealed,
        blob_ids=[str(a["blob_id"]) for a in attachments],
        limits=limits,
        today=today,
        sent_form=sent_form,
        signed=SignedHeader(item.signed, item.signature),
    )


def blob_ids_by_item(session: Session, seqs: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {seq: [] for seq in seqs}
    if seqs:
        rows = session.execute(
            select(Blob.item_seq, Blob.id)
            .where(Blob.item_seq.in_(seqs))
            .order_by(Blob.item_seq, Blob.position)
        )
        for seq, blob_id in rows:
            result[cast(int, seq)].append(blob_id)
    return result


def thread_items(
    session: Session, case: Case, today: datetime.date, *, mark_read: bool = True
) -> list[Item]:
    """Every item of the case in order; replies handed over are marked read today."""
    items = list(
        session.execute(select(Item).where(Item.case_id == case.id).order_by(Item.seq))
        .scalars()
        .all()
    )
    unread = [i.seq for i in items if i.kind in OVERSIGHT_KINDS and i.read_on is None]
    if unread and mark_read:
        session.execute(update(Item).where(Item.seq.in_(unread)).values(read_on=today))
        session.commit()
    return items


def page_kind(kind: str) -> str:
    """How the server-rendered pages show an item: an outcome notice is a reply."""
    return "reply" if kind == "outcome" else kind


def outbox(session: Session, after: int | None, limit: int) -> list[Item]:
    """Unacknowledged reports and messages in outbox order, numbering new ones first."""
    number_outbox(session)
    query = select(Item).where(Item.outbox.is_not(None), Item.acked_on.is_(None))
    if after is not None:
        query = query.where(Item.outbox > min(after, _SEQ_MAX))
    return list(session.execute(query.order_by(Item.outbox).limit(limit)).scalars().all())


def acknowledge(session: Session, cursor: int, today: datetime.date) -> int:
    result = session.execute(
        update(Item)
        .where(
            Item.outbox <= min(cursor, _SEQ_MAX),
            Item.acked_on.is_(None),
        )
        .values(acked_on=today)
    )
    session.commit()
    return rowcount(result)


def _is_case_id(value: object) -> bool:
    """Only a well-formed id is looked up (a NUL would be a PostgreSQL error, a 500)."""
    return isinstance(value, str) and 0 < len(value) <= 16 and set(value) <= set(_CASE_ALPHABET)


def get_case(session: Session, case_id: str) -> Case:
    case = session.get(Case, case_id) if _is_case_id(case_id) else None
    if case is None:
        raise Unacceptable(f"There is no case {case_id!r} on this portal.", code="unknown_case")
    return case


def add_oversight_item(
    session: Session,
    case_id: str,
    *,
    sealed: bytes,
    signed: SignedHeader,
    signer: bytes,
    document_limit: int,
    today: datetime.date,
) -> NewItem:
    """Store a reply, status change or outcome notice the console signed (§19.3).

    The header must be one of those kinds, for the case's `box_pk`, signed by `signer`
    (the oversight signing key this portal is configured with), over `sealed`, and follow
    the chain's head. Its `STATE`, if any, becomes the case's status, dated today.
    """
    try:
        check_sealed_size(sealed, document_limit)
        case = get_case(session, case_id)
        header = check_header(
            signed, kinds=OVERSIGHT_KINDS, case_key=case.box_pk, signer=signer, sealed=sealed
        )
        _follow_head(session, case.id, header, ahead=True)
        item_id = _add_item(session, case.id, header.kind, sealed, (), today, signed, header)
        if header.state is not None:
            case.status, case.status_on = header.state, today
        session.commit()
    except IntegrityError:
        session.rollback()  # another writer took this place in the chain a moment ago
        raise ThreadMovedOn(chain_head(session, case_id)) from None
    except BaseException:
        session.rollback()
        raise
    return NewItem(case.id, item_id)


def claimed_blob(session: Session, blob_id: str) -> Blob:
    """A blob the console may download: one that a stored report or message references."""
    blob = session.get(Blob, blob_id)
    if blob is None or blob.item_seq is None:
        raise NotFound("There is no such attachment on this portal.")
    return blob


def unclaimed_bytes(session: Session) -> int:
    """The stored size of every upload no report or message has claimed yet."""
    total = session.scalar(select(func.sum(Blob.size)).where(Blob.item_seq.is_(None)))
    return int(total or 0)


def unclaimed_among(session: Session, blob_ids: Sequence[str]) -> set[str]:
    """Those of `blob_ids` that are still on the portal and not yet used by an item."""
    known = [blob_id for blob_id in blob_ids if is_blob_id(blob_id)]
    if not known:
        return set()
    query = select(Blob.id).where(Blob.id.in_(known), Blob.item_seq.is_(None))
    return set(session.scalars(query))


def record_unclaimed(session: Session, blob_id: str, size: int, today: datetime.date) -> None:
    session.add(Blob(id=blob_id, size=size, uploaded_on=today))
    session.commit()


def forget_unclaimed(session: Session, blob_id: str) -> bool:
    """Delete an unreferenced blob's row; True if it was still unreferenced."""
    result = session.execute(delete(Blob).where(Blob.id == blob_id, Blob.item_seq.is_(None)))
    session.commit()
    return bool(rowcount(result))
