"""Who derives next, in one worker and across `serve`'s workers.

`portal.admission` holds the rules: reports before follow-ups, a slot kept for reports,
first come first served within each, and a bound on how many of each may wait. The same
scenarios run against a worker's own `KdfGate` and against the queue `serve` shares
(`KdfQueue` with `SharedKdfGate`): first come, first served across workers, never more at
once than its slots, and never stuck by a worker that died.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.admission import FOLLOW_UP, REPORT, Admission
from portal.errors import Busy, ClientGone
from portal.kdf_queue import KdfQueue, SharedKdfGate, new_address
from portal.security import FOLLOW_UP_NICENESS, KdfGate, derive_in_thread
from tests.conftest import run_coroutine


@pytest.fixture
def queue() -> Iterator[KdfQueue]:
    running = KdfQueue(new_address(), slots=2).start()
    yield running
    running.stop()


class Work:
    """A stand-in derivation that records when each one starts and how many overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.started: list[str] = []

    def __call__(self, name: str) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.started.append(name)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return name


def test_two_workers_share_the_slots_first_come_first_served(queue: KdfQueue) -> None:
    """Reports, from whichever worker, in the order asked."""
    work = Work()

    async def scenario() -> list[str]:
        # Two workers: each its own connection to the queue, as two processes would have.
        first = SharedKdfGate(queue.address, KdfGate(1))
        second = SharedKdfGate(queue.address, KdfGate(1))
        jobs = []
        for n in range(10):  # six asked for at one worker, then four at the other
            gate = first if n < 6 else second
            jobs.append(asyncio.ensure_future(gate.run(work, f"job{n}", klass=REPORT)))
            while queue.asked <= n:  # each ask reaches the queue before the next is made
                await asyncio.sleep(0.001)
        done = list(await asyncio.gather(*jobs))
        await first.close()
        await second.close()
        return done

    done = run_coroutine(scenario())
    assert done == [f"job{n}" for n in range(10)]
    assert work.most == 2  # the queue's two slots, whichever worker asked
    # In the order asked: two granted together may start in either order, no more. With
    # a queue in each worker, the second worker's jobs would have started at once.
    assert all(abs(work.started.index(f"job{n}") - n) <= 1 for n in range(10))
    assert queue.running == 0


def raw_client(address: str) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect("\0" + address)  # abstract namespace: no file
    client.settimeout(5)
    return client


def test_a_worker_that_dies_holding_slots_or_waiting_frees_them(queue: KdfQueue) -> None:
    dying = raw_client(queue.address)
    dying.sendall(b"A 1 r\nA 2 r\nA 3 r\n")  # two granted, one waiting
    assert dying.recv(64).count(b"G ") >= 1
    deadline = time.monotonic() + 5
    while queue.running < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert queue.running == 2
    dying.close()  # a crash: no release is ever sent

    work = Work()

    async def scenario() -> str:
        gate = SharedKdfGate(queue.address, KdfGate(1))
        done = await asyncio.wait_for(gate.run(work, "after the crash"), timeout=5)
        await gate.close()
        return done

    assert run_coroutine(scenario()) == "after the crash"
    assert queue.running == 0


def test_a_request_given_up_while_waiting_never_takes_a_slot(queue: KdfQueue) -> None:
    work = Work()

    async def scenario() -> list[str]:
        gate = SharedKdfGate(queue.address, KdfGate(1))
        busy = [asyncio.ensure_future(gate.run(work, f"busy{n}")) for n in range(2)]
        await asyncio.sleep(0.01)
        abandoned = asyncio.ensure_future(gate.run(work, "abandoned"))
        await asyncio.sleep(0.01)
        abandoned.cancel()  # the reporter closed the page
        later = asyncio.ensure_future(gate.run(work, "later"))
        done = list(await asyncio.gather(*busy, later))
        await gate.close()
        return done

    assert run_coroutine(scenario()) == ["busy0", "busy1", "later"]
    assert "abandoned" not in work.started
    assert queue.running == 0


def test_anything_but_the_protocol_is_disconnected(queue: KdfQueue) -> None:
    stranger = raw_client(queue.address)
    stranger.sendall(b"GIVE ME ALL THE SLOTS\n")
    assert stranger.recv(64) == b""  # closed at once
    stranger.close()
    flood = raw_client(queue.address)
    flood.sendall(b"A" * 500)  # no end of line, ever
    assert flood.recv(64) == b""
    flood.close()
    assert queue.running == 0


