"""The password gate: a bound on the Argon2id password checks that sign-ins run at once.

Password checks run under a small bound (`PasswordGate`): `SLOTS` Argon2id at once, at
most `WAITING` waiting; one more is refused at once with a 503 and Retry-After. A request
waits only while its client is connected: a closed tab gives up its place, and nothing is
checked for it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")

#: Argon2id password checks at once, and how many more may wait for one.
SLOTS = 2
WAITING = 4
#: Seconds a sign-in refused for want of a slot is told to wait.
RETRY_AFTER = 30


BUSY = (
    "Too many sign-ins are being checked just now. Nothing is wrong with what you typed: "
    f"try again in {RETRY_AFTER} seconds."
)


class Busy(Exception):
    """Every slot is taken and as many wait as may: try again in `RETRY_AFTER` seconds."""


class ClientGone(Exception):
    """The client went away before its check started: nothing was checked."""


class PasswordGate:
    """At most `slots` password checks at once in this process, at most `waiting_bound`
    waiting (first come, first served); one more is `Busy` at once. A waiting request
    whose client disconnects leaves the line, and its check never starts. The counts are
    totals since the start, in memory (the tests read them)."""

    def __init__(self, slots: int = SLOTS, waiting: int = WAITING) -> None:
        self.slots = max(1, slots)
        self.waiting_bound = max(0, waiting)
        self.running = 0
        self._line: collections.deque[asyncio.Future[bool]] = collections.deque()
        self.started = 0
        self.refused = 0
        self.withdrawn = 0

    def waiting(self) -> int:
        return sum(not f.done() for f in self._line)

    async def run(self, request: Request, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a thread once a slot is free. Call it once the request's body
        has been read: from then on its connection is watched."""
        gone = asyncio.Event()
        watching = asyncio.ensure_future(_watch_for_disconnect(request, gone))
        try:
            await self._take(gone)
            if gone.is_set():
                self._release()
                raise ClientGone
            self.started += 1
            thread = asyncio.ensure_future(run_in_threadpool(fn, *args))
            thread.add_done_callback(lambda ended: self._finished(ended))
            return await asyncio.shield(thread)
        finally:
            watching.cancel()

    async def _take(self, gone: asyncio.Event) -> None:
        if self.running < self.slots and not self._line:
            self.running += 1
            return
        if len(self._line) >= self.waiting_bound:
            self.refused += 1
            raise Busy
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        watching: asyncio.Future[bool] = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({turn, watching}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled: give back whatever this request holds
            self._leave(turn)
            raise
        finally:
            watching.cancel()
        if not turn.done():  # the client went away first: it leaves the line
            self._leave(turn)
            raise ClientGone
        # The slot is ours (`_release` handed it over); the caller checks `gone` again.

    def _leave(self, turn: asyncio.Future[bool]) -> None:
        if turn.done() and not turn.cancelled():
            self._release()  # granted meanwhile: hand the slot on
        else:
            turn.cancel()
            self._line.remove(turn)
            self.withdrawn += 1

    def _finished(self, ended: asyncio.Future[Any]) -> None:
        if not ended.cancelled():
            ended.exception()  # raised to the request, if it is still there
        self._release()

    def _release(self) -> None:
        """Hand the slot to the next in line, or free it."""
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(True)
                return
        self.running -= 1


async def _watch_for_disconnect(request: Request, gone: asyncio.Event) -> None:
    """Set `gone` when the client disconnects (the body read, the server's `receive` has
    nothing else to give; anything else a few times over and the watch ends)."""
    for _ in range(4):
        message = await request.receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return
