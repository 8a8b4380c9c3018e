"""The OpenAPI 3.1 document served at `/api/v1/openapi.json`.

It describes docs/protocol.md §9 and §19 as `portal/api.py` implements it: paths, bodies,
status codes and the `error` codes each endpoint can return, for authors of third-party
clients. The document is built once at import; `openapi_document()` hands out a copy.
"""

from __future__ import annotations

import copy
from typing import Any

from crypto.documents import BUCKETS, MAX_SEALED_BYTES

Json = dict[str, Any]

_INFO_DESCRIPTION = """\
Intake and follow-up for end-to-end encrypted misconduct reports (Lanthorn protocol v2,
the signed conversation). The portal only ever stores ciphertext.

**Reporting.** `GET /api/v1/config`; derive the reporter keys from a fresh receipt; upload
each attachment in its v1 stored form to `POST /api/v1/blobs`; seal the report to
`oversight_public_key`, sign its header (docs/protocol.md §14); `POST /api/v1/reports`
with the `blob_ids`. **Following up.** Sign `GET /api/v1/thread` and
`POST /api/v1/thread/messages` with the reporter's sign key; check every item's header
before showing it (§15, §16), and sign each message after the thread's `head`.
**Console.** Page through `GET /api/v1/console/outbox`, download attachments, then `ack`
the cursor; send replies, status changes and outcome notices signed by the oversight
signing key to `POST /api/v1/console/items`.

**Signed items.** A v2 item carries `signed` (its header: nine ASCII lines joined by
`\n`, §14.1) and `signature` (b64u, 64 bytes) beside `sealed`; a v1 item has neither.
The portal keeps headers when it purges `sealed`, and takes an item only if it follows
the head of its case's chain (409 `thread_moved_on`, with the `head`, otherwise: read
again, sign again). These checks keep the chain straight; clients' own checks are what
protect reporters. Reports and messages without a header (v1) are still taken.

**Encodings.** Every binary value is URL-safe base64 *without padding* (b64u, RFC 4648 §5,
decoded strictly: one spelling per value). Dates are `YYYY-MM-DD`, never a time of day.

**Signed requests** (docs/protocol.md §6). The four `Lanthorn-*` headers sign the ASCII
string of six lines joined by `\\n`, no trailing newline: `lanthorn/v1/request`, the method,
the request target exactly as sent (raw path, then `?` and the raw query if any), the
timestamp (decimal Unix seconds, as in the header), the nonce (b64u of 16 random bytes, as
in the header) and the lowercase hex SHA-256 of the body (of the empty string when there is
none). The signature is Ed25519 over that string. Timestamps more than 120 s from the
portal's clock, and nonces reused under the same key, are refused. Every signature failure
is a 401 `unauthorized` with no detail.

**Errors** are `{"error": code, "message": sentence}`: 400 malformed, 401 signature, 404
not found, 408 body too slow (the connection is closed), 409 lookup id in use, 413 body too
large (refused before reading further), 422 well formed but unacceptable, 503 `busy` or
`uploads_paused` with a `Retry-After` header. A refused request changes nothing. An
unknown path or method is 404/405 `http_error`; a server fault is 500 `internal`. While
the portal's database cannot be reached, any endpoint that needs it answers 503
`unavailable` with a `Retry-After` header (seconds): send the request again then. A
request that is not valid HTTP (a malformed header line or length) is refused by the HTTP
server itself, before the API, with a plain-text 400.
"""

