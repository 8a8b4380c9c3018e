"""One first-come, first-served queue for Argon2id across all of `serve`'s workers.

Each worker process used to keep its own queue. A reporter's request waits in the queue
of whichever worker accepted the connection, and the kernel shares connections between
workers at random, so under load one worker's queue grows longer than another's and its
reporters wait longer: with nginx opening a new connection for every request, the slowest
1 % of reports waited 1.9 times as long as the median (docs/benchmarks.md).

Here `serve` runs a small queue in its own process (the one that supervises the workers),
on a Unix socket in the abstract namespace (no file, nothing on disk). A worker asks for a
slot, waits for its turn, derives in a thread, and gives the slot back. The queue grants
slots in the order they were asked for, at most `slots` at once. When a worker dies, its
connection closes and the queue forgets its requests and frees its slots, so a crash
never leaves a slot taken. Only processes of the portal's own user may connect.

The protocol is one line per message: `A n` (ask, n chosen by the worker), `R n`
(release a granted slot) and `C n` (cancel: a request the worker stopped waiting for,
granted or not) from a worker; `G n` (granted) from the queue. Nothing else is sent: no
receipt, no key, no time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import secrets
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from .security import KdfGate

T = TypeVar("T")
log = logging.getLogger("lanthorn.portal")

#: Set by `lanthorn portal serve` for its workers: the queue's socket address.
QUEUE_VARIABLE = "LANTHORN_KDF_QUEUE"
_LINE_LIMIT = 64


def new_address() -> str:
    """A fresh name in the abstract namespace (no file), as the workers' environment can
    carry it: `_socket_address` adds the NUL byte that marks it abstract."""
    return "lanthorn-kdf-" + secrets.token_hex(16)


def _socket_address(address: str) -> str:
    return "\0" + address


class KdfQueue:
    """The queue itself: a thread in `serve`'s supervising process."""

    def __init__(self, address: str, slots: int) -> None:
        self.address = address
        self.slots = max(1, slots)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(_socket_address(address))
        self._listener.listen(64)
        self._selector = selectors.DefaultSelector()
        self._waiting: collections.deque[tuple[socket.socket, int]] = collections.deque()
        self._granted: dict[socket.socket, set[int]] = {}
        self._buffers: dict[socket.socket, bytes] = {}
        self._stop = threading.Event()
        self.asked = 0  # requests received since the start (read by the tests)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="kdf-queue", daemon=True)

    @property
    def running(self) -> int:
        return sum(len(ids) for ids in self._granted.values())

    def start(self) -> KdfQueue:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        for conn in list(self._granted):
            conn.close()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _serve(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        while not self._stop.is_set():
            for key, _ in self._selector.select():
                sock = key.fileobj
                if sock is self._listener:
                    self._accept()
                elif isinstance(sock, socket.socket) and sock is not self._wake_r:
                    self._read(sock)
        self._selector.close()

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", credentials)
        if uid != os.getuid():  # only the portal's own processes
            conn.close()
            return
        self._granted[conn] = set()
        self._buffers[conn] = b""
        self._selector.register(conn, selectors.EVENT_READ, None)

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        buffer = self._buffers[conn] + data
        *lines, rest = buffer.split(b"\n")
        if len(rest) > _LINE_LIMIT:
            self._drop(conn)
            return
        self._buffers[conn] = rest
        for line in lines:
            verb, _, number = line.partition(b" ")
            if not number.isdigit() or len(number) > 19 or verb not in (b"A", b"R", b"C"):
                self._drop(conn)  # not one of our workers talking
                return
            self._handle(conn, verb, int(number))
        self._pump()

    def _handle(self, conn: socket.socket, verb: bytes, number: int) -> None:
        granted = self._granted[conn]
        if verb == b"A":
            self.asked += 1
            self._waiting.append((conn, number))
        elif number in granted:
            granted.discard(number)  # released, or cancelled after it was granted
        elif verb == b"C":
            with contextlib.suppress(ValueError):
                self._waiting.remove((conn, number))

    def _drop(self, conn: socket.socket) -> None:
        """A worker went away (exited, crashed or misbehaved): forget all it held."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn)
        self._granted.pop(conn, None)
        self._buffers.pop(conn, None)
        self._waiting = collections.deque(w for w in self._waiting if w[0] is not conn)
        conn.close()
        self._pump()

    def _pump(self) -> None:
        while self._waiting and self.running < self.slots:
            conn, number = self._waiting.popleft()
            if conn not in self._granted:
                continue
            self._granted[conn].add(number)
            try:
                conn.sendall(b"G %d\n" % number)
            except OSError:
                self._drop(conn)
                return


@contextlib.contextmanager
def shared_queue(slots: int) -> Iterator[str]:
    """Run a queue for `slots` derivations at once; yields its address for the workers."""
    queue = KdfQueue(new_address(), slots).start()
    try:
        yield queue.address
    finally:
        queue.stop()


class SharedKdfGate:
    """A worker's side of the queue, with the same `run` as `KdfGate`.

    If the queue cannot be reached (it never should: it lives in the process that started
    this worker), derivations fall back to this worker's own gate and say so in the log,
    once: slower to be fair, never stuck.
    """

    def __init__(self, address: str, fallback: KdfGate) -> None:
        self._address = address
        self._fallback = fallback
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._numbers = iter(range(1, 2**62))
        self._connecting = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._broken = False

    async def close(self) -> None:
        """Leave the queue (at the worker's shutdown): slots still held are freed."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._writer, self._listener, self._broken = None, None, True

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        number = await self._acquire()
        if number is None:
            return await self._fallback.run(fn, *args)
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            self._send(b"R %d\n" % number)

    async def _acquire(self) -> int | None:
        writer = await self._connection()
        if writer is None:
            return None
        number = next(self._numbers)
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[number] = granted
        self._send(b"A %d\n" % number)
        try:
            await granted
        except asyncio.CancelledError:
            self._pending.pop(number, None)
            self._send(b"C %d\n" % number)  # the queue frees it, granted or not
            raise
        except OSError:
            return None  # the queue went away while we waited
        return number

    async def _connection(self) -> asyncio.StreamWriter | None:
        if self._broken:
            return None
        async with self._connecting:
            if self._writer is None and not self._broken:
                try:
                    reader, self._writer = await asyncio.open_unix_connection(
                        _socket_address(self._address)
                    )
                except OSError as exc:
                    self._give_up(exc)
                    return None
                self._listener = asyncio.get_running_loop().create_task(self._listen(reader))
        return self._writer

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                verb, _, number = line.strip().partition(b" ")
                granted = self._pending.pop(int(number), None) if number.isdigit() else None
                if verb == b"G" and granted is not None and not granted.done():
                    granted.set_result(None)
        except (OSError, ValueError) as exc:
            self._give_up(exc)
            return
        self._give_up(ConnectionResetError("the queue closed the connection"))

    def _send(self, line: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(line)

    def _give_up(self, exc: Exception) -> None:
        if not self._broken:
            log.warning(
                "Argon2id queue unavailable (%s); this worker queues alone", type(exc).__name__
            )
        self._broken = True
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(OSError("the Argon2id queue went away"))
        self._pending.clear()
