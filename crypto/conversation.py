"""The signed conversation (docs/protocol.md §11–§17): a case's thread as one chain of
signed items that a portal can neither forge, nor move to another case, reorder, replay
or drop in the middle without both sides seeing it.

Every item (the report, each reporter message, each reply, status change and outcome
notice) travels as a sealed document with a short signed header beside it. The header
names the kind of item, the case (by the reporter's box public key, which both sides
know from the report), the item's place in the chain (a sequence number and the hash of
the item before it), its date, the SHA-256 of the sealed document, and the key that
signed it: the reporter's signing key for reports and messages, the oversight signing
key for everything the console sends. The header stays on the portal when the sealed
text is purged, so the chain can be checked for as long as the case exists.

Verifying is local and needs no secret: `check_thread` takes the items as the portal
listed them and says, item by item and for the chain as a whole, what is authentic and
what is forged, moved, replayed, out of order, missing or forked. Opening a body
(`open_item`) also checks that the sealed text names the same case as its header, so a
sealed document cannot be carried into another case under a new header either.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey

from . import _sodium
from .documents import check_document_v2, open_document, seal_document_v2
from .encoding import b64u_decode, b64u_encode
from .errors import CryptoError

__all__ = [
    "GENESIS",
    "ITEM_KINDS",
    "OVERSIGHT_KINDS",
    "PUBLIC_STATES",
    "REPORTER_KINDS",
    "Entry",
    "Finding",
    "Head",
    "History",
    "ItemHeader",
    "ItemRejected",
    "KeyResolution",
    "OversightKey",
    "OversightKeys",
    "Rollover",
    "SignedItem",
    "ThreadCheck",
    "UnexpectedOversightKey",
    "check_key_proof",
    "check_thread",
    "fingerprint",
    "fingerprint_digest",
    "history_of",
    "make_key_proof",
    "make_rollover",
    "normalize_fingerprint",
    "open_item",
    "parse_item",
    "parse_rollover",
    "resolve_oversight_keys",
    "seal_item",
    "sign_item",
    "verify_item",
]

ITEM_LABEL = "lanthorn/v2/item"
ROLLOVER_LABEL = "lanthorn/v2/rollover"
FINGERPRINT_LABEL = b"lanthorn/v2/fingerprint\n"
KEY_PROOF_LABEL = b"lanthorn/v2/key-proof\n"

REPORTER_KINDS = ("report", "message")
OVERSIGHT_KINDS = ("reply", "status", "outcome")
ITEM_KINDS = REPORTER_KINDS + OVERSIGHT_KINDS
#: The states a reporter sees, as in v1 (docs/protocol.md §9.3).
PUBLIC_STATES = ("received", "acknowledged", "in_review", "action_taken", "closed")
NO_STATE = "-"
#: `prev` of the first item of a chain (sequence number 0).
GENESIS = bytes(32)
MAX_SEQ = 999_999_999
#: A header is at most 9 lines of known length; anything longer is refused unread.
MAX_HEADER_BYTES = 512

#: Crockford's base32: digits and capitals without I, L, O and U (as case ids use).
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FINGERPRINT_CHARS = 20  # 100 bits

_SEQ = re.compile(r"0|[1-9][0-9]{0,8}")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ItemRejected(CryptoError):
    """A signed item that this thread must not show as authentic. `kind` says why, in the
    chain's terms: "forged" (it does not verify, or not with a key this thread accepts for
    its kind) or "moved" (authentic, but it belongs to another case).

    Unlike other `CryptoError`s this one says why: it is raised on the reporter's or the
    console's own machine, where the answer is what the person must be told, and the
    portal, which might want an oracle, never sees it."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"signed item ({kind})")
        self.kind = kind


class UnexpectedOversightKey(CryptoError):
    """The oversight keys a portal offers do not lead back to the key this client pinned."""

    def __init__(self) -> None:
        super().__init__("oversight key")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


# -- the signed header -------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A chain's last item: its sequence number and hash. The next item follows it."""

    seq: int
    hash: bytes


def _position(after: Head | None) -> tuple[int, bytes]:
    return (0, GENESIS) if after is None else (after.seq + 1, after.hash)


