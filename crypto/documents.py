"""Sealed documents (docs/protocol.md §4 and §13): reports, reporter messages and replies.

A document is a JSON object, padded to one of six size buckets so its length says little
about its content, then sealed with `crypto_box_seal` so that only the recipient can open
it and nothing identifies the sender. Reports and messages go to the oversight key;
replies go to the reporter's box key as written *inside* the report.

Version 2 documents (`"v": 2`) are sealed and padded the same way. They add what the
signed conversation (crypto.conversation) needs inside the sealed text: the reporter's
signing key in the report, and in every later document the case it belongs to.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from nacl.public import PrivateKey, PublicKey

from . import _sodium
from .encoding import b64u_decode
from .errors import CryptoError

__all__ = [
    "BUCKETS",
    "DOCUMENT_TYPES",
    "DOCUMENT_TYPES_V2",
    "MAX_DOCUMENT_BYTES",
    "MAX_SEALED_BYTES",
    "REPORT_CHANNELS",
    "DocumentTooLarge",
    "InvalidDocument",
    "bucket_for",
    "check_document",
    "check_document_v2",
    "open_document",
    "seal_document",
    "seal_document_v2",
    "seal_report",
]

BUCKETS = (1024, 4096, 16384, 65536, 262144, 1048576)
#: The largest plaintext JSON a v1 document can hold (padding needs at least one byte).
MAX_DOCUMENT_BYTES = BUCKETS[-1] - 1
#: The largest sealed document: the largest bucket plus the sealed-box overhead.
MAX_SEALED_BYTES = BUCKETS[-1] + _sodium.SEAL_OVERHEAD

DOCUMENT_TYPES = frozenset({"report", "message", "reply"})
#: v2 adds the status change and the outcome notice, both from the oversight body.
DOCUMENT_TYPES_V2 = frozenset({"report", "message", "reply", "status", "outcome"})
REPORT_CHANNELS = frozenset({"staff", "kiosk", "third_party"})

_TEXT_FIELDS = (
    "lang",
    "category",
    "facility",
    "location",
    "occurred",
    "description",
    "subjects",
    "witnesses",
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class InvalidDocument(ValueError):
    """A document we were asked to seal does not follow the v1 schema; says which field."""


class DocumentTooLarge(ValueError):
    """The document is larger than the largest v1 bucket (1 MiB less one byte)."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"This document is {size} bytes; protocol v1 documents must be under "
            f"{BUCKETS[-1]} bytes. Send long text or files as attachments."
        )
        self.size = size


def bucket_for(size: int) -> int:
    """The smallest bucket strictly larger than `size`, or `DocumentTooLarge`."""
    for bucket in BUCKETS:
        if bucket > size:
            return bucket
    raise DocumentTooLarge(size)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


#: The largest integer every JSON reader holds exactly (JavaScript's Number.MAX_SAFE_INTEGER):
#: a number past it means nothing a client could have meant, and only costs its reader.
MAX_JSON_INTEGER = 2**53 - 1


def _check_descriptor(d: object, where: str) -> None:
    if not isinstance(d, Mapping):
        raise InvalidDocument(f"{where} must be an object")
    for field in ("blob_id", "name", "mime"):
        if not isinstance(d.get(field), str):
            raise InvalidDocument(f"{where}.{field} must be a string")
    size = d.get("size")
    if not _is_int(size) or not 0 <= size <= MAX_JSON_INTEGER:  # type: ignore[operator]
        raise InvalidDocument(f"{where}.size must be an integer from 0 to 2^53 - 1")
    try:
        b64u_decode(d.get("key"), length=32)  # type: ignore[arg-type]
    except CryptoError:
        raise InvalidDocument(f"{where}.key must be 32 bytes of b64u") from None
    sha = d.get("sha256")
    if not isinstance(sha, str) or not _SHA256_HEX.fullmatch(sha):
        raise InvalidDocument(f"{where}.sha256 must be 64 lowercase hex digits")