def test_without_the_queue_a_worker_still_derives_alone(caplog: pytest.LogCaptureFixture) -> None:
    work = Work()

    async def scenario() -> list[str]:
        gate = SharedKdfGate(new_address(), KdfGate(1))  # nobody listens there
        done = list(await asyncio.gather(*(gate.run(work, f"job{n}") for n in range(3))))
        await gate.close()
        return done

    assert run_coroutine(scenario()) == ["job0", "job1", "job2"]
    assert work.most == 1  # the worker's own gate
    assert "Argon2id queue unavailable" in caplog.text


#: A Python that another user may run (the venv's lives under root's home here).
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.skipif(
    os.getuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason="needs root, and Debian's python3, to run a client as another user",
)
def test_another_user_is_turned_away(queue: KdfQueue) -> None:
    """The queue's name is visible to every local user (/proc/net/unix): only processes of
    the portal's own user may take slots."""
    client = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect('\\0' + sys.argv[1])\n"
        "s.settimeout(5)\n"
        "try:\n"
        "    s.sendall(b'A 1 r\\n')\n"
        "    print(repr(s.recv(64)))\n"
        "except (ConnectionResetError, BrokenPipeError):\n"
        "    print('reset')\n"
    )
    nobody = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", client, queue.address],
        user="nobody",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # Closed without a grant: an empty read, or a reset (the ask was never read).
    assert nobody.stdout.strip() in ("b''", "reset"), nobody.stdout + nobody.stderr
    assert queue.running == 0


# The rules themselves (portal/admission.py), without any I/O.


def test_a_waiting_report_goes_before_every_waiting_follow_up() -> None:
    rules: Admission[str] = Admission(1, {REPORT: 8, FOLLOW_UP: 8})
    for key, klass in (("f1", FOLLOW_UP), ("f2", FOLLOW_UP), ("r1", REPORT), ("f3", FOLLOW_UP)):
        assert rules.ask(key, klass)
    assert rules.take() == ["r1"]  # the slot was free: a report is asked for, it goes first
    assert rules.take() == []
    rules.leave("r1")
    assert rules.ask("r2", REPORT)
    assert rules.take() == ["r2"]  # asked after three follow-ups, still before them
    rules.leave("r2")
    assert rules.take() == ["f1"]  # with one slot, a follow-up may hold it
    rules.leave("f1")
    assert rules.take() == ["f2"]  # and in the order asked within its class


def test_follow_ups_never_hold_the_slot_kept_for_reports() -> None:
    rules: Admission[str] = Admission(3)
    for n in range(5):
        assert rules.ask(f"f{n}", FOLLOW_UP)
    assert rules.take() == ["f0", "f1"]  # two of three slots, and the third stays free
    assert rules.holding() == 2
    assert rules.ask("r", REPORT)
    assert rules.take() == ["r"]  # no wait at all
    rules.leave("f0")
    assert rules.take() == ["f2"]


def test_each_class_waits_in_a_line_of_bounded_length() -> None:
    rules: Admission[str] = Admission(1, {REPORT: 2, FOLLOW_UP: 1})
    assert rules.ask("f0", FOLLOW_UP)
    assert rules.take() == ["f0"]
    assert rules.ask("f1", FOLLOW_UP)
    assert not rules.ask("f2", FOLLOW_UP)  # refused at once, and not kept
    assert "f2" not in rules
    assert rules.ask("r0", REPORT)  # reports wait in a line of their own
    assert rules.ask("r1", REPORT)
    assert not rules.ask("r2", REPORT)
    assert (rules.refused[FOLLOW_UP], rules.refused[REPORT]) == (1, 1)
    rules.leave("f1")  # gave up waiting: room for one more
    assert rules.withdrawn[FOLLOW_UP] == 1
    assert rules.ask("f3", FOLLOW_UP)


def test_default_bounds_are_per_slot() -> None:
    assert Admission(3).bounds == {REPORT: 48, FOLLOW_UP: 6}


def test_thirty_two_reporters_pressing_send_at_once_on_two_cores_are_all_let_in() -> None:
    """The burst `bench/portal.py --sweep 32` plays: with the old bound of 8 a slot, 14 of
    the 32 had their forms back unsent. Now each is let in, and only a 35th is refused."""
    rules: Admission[int] = Admission(2)
    assert all(rules.ask(reporter, REPORT) for reporter in range(32))
    rules.take()
    assert rules.holding(REPORT) == 2
    assert rules.ask(32, REPORT)  # 32 wait behind the two
    assert rules.ask(33, REPORT)
    assert not rules.ask(34, REPORT)


