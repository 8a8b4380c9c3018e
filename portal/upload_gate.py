"""What one worker process takes in at once: uploads, and body bytes held in memory.

Without a bound, every slow upload adds to what the worker holds until its client stops
(issue 14: ten stalled forms used all 1,024 descriptors of a process, and twenty pinned
190 MiB). So each worker takes at most `upload_concurrency` uploads at once (an HTML
form, which is multipart, or `POST /api/v1/blobs`), each holding at most one open file,
and holds at most `body_buffer_bytes` of request bodies in memory (form text, JSON
bodies) for all its requests together. Past either, the request is refused at once
with 503 and `Retry-After`, and nothing of it is kept. How long a slow upload can hold
its place is bounded by `foundation.bodies.BodyPace`.

A request's share is given back when it ends, whatever the outcome: `GateMiddleware`
keeps its `Holdings` in the ASGI scope and releases them after the response. The counts
live in this process's memory only; each worker has its own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.languages import N_

from .errors import UploadsBusy

BUSY = N_(
    "The portal is receiving as many reports and files as it can just now. Nothing you "
    "sent was kept. Please go back and send it again in a minute."
)
_HOLDINGS = "lanthorn.holdings"


class Holdings:
    """What one request holds of its worker's bounds."""

    def __init__(self) -> None:
        self.gate: UploadGate | None = None
        self.upload = False
        self.bytes = 0

    def release(self) -> None:
        if self.gate is not None:
            self.gate.uploads_now -= self.upload
            self.gate.bytes_now -= self.bytes
        self.upload, self.bytes = False, 0


class UploadGate:
    def __init__(self, uploads: int, buffer_bytes: int) -> None:
        self.uploads, self.buffer_bytes = uploads, buffer_bytes
        self.uploads_now = 0
        self.bytes_now = 0

    def _holdings(self, request: Request) -> Holdings:
        holdings = request.scope.get(_HOLDINGS)
        if not isinstance(holdings, Holdings):
            raise RuntimeError("GateMiddleware must wrap every app that uses the gate")
        holdings.gate = self
        return holdings

    def enter_upload(self, request: Request) -> None:
        """Take one of the worker's upload places for this request, or refuse it (503)."""
        holdings = self._holdings(request)
        if holdings.upload:
            return
        if self.uploads_now >= self.uploads:
            raise UploadsBusy(BUSY)
        self.uploads_now += 1
        holdings.upload = True

    def hold_bytes(self, request: Request, count: int) -> None:
        """Count `count` more bytes of this request's body in memory, or refuse it (503)."""
        holdings = self._holdings(request)
        if self.bytes_now + count > self.buffer_bytes:
            raise UploadsBusy(BUSY)
        self.bytes_now += count
        holdings.bytes += count


class GateMiddleware:
    """Gives each HTTP request its `Holdings`, and gives them back when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holdings = scope[_HOLDINGS] = Holdings()
        try:
            await self.app(scope, receive, send)
        finally:
            holdings.release()