def check_document(doc: object, expect: str | None = None) -> None:
    """Raise `InvalidDocument` unless `doc` is a v1 document (of type `expect`, if given).

    Every document needs `"v": 1` and a known `type`. A report must also carry every
    field §4.3 lists, with the right JSON type, because the console relies on them (above
    all `reply_box_pk` and the attachment keys). Unknown fields are allowed and ignored.
    Messages and replies carry `text`, and optionally `attachments`, and `sent_on`.
    """
    if not isinstance(doc, Mapping):
        raise InvalidDocument("a document must be a JSON object")
    if not _is_int(doc.get("v")) or doc.get("v") != 1:
        raise InvalidDocument('a v1 document must have "v": 1')
    kind = doc.get("type")
    if kind not in DOCUMENT_TYPES:
        raise InvalidDocument('"type" must be "report", "message" or "reply"')
    _check_body(doc, kind, expect)


def _check_body(doc: Mapping[str, Any], kind: str, expect: str | None) -> None:
    """The rules v1 and v2 share, after `v` and `type`."""
    if expect is not None and kind != expect:
        raise InvalidDocument(f'expected a "{expect}" document, got "{kind}"')
    if not _is_date(doc.get("sent_on")):
        raise InvalidDocument('"sent_on" must be a date, YYYY-MM-DD, with no time of day')
    attachments = doc.get("attachments", [])
    if not isinstance(attachments, list):
        raise InvalidDocument('"attachments" must be a list')
    for i, descriptor in enumerate(attachments):
        _check_descriptor(descriptor, f"attachments[{i}]")
    if kind != "report":
        if not isinstance(doc.get("text"), str):
            raise InvalidDocument(f'a {kind} must have a "text" string')
        return
    if doc.get("channel") not in REPORT_CHANNELS:
        raise InvalidDocument('"channel" must be "staff", "kiosk" or "third_party"')
    for field in _TEXT_FIELDS:
        if not isinstance(doc.get(field), str):
            raise InvalidDocument(f'"{field}" must be a string')
    if not isinstance(doc.get("urgent"), bool):
        raise InvalidDocument('"urgent" must be true or false')
    if "attachments" not in doc:
        raise InvalidDocument('a report must have "attachments" (an empty list if none)')
    identity = doc.get("identity", ...)
    if identity is not None and not isinstance(identity, str | Mapping):
        raise InvalidDocument('"identity" must be null, a string or an object')
    try:
        b64u_decode(doc.get("reply_box_pk"), length=_sodium.BOX_PUBLIC_BYTES)  # type: ignore[arg-type]
    except CryptoError:
        raise InvalidDocument('"reply_box_pk" must be a 32-byte public key in b64u') from None


def _check_key(doc: Mapping[str, Any], field: str) -> None:
    try:
        b64u_decode(doc.get(field), length=32)  # type: ignore[arg-type]
    except CryptoError:
        raise InvalidDocument(f'"{field}" must be 32 bytes of b64u') from None


def _check_history(history: object) -> None:
    """`history`: the v1 items of a case the console vouches for (docs/protocol.md §17)."""
    if not isinstance(history, Mapping):
        raise InvalidDocument('"history" must be an object')
    replies, received = history.get("replies"), history.get("received")
    if not isinstance(replies, list) or not all(
        isinstance(h, str) and _SHA256_HEX.fullmatch(h) for h in replies
    ):
        raise InvalidDocument('"history.replies" must be a list of SHA-256 values in hex')
    if not isinstance(received, list) or not all(isinstance(i, str) for i in received):
        raise InvalidDocument('"history.received" must be a list of item ids')


