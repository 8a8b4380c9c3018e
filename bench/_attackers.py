"""The unauthenticated attackers of bench/attack.py, each run in a process of its own.

The attacker runs in its own process (`bench/attack.py --attacker KIND`), so that its
Python work never holds the lock the honest clients' threads need to time their requests:
what the honest side measures is the portal (and the machine's cores, which all share).
It prints `started T` when the attack proper begins (after fetching its forms), `stopped
T` once its last connection is closed (T from `time.monotonic()`, the same clock in every
process on Linux), then one line of JSON: what it sent and what came back.

- `follow-up`: each connection POSTs the no-JavaScript follow-up form (`/follow-up`, with
  a valid CSRF cookie and token) with a new random receipt that passes the check digit,
  and closes the socket if no answer came within 0.5 s; over and over.
- `slow-upload`: each connection starts a staff report (`/report/staff`, multipart, with
  every field and a 4 MiB photo declared) and sends the first 8 KiB, then half of them
  trickle 512 bytes a second and half stall; a new one as soon as the portal ends one.
- `blob-flood`: each client POSTs `/api/v1/blobs` back to back on a kept-alive
  connection: random bytes of a valid stored-form size (1 to 16 chunks, 65 KiB to 1 MiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from _browser import FORM_FIELDS

import crypto
from tests.portal.forms import hidden_fields

ABANDON_AFTER = 0.5  # follow-up flood: seconds before a connection is given up
SLOW_DECLARED = 4 * 1024 * 1024  # slow upload: the photo's declared size
SLOW_FIRST = 8 * 1024  # bytes of the photo sent at once
TRICKLE = 512  # bytes per second afterwards, on the trickling half
BLOB_CHUNKS = (1, 16)  # blob flood: stored-form sizes from 1 to 16 chunks
ATTACKS = ("follow-up", "slow-upload", "blob-flood")


@dataclass
class Tally:
    """What one attack sent and what came back (answers by status or by what happened)."""

    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    held: list[float] = field(default_factory=list)  # slow uploads the portal ended: seconds
    held_to_end: int = 0  # slow uploads still open when the attack stopped
    stored_bytes: int = 0  # blob flood: bytes of uploads answered 201
    cpu: float = 0.0  # this process's CPU seconds, preparation included

    def as_json(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "answers": dict(self.answers),
            "held": self.held,
            "held_to_end": self.held_to_end,
            "stored_bytes": self.stored_bytes,
            "cpu": self.cpu,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(
            attempts=data["attempts"],
            answers=Counter(data["answers"]),
            held=list(data["held"]),
            held_to_end=data["held_to_end"],
            stored_bytes=data["stored_bytes"],
            cpu=data["cpu"],
        )


@dataclass(frozen=True)
class Form:
    """A form page as a browser got it: its hidden fields and the CSRF cookie."""

    fields: dict[str, str]
    cookie: str  # the Cookie header to send back


async def fetch_form(client: httpx.AsyncClient, path: str) -> Form:
    client.cookies.clear()
    page = await client.get(path)
    if page.status_code != 200:
        raise RuntimeError(f"GET {path} answered {page.status_code}")
    fields = hidden_fields(page.text, action=path)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return Form(fields, cookie)


def _head(path: str, host: str, content_type: str, length: int, cookie: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lanthorn-bench-attacker\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\nCookie: {cookie}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


async def _status(reader: asyncio.StreamReader) -> int | None:
    """The status of the answer, or None when the portal closed without one."""
    line = await reader.readline()
    parts = line.split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def _outcome(status: int | None) -> str:
    return str(status) if status is not None else "closed without an answer"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


Attack = Callable[[str, int, float, Callable[[], None]], Coroutine[Any, Any, Tally]]


async def follow_up_flood(
    url: str, connections: int, seconds: float, go: Callable[[], None]
) -> Tally:
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    tally = Tally()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        forms = [await fetch_form(client, "/follow-up") for _ in range(connections)]

        async def one(index: int) -> None:
            while time.monotonic() < deadline:
                form = forms[index]
                body = urlencode({"csrf": form.fields["csrf"], "receipt": _receipt()}).encode()
                head = _head(
                    "/follow-up", address.netloc, "application/x-www-form-urlencoded",
                    len(body), form.cookie,
                )  # fmt: skip
                tally.attempts += 1
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    tally.answers[f"connect: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
                status: int | None = None
                try:
                    writer.write(head + body)
                    status = await asyncio.wait_for(_status(reader), ABANDON_AFTER)
                    tally.answers[_outcome(status)] += 1
                except TimeoutError:
                    tally.answers[f"abandoned after {ABANDON_AFTER} s"] += 1
                except OSError as exc:
                    tally.answers[type(exc).__name__] += 1
                finally:
                    await _close(writer)
                if status == 403:  # the token went stale: fetch the form again
                    forms[index] = await fetch_form(client, "/follow-up")

        go()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(one(i) for i in range(connections)))
    return tally


def _receipt() -> str:
    return crypto.generate_receipt()


def _multipart_start(fields: dict[str, str], boundary: str) -> bytes:
    """Every field of the staff form, then the head of a file part (its bytes follow)."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode("utf-8")
        + b"\r\n"
        for name, value in fields.items()
    ]
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        'name="attachments"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
    )
    return b"".join(parts)