@dataclass(frozen=True)
class ItemHeader:
    """The fields of a signed item's header (docs/protocol.md §14.1). `state` is None for
    "no change" (`-` on the wire)."""

    kind: str
    state: str | None
    case_key: bytes
    seq: int
    prev: bytes
    sent_on: str
    body: bytes
    signer: bytes

    def __post_init__(self) -> None:
        problem = _header_problem(self)
        if problem:
            raise ValueError(problem)

    @property
    def from_oversight(self) -> bool:
        return self.kind in OVERSIGHT_KINDS

    def canonical(self) -> bytes:
        """The exact bytes that are signed: nine lines joined with LF, no final newline."""
        lines = (
            ITEM_LABEL,
            self.kind,
            NO_STATE if self.state is None else self.state,
            b64u_encode(self.case_key),
            str(self.seq),
            self.prev.hex(),
            self.sent_on,
            self.body.hex(),
            b64u_encode(self.signer),
        )
        return "\n".join(lines).encode("ascii")


def _header_problem(h: ItemHeader) -> str | None:
    """Why `h` cannot be a v2 item header, or None."""
    if h.kind not in ITEM_KINDS:
        return f"kind must be one of {', '.join(ITEM_KINDS)}"
    if h.state is not None and h.state not in PUBLIC_STATES:
        return f"state must be None or one of {', '.join(PUBLIC_STATES)}"
    if h.kind in REPORTER_KINDS and h.state is not None:
        return "a report or message changes no state"
    if h.kind == "status" and h.state is None:
        return "a status item names the new state"
    if h.kind == "outcome" and h.state != "closed":
        return 'an outcome notice closes the case: its state is "closed"'
    if not all(len(k) == 32 for k in (h.case_key, h.prev, h.body, h.signer)):
        return "case_key, prev, body and signer are 32 bytes each"
    if isinstance(h.seq, bool) or not isinstance(h.seq, int) or not 0 <= h.seq <= MAX_SEQ:
        return f"seq must be an integer from 0 to {MAX_SEQ}"
    if (h.seq == 0) != (h.prev == GENESIS):
        return "the first item (seq 0), and only it, follows GENESIS (32 zero bytes)"
    if h.kind == "report" and h.seq != 0:
        return "a report is always the first item of its case"
    if not isinstance(h.sent_on, str) or not _is_date(h.sent_on):
        return "sent_on must be a date, YYYY-MM-DD"
    return None


def parse_item(signed: bytes) -> ItemHeader:
    """Read a header from its signed bytes, strictly: every field has one spelling.

    Raises `CryptoError("signed item")` for anything else. Parsing does not verify
    the signature (`verify_item` does), it only tells which key to verify with.
    """
    try:
        if len(signed) > MAX_HEADER_BYTES:
            raise ValueError("too long")
        lines = signed.decode("ascii").split("\n")
        if len(lines) != 9 or lines[0] != ITEM_LABEL:
            raise ValueError("not a v2 item")
        _, kind, state, case_key, seq, prev, sent_on, body, signer = lines
        if not _SEQ.fullmatch(seq) or not _HEX32.fullmatch(prev) or not _HEX32.fullmatch(body):
            raise ValueError("bad number or hash")
        header = ItemHeader(
            kind=kind,
            state=None if state == NO_STATE else state,
            case_key=b64u_decode(case_key, length=32),
            seq=int(seq),
            prev=bytes.fromhex(prev),
            sent_on=sent_on,
            body=bytes.fromhex(body),
            signer=b64u_decode(signer, length=32),
        )
        if header.canonical() != signed:  # a second spelling of the same header
            raise ValueError("not canonical")
    except (ValueError, UnicodeDecodeError, CryptoError):
        raise CryptoError("signed item") from None
    return header


@dataclass(frozen=True)
class SignedItem:
    """A header's signed bytes and the Ed25519 signature over them."""

    signed: bytes
    signature: bytes
    header: ItemHeader = field(compare=False)

    @property
    def hash(self) -> bytes:
        """The item hash the next item's `prev` names: SHA-256 of the signed bytes."""
        return _sha256(self.signed)

    @property
    def head(self) -> Head:
        return Head(self.header.seq, self.hash)

    def as_json(self) -> dict[str, str]:
        """The two fields that carry it in the HTTP API (docs/protocol.md §19)."""
        return {"signed": self.signed.decode("ascii"), "signature": b64u_encode(self.signature)}