def check_document_v2(doc: object, expect: str | None = None) -> None:
    """Raise `InvalidDocument` unless `doc` is a v2 document (of type `expect`, if given).

    A v2 report is a v1 report with `"v": 2` and `reply_sign_pk`. Every other v2 document
    names its case with `case_key` (the reporter's box public key) and carries `text`,
    optionally `attachments`, and `sent_on`. A message may add `reply_sign_pk` with its
    `key_proof` (in a case filed under v1); an oversight document may add `history`.
    Unknown fields are allowed and ignored, as in v1.
    """
    if not isinstance(doc, Mapping):
        raise InvalidDocument("a document must be a JSON object")
    if not _is_int(doc.get("v")) or doc.get("v") != 2:
        raise InvalidDocument('a v2 document must have "v": 2')
    kind = doc.get("type")
    if kind not in DOCUMENT_TYPES_V2:
        raise InvalidDocument('"type" must be "report", "message", "reply", "status" or "outcome"')
    _check_body(doc, kind, expect)
    if kind == "report":
        _check_key(doc, "reply_sign_pk")
        return
    _check_key(doc, "case_key")
    if kind == "message":
        if ("reply_sign_pk" in doc) != ("key_proof" in doc):
            raise InvalidDocument('"reply_sign_pk" and "key_proof" come together or not at all')
        if "key_proof" in doc:
            _check_key(doc, "reply_sign_pk")
            _check_key(doc, "key_proof")
    elif "history" in doc:
        _check_history(doc["history"])


_CHECKS = {1: check_document, 2: check_document_v2}


def _encode(doc: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )
    except UnicodeEncodeError:
        raise InvalidDocument("the document holds text that is not valid Unicode") from None
    except (TypeError, ValueError) as exc:
        raise InvalidDocument(f"the document is not plain JSON: {exc}") from None


def seal_document(doc: Mapping[str, Any], recipient: PublicKey) -> bytes:
    """Check, encode, pad to its bucket and seal `doc` to `recipient`."""
    check_document(doc)
    return _seal(doc, recipient)


def seal_document_v2(doc: Mapping[str, Any], recipient: PublicKey) -> bytes:
    """`seal_document` for a v2 document (`check_document_v2` instead of the v1 check)."""
    check_document_v2(doc)
    return _seal(doc, recipient)


def _seal(doc: Mapping[str, Any], recipient: PublicKey) -> bytes:
    plain = _encode(doc)
    bucket = bucket_for(len(plain))
    return _sodium.box_seal(_sodium.pad(plain, bucket), bytes(recipient))


def seal_report(report: Mapping[str, Any], oversight: PublicKey) -> bytes:
    """Seal a report to the oversight public key (a `seal_document` that insists on a report)."""
    check_document(report, expect="report")
    return seal_document(report, oversight)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400 overflows to infinity
        raise ValueError(text)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # two readers could otherwise disagree on the value
        raise ValueError("duplicate key")
    return result


def open_document(
    sealed: bytes,
    key: PrivateKey,
    *,
    expect: str | None = None,
    versions: Collection[int] = (1,),
) -> dict[str, Any]:
    """Open a sealed document addressed to `key` and return the JSON object.

    `versions` are the document versions accepted (v1 only, unless told); each is checked
    against its own schema. Raises the opaque `CryptoError` for a wrong key, tampering,
    bad padding, a length that is not a bucket, invalid UTF-8 or JSON, a version not
    accepted, or a schema violation.
    """
    if len(sealed) > MAX_SEALED_BYTES:
        raise CryptoError("sealed document")
    padded = _sodium.box_seal_open(sealed, bytes(key.public_key), bytes(key))
    if len(padded) not in BUCKETS:
        raise CryptoError("sealed document")
    try:
        plain = _sodium.unpad(padded, len(padded))
        if bucket_for(len(plain)) != len(padded):  # v1 pads to the *smallest* bucket
            raise CryptoError("sealed document")
        text = plain.decode("utf-8")
        doc = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
        version = doc.get("v") if isinstance(doc, dict) else None
        if not _is_int(version) or version not in versions or version not in _CHECKS:
            raise CryptoError("sealed document")
        _CHECKS[version](doc, expect)
        # What we return must be re-sealable. Valid UTF-8 holds no surrogate, so only a
        # "\uD800"-style escape can smuggle in a lone one: re-encode only when one is there.
        if _SURROGATE_ESCAPE.search(text):
            _encode(doc)
    except (CryptoError, ValueError, RecursionError):
        raise CryptoError("sealed document") from None
    return doc  # type: ignore[no-any-return]
