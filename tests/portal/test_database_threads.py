"""`DatabaseThreads`: the threads in which a worker's requests use the database. At most
`size` pieces of work run at once, the rest wait in order, a cancelled request's work is
dropped if it has not started, and errors reach the request that asked."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from foundation.database import DatabaseThreads
from tests.conftest import run_coroutine

LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("label", default="")


def test_no_more_than_size_run_at_once_and_each_gets_its_own_result() -> None:
    threads = DatabaseThreads(2)
    lock = threading.Lock()
    running, most = 0, 0

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * n

    async def main() -> list[int]:
        return await asyncio.gather(*(threads.run(lambda n=n: work(n)) for n in range(10)))

    try:
        assert run_coroutine(main()) == [n * n for n in range(10)]
    finally:
        threads.close()
    assert most == 2


def test_an_error_reaches_the_request_that_asked() -> None:
    threads = DatabaseThreads(1)

    def fail() -> None:
        raise LookupError("no such case")

    try:
        with pytest.raises(LookupError, match="no such case"):
            run_coroutine(threads.run(fail))
    finally:
        threads.close()


def test_work_runs_with_the_requests_context_variables() -> None:
    threads = DatabaseThreads(1)

    async def main() -> str:
        LABEL.set("this request")
        return await threads.run(LABEL.get)

    try:
        assert run_coroutine(main()) == "this request"
    finally:
        threads.close()


def test_a_cancelled_request_that_waits_its_turn_never_runs() -> None:
    threads = DatabaseThreads(1)
    release, ran = threading.Event(), []

    async def main() -> None:
        first = asyncio.ensure_future(threads.run(lambda: release.wait(5)))
        second = asyncio.ensure_future(threads.run(lambda: ran.append("second")))
        await asyncio.sleep(0.05)  # the first holds the only thread; the second waits
        second.cancel()
        await asyncio.sleep(0)
        release.set()
        assert await first is True
        with pytest.raises(asyncio.CancelledError):
            await second

    try:
        run_coroutine(main())
    finally:
        threads.close()
    assert ran == []
