"""Checking an incoming item's signed header (docs/protocol.md §15, §17.2) against what
this console knows of its case, never against what the portal says: a forged, moved or
replayed item is named as such, and a message's key proof establishes the reporter's
key in a case filed under v1.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import crypto

from .outbox_page import Batch, CaseKeys, Seen

if TYPE_CHECKING:
    from .console import Console


def verify(
    console: Console,
    item: dict[str, Any],
    sealed: bytes,
    document: dict[str, Any],
    seen: Seen,
    batch: Batch,
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
            proven = _proven_key(console, sealed, header, case_key)
            if isinstance(proven, tuple):
                return None, proven
            reporter_key = proven
    try:
        crypto.verify_item(
            signed,
            signature,
            case_key=case_key,
            reporter_key=reporter_key,
            oversight=console.keys.generations,
            sealed=sealed,
        )
        crypto.open_item(sealed, console.keys.oversight_keys, header)
    except crypto.ItemRejected as exc:
        return None, rejected(exc.kind, kind)
    except crypto.CryptoError:
        return None, ("forged", "its sealed text does not open as a v2 document")
    if hashlib.sha256(signed).digest() in seen.hashes:
        return None, (
            "replay",
            f"a copy of a {kind} this console already has, sent again: a replay",
        )
    if kind != "report" and seen.keys[case_id].reporter_key is None:
        seen.keys[case_id] = CaseKeys(case_key, reporter_key, established=True)
        batch.established[case_id] = reporter_key
    return header, None


def _proven_key(
    console: Console, sealed: bytes, header: crypto.ItemHeader, case_key: bytes
) -> bytes | tuple[str, str]:
    """The reporter key a message's key proof establishes in a case filed under v1
    (§17.2), or (attempt, reason) when it does not establish one."""
    try:
        doc = crypto.open_item(sealed, console.keys.oversight_keys, header)
    except crypto.ItemRejected as exc:
        return rejected(exc.kind, "message")
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
        crypto.b64u_decode(proof, length=32), case_key, reporter_key, console.keys.oversight_keys
    ):
        return "forged", "its key proof does not verify: a forgery attempt"
    return reporter_key


def rejected(verdict: str, kind: str) -> tuple[str, str]:
    """(attempt, reason) for an item `check_thread` or `verify_item` would not show."""
    if verdict == "moved":
        return "moved", f"a {kind} signed for another case, listed under this one: moved"
    return "forged", f"a {kind} whose signature does not verify with the reporter's key: forged"


def key_or_none(value: object) -> bytes | None:
    try:
        return crypto.b64u_decode(value, length=32) if isinstance(value, str) else None
    except crypto.CryptoError:
        return None