def sign_item(
    key: SigningKey,
    *,
    kind: str,
    case_key: bytes,
    after: Head | None,
    sent_on: str,
    sealed: bytes,
    state: str | None = None,
) -> SignedItem:
    """Sign the header of an item whose sealed document is `sealed`.

    `after` is the head of the chain as the signer knows it (None for the first item).
    Prefer `seal_item`, which takes the header's fields from the document itself.
    """
    seq, prev = _position(after)
    header = ItemHeader(
        kind=kind,
        state=state,
        case_key=case_key,
        seq=seq,
        prev=prev,
        sent_on=sent_on,
        body=_sha256(sealed),
        signer=bytes(key.verify_key),
    )
    signed = header.canonical()
    return SignedItem(signed, key.sign(signed).signature, header)


def _inner_case_key(doc: Mapping[str, Any]) -> bytes:
    field_name = "reply_box_pk" if doc["type"] == "report" else "case_key"
    return b64u_decode(doc[field_name], length=32)


def seal_item(
    doc: Mapping[str, Any],
    recipient: PublicKey,
    key: SigningKey,
    *,
    after: Head | None,
    state: str | None = None,
) -> tuple[bytes, SignedItem]:
    """Seal a v2 document to `recipient` and sign its header: (sealed, signed item).

    Kind, case and date come from the document, so what is signed and what is sealed
    cannot disagree. A report's `reply_sign_pk` must be `key`'s own verify key.
    """
    check_document_v2(doc)
    if doc["type"] == "report" and b64u_decode(doc["reply_sign_pk"]) != bytes(key.verify_key):
        raise ValueError("a report is signed with the key it names in reply_sign_pk")
    sealed = seal_document_v2(doc, recipient)
    item = sign_item(
        key,
        kind=doc["type"],
        case_key=_inner_case_key(doc),
        after=after,
        sent_on=doc["sent_on"],
        sealed=sealed,
        state=state,
    )
    return sealed, item


# -- oversight keys, fingerprints and rollovers ------------------------------------------


def fingerprint_digest(box_pk: bytes, sign_pk: bytes) -> bytes:
    """SHA-256("lanthorn/v2/fingerprint\\n" || box_pk || sign_pk): what a fingerprint shows."""
    if len(box_pk) != 32 or len(sign_pk) != 32:
        raise ValueError("the oversight box and signing public keys are 32 bytes each")
    return _sha256(FINGERPRINT_LABEL + box_pk + sign_pk)


def fingerprint(box_pk: bytes, sign_pk: bytes) -> str:
    """The oversight keys' fingerprint as people compare it: the digest's first 100 bits
    in Crockford base32, five groups of four, e.g. `7Q2M 0XKD 4HPA RT3N W8CE`."""
    digest = int.from_bytes(fingerprint_digest(box_pk, sign_pk)[:13], "big") >> 4  # 100 bits
    chars = [CROCKFORD[(digest >> (5 * (FINGERPRINT_CHARS - 1 - i))) & 31] for i in range(20)]
    return " ".join("".join(chars[i : i + 4]) for i in range(0, FINGERPRINT_CHARS, 4))


_CROCKFORD_READ = {c: c for c in CROCKFORD} | {"O": "0", "I": "1", "L": "1"}


def normalize_fingerprint(text: str) -> str:
    """A fingerprint as typed or printed, in its display form; `ValueError` if it is not
    one. Case, spaces and hyphens do not matter, and O reads as 0, I and L as 1."""
    chars = [c for c in text.upper() if c not in " -"]
    if len(chars) != FINGERPRINT_CHARS or not all(c in _CROCKFORD_READ for c in chars):
        raise ValueError("a fingerprint is 20 letters and digits, e.g. 7Q2M 0XKD 4HPA RT3N W8CE")
    read = "".join(_CROCKFORD_READ[c] for c in chars)
    return " ".join(read[i : i + 4] for i in range(0, FINGERPRINT_CHARS, 4))