#: Every `error` code of the API: its HTTP status and what it means.
_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Content-Length is not a number"),
    "bad_json": (400, "the body is not a JSON object"),
    "bad_field": (400, "a field is missing, of the wrong type, too long, or too many blob ids"),
    "bad_base64": (400, "a binary field is not strict b64u, or a key is not 32 bytes"),
    "unauthorized": (401, "the signature is missing, malformed, stale, replayed or unknown"),
    "not_found": (404, "no stored report or message references this blob, or it was purged"),
    "uploads_paused": (503, "a bound on unclaimed uploads is reached; nothing was kept; "
                       "see Retry-After"),
    "busy": (503, "this portal process takes as many uploads, or holds as many request "
             "bodies in memory, as it may at once; nothing was kept; see Retry-After"),
    "too_slow": (408, "the body stopped arriving, or came too slowly (less than "
                 "`LANTHORN_BODY_MIN_RATE` bytes a second over a window); nothing was kept, "
                 "and the connection is closed"),
    "unsupported_media_type": (415, "the body's Content-Type is not this endpoint's own: "
                               "no text/plain, form or multipart body is taken"),
    "lookup_in_use": (409, "a case already has this `lookup_id`: start from a new receipt"),
    "thread_moved_on": (409, "the item does not follow the head of its case's chain, which the "
                        "answer's `head` gives: read the thread, sign again after it, resend"),
    "too_large": (413, "the declared or streamed body is over the limit (`limits.blob_bytes` "
                  "for blobs, otherwise `limits.document_bytes` × 4/3 + 65536)"),
    "bad_blob": (422, "the size is not 24 + n × 65553 bytes (n ≥ 1), a v1 stored blob"),
    "document_too_large": (422, "decoded `sealed` is over `limits.document_bytes`"),
    "bad_sealed_document": (422, "decoded `sealed` is not a v1 padding bucket + 48 bytes"),
    "blob_repeated": (422, "a blob id is listed twice"),
    "blob_unavailable": (422, "a blob id is unknown, purged, or used by another submission"),
    "submission_too_large": (422, "the blobs total more than `limits.submission_bytes`"),
    "unknown_case": (422, "there is no case with this id"),
    "bad_item": (422, "the signed header does not parse, is of a kind this endpoint does not "
                 "take, names another case or signer, does not match `sealed`, or its "
                 "signature does not verify"),
}  # fmt: skip

_SIGNED = ("bad_request", "unauthorized", "too_large", "too_slow", "busy")
_JSON = ("bad_json", "bad_field", "bad_base64")
_SEALED = ("document_too_large", "bad_sealed_document")
_BLOBS = ("blob_repeated", "blob_unavailable", "submission_too_large")
_ITEM = ("bad_item",)


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _about(name: str, description: str) -> Json:
    """A reference to schema `name` with a description for this use of it."""
    return {"allOf": [_ref(name)], "description": description}


