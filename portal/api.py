"""The JSON API of docs/protocol.md §9 and §19: intake and follow-up for end-to-end clients,
and the console-facing sync endpoints. Every handler checks, then stores in one
transaction. v2 items carry their signed header beside the sealed text; the portal checks
that each follows the chain's head, and keeps the headers for as long as the case."""

from __future__ import annotations

import datetime
import re
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

import crypto
from foundation.blobstore import is_blob_id, is_stored_form_size
from foundation.bodies import declared_length, limited_stream, read_body, refuse_if_declared_over
from foundation.errors import BadRequest, NotFound, Unacceptable, UnsupportedMediaType

from . import report_insert, store
from .db import Case, Item
from .json_fields import b64u_field, blob_ids_field, parse_json_object, string_field
from .openapi import openapi_document
from .pages import in_session, with_database
from .pages import today as _today
from .signed import verify_console, verify_reporter
from .upload_budget import PAUSED, UploadsPaused

_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also accepts "²" and "٣"
_MAX_CURSOR = 2**62

#: Room for JSON framing around the largest sealed document, in base64 (4/3) plus fields.
_JSON_OVERHEAD = 64 * 1024


def _json_limit(request: Request) -> int:
    return int(request.app.state.settings.limits.document_bytes) * 4 // 3 + _JSON_OVERHEAD


def _require_type(request: Request, expected: str) -> None:
    """Refuse a body of any type but `expected`, before reading it. The unsigned intake
    endpoints accept only types a page on another site cannot send without asking first
    (a CORS preflight, which the portal never grants): no text/plain, no form."""
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent != expected:
        raise UnsupportedMediaType(
            f"Send this with Content-Type: {expected}.", code="unsupported_media_type"
        )


async def _json_body(request: Request) -> dict[str, Any]:
    _require_type(request, "application/json")
    return parse_json_object(await read_body(request, _json_limit(request)))


async def _signed_json(request: Request, verify: Any) -> tuple[Any, dict[str, Any]]:
    """Check the signature over the raw body first, and only then parse it."""
    body = await read_body(request, _json_limit(request))
    signer = await verify(request, body)
    return signer, parse_json_object(body)


def _signed_field(data: dict[str, Any]) -> store.SignedHeader | None:
    """A v2 item's `signed` header and `signature`, or None for a v1 item (neither sent)."""
    if "signed" not in data and "signature" not in data:
        return None
    signed = data.get("signed")
    if not isinstance(signed, str) or not signed:
        raise BadRequest('"signed" must be the signed header, as a string.', code="bad_field")
    return store.SignedHeader(signed.encode("utf-8"), b64u_field(data, "signature", 64))


async def config(request: Request) -> JSONResponse:
    s = request.app.state.settings
    return JSONResponse(
        {
            "protocol": crypto.PROTOCOL_VERSION,
            **s.oversight_keys.as_json(),
            "receipt_salt": crypto.b64u_encode(s.receipt_salt),
            "kdf": s.kdf.as_json(),
            "limits": s.limits.as_json(),
        }
    )


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


async def upload_blob(request: Request) -> JSONResponse:
    """Store one stored-form blob as it streams in; the portal never sees its plaintext."""
    _require_type(request, "application/octet-stream")
    state = request.app.state
    limit = state.settings.limits.blob_bytes
    refuse_if_declared_over(request, limit, "This attachment")
    state.upload_gate.enter_upload(request)  # 503 when this worker takes enough at once
    declared = declared_length(request) or 0
    unclaimed = await in_session(request, store.unclaimed_bytes)
    allowance = state.upload_budget.admit(declared, unclaimed)
    pending = state.blobs.start()
    try:
        async for chunk in limited_stream(request, limit, "This attachment"):
            if pending.size + len(chunk) > allowance:
                raise UploadsPaused(PAUSED)
            pending.write(chunk)
        if not is_stored_form_size(pending.size):
            raise Unacceptable(
                f"{pending.size} bytes is not the size of a v1 stored blob (a 24-byte header "
                "and whole 65553-byte chunks, the last one final).",
                code="bad_blob",
            )
        today = _today(request)
        blob_id = await run_in_threadpool(pending.commit, today)
    except BaseException:
        pending.abort()
        raise
    await in_session(request, store.record_unclaimed, blob_id, pending.size, today)
    state.upload_budget.spend(pending.size)
    return JSONResponse({"blob_id": blob_id}, status_code=201)