@dataclass(frozen=True)
class OversightKey:
    """One generation of the oversight body's public keys. `retired_on` is the day a
    rollover replaced it (None for the current keys): an item it signs must be dated no
    later."""

    box_pk: bytes
    sign_pk: bytes
    retired_on: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.box_pk, self.sign_pk)


@dataclass(frozen=True)
class OversightKeys:
    """The oversight keys a thread is checked against: the current generation first."""

    keys: tuple[OversightKey, ...]

    @classmethod
    def single(cls, box_pk: bytes, sign_pk: bytes) -> OversightKeys:
        return cls((OversightKey(box_pk, sign_pk),))

    @property
    def current(self) -> OversightKey:
        return self.keys[0]

    def signing(self, sign_pk: bytes) -> OversightKey | None:
        return next((k for k in self.keys if k.sign_pk == sign_pk), None)


@dataclass(frozen=True)
class Rollover:
    """Both generations' signatures over the replacement of `old` by `new` on `on`."""

    statement: bytes
    old_signature: bytes
    new_signature: bytes
    old: OversightKey = field(compare=False)
    new: OversightKey = field(compare=False)
    on: str = field(compare=False)

    def as_json(self) -> dict[str, str]:
        return {
            "statement": self.statement.decode("ascii"),
            "old_signature": b64u_encode(self.old_signature),
            "new_signature": b64u_encode(self.new_signature),
        }


def _rollover_statement(
    old_box: bytes, old_sign: bytes, new_box: bytes, new_sign: bytes, on: str
) -> bytes:
    lines = (ROLLOVER_LABEL, *(b64u_encode(k) for k in (old_box, old_sign, new_box, new_sign)), on)
    return "\n".join(lines).encode("ascii")


def make_rollover(
    old_sign: SigningKey,
    old_box_pk: bytes,
    new_sign: SigningKey,
    new_box_pk: bytes,
    on: str,
) -> Rollover:
    """The statement `rotate-key` publishes: both generations sign it, so a client that
    pinned either one can reach the other, and no one can splice in a key of their own."""
    if not _is_date(on):
        raise ValueError("on must be a date, YYYY-MM-DD")
    statement = _rollover_statement(
        old_box_pk, bytes(old_sign.verify_key), new_box_pk, bytes(new_sign.verify_key), on
    )
    return parse_rollover(
        statement, old_sign.sign(statement).signature, new_sign.sign(statement).signature
    )


def parse_rollover(statement: bytes, old_signature: bytes, new_signature: bytes) -> Rollover:
    """Read and verify a rollover statement; `CryptoError("rollover")` unless both verify."""
    try:
        if len(statement) > MAX_HEADER_BYTES:
            raise ValueError("too long")
        lines = statement.decode("ascii").split("\n")
        if len(lines) != 6 or lines[0] != ROLLOVER_LABEL or not _is_date(lines[5]):
            raise ValueError("not a rollover")
        old_box, old_sign, new_box, new_sign = (b64u_decode(x, length=32) for x in lines[1:5])
        if _rollover_statement(old_box, old_sign, new_box, new_sign, lines[5]) != statement:
            raise ValueError("not canonical")
        if old_sign == new_sign or old_box == new_box:
            raise ValueError("a rollover replaces both keys")
    except (ValueError, UnicodeDecodeError, CryptoError):
        raise CryptoError("rollover") from None
    if not (
        _sodium.sign_verify_detached(old_signature, statement, old_sign)
        and _sodium.sign_verify_detached(new_signature, statement, new_sign)
    ):
        raise CryptoError("rollover")
    return Rollover(
        statement,
        old_signature,
        new_signature,
        OversightKey(old_box, old_sign, lines[5]),
        OversightKey(new_box, new_sign),
        lines[5],
    )


@dataclass(frozen=True)
class KeyResolution:
    """The oversight keys to check a thread against, and how they relate to the pin.

    `changed_on` is the day the pinned keys were replaced (a client shows that the keys
    changed, with the new fingerprint), or None when the pinned keys are current or
    nothing was pinned."""

    keys: OversightKeys
    pinned: bool
    changed_on: str | None


