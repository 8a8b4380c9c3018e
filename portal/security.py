"""The portal's own protections: the CSPs of pages that run scripts, and the gate on Argon2id.

Every response carries the headers both apps send (`foundation.headers`), and forms carry
CSRF tokens (`foundation.csrf`); the kiosk's pages and the pages that seal in the browser
widen the CSP only as far as they need. Argon2id derivations run in worker threads, at
most `kdf_concurrency` at once, so a crowd of receipt attempts cannot exhaust memory; new
reports go first, and only so many of each kind may wait (`portal.admission`). A request
waits for its slot only while its client is still there (`derive`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from foundation.headers import SECURITY_HEADERS

from .admission import FOLLOW_UP, Admission
from .errors import Busy, ClientGone

T = TypeVar("T")

#: The kiosk's pages run scripts of our own (the idle warning, the Listen buttons) and play
#: the portal's own clips (portal/static/audio): nothing else changes.
KIOSK_MEDIA = "; media-src 'self'"
KIOSK_CSP = SECURITY_HEADERS["Content-Security-Policy"] + "; script-src 'self'" + KIOSK_MEDIA

#: Pages that run protocol v1 in the browser: our scripts and libsodium.js's WebAssembly
#: (compiled from bytes embedded in the script, hence 'wasm-unsafe-eval'; no eval of
#: JavaScript), and `fetch` to our own API.
BROWSER_CRYPTO_CSP = (
    SECURITY_HEADERS["Content-Security-Policy"]
    + "; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"
)
#: The kiosk's pages that seal in the browser: those, and the kiosk's own clips.
KIOSK_CRYPTO_CSP = BROWSER_CRYPTO_CSP + KIOSK_MEDIA


class KdfGate:
    """Runs Argon2id in worker threads: at most `slots` at once in this process, reports
    before follow-ups, and a bounded number of each waiting (`portal.admission`)."""

    def __init__(self, slots: int, waiting: Mapping[str, int] | None = None) -> None:
        self.admission: Admission[object] = Admission(slots, waiting)
        self._grants: dict[object, asyncio.Future[bool]] = {}
        #: Derivations started, by class, since the start (read by the tests).
        self.derived: collections.Counter[str] = collections.Counter()

    async def run(
        self,
        fn: Callable[..., T],
        *args: object,
        klass: str = FOLLOW_UP,
        gone: asyncio.Event | None = None,
    ) -> T:
        """`fn(*args)` in a thread once a slot of `klass` is free. `Busy` at once if too
        many of the class wait already; `ClientGone` if `gone` is set before it starts."""
        key = object()
        if not self.admission.ask(key, klass):
            raise Busy()
        granted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._grants[key] = granted
        self._pump()
        try:
            await wait_for_slot(granted, gone)
        except BaseException:  # cancelled, or the client went away: granted or not
            self._grants.pop(key, None)
            self._leave(key)
            raise
        return await derive_in_thread(fn, args, klass, gone, self.derived, lambda: self._leave(key))

    def _leave(self, key: object) -> None:
        self.admission.leave(key)
        self._pump()

    def _pump(self) -> None:
        for key in self.admission.take():
            granted = self._grants.pop(key)
            if not granted.done():
                granted.set_result(True)

    async def close(self) -> None:
        """Nothing to give back (`portal.kdf_queue.SharedKdfGate` has a connection)."""


async def wait_for_slot(answer: asyncio.Future[bool], gone: asyncio.Event | None) -> None:
    """Wait for the gate's answer: return once granted, `Busy` if refused, `ClientGone` as
    soon as `gone` is set (checked first: a client that left needs no slot)."""
    if gone is not None and not answer.done():
        watching: asyncio.Future[bool] = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({answer, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watching.cancel()
    else:
        await asyncio.wait({answer})
    if gone is not None and gone.is_set():
        raise ClientGone
    if not answer.result():
        raise Busy()


#: How much less CPU a follow-up's derivation gets than the rest of the portal (Linux
#: niceness, added to the process's own): anyone can type receipts, as fast as they
#: like, and while a flood keeps the follow-ups' slots busy, a new report's derivation,
#: the pages and the API should not have to share the cores with it equally.
FOLLOW_UP_NICENESS = 10
_follow_up_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _lower_this_thread() -> None:
    """Run this thread (and only it: Linux takes a thread id here) at a lower priority.
    Raising a number is always allowed; if the system refuses anyway, the thread runs
    at the normal priority."""
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + FOLLOW_UP_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))


def _follow_up_threads() -> concurrent.futures.ThreadPoolExecutor:
    """The threads follow-ups derive in, each at a lower priority (`_lower_this_thread`).
    Their number never limits anything: the gate decides how many derive at once."""
    global _follow_up_pool
    if _follow_up_pool is None:
        _follow_up_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="kdf-follow-up", initializer=_lower_this_thread
        )
    return _follow_up_pool


async def derive_in_thread(
    fn: Callable[..., T],
    args: tuple[object, ...],
    klass: str,
    gone: asyncio.Event | None,
    counts: collections.Counter[str],
    release: Callable[[], None],
) -> T:
    """With a slot granted: start `fn(*args)` in a thread, unless the client has gone
    meanwhile. `release` the slot when the thread ends, and not before, even if this
    request is cancelled: the slot stands for the memory the derivation uses."""
    if gone is not None and gone.is_set():
        release()
        raise ClientGone
    counts[klass] += 1
    thread: asyncio.Future[T]
    if klass == FOLLOW_UP:
        pool = _follow_up_threads()
        thread = asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))
    else:
        thread = asyncio.ensure_future(run_in_threadpool(fn, *args))

    def done(ended: asyncio.Future[T]) -> None:
        if not ended.cancelled():
            ended.exception()  # retrieved here, raised to the request below
        release()

    thread.add_done_callback(done)
    return await asyncio.shield(thread)


async def derive(request: Request, klass: str, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, an Argon2id derivation, through the portal's gate as a `klass` request
    (`portal.admission`). Call it once the request's body has been read.

    While the request waits for a slot, its connection is watched: a client that goes
    away (a closed tab, a dropped connection) gives up its place, and its derivation is
    never started (`ClientGone`). A follow-up is also `Busy` while a guessing campaign
    is on (`ReceiptThrottle.campaign`). `Busy` if too many of its class wait already: at once
    for a report; a follow-up is told after `REFUSAL_PAUSE` seconds (`ClientGone` if it
    leaves first), so that a flood of typed receipts, refused, still costs the portal
    little: each connection brings at most one guess a second.
    """
    gone = asyncio.Event()
    watching = asyncio.ensure_future(_watch_for_disconnect(request.receive, gone))
    try:
        state = request.app.state
        if klass == FOLLOW_UP and state.throttle.campaign():
            raise Busy()  # a guessing campaign is on: no derivation for typed receipts
        return await state.kdf_gate.run(fn, *args, klass=klass, gone=gone)  # type: ignore[no-any-return]
    except Busy:
        if klass == FOLLOW_UP:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFUSAL_PAUSE):
                    await gone.wait()
            if gone.is_set():
                raise ClientGone from None
        raise
    finally:
        watching.cancel()


#: Seconds a refused follow-up waits for its answer (`derive`). It holds no Argon2id slot
#: and no memory to speak of; an honest reporter refused is told within a second.
REFUSAL_PAUSE = 1.0


async def _watch_for_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Set `gone` when the client disconnects. With the body read, the server's `receive`
    has nothing left to give but that (uvicorn waits for it); anything else a few times
    over means a server that answers otherwise, and the watch ends."""
    for _ in range(4):
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            gone.set()
            return


def retry_later(response: Response, seconds: int = Busy.retry_after) -> Response:
    """A 503 page that says when to try again, in the header too."""
    response.headers["Retry-After"] = str(seconds)
    return response