async def slow_uploads(url: str, connections: int, seconds: float, go: Callable[[], None]) -> Tally:
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    tally = Tally()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        forms = [await fetch_form(client, "/report/staff") for _ in range(connections)]

        async def one(index: int) -> None:
            trickles = index % 2 == 0
            while time.monotonic() < deadline:
                form = forms[index]
                boundary = "----LanthornAttack" + os.urandom(8).hex()
                start = _multipart_start({**form.fields, **FORM_FIELDS}, boundary)
                end = f"\r\n--{boundary}--\r\n".encode()
                length = len(start) + SLOW_DECLARED + len(end)
                head = _head(
                    "/report/staff", address.netloc, f"multipart/form-data; boundary={boundary}",
                    length, form.cookie,
                )  # fmt: skip
                tally.attempts += 1
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    tally.answers[f"connect: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
                opened = time.monotonic()
                answer = asyncio.ensure_future(_status(reader))
                outcome = ""
                try:
                    writer.write(head + start + os.urandom(SLOW_FIRST))
                    await writer.drain()
                    while not answer.done() and time.monotonic() < deadline:
                        await asyncio.wait({answer}, timeout=min(1.0, deadline - time.monotonic()))
                        if trickles and not answer.done():
                            writer.write(os.urandom(TRICKLE))
                            await writer.drain()
                except OSError as exc:
                    outcome = type(exc).__name__
                    # The portal cut the upload off; its answer, if any, is already here.
                    with contextlib.suppress(TimeoutError, OSError):
                        await asyncio.wait_for(asyncio.shield(answer), 1.0)
                if answer.done():
                    try:
                        status = answer.result()
                    except OSError as exc:
                        status, outcome = None, outcome or type(exc).__name__
                    tally.answers[outcome if status is None and outcome else _outcome(status)] += 1
                    tally.held.append(time.monotonic() - opened)
                else:
                    answer.cancel()
                    if outcome:  # a write failed and no answer followed
                        tally.answers[outcome] += 1
                        tally.held.append(time.monotonic() - opened)
                    else:
                        tally.held_to_end += 1
                await _close(writer)
                if status_of(answer) == 403:
                    forms[index] = await fetch_form(client, "/report/staff")

        go()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(one(i) for i in range(connections)))
    return tally


def status_of(answer: asyncio.Future[int | None]) -> int | None:
    if not answer.done() or answer.cancelled() or answer.exception() is not None:
        return None
    return answer.result()


def stored_size(chunks: int) -> int:
    return crypto.BLOB_HEADER_BYTES + chunks * crypto.BLOB_STORED_CHUNK


async def blob_flood(url: str, clients: int, seconds: float, go: Callable[[], None]) -> Tally:
    tally = Tally()
    largest = stored_size(BLOB_CHUNKS[1])

    async def one(client: httpx.AsyncClient, noise: bytes) -> None:
        while time.monotonic() < deadline:
            size = stored_size(random.randint(*BLOB_CHUNKS))
            tally.attempts += 1
            try:
                response = await client.post(
                    "/api/v1/blobs",
                    content=noise[:size],
                    headers={"Content-Type": "application/octet-stream"},
                )
            except httpx.HTTPError as exc:
                tally.answers[type(exc).__name__] += 1
                continue
            tally.answers[str(response.status_code)] += 1
            if response.status_code == 201:
                tally.stored_bytes += size

    noises = [os.urandom(largest) for _ in range(clients)]
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
            for _ in range(clients)
        ]
        go()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(one(c, n) for c, n in zip(pool, noises, strict=True)))
    return tally


RUNNERS: dict[str, Attack] = {
    "follow-up": follow_up_flood,
    "slow-upload": slow_uploads,
    "blob-flood": blob_flood,
}


def attacker_main(kind: str, url: str, connections: int, seconds: float) -> int:
    """The child process: run one attack, announce its start and stop, print its tally."""

    def go() -> None:
        print(f"started {time.monotonic()}", flush=True)

    tally = asyncio.run(RUNNERS[kind](url, connections, seconds, go))
    print(f"stopped {time.monotonic()}", flush=True)
    tally.cpu = time.process_time()
    json.dump(tally.as_json(), sys.stdout)
    print(flush=True)
    return 0