def _json(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _obj(properties: Json, required: list[str] | None = None, **extra: Any) -> Json:
    """An object schema; every property is required unless `required` says otherwise."""
    req = list(properties) if required is None else required
    return {"type": "object", "properties": properties, "required": req, **extra}


def _b64u(nbytes: int, last: str, description: str) -> Json:
    """b64u of exactly `nbytes` bytes; `last` holds the final characters a strict decoder takes."""
    n = (nbytes * 4 + 2) // 3
    pattern = f"^[A-Za-z0-9_-]{{{n - 1}}}[{last}]$"
    about = f"{description}: b64u of exactly {nbytes} bytes ({n} characters)."
    return {"type": "string", "format": "base64url", "pattern": pattern, "description": about}


def _b64u_length(nbytes: int) -> int:
    """Characters of unpadded b64u for `nbytes` bytes: the size rules as the API sees them."""
    return (nbytes * 4 + 2) // 3


def _str(pattern: str, description: str) -> Json:
    return {"type": "string", "pattern": pattern, "description": description}


_INT: Json = {"type": "integer", "minimum": 0}
_SHORT: Json = {"type": "string", "minLength": 1, "maxLength": 64}
_SCHEMAS: Json = {
    "Error": _obj({"error": {"type": "string"}, "message": {"type": "string"},
                   "head": {"anyOf": [_ref("Head"), {"type": "null"}]}},
                  required=["error", "message"],
                  description="`error` is a short stable code, `message` a sentence for "
                  "people; `head` only with 409 `thread_moved_on`."),
    "B64u": {"type": "string", "format": "base64url", "pattern": "^[A-Za-z0-9_-]*$",
             "description": "URL-safe base64 without `=` padding, decoded strictly."},
    "Key32": _b64u(32, "AEIMQUYcgkosw048", "A public key or lookup id"),
    "Sealed": {**_about("B64u", "A sealed document, v1 or v2 (`crypto_box_seal` of the "
                        "padded JSON): decoded, a padding bucket (1, 4, 16, 64, 256 or 1024 "
                        "KiB) + 48 bytes, at most `limits.document_bytes`."),
               "minLength": _b64u_length(BUCKETS[0] + MAX_SEALED_BYTES - BUCKETS[-1]),
               "maxLength": _b64u_length(MAX_SEALED_BYTES)},
    "Signed": {"type": "string", "minLength": 1,
               "description": "A v2 item's signed header (docs/protocol.md §14.1): nine ASCII "
               "lines joined by `\\n`, no final newline, at most 512 bytes."},
    "Signature": _b64u(64, "AQgw", "The Ed25519 signature of `signed`"),
    "Head": _obj({"seq": _INT, "hash": _str("^[0-9a-f]{64}$", "SHA-256 of its header, hex.")},
                 description="The last item of a case's chain as the portal holds it."),
    "Rollover": _obj({"statement": {"type": "string"}, "old_signature": {"type": "string"},
                      "new_signature": {"type": "string"}},
                     description="A rollover statement and both signatures (§12.3)."),
    "Date": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    "BlobId": _str("^[A-Za-z0-9_-]{22}$", "An id from `POST /api/v1/blobs` (b64u, 16 bytes)."),
    "BlobIds": {"type": "array", "items": _ref("BlobId"), "maxItems": 100, "default": [],
                "description": "Blobs uploaded earlier and not yet referenced, each once."},
    "CaseId": _str("^[0-9A-HJKMNP-TV-Z]{10}$", "Ten Crockford base32 characters."),
    "ItemId": _str("^[A-Za-z0-9_-]{16}$", "A thread item id (b64u, 12 bytes)."),
    "Cursor": _str("^[0-9]{1,19}$", "An outbox position: decimal digits, at most 2^62."),
    "State": {"enum": ["received", "acknowledged", "in_review", "action_taken", "closed"]},
    "Status": _obj({"state": _ref("State"), "on": _ref("Date")}),
    "Config": _obj({
        "protocol": {"const": 2},
        "oversight_public_key": _about("Key32", "The X25519 key reports are sealed to."),
        "oversight_sign_key": _about("Key32", "The Ed25519 key every reply, status change "
                                     "and outcome notice is signed with."),
        "oversight_fingerprint": _str("^[0-9A-HJKMNP-TV-Z]{4}( [0-9A-HJKMNP-TV-Z]{4}){4}$",
                                      "The two keys' fingerprint (§12.2), for people: compute "
                                      "it, never trust it."),
        "oversight_rollovers": {"type": "array", "items": _ref("Rollover"),
                                "description": "Rollover statements, newest first (§12.4)."},
        "receipt_salt": _b64u(16, "AQgw", "The Argon2id salt for reporter keys"),
        "kdf": _obj({"alg": {"const": "argon2id13"}, "t": _INT, "m_kib": _INT, "p": _INT},
                    description="v1 deployments serve t=3, m_kib=65536, p=1."),
        "limits": _obj({"document_bytes": _INT, "blob_bytes": _INT, "submission_bytes": _INT},
                       description="Largest decoded `sealed`, largest stored blob, largest "
                       "total of the blobs one report or message references; in bytes."),
    }),
    "ReportRequest": _obj(
        {"sealed": _ref("Sealed"), "lookup_id": _ref("Key32"), "box_pk": _ref("Key32"),
         "sign_pk": _ref("Key32"), "blob_ids": _ref("BlobIds"), "signed": _ref("Signed"),
         "signature": _ref("Signature")},
        required=["sealed", "lookup_id", "box_pk", "sign_pk"],
        description="With `signed` and `signature`, a v2 report: a `report` header at SEQ 0 "
        "for `box_pk`, signed by `sign_pk`. Without them, a v1 report.",
    ),
    "MessageRequest": _obj(
        {"sealed": _ref("Sealed"), "blob_ids": _ref("BlobIds"), "signed": _ref("Signed"),
         "signature": _ref("Signature")}, ["sealed"],
        description="With `signed` and `signature`, a v2 message: a `message` header for the "
        "case, signed by its `sign_pk`, following the thread's head. Without them, a v1 "
        "message.",
    ),
    "AckRequest": _obj({"cursor": _ref("Cursor")}),
    "ItemRequest": _obj({"case": _SHORT, "sealed": _ref("Sealed"), "signed": _ref("Signed"),
                         "signature": _ref("Signature")},
                        description="A `reply`, `status` or `outcome` for the case's box key, "
                        "signed by `oversight_sign_key`, following the thread's head."),
    "ThreadItem": _obj(
        {"id": _ref("ItemId"), "from": {"enum": ["reporter", "oversight"]},
         "sealed": _ref("Sealed"), "blob_ids": {"type": "array", "items": _ref("BlobId")},
         "on": _ref("Date"), "signed": _ref("Signed"), "signature": _ref("Signature")},
        required=["id", "from", "blob_ids", "on"],
        description="Reporter items lose `sealed` once the console acknowledged them; "
        "oversight items once purged. A v2 item keeps `signed` and `signature`; `from` is "
        "the portal's word, the header's kind decides.",
    ),
    "Thread": _obj({"case": _ref("CaseId"), "status": _ref("Status"),
                    "items": {"type": "array", "items": _ref("ThreadItem")},
                    "head": {"anyOf": [_ref("Head"), {"type": "null"}]}}),
    "OutboxItem": _obj({
        "id": _ref("ItemId"), "case": _ref("CaseId"), "kind": {"enum": ["report", "message"]},
        "sealed": _ref("Sealed"), "blob_ids": {"type": "array", "items": _ref("BlobId")},
        "box_pk": _about("Key32", "The portal's copy of the reporter's box key: compare it "
                         "with `reply_box_pk` in the report, and seal replies to the latter."),
        "sign_pk": _about("Key32", "The portal's copy of the reporter's signing key: compare "
                          "it with `reply_sign_pk` in a v2 report."),
        "on": _ref("Date"),
        "position": _about("Cursor", "This item's place in the outbox: acknowledging it "
                           "acknowledges every item up to here."),
        "signed": _ref("Signed"), "signature": _ref("Signature"),
    }, required=["id", "case", "kind", "sealed", "blob_ids", "box_pk", "sign_pk", "on",
                 "position"]),
    "Outbox": _obj({
        "items": {"type": "array", "items": _ref("OutboxItem")},
        "next": {"anyOf": [_ref("Cursor"), {"type": "null"}],
                 "description": "The cursor of the page's last item; null if it is empty."},
    }),
}  # fmt: skip


def _header(name: str, description: str) -> Json:
    return {"type": "apiKey", "in": "header", "name": name, "description": description}


_SCHEMES: Json = {
    "LanthornKeyReporter": _header(
        "Lanthorn-Key", "b64u of the reporter's 32-byte `lookup_id`; the request is signed "
        "with the key registered as the case's `sign_pk`."),
    "LanthornKeyConsole": _header(
        "Lanthorn-Key", "b64u of the console's 32-byte Ed25519 verify key (the portal's "
        "`console.pub`), which signs the request."),
    "LanthornTimestamp": _header(
        "Lanthorn-Timestamp", "Unix seconds, `0|[1-9][0-9]{0,11}`, within 120 s of the portal."),
    "LanthornNonce": _header(
        "Lanthorn-Nonce", "b64u of 16 fresh random bytes, never reused under one key."),
    "LanthornSignature": _header(
        "Lanthorn-Signature", "b64u of the 64-byte Ed25519 signature of the canonical string "
        "(info.description; docs/protocol.md §18, or §6 for v1). Send each header once."),
    "LanthornProtocol": _header(
        "Lanthorn-Protocol", "`2`: the request is signed as v2 (with the host and the key id). "
        "Left out, it is a v1 request, accepted during the transition only."),
}  # fmt: skip

_SIGNED_HEADERS: Json = {"LanthornTimestamp": [], "LanthornNonce": [], "LanthornSignature": []}
#: Thread endpoints: `Lanthorn-Key` is the reporter's lookup_id; v2, or v1 for now.
REPORTER_SIGNED: list[Json] = [
    {"LanthornKeyReporter": [], **_SIGNED_HEADERS, "LanthornProtocol": []},
    {"LanthornKeyReporter": [], **_SIGNED_HEADERS},
]
#: Console endpoints: `Lanthorn-Key` is the console's verify key; v2, or v1 for now.
CONSOLE_SIGNED: list[Json] = [
    {"LanthornKeyConsole": [], **_SIGNED_HEADERS, "LanthornProtocol": []},
    {"LanthornKeyConsole": [], **_SIGNED_HEADERS},
]


def _errors(codes: tuple[str, ...]) -> Json:
    """One response per status, listing its `error` codes and what each means."""
    responses: Json = {}
    for status in sorted({_CODES[c][0] for c in codes}):
        mine = [c for c in codes if _CODES[c][0] == status]
        lines = "; ".join(f"`{c}`: {_CODES[c][1]}" for c in mine)
        schema = {"allOf": [_ref("Error")], "properties": {"error": {"enum": mine}}}
        responses[str(status)] = {"description": f"{lines}.", "content": _json(schema)}
    return responses


def _ok(status: int, description: str, content: Json) -> Json:
    """The success response(s) of an operation."""
    return {str(status): {"description": description, "content": content}}


def _op(summary: str, description: str, ok: Json, *, errors: tuple[str, ...] = (),
        tag: str = "public", security: list[Json] | None = None, body: Json | None = None,
        parameters: list[Json] | None = None) -> Json:  # fmt: skip
    op: Json = {"tags": [tag], "summary": summary, "description": description}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    op["responses"] = {**ok, **_errors(errors)}
    op["security"] = security or []
    return op


def _query(name: str, low: int, high: int, description: str, **extra: Any) -> Json:
    schema = {"type": "integer", "minimum": low, "maximum": high, **extra}
    return {"name": name, "in": "query", "description": description, "schema": schema}


_BLOB_BODY: Json = {"application/octet-stream": {"schema": {
    "type": "string", "contentMediaType": "application/octet-stream",
    "description": "The v1 stored form (docs/protocol.md §5): the 24-byte secretstream "
    "header, then whole 65553-byte chunks, the last tagged FINAL: at least 65577 bytes, "
    "at most `limits.blob_bytes` (`/api/v1/config`). A larger `Content-Length` is refused "
    "with 413 before any of the body is read, and a body that grows past it while "
    "streaming is cut off with 413.",
}}}  # fmt: skip

_PATHS: Json = {
    "/api/v1/config": {"get": _op(
        "Deployment parameters",
        "What a client needs before deriving keys and sealing: protocol version, the "
        "oversight keys (box and signing key, fingerprint, rollovers), receipt salt, KDF "
        "parameters and size limits.",
        _ok(200, "The configuration.", _json(_ref("Config"))),
    )},
    "/api/v1/openapi.json": {"get": _op(
        "This document", "The OpenAPI 3.1 description of the portal JSON API.",
        _ok(200, "The OpenAPI document.", _json({"type": "object"})),
    )},
    "/api/v1/blobs": {"post": _op(
        "Upload an attachment",
        "Streams one encrypted attachment; the portal checks only its size. Reference the id "
        "from one report or message; blobs never referenced are purged after a few hours.",
        _ok(201, "Stored, not yet referenced.", _json(_obj({"blob_id": _ref("BlobId")}))),
        errors=("unsupported_media_type", "bad_request", "too_large", "too_slow", "bad_blob",
                "uploads_paused", "busy"),
        body=_BLOB_BODY,
    )},
    "/api/v1/reports": {"post": _op(
        "File a report",
        "Opens a case for a new `lookup_id` with the sealed report, its signed header (v2) "
        "and its attachments. Checks run in the order 415, 400, 422, 409.",
        _ok(201, "The case was opened.", _json(_obj({"case": _ref("CaseId")}))),
        errors=("unsupported_media_type", "bad_request", *_JSON, "too_large", "too_slow",
                "busy", *_SEALED, *_BLOBS, *_ITEM, "lookup_in_use"),
        body=_json(_ref("ReportRequest")),
    )},
    "/api/v1/thread": {"get": _op(
        "Read the case thread",
        "The public status, every item in order (the report and messages, `from: reporter`; "
        "replies, status changes and outcome notices, `from: oversight`), each v2 item with "
        "its header, and the chain's `head`. Delivering an oversight item starts its "
        "retention period.",
        _ok(200, "The thread of the case that signed the request.", _json(_ref("Thread"))),
        errors=_SIGNED, tag="reporter", security=REPORTER_SIGNED,
    )},
    "/api/v1/thread/messages": {"post": _op(
        "Send a follow-up message",
        "Adds a message sealed to the oversight key, with its signed header (v2) and optional "
        "attachments, to the case that signed the request. The signature over the raw body "
        "is checked before the body is parsed, so an unsigned request is 401 whatever its "
        "body.",
        _ok(201, "The message was stored.", _json(_obj({"id": _ref("ItemId")}))),
        errors=(*_SIGNED, *_JSON, *_SEALED, *_BLOBS, *_ITEM, "thread_moved_on"),
        tag="reporter", security=REPORTER_SIGNED, body=_json(_ref("MessageRequest")),
    )},
    "/api/v1/console/outbox": {"get": _op(
        "List unacknowledged reports and messages",
        "Reporter items not yet acknowledged, in arrival order. Pass the previous page's "
        "`next` as `after` to continue; without it, listing starts at the oldest.",
        _ok(200, "One page.", _json(_ref("Outbox"))),
        errors=(*_SIGNED, "bad_field"), tag="console", security=CONSOLE_SIGNED,
        parameters=[_query("after", 0, 2**62, "List items after this cursor."),
                    _query("limit", 1, 500, "Items per page at most.", default=100)],
    )},
    "/api/v1/console/blobs/{blob_id}": {"get": _op(
        "Download an attachment",
        "The stored form of a blob a report or message references, streamed (`Range` is "
        "honoured, 206); decrypt it with the key in the report's blob descriptor.",
        {**_ok(200, "The stored blob.", {"application/octet-stream": {}}),
         "206": {"description": "The requested byte range of the stored blob."}},
        errors=(*_SIGNED, "not_found"), tag="console", security=CONSOLE_SIGNED,
        parameters=[{"name": "blob_id", "in": "path", "required": True,
                     "schema": _ref("BlobId")}],
    )},
    "/api/v1/console/ack": {"post": _op(
        "Acknowledge up to a cursor",
        "Marks every outbox item up to and including `cursor` as stored by the console: "
        "they leave the outbox and are purged after the retention period.",
        _ok(200, "How many items this call acknowledged.", _json(_obj({"acked": _INT}))),
        errors=(*_SIGNED, "bad_json", "bad_field"),
        tag="console", security=CONSOLE_SIGNED, body=_json(_ref("AckRequest")),
    )},
    "/api/v1/console/items": {"post": _op(
        "Send a reply, status change or outcome notice",
        "Adds an item signed by the oversight signing key, sealed to the `reply_box_pk` "
        "inside the decrypted report, to the case's thread; its header's state, if any, "
        "becomes the case's status, dated today. Checks run in the order 400, 422, 409.",
        _ok(201, "The item was stored.", _json(_obj({"id": _ref("ItemId")}))),
        errors=(*_SIGNED, *_JSON, *_SEALED, "unknown_case", *_ITEM, "thread_moved_on"),
        tag="console", security=CONSOLE_SIGNED, body=_json(_ref("ItemRequest")),
    )},
}  # fmt: skip

# Starlette's FileResponse answers a `Range` it cannot serve itself, in plain text.
_DOWNLOAD = _PATHS["/api/v1/console/blobs/{blob_id}"]["get"]["responses"]
_DOWNLOAD["400"]["description"] += " A malformed `Range` header: a plain-text sentence."
_DOWNLOAD["400"]["content"]["text/plain"] = {"schema": {"type": "string"}}
_DOWNLOAD["416"] = {
    "description": "The `Range` starts past the end of the stored blob; "
    "`Content-Range: bytes */size` gives its size.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}

_DOCUMENT: Json = {
    "openapi": "3.1.0",
    "info": {
        "title": "Lanthorn portal API",
        "version": "2",
        "summary": "Anonymous, end-to-end encrypted misconduct reporting (protocol v2).",
        "description": _INFO_DESCRIPTION,
    },
    "tags": [
        {"name": "public", "description": "Unauthenticated."},
        {"name": "reporter", "description": "Signed with the reporter's receipt-derived key."},
        {"name": "console", "description": "Signed with the triage console's key."},
    ],
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": _SCHEMES,
        "x-security-requirements": {
            "reporter-signed": REPORTER_SIGNED,
            "console-signed": CONSOLE_SIGNED,
        },
    },
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document; a fresh copy each call, so callers may change it freely."""
    return copy.deepcopy(_DOCUMENT)