def resolve_oversight_keys(
    box_pk: bytes,
    sign_pk: bytes,
    rollovers: Sequence[Rollover],
    *,
    pinned: str | None,
) -> KeyResolution:
    """Follow the rollovers back from the current keys, newest first, and find the pin.

    Each rollover must name as its new keys the generation reached so far, and be dated
    no later than the one after it. Raises `CryptoError("rollover")` for a broken chain,
    and `UnexpectedOversightKey` when `pinned` (a fingerprint) names none of the keys:
    the client must not use them, and must say so.
    """
    keys = [OversightKey(box_pk, sign_pk)]
    for rollover in rollovers:
        reached = keys[-1]
        if (rollover.new.box_pk, rollover.new.sign_pk) != (reached.box_pk, reached.sign_pk):
            raise CryptoError("rollover")
        if reached.retired_on is not None and rollover.on > reached.retired_on:
            raise CryptoError("rollover")
        if any(rollover.old.sign_pk == k.sign_pk or rollover.old.box_pk == k.box_pk for k in keys):
            raise CryptoError("rollover")
        keys.append(rollover.old)
    if pinned is None:
        return KeyResolution(OversightKeys(tuple(keys)), pinned=False, changed_on=None)
    want = normalize_fingerprint(pinned)
    for key in keys:
        if key.fingerprint == want:
            return KeyResolution(OversightKeys(tuple(keys)), pinned=True, changed_on=key.retired_on)
    raise UnexpectedOversightKey()


# -- proving a reporter key in a case filed under v1 -------------------------------------


def make_key_proof(
    reporter_box: PrivateKey, reporter_sign_pk: bytes, oversight_box_pk: bytes
) -> bytes:
    """`key_proof` (§17.2): the holder of the case's box key vouches for its signing key,
    under a key only it and the oversight body can compute."""
    shared = _sodium.box_beforenm(oversight_box_pk, bytes(reporter_box))
    message = KEY_PROOF_LABEL + bytes(reporter_box.public_key) + reporter_sign_pk + oversight_box_pk
    return _sodium.generichash(message, key=shared, size=32)


def check_key_proof(
    proof: bytes,
    reporter_box_pk: bytes,
    reporter_sign_pk: bytes,
    oversight: Iterable[PrivateKey],
) -> bool:
    """True if `proof` was made by the holder of `reporter_box_pk`'s secret key, for any
    of the oversight box keys (the current one, or one a rollover retired)."""
    for key in oversight:
        own_pk = bytes(key.public_key)
        shared = _sodium.box_beforenm(reporter_box_pk, bytes(key))
        message = KEY_PROOF_LABEL + reporter_box_pk + reporter_sign_pk + own_pk
        if hmac.compare_digest(_sodium.generichash(message, key=shared, size=32), proof):
            return True
    return False


# -- verifying items ----------------------------------------------------------------------


def _judge(
    signed: bytes,
    signature: bytes,
    sealed: bytes | None,
    case_key: bytes,
    reporter_key: bytes,
    oversight: OversightKeys,
) -> tuple[str, ItemHeader | None]:
    """("ok" | "forged" | "moved", header) in the order of docs/protocol.md §15."""
    try:
        header = parse_item(signed)
    except CryptoError:
        return "forged", None
    key = oversight.signing(header.signer) if header.from_oversight else None
    if header.from_oversight and key is None:
        return "forged", header
    if not _sodium.sign_verify_detached(signature, signed, header.signer):
        return "forged", header
    if header.case_key != case_key:
        return "moved", header
    if not header.from_oversight and header.signer != reporter_key:
        return "forged", header
    if key is not None and key.retired_on is not None and header.sent_on > key.retired_on:
        return "forged", header
    if sealed is not None and _sha256(sealed) != header.body:
        return "forged", header
    return "ok", header


def verify_item(
    signed: bytes,
    signature: bytes,
    *,
    case_key: bytes,
    reporter_key: bytes,
    oversight: OversightKeys,
    sealed: bytes | None = None,
) -> ItemHeader:
    """Verify one item for the case whose reporter box key is `case_key` and whose
    reporter signing key is `reporter_key`; return its header or raise `ItemRejected`.

    Where it stands in the chain is `check_thread`'s business, not this function's.
    """
    verdict, header = _judge(signed, signature, sealed, case_key, reporter_key, oversight)
    if verdict != "ok" or header is None:
        raise ItemRejected(verdict)
    return header


