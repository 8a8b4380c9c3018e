"""portal/bodies.py's body reader on its own: how fast a body must arrive.

A body is cut off (408) when nothing arrives for `idle_seconds`, or when a window of
`window_seconds` spent waiting for it brings less than `min_rate` bytes a second. Only
time spent waiting for the client counts: the portal's own work between two reads (a
database query, a fsync) is never held against the reporter. The clock here is a fake
that each read moves on, so no test waits for real time but the stall.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from starlette.requests import Request
from starlette.types import Message

from foundation.bodies import BodyPace, receive_body
from foundation.errors import Disconnected, TooSlow
from tests.conftest import run_coroutine


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request_of(clock: FakeClock, script: list[tuple[float, bytes]], *, end: bool = True) -> Request:
    """A request whose body arrives as `script` says: (seconds waited, bytes) per read."""
    queue = list(script)

    async def receive() -> Message:
        if not queue:
            if end:
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)  # a client that has stopped sending
        waited, body = queue.pop(0)
        clock.now += waited
        return {"type": "http.request", "body": body, "more_body": bool(queue) or not end}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    return Request(scope, receive)


def read(
    request: Request, pace: BodyPace, clock: FakeClock, between: Callable[[], None] = lambda: None
) -> int:
    async def go() -> int:
        total = 0
        async for chunk in receive_body(request, pace, clock=clock):
            total += len(chunk)
            between()
        return total

    return run_coroutine(go())


PACE = BodyPace(idle_seconds=30, min_rate=1000, window_seconds=10)


def test_a_steady_body_arrives_whole() -> None:
    clock = FakeClock()
    script = [(1.0, b"x" * 2000)] * 60  # a minute at 2 kB/s
    assert read(request_of(clock, script), PACE, clock) == 120_000


def test_a_trickle_is_cut_off_at_the_end_of_its_first_window() -> None:
    clock = FakeClock()
    script = [(1.0, b"x" * 10)] * 60
    with pytest.raises(TooSlow) as refused:
        read(request_of(clock, script), PACE, clock)
    assert refused.value.status == 408
    assert clock.now - 1000 <= PACE.window_seconds + 1


def test_a_burst_does_not_buy_a_long_trickle_afterwards() -> None:
    """An average since the start would let 1 MB sent at once hold the request for
    a quarter of an hour at a byte a second; each window must bring its own bytes."""
    clock = FakeClock()
    script = [(0.1, b"x" * 1_000_000)] + [(1.0, b"x")] * 100
    with pytest.raises(TooSlow):
        read(request_of(clock, script), PACE, clock)
    assert clock.now - 1000 <= 2 * PACE.window_seconds + 1


def test_the_portals_own_delays_between_reads_do_not_count() -> None:
    clock = FakeClock()
    script = [(0.5, b"x" * 1000)] * 40  # 2 kB a second while the portal waits for it

    def slow_portal() -> None:
        clock.now += 30  # the portal is busy for 30 s after each chunk

    assert read(request_of(clock, script), PACE, clock, slow_portal) == 40_000


def test_a_body_that_stops_is_cut_off_after_the_idle_time() -> None:
    clock = FakeClock()
    request = request_of(clock, [(0.0, b"x" * 100)], end=False)
    with pytest.raises(TooSlow) as refused:
        read(request, BodyPace(idle_seconds=0.05, min_rate=1, window_seconds=3600), clock)
    assert "arrived too slowly" in refused.value.message


def test_a_client_that_goes_away_ends_the_read() -> None:
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    with pytest.raises(Disconnected):
        read(request, PACE, FakeClock())


def test_a_body_is_read_once() -> None:
    clock = FakeClock()
    request = request_of(clock, [(0.0, b"abc")])
    assert read(request, PACE, clock) == 3
    with pytest.raises(RuntimeError):
        read(request, PACE, clock)