async def submit_report(request: Request) -> JSONResponse:
    """A new case and its report. On PostgreSQL, one without attachments is checked here,
    on the event loop, and stored by one statement (`report_insert`); the others are
    checked and stored in one transaction by `store.create_case`."""
    data = await _json_body(request)
    sealed = b64u_field(data, "sealed")
    lookup_id = b64u_field(data, "lookup_id", 32)
    box_pk = b64u_field(data, "box_pk", 32)
    sign_pk = b64u_field(data, "sign_pk", 32)
    signed = _signed_field(data)
    blob_ids = blob_ids_field(data)
    limits, today = request.app.state.settings.limits, _today(request)
    engine = request.app.state.engine
    if not blob_ids and report_insert.in_one_statement(engine):
        report = report_insert.check(
            sealed=sealed,
            lookup_id=lookup_id,
            box_pk=box_pk,
            sign_pk=sign_pk,
            signed=signed,
            limits=limits,
            today=today,
        )
        created = await with_database(request, lambda: report_insert.store_report(engine, report))
    else:
        created = await in_session(
            request,
            store.create_case,
            sealed=sealed,
            lookup_id=lookup_id,
            box_pk=box_pk,
            sign_pk=sign_pk,
            signed=signed,
            blob_ids=blob_ids,
            limits=limits,
            today=today,
        )
    return JSONResponse({"case": created.case_id}, status_code=201)


def _header_fields(item: Item) -> dict[str, str]:
    """A v2 item's header and signature as the API carries them (§19.2); {} under v1."""
    if item.signed is None:
        return {}
    return {
        "signed": item.signed.decode("utf-8", "replace"),
        "signature": crypto.b64u_encode(item.signature or b""),
    }


def thread_json(session: Session, case: Case, today: datetime.date) -> dict[str, Any]:
    """The thread as §9.3 and §19.2 shape it; reporter items lose `sealed` once
    acknowledged, and every v2 item keeps its header when `sealed` is purged."""
    items = store.thread_items(session, case, today)
    blobs = store.blob_ids_by_item(session, [i.seq for i in items])
    out = []
    for item in items:
        oversight = item.kind in store.OVERSIGHT_KINDS
        entry: dict[str, Any] = {
            "id": item.id,
            "from": "oversight" if oversight else "reporter",
            "blob_ids": blobs[item.seq],
            "on": item.on.isoformat(),
        }
        if item.sealed is not None and (oversight or item.acked_on is None):
            entry["sealed"] = crypto.b64u_encode(item.sealed)
        entry |= _header_fields(item)
        out.append(entry)
    return {
        "case": case.id,
        "status": {"state": case.status, "on": case.status_on.isoformat()},
        "items": out,
        "head": store.head_json(store.chain_head(session, case.id)),
    }


async def read_thread(request: Request) -> JSONResponse:
    case = await verify_reporter(request, await read_body(request, _json_limit(request)))
    return JSONResponse(await in_session(request, thread_json, case, _today(request)))


async def post_message(request: Request) -> JSONResponse:
    case, data = await _signed_json(request, verify_reporter)
    created = await in_session(
        request,
        store.add_message,
        case,
        sealed=b64u_field(data, "sealed"),
        signed=_signed_field(data),
        blob_ids=blob_ids_field(data),
        limits=request.app.state.settings.limits,
        today=_today(request),
    )
    return JSONResponse({"id": created.item_id}, status_code=201)


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    value = request.query_params.get(name)
    if value is None:  # an empty value is refused below, as the published schema says
        return default
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise BadRequest(f'"{name}" must be a whole number from {low} to {high}.', code="bad_field")
    return int(value)