def open_item(
    sealed: bytes,
    keys: PrivateKey | Iterable[PrivateKey],
    header: ItemHeader,
) -> dict[str, Any]:
    """Open the sealed document of a verified item and check it against its header.

    The body must hash to the header's `body`, open as a v2 document of the header's
    kind and date, and name the header's case inside (a report: `reply_box_pk`, signed
    by its own `reply_sign_pk`). A body naming another case raises `ItemRejected("moved")`,
    any other disagreement `ItemRejected("forged")`; a body none of `keys` opens raises
    the opaque `CryptoError`.
    """
    if _sha256(sealed) != header.body:
        raise ItemRejected("forged")
    candidates = [keys] if isinstance(keys, PrivateKey) else list(keys)
    for key in candidates:
        try:
            doc = open_document(sealed, key, versions=(2,))
            break
        except CryptoError:
            continue
    else:
        raise CryptoError("sealed document")
    if doc["type"] != header.kind or doc["sent_on"] != header.sent_on:
        raise ItemRejected("forged")
    if _inner_case_key(doc) != header.case_key:
        raise ItemRejected("moved")
    signer = doc.get("reply_sign_pk")
    if signer is not None and b64u_decode(signer, length=32) != header.signer:
        raise ItemRejected("forged")  # a report or key proof names the key that signs it
    return doc


# -- the thread as a whole ----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One item as the portal listed it. `signed` is None for an item written under v1;
    `sender` ("reporter" or "oversight", the portal's word) and `id` matter only then."""

    signed: bytes | None = None
    signature: bytes = b""
    sealed: bytes | None = None
    id: str = ""
    sender: str = ""

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Entry:
        """An entry from a thread item of the HTTP API. Anything malformed is kept in a
        form that fails verification, so it is reported, never skipped."""

        def binary(value: object) -> bytes:
            try:
                return b64u_decode(value)  # type: ignore[arg-type]
            except CryptoError:
                return b"\x00"  # never a valid signature, nor any sealed document's hash

        signed = item.get("signed")
        return cls(
            signed=None
            if "signed" not in item
            else (signed.encode("utf-8", "replace") if isinstance(signed, str) else b""),
            signature=binary(item.get("signature")),
            sealed=binary(item["sealed"]) if "sealed" in item else None,
            id=str(item.get("id", "")),
            sender=str(item.get("from", "")),
        )


@dataclass(frozen=True)
class History:
    """What the console vouches for of a case's v1 items (§17.1): the SHA-256 of each
    v1 reply it sent, and the ids of the v1 report and messages it received."""

    replies: frozenset[bytes] = frozenset()
    received: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, list[str]]:
        """The `history` field of an oversight document."""
        return {
            "replies": sorted(h.hex() for h in self.replies),
            "received": sorted(self.received),
        }


def history_of(documents: Iterable[Mapping[str, Any]]) -> History:
    """The union of the `history` fields of opened oversight documents."""
    replies: set[bytes] = set()
    received: set[str] = set()
    for doc in documents:
        history = doc.get("history")
        if isinstance(history, Mapping):
            replies.update(bytes.fromhex(h) for h in history.get("replies", []))
            received.update(history.get("received", []))
    return History(frozenset(replies), frozenset(received))


@dataclass(frozen=True)
class Finding:
    """Something wrong with a thread. `position` is the entry's index in the list given;
    `seq` the sequence number concerned; a gap runs from `seq` to `until`, inclusive.

    kinds: "forged", "moved", "replay", "unvouched" (one entry each); "fork",
    "out_of_order" (an authentic entry in the wrong place); "gap" (items missing)."""

    kind: str
    position: int | None = None
    seq: int | None = None
    until: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class ThreadCheck:
    """What `check_thread` found.

    `verdicts[i]` for entry i: "ok" (authentic, this case's, shown), "forged", "moved",
    "replay" (a copy of an earlier entry), and for v1 entries "vouched" (the console
    vouched for it), "unvouched" (an oversight item it did not: never shown as from the
    oversight body) or "legacy" (nothing to check and nothing to show: a reporter's own v1
    item, or a v1 reply whose sealed text is gone). `headers[i]` is set for "ok" entries.
    """

    verdicts: tuple[str, ...]
    headers: tuple[ItemHeader | None, ...]
    findings: tuple[Finding, ...]
    head: Head | None
    state: str | None

    @property
    def ok(self) -> bool:
        return not self.findings


