"""One queue for Argon2id across all of `serve`'s workers, with the same rules as one.

Each worker process used to keep its own queue. A reporter's request waits in the queue
of whichever worker accepted the connection, and the kernel shares connections between
workers at random, so under load one worker's queue grows longer than another's and its
reporters wait longer: with nginx opening a new connection for every request, the slowest
1 % of reports waited 1.9 times as long as the median (docs/benchmarks.md).

Here `serve` runs a small queue in its own process (the one that supervises the workers),
on a Unix socket in the abstract namespace (no file, nothing on disk). A worker asks for a
slot, waits for its turn, derives in a thread, and gives the slot back. The queue grants
slots by the rules of `portal.admission`, the same as a single worker's `KdfGate`: new
reports before follow-ups, one slot kept for reports, in the order asked within each
kind, and only so many of each kind waiting; one more is refused at once. When a worker
dies, its connection closes and the queue forgets its requests and frees its slots, so a
crash never leaves a slot taken. Only processes of the portal's own user may connect.

The protocol is one short line per message, made of a letter, a number and, for an ask,
a class letter. From a worker: `A n r` or `A n f` (ask for a slot for a report or a
follow-up; n is chosen by the worker), `R n` (release a granted slot) and `C n` (cancel:
a request the worker stopped waiting for, granted or not; its client has gone, say).
From the queue: `G n` (granted) and `B n` (busy: refused, forgotten at once). Anything
else, from a worker, closes its connection. Nothing else is sent: no receipt, no key, no
time, nothing about a client.
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
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from .admission import FOLLOW_UP, REPORT, Admission
from .errors import Busy
from .security import KdfGate, derive_in_thread, wait_for_slot

T = TypeVar("T")
log = logging.getLogger("lanthorn.portal")

#: Set by `lanthorn portal serve` for its workers: the queue's socket address.
QUEUE_VARIABLE = "LANTHORN_KDF_QUEUE"
_LINE_LIMIT = 64
#: The class letters of an ask.
LETTERS = {REPORT: b"r", FOLLOW_UP: b"f"}
_CLASSES = {letter: klass for klass, letter in LETTERS.items()}


def new_address() -> str:
    """A fresh name in the abstract namespace (no file), as the workers' environment can
    carry it: `_socket_address` adds the NUL byte that marks it abstract."""
    return "lanthorn-kdf-" + secrets.token_hex(16)


def _socket_address(address: str) -> str:
    return "\0" + address


class KdfQueue:
    """The queue itself: a thread in `serve`'s supervising process."""

    def __init__(self, address: str, slots: int, waiting: Mapping[str, int] | None = None) -> None:
        self.address = address
        self.admission: Admission[tuple[socket.socket, int]] = Admission(slots, waiting)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(_socket_address(address))
        self._listener.listen(64)
        self._selector = selectors.DefaultSelector()
        self._asked: dict[socket.socket, set[int]] = {}  # each worker's requests not yet done
        self._buffers: dict[socket.socket, bytes] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="kdf-queue", daemon=True)

    @property
    def slots(self) -> int:
        return self.admission.slots

    @property
    def running(self) -> int:
        return self.admission.holding()

    @property
    def asked(self) -> int:
        """Requests received since the start (read by the tests)."""
        return self.admission.asked.total()

    def start(self) -> KdfQueue:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        for conn in list(self._asked):
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
        self._asked[conn] = set()
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
            if not self._handle(conn, line.split(b" ")):
                self._drop(conn)  # not one of our workers talking
                return
            self._pump()  # before the next line: an ask granted at once never waited

    def _handle(self, conn: socket.socket, words: list[bytes]) -> bool:
        """Act on one line from a worker; False if it is not the protocol."""
        if len(words) not in (2, 3) or not words[1].isdigit() or len(words[1]) > 19:
            return False
        verb, number, asked = words[0], int(words[1]), self._asked[conn]
        key = (conn, number)
        if verb == b"A" and len(words) == 3 and words[2] in _CLASSES:
            if number in asked:
                return False  # the same number twice: no worker of ours does that
            if self.admission.ask(key, _CLASSES[words[2]]):
                asked.add(number)
                return True
            return self._send(conn, b"B %d\n" % number)
        if len(words) != 2 or verb not in (b"R", b"C"):
            return False
        if number in asked and (verb == b"C" or self.admission.holds(key)):
            asked.discard(number)  # released, or given up (granted or not)
            self.admission.leave(key)
        return True

    def _send(self, conn: socket.socket, line: bytes) -> bool:
        try:
            conn.sendall(line)
        except OSError:
            return False
        return True

    def _drop(self, conn: socket.socket) -> None:
        """A worker went away (exited, crashed or misbehaved): forget all it held."""
        if conn not in self._asked:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn)
        for number in self._asked.pop(conn):
            self.admission.leave((conn, number))
        self._buffers.pop(conn, None)
        conn.close()
        self._pump()

    def _pump(self) -> None:
        broken = [
            conn
            for conn, number in self.admission.take()
            if not self._send(conn, b"G %d\n" % number)
        ]
        for conn in broken:
            self._drop(conn)


@contextlib.contextmanager
def shared_queue(slots: int, waiting: Mapping[str, int] | None = None) -> Iterator[str]:
    """Run a queue for `slots` derivations at once, with at most `waiting[class]` of each
    class waiting; yields its address for the workers."""
    queue = KdfQueue(new_address(), slots, waiting).start()
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
        self._pending: dict[int, asyncio.Future[bool]] = {}
        self._numbers = iter(range(1, 2**62))
        self._connecting = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._broken = False
        #: Derivations this worker started through the queue, by class (read by the tests).
        self.derived: collections.Counter[str] = collections.Counter()

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

    async def run(
        self,
        fn: Callable[..., T],
        *args: object,
        klass: str = FOLLOW_UP,
        gone: asyncio.Event | None = None,
    ) -> T:
        number = await self._acquire(klass, gone)
        if number is None:
            return await self._fallback.run(fn, *args, klass=klass, gone=gone)

        def release() -> None:
            self._send(b"R %d\n" % number)

        return await derive_in_thread(fn, args, klass, gone, self.derived, release)

    async def _acquire(self, klass: str, gone: asyncio.Event | None) -> int | None:
        writer = await self._connection()
        if writer is None:
            return None
        number = next(self._numbers)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[number] = answer
        self._send(b"A %d %s\n" % (number, LETTERS[klass]))
        try:
            await wait_for_slot(answer, gone)
        except Busy:
            raise  # refused: the queue has forgotten it already
        except OSError:
            return None  # the queue went away while we waited
        except BaseException:  # cancelled, or the client went away
            self._pending.pop(number, None)
            self._send(b"C %d\n" % number)  # the queue frees it, granted or not
            raise
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
                answer = self._pending.pop(int(number), None) if number.isdigit() else None
                if verb in (b"G", b"B") and answer is not None and not answer.done():
                    answer.set_result(verb == b"G")
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
