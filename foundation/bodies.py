"""Reading request bodies safely: size limits enforced before and while streaming, and a
body that stalls or trickles cut off (408).

Every body either app reads comes through `receive_body`: the portal's multipart forms
(portal/multipart.py), the small urlencoded forms of both apps (`foundation.forms`), the
portal's JSON bodies (`read_body`) and the API's uploads (`limited_stream`). It reads
`request.receive()` itself, with a timeout on each read, because a client that sends a
few bytes and then nothing would otherwise keep its request, and whatever the request
holds (an upload slot, an open file, buffered text), for as long as the connection
stays open.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.requests import Request

from .errors import BadRequest, Disconnected, TooLarge, TooSlow
from .languages import N_

_DIGITS = re.compile(r"[0-9]{1,20}")
TOO_SLOW = N_(
    "What you sent arrived too slowly, so the portal stopped waiting for it. Nothing of "
    "it was kept. Please go back and send it again."
)
_READ = "lanthorn.body_read"


@dataclass(frozen=True)
class BodyPace:
    """How slowly a body may arrive before it is cut off with 408.

    - `idle_seconds`: the longest wait for the next bytes;
    - `min_rate` bytes a second, over each window of `window_seconds` spent waiting for
      the body: a window that brings less ends the request.

    Only time spent waiting for the client counts, never the portal's own work between
    two reads (a query, a fsync), so a busy portal does not cut off its reporters. Each
    window must bring its own bytes: a burst at the start does not buy a trickle after
    it, as an average since the start would. The first window is the grace period of a
    body that starts slowly. A body that ends within its first window is never too slow.
    """

    idle_seconds: float = 60
    min_rate: int = 1024
    window_seconds: float = 60


def pace_of(request: Request) -> BodyPace:
    """The app's `body_pace`, or the defaults (for apps without one, such as the console)."""
    app = request.scope.get("app")
    pace = getattr(getattr(app, "state", None), "body_pace", None)
    return pace if isinstance(pace, BodyPace) else BodyPace()


async def receive_body(
    request: Request,
    pace: BodyPace | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """The body as it arrives, under `pace` (the app's by default): `TooSlow` (408) when
    it stalls or trickles, `Disconnected` when the client goes away before its end."""
    pace = pace or pace_of(request)
    if request.scope.get(_READ):
        raise RuntimeError("this request's body has been read already")
    request.scope[_READ] = True
    needed = pace.min_rate * pace.window_seconds
    waited, brought = 0.0, 0  # in the current window
    while True:
        timeout = pace.idle_seconds
        if brought < needed:  # the window's end decides: wait no longer than that
            timeout = min(timeout, pace.window_seconds - waited)
        started = clock()
        try:
            async with asyncio.timeout(timeout):
                message = await request.receive()
        except TimeoutError:
            raise TooSlow(TOO_SLOW) from None
        if message["type"] == "http.disconnect":
            raise Disconnected("The connection closed before the request body ended.")
        waited += clock() - started
        body: bytes = message.get("body", b"")
        brought += len(body)
        if waited >= pace.window_seconds:
            if brought < needed:
                raise TooSlow(TOO_SLOW)
            waited, brought = 0.0, 0
        if body:
            yield body
        if not message.get("more_body", False):
            return


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        raise BadRequest("The Content-Length header is not a number.")
    return int(value)


def refuse_if_declared_over(request: Request, limit: int, what: str) -> None:
    """413 at once when the client announces more than `limit` bytes: nothing is read."""
    length = declared_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"{what} is {length} bytes; this portal accepts at most {limit}.")


async def limited_stream(request: Request, limit: int, what: str) -> AsyncIterator[bytes]:
    """The body as it arrives (`receive_body`), refused with 413 the moment it passes
    `limit`."""
    refuse_if_declared_over(request, limit, what)
    total = 0
    async for chunk in receive_body(request):
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"{what} is larger than this portal accepts ({limit} bytes).")
        yield chunk


async def read_body(request: Request, limit: int, what: str = "The request body") -> bytes:
    """The whole body, in memory: counted against the worker's bound on buffered body
    bytes (`portal.upload_gate`) until the request ends, where the app has one."""
    gate = getattr(getattr(request.scope.get("app"), "state", None), "upload_gate", None)
    parts = []
    async for chunk in limited_stream(request, limit, what):
        if gate is not None:
            gate.hold_bytes(request, len(chunk))
        parts.append(chunk)
    return b"".join(parts)