def _legacy_verdict(entry: Entry, history: History) -> str:
    if entry.sender != "oversight":
        return "vouched" if entry.id and entry.id in history.received else "legacy"
    if entry.sealed is None:
        return "legacy"
    return "vouched" if _sha256(entry.sealed) in history.replies else "unvouched"


def _gaps(present: Collection[int], end: int) -> list[Finding]:
    """One finding per run of sequence numbers from 0 to `end` that no entry holds."""
    found: list[Finding] = []
    expected = 0
    for seq in [*sorted(present), end + 1]:
        if seq > expected:
            found.append(Finding("gap", seq=expected, until=seq - 1))
        expected = seq + 1
    return found


def check_thread(
    entries: Sequence[Entry],
    *,
    case_key: bytes,
    reporter_key: bytes,
    oversight: OversightKeys,
    history: History = History(),  # noqa: B008 - frozen, so sharing the default is safe
    known_head: Head | None = None,
) -> ThreadCheck:
    """Check a case's thread as the portal listed it (docs/protocol.md §16).

    `case_key` is the reporter's box public key and `reporter_key` its signing key;
    `oversight` the keys the client trusts; `history` what verified oversight items
    vouch for of v1 entries; `known_head` the last item this client saw before, if it
    keeps one (so a thread cut short at its end shows as a gap too).
    """
    verdicts: list[str] = []
    headers: list[ItemHeader | None] = []
    findings: list[Finding] = []
    seen: set[bytes] = set()
    chain: list[tuple[int, ItemHeader, bytes]] = []  # (position, header, hash), list order
    for position, entry in enumerate(entries):
        header: ItemHeader | None = None
        if entry.signed is None:
            verdict = _legacy_verdict(entry, history)
        else:
            verdict, header = _judge(
                entry.signed, entry.signature, entry.sealed, case_key, reporter_key, oversight
            )
            if verdict == "ok" and header is not None:
                digest = _sha256(entry.signed)
                if digest in seen:
                    verdict = "replay"
                else:
                    seen.add(digest)
                    chain.append((position, header, digest))
        verdicts.append(verdict)
        headers.append(header if verdict == "ok" else None)
        if verdict in ("forged", "moved", "replay", "unvouched"):
            findings.append(Finding(verdict, position, header.seq if header else None))

    by_seq: dict[int, list[tuple[int, bytes]]] = {}
    for position, header, digest in chain:
        by_seq.setdefault(header.seq, []).append((position, digest))
    forks: dict[int, int] = {}  # position -> seq
    for position, header, _ in chain:
        same = by_seq[header.seq]
        before = by_seq.get(header.seq - 1)
        if len(same) > 1 or (before is not None and header.prev not in {d for _, d in before}):
            forks[position] = header.seq
    top = -1
    for position, header, _ in chain:
        if header.seq < top:
            findings.append(Finding("out_of_order", position, header.seq))
        top = max(top, header.seq)
    findings += [Finding("fork", position, seq) for position, seq in sorted(forks.items())]
    end = max(by_seq, default=-1)
    if known_head is not None:
        if known_head.seq > end:
            end = known_head.seq
        elif known_head.seq in by_seq and known_head.hash not in {
            d for _, d in by_seq[known_head.seq]
        }:
            findings.append(Finding("fork", seq=known_head.seq))
    findings += _gaps(by_seq, end)

    head = None
    if by_seq:
        last = max(by_seq)
        head = Head(last, by_seq[last][0][1])
    state = None
    for _, header, _ in sorted(chain, key=lambda c: c[1].seq):
        if header.from_oversight and header.state is not None:
            state = header.state
    return ThreadCheck(tuple(verdicts), tuple(headers), tuple(findings), head, state)
