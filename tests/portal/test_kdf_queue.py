"""The Argon2id queue `serve` shares between its workers: first come, first served across
workers, never more at once than its slots, and never stuck by a worker that died."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from portal.kdf_queue import KdfQueue, SharedKdfGate, new_address
from portal.security import KdfGate
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
    work = Work()

    async def scenario() -> list[str]:
        # Two workers: each its own connection to the queue, as two processes would have.
        first = SharedKdfGate(queue.address, KdfGate(1))
        second = SharedKdfGate(queue.address, KdfGate(1))
        jobs = []
        for n in range(10):  # six asked for at one worker, then four at the other
            gate = first if n < 6 else second
            jobs.append(asyncio.ensure_future(gate.run(work, f"job{n}")))
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
    dying.sendall(b"A 1\nA 2\nA 3\n")  # two granted, one waiting
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
        "    s.sendall(b'A 1\\n')\n"
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