@given(
    slots=st.integers(1, 4),
    bounds=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    steps=st.lists(
        st.tuples(st.sampled_from(["report", "follow-up", "leave"]), st.integers(0, 50)),
        max_size=60,
    ),
)
def test_the_rules_hold_whatever_happens(
    slots: int, bounds: tuple[int, int], steps: list[tuple[str, int]]
) -> None:
    rules: Admission[int] = Admission(slots, {REPORT: bounds[0], FOLLOW_UP: bounds[1]})
    asked: dict[int, str] = {}
    order: dict[str, list[int]] = {REPORT: [], FOLLOW_UP: []}
    granted: dict[str, list[int]] = {REPORT: [], FOLLOW_UP: []}
    follow_up_slots = slots - 1 if slots > 1 else 1
    for n, (what, pick) in enumerate(steps):
        if what == "leave":
            if asked:
                key = sorted(asked)[pick % len(asked)]  # waiting or holding
                klass = asked.pop(key)
                if key in order[klass]:
                    order[klass].remove(key)
                rules.leave(key)
        elif rules.ask(n, what):
            asked[n] = what
            order[what].append(n)
        for key in rules.take():
            klass = asked[key]
            assert order[klass][0] == key  # the oldest of its class
            order[klass].remove(key)
            granted[klass].append(key)
            if klass == FOLLOW_UP:
                assert rules.waiting(REPORT) == 0  # never while a report waits
        assert rules.holding() <= slots
        assert rules.holding(FOLLOW_UP) <= follow_up_slots
        if rules.waiting(REPORT):
            assert rules.holding() == slots
        if rules.waiting(FOLLOW_UP):
            assert rules.holding() == slots or rules.holding(FOLLOW_UP) == follow_up_slots
        assert rules.waiting(REPORT) <= bounds[0]
        assert rules.waiting(FOLLOW_UP) <= bounds[1]


# The same rules in a worker's own gate and in the queue shared by all workers.


class Latch:
    """A stand-in derivation: records the order derivations start in; those named in
    `held` wait until `go` is set (a derivation that takes as long as the test says)."""

    def __init__(self, *held: str) -> None:
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.held = set(held)
        self.go = threading.Event()

    def __call__(self, name: str) -> str:
        with self.lock:
            self.started.append(name)
        if name in self.held:
            self.go.wait(timeout=10)
        return name


@dataclass
class Gates:
    """How one test makes its gate: `kind` "local" (one worker) or "shared" (the queue)."""

    kind: str
    queues: list[KdfQueue]

    @contextlib.asynccontextmanager
    async def make(
        self, slots: int, waiting: dict[str, int] | None = None
    ) -> AsyncIterator[tuple[Any, Admission[Any]]]:
        """A gate, and the rules it follows (to watch who waits and who holds)."""
        if self.kind == "local":
            local = KdfGate(slots, waiting)
            yield local, local.admission
            return
        queue = KdfQueue(new_address(), slots, waiting).start()
        self.queues.append(queue)
        shared = SharedKdfGate(queue.address, KdfGate(1))
        try:
            yield shared, queue.admission
        finally:
            await shared.close()


