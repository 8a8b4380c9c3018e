"""Turning a parsed form's encrypted files into durable, unreferenced blobs.

Shared by the report form and the follow-up message form, so both store attachments the
same way the JSON API does: stored-form files under their id, a row in `blobs`.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from . import store
from .multipart import ParsedForm
from .pages import today

FORM_OVERHEAD = 2 * 1024 * 1024  # text fields and multipart framing around the files


def total_limit(request: Request) -> int:
    return int(request.app.state.settings.limits.submission_bytes) + FORM_OVERHEAD


async def commit_uploads(request: Request, form: ParsedForm) -> list[dict[str, Any]]:
    """Make the form's files durable as unreferenced blobs; return their descriptors."""
    day = today(request)
    state = request.app.state

    def commit() -> list[dict[str, Any]]:
        descriptors = []
        for upload in form.files:
            upload.blob_id = upload.pending.commit(day)
            with state.sessions() as session:
                store.record_unclaimed(session, upload.blob_id, upload.pending.size, day)
            descriptors.append(upload.descriptor())
        return descriptors

    try:
        return await run_in_threadpool(commit)
    except BaseException:
        form.abort()
        raise


async def forget_uploads(request: Request, attachments: list[dict[str, Any]]) -> None:
    """Delete files `commit_uploads` kept for a form that was then refused for good (a
    page sent twice): nothing will ever claim them."""
    state = request.app.state

    def forget() -> None:
        for attachment in attachments:
            with state.sessions() as session:
                if store.forget_unclaimed(session, attachment["blob_id"]):
                    state.blobs.delete(attachment["blob_id"])

    await run_in_threadpool(forget)