async def console_outbox(request: Request) -> JSONResponse:
    await verify_console(request, await read_body(request, _json_limit(request)))
    after = _int_param(request, "after", None, 0, _MAX_CURSOR)
    limit = _int_param(request, "limit", 100, 1, 500) or 100
    return JSONResponse(await in_session(request, _outbox_page, after, limit))


def _outbox_page(session: Session, after: int | None, limit: int) -> dict[str, Any]:
    items = store.outbox(session, after, limit)
    blobs = store.blob_ids_by_item(session, [i.seq for i in items])
    cases = {c.id: c for c in (session.get(Case, i.case_id) for i in items) if c}
    return {
        "items": [
            {
                "id": item.id,
                "case": item.case_id,
                "kind": item.kind,
                "sealed": crypto.b64u_encode(item.sealed or b""),
                "blob_ids": blobs[item.seq],
                "box_pk": crypto.b64u_encode(cases[item.case_id].box_pk),
                "sign_pk": crypto.b64u_encode(cases[item.case_id].sign_pk),
                "on": item.on.isoformat(),
                "position": str(item.outbox),
                **_header_fields(item),
            }
            for item in items
        ],
        "next": str(items[-1].outbox) if items else None,
    }


async def console_blob(request: Request) -> Response:
    await verify_console(request, await read_body(request, _json_limit(request)))
    blob_id = request.path_params["blob_id"]
    if not is_blob_id(blob_id):
        raise NotFound("There is no such attachment on this portal.")

    blob = await in_session(request, store.claimed_blob, blob_id)
    path = request.app.state.blobs.path(blob.id)
    if not path.is_file():
        raise NotFound("This attachment has been purged from the portal.")
    return FileResponse(path, media_type="application/octet-stream")


async def console_ack(request: Request) -> JSONResponse:
    _, data = await _signed_json(request, verify_console)
    cursor = data.get("cursor")
    if not isinstance(cursor, str) or not _DIGITS.fullmatch(cursor) or int(cursor) > _MAX_CURSOR:
        raise BadRequest('"cursor" must be a cursor string from the outbox.', code="bad_field")

    acked = await in_session(request, store.acknowledge, int(cursor), _today(request))
    return JSONResponse({"acked": acked})


async def console_item(request: Request) -> JSONResponse:
    """A reply, status change or outcome notice, signed by the oversight signing key."""
    _, data = await _signed_json(request, verify_console)
    settings = request.app.state.settings
    case_id = string_field(data, "case")
    sealed = b64u_field(data, "sealed")
    signed = _signed_field(data)
    if signed is None:
        raise BadRequest('"signed" and "signature" are missing.', code="bad_field")
    created = await in_session(
        request,
        store.add_oversight_item,
        case_id,
        sealed=sealed,
        signed=signed,
        signer=bytes(settings.oversight_sign_key),
        document_limit=settings.limits.document_bytes,
        today=_today(request),
    )
    return JSONResponse({"id": created.item_id}, status_code=201)


routes = [
    Route("/api/v1/config", config, methods=["GET"]),
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route("/api/v1/blobs", upload_blob, methods=["POST"]),
    Route("/api/v1/reports", submit_report, methods=["POST"]),
    Route("/api/v1/thread", read_thread, methods=["GET"]),
    Route("/api/v1/thread/messages", post_message, methods=["POST"]),
    Route("/api/v1/console/outbox", console_outbox, methods=["GET"]),
    Route("/api/v1/console/blobs/{blob_id}", console_blob, methods=["GET"]),
    Route("/api/v1/console/ack", console_ack, methods=["POST"]),
    Route("/api/v1/console/items", console_item, methods=["POST"]),
]