@pytest.fixture(params=["local", "shared"])
def gates(request: pytest.FixtureRequest) -> Iterator[Gates]:
    made = Gates(request.param, [])
    yield made
    for queue in made.queues:
        queue.stop()


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds (five seconds at most: then fail)."""
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.005)


def test_a_report_goes_before_follow_ups_that_waited_longer(gates: Gates) -> None:
    work = Latch("f0")

    async def scenario() -> None:
        async with gates.make(slots=1) as (gate, rules):
            first = asyncio.ensure_future(gate.run(work, "f0", klass=FOLLOW_UP))
            await until(lambda: work.started == ["f0"])
            waiting = [
                asyncio.ensure_future(gate.run(work, f"f{n}", klass=FOLLOW_UP)) for n in (1, 2)
            ]
            await until(lambda: rules.waiting(FOLLOW_UP) == 2)
            report = asyncio.ensure_future(gate.run(work, "r", klass=REPORT))
            await until(lambda: rules.waiting(REPORT) == 1)
            work.go.set()
            await asyncio.gather(first, *waiting, report)

    run_coroutine(scenario())
    assert work.started == ["f0", "r", "f1", "f2"]


def test_a_report_never_waits_behind_follow_ups(gates: Gates) -> None:
    work = Latch("f0")

    async def scenario() -> list[str]:
        async with gates.make(slots=2) as (gate, rules):
            first = asyncio.ensure_future(gate.run(work, "f0", klass=FOLLOW_UP))
            await until(lambda: work.started == ["f0"])
            second = asyncio.ensure_future(gate.run(work, "f1", klass=FOLLOW_UP))
            await until(lambda: rules.waiting(FOLLOW_UP) == 1)  # a slot is free, not for it
            done = [await gate.run(work, "r", klass=REPORT)]  # while f0 still runs
            work.go.set()
            done += await asyncio.gather(first, second)
            return done

    assert run_coroutine(scenario()) == ["r", "f0", "f1"]
    assert work.started == ["f0", "r", "f1"]


def test_past_its_bound_a_request_is_refused_at_once_and_costs_nothing(gates: Gates) -> None:
    work = Latch("f0")

    async def scenario() -> None:
        async with gates.make(slots=1, waiting={REPORT: 1, FOLLOW_UP: 1}) as (gate, rules):
            first = asyncio.ensure_future(gate.run(work, "f0", klass=FOLLOW_UP))
            await until(lambda: work.started == ["f0"])
            waiting = [
                asyncio.ensure_future(gate.run(work, "f1", klass=FOLLOW_UP)),
                asyncio.ensure_future(gate.run(work, "r0", klass=REPORT)),
            ]
            await until(lambda: rules.waiting() == 2)
            with pytest.raises(Busy):  # answered while f0 still holds the only slot
                await gate.run(work, "f2", klass=FOLLOW_UP)
            with pytest.raises(Busy):
                await gate.run(work, "r1", klass=REPORT)
            assert (rules.refused[FOLLOW_UP], rules.refused[REPORT]) == (1, 1)
            work.go.set()
            await asyncio.gather(first, *waiting)
            assert rules.holding() == 0 or gates.kind == "shared"  # the queue hears R later

    run_coroutine(scenario())
    assert work.started == ["f0", "r0", "f1"]


def test_a_client_that_goes_away_while_waiting_is_never_derived_for(gates: Gates) -> None:
    work = Latch("f0")

    async def scenario() -> None:
        async with gates.make(slots=1) as (gate, rules):
            first = asyncio.ensure_future(gate.run(work, "f0", klass=FOLLOW_UP))
            await until(lambda: work.started == ["f0"])
            gone = asyncio.Event()
            left = asyncio.ensure_future(gate.run(work, "left", klass=FOLLOW_UP, gone=gone))
            await until(lambda: rules.waiting(FOLLOW_UP) == 1)
            gone.set()  # the connection closed
            with pytest.raises(ClientGone):
                await left
            await until(lambda: rules.waiting(FOLLOW_UP) == 0)  # its place is given up
            assert rules.withdrawn[FOLLOW_UP] == 1
            work.go.set()
            await first
            assert await gate.run(work, "next", klass=FOLLOW_UP) == "next"

    run_coroutine(scenario())
    assert work.started == ["f0", "next"]


def test_a_request_given_up_while_waiting_never_takes_a_slot_in_either_gate(
    gates: Gates,
) -> None:
    work = Latch("busy")

    async def scenario() -> None:
        async with gates.make(slots=1) as (gate, rules):
            busy = asyncio.ensure_future(gate.run(work, "busy", klass=REPORT))
            await until(lambda: work.started == ["busy"])
            abandoned = asyncio.ensure_future(gate.run(work, "abandoned", klass=REPORT))
            await until(lambda: rules.waiting(REPORT) == 1)
            abandoned.cancel()  # the request's task was cancelled
            with pytest.raises(asyncio.CancelledError):
                await abandoned
            await until(lambda: rules.waiting(REPORT) == 0)
            work.go.set()
            await busy
            assert await gate.run(work, "later", klass=REPORT) == "later"

    run_coroutine(scenario())
    assert work.started == ["busy", "later"]


def test_a_slot_is_held_until_its_derivation_ends_even_if_the_request_is_cancelled(
    gates: Gates,
) -> None:
    """The slot stands for the memory Argon2id uses: it comes free when the thread ends."""
    work = Latch("cancelled")

    async def scenario() -> None:
        async with gates.make(slots=1) as (gate, rules):
            running = asyncio.ensure_future(gate.run(work, "cancelled", klass=REPORT))
            await until(lambda: work.started == ["cancelled"])
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            after = asyncio.ensure_future(gate.run(work, "after", klass=REPORT))
            await until(lambda: rules.asked[REPORT] == 2)
            assert rules.waiting(REPORT) == 1  # the thread still runs: no slot for it
            assert work.started == ["cancelled"]
            work.go.set()
            assert await after == "after"

    run_coroutine(scenario())
    assert work.started == ["cancelled", "after"]


def test_a_client_gone_by_the_time_its_slot_comes_is_not_derived_for() -> None:
    """The last look before the thread starts: the slot is given back unused."""
    released: list[bool] = []
    work = Latch()

    async def scenario() -> None:
        gone = asyncio.Event()
        gone.set()
        with pytest.raises(ClientGone):
            await derive_in_thread(
                work,
                ("late",),
                FOLLOW_UP,
                gone,
                collections.Counter(),
                lambda: released.append(True),
            )

    run_coroutine(scenario())
    assert work.started == []
    assert released == [True]


def read_lines(client: socket.socket, count: int) -> list[bytes]:
    data = b""
    while data.count(b"\n") < count:
        chunk = client.recv(64)
        assert chunk, "the queue closed the connection"
        data += chunk
    return data.split(b"\n")[:count]


def test_the_queue_speaks_classes_and_refuses_past_the_bound() -> None:
    queue = KdfQueue(new_address(), slots=2, waiting={REPORT: 1, FOLLOW_UP: 1}).start()
    try:
        worker = raw_client(queue.address)
        worker.sendall(b"A 1 f\nA 2 f\nA 3 f\nA 4 r\n")
        # 1 takes the slot follow-ups may have, 2 waits, 3 is refused, 4 takes the other.
        assert sorted(read_lines(worker, 3)) == [b"B 3", b"G 1", b"G 4"]
        worker.sendall(b"R 1\n")
        assert read_lines(worker, 1) == [b"G 2"]
        worker.sendall(b"C 2\nR 4\n")
        deadline = time.monotonic() + 5
        while queue.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.running == 0
        assert (queue.admission.refused[FOLLOW_UP], queue.admission.granted[REPORT]) == (1, 1)
        worker.close()
    finally:
        queue.stop()


@pytest.mark.parametrize(
    "line",
    [b"A 1\n", b"A 1 x\n", b"A 1 f r\n", b"R 1 f\n", b"B 1\n", b"G 1\n", b"A -1 f\n"],
)
def test_a_line_outside_the_protocol_is_disconnected(queue: KdfQueue, line: bytes) -> None:
    stranger = raw_client(queue.address)
    stranger.sendall(line)
    assert stranger.recv(64) == b""
    stranger.close()


def test_asking_twice_with_one_number_is_disconnected(queue: KdfQueue) -> None:
    twice = raw_client(queue.address)
    twice.sendall(b"A 7 f\nA 7 f\n")
    assert twice.recv(64) in (b"G 7\n", b"")  # the first may be granted before the close
    deadline = time.monotonic() + 5
    while twice.recv(64) and time.monotonic() < deadline:
        pass
    twice.close()
    assert queue.running == 0


def test_busy_is_well_formed_json_under_the_api() -> None:
    """No API route derives (clients derive for themselves), but if one ever did, a
    refusal would read like every other API error."""
    from starlette.requests import Request

    from portal.app import portal_error
    from portal.errors import BUSY

    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "headers": []}
    response = run_coroutine(portal_error(Request(scope), Busy()))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert json.loads(response.body) == {"error": "busy", "message": BUSY}


def niceness() -> int:
    """The scheduling priority of the thread that calls it (Linux: per thread)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_follow_up_derives_at_a_lower_priority_than_a_report(gates: Gates) -> None:
    """A flood of typed receipts keeps the follow-ups' slots busy; their derivations then
    take the CPU only when a report's derivation, the pages and the API leave it."""

    async def scenario() -> tuple[int, int]:
        async with gates.make(slots=2) as (gate, _rules):
            follow_up = await gate.run(niceness, klass=FOLLOW_UP)
            report = await gate.run(niceness, klass=REPORT)
            return follow_up, report

    follow_up, report = run_coroutine(scenario())
    assert report == niceness()
    assert follow_up == min(report + FOLLOW_UP_NICENESS, 19) > report
