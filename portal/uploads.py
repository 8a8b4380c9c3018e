"""Reading the HTML forms that carry files, and turning their encrypted files into
durable, unreferenced blobs.

Shared by the report form and the follow-up message form, so both take and store
attachments the way the JSON API does: one of the worker's upload places
(`portal.upload_gate`), within the unclaimed-upload budget (`portal.upload_budget`), as
stored-form files under their id with a row in `blobs`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from foundation.languages import N_

from . import store
from .multipart import ParsedForm, parse_form
from .pages import in_session, today

FORM_OVERHEAD = 2 * 1024 * 1024  # text fields and multipart framing around the files
#: When the upload budget takes none of a form's files (`ParsedForm.refused`), the form
#: comes back with everything typed and this by the file input. 503 with `Retry-After`:
#: the form is not wrong, the portal cannot take files just now.
FILES_NOT_TAKEN = {
    "report": N_(
        "Your report has not been sent yet: the portal cannot take attachments just now, "
        "and did not keep these files: %(names)s. Everything you wrote is still here. Send "
        "the report without the files, or try again in a few minutes."
    ),
    "message": N_(
        "Your message has not been sent yet: the portal cannot take attachments just now, "
        "and did not keep these files: %(names)s. Everything you wrote is still here. Send "
        "the message without the files, or try again in a few minutes."
    ),
}


def total_limit(request: Request) -> int:
    return int(request.app.state.settings.limits.submission_bytes) + FORM_OVERHEAD


async def read_form(
    request: Request,
    csrf_purpose: str,
    before_files: Callable[[dict[str, str]], Awaitable[None]] | None = None,
) -> ParsedForm:
    """Read an HTML form with files (`parse_form`) as one of the worker's uploads.

    Refused with 503 when the worker takes as many uploads as it may, before any of the
    body is read. The CSRF token for `csrf_purpose` is checked before any file is opened
    (403); the files are taken within the unclaimed-upload budget, and when it takes none
    their names are in `refused` while the text is read on.
    """
    state = request.app.state
    state.upload_gate.enter_upload(request)

    def check_csrf(fields: dict[str, str]) -> None:
        state.csrf.check(request, csrf_purpose, fields.get("csrf"))

    async def allowance() -> int:
        unclaimed = await in_session(request, store.unclaimed_bytes)
        return int(state.upload_budget.admit(0, unclaimed))

    return await parse_form(
        request,
        state.blobs,
        total_limit=total_limit(request),
        check_fields=check_csrf,
        before_files=before_files,
        allowance=allowance,
        hold_text=lambda count: state.upload_gate.hold_bytes(request, count),
    )


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
        descriptors = await run_in_threadpool(commit)
    except BaseException:
        form.abort()
        raise
    for upload in form.files:  # counted here, in the event loop, as the API counts its own
        state.upload_budget.spend(upload.pending.size)
    return descriptors


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
