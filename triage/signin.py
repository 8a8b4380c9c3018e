"""Signing in that cannot be ground down (issue 17, findings 3 and 4).

A TOTP code works once. The last time step that signed an officer in is stored with them;
a code of that step or an earlier one is refused, from any session, however fast it is
replayed (the row is changed only if its step is still older: two requests with one code
cannot both win). The same browser sending the same sign-in form again (a double click,
the password checked again) is not a replay: it is known by a hash of its CSRF cookie.

Failures lock the account. Each attempt on an officer is counted in the database before
any password is checked: the count is raised by a compare-and-set on the officer's row,
so requests sent in parallel are counted one by one, and once `FREE_FAILURES` attempts
in a row have failed the account is locked for `lock_seconds(failures)`, doubling from
`FIRST_LOCK` to `LONGEST_LOCK`. A locked account is refused before the password gate,
without any Argon2id. Signing in resets the count; so does an administrator (Unlock on the
officers page, audited). Names that are not enrolled officers lock the same way, counted
in this process's memory, so that the lock does not tell who exists.

Password checks run under a small bound (`PasswordGate`): `SLOTS` Argon2id at once, at
most `WAITING` waiting; one more is refused at once with a 503 and Retry-After. A request
waits only while its client is connected: a closed tab gives up its place, and nothing is
checked for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Integer, LargeBinary, String, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .console import Console
from .db import Base, Officer
from .officers import MAX_PASSWORD_CHARS

T = TypeVar("T")

#: Failed attempts in a row an officer (or a name) is allowed before the first lock.
FREE_FAILURES = 5
#: The first lock, in seconds; each further failure doubles it, up to `LONGEST_LOCK`.
FIRST_LOCK = 60
LONGEST_LOCK = 60 * 60
#: Argon2id password checks at once, and how many more may wait for one.
SLOTS = 2
WAITING = 4
#: Seconds a sign-in refused for want of a slot is told to wait.
RETRY_AFTER = 30
#: TOTP: 30-second steps, and one step either side of now is accepted (clock drift).
STEP = 30
DRIFT = 1
#: Names that are not officers, remembered at most (in memory; then forgotten at once).
MEMORY_LIMIT = 10_000


BUSY = (
    "Too many sign-ins are being checked just now. Nothing is wrong with what you typed: "
    f"try again in {RETRY_AFTER} seconds."
)


def locked_message(until: int, now: int) -> str:
    """What a locked officer is told: until when, and who can lift it sooner."""
    at = datetime.datetime.fromtimestamp(until, datetime.UTC).strftime("%H:%M UTC")
    minutes = max(1, -(-(until - now) // 60))
    return (
        f"This account is locked after too many failed sign-ins, until {at} (in "
        f"{minutes} minute{'s' if minutes != 1 else ''}). Wait until then, or ask an "
        "administrator to unlock it from the officers page. Each failure while it is "
        "locked is counted, and administrators see it."
    )


def lock_seconds(failures: int) -> int:
    """How long `failures` failed attempts in a row lock the account (0: not locked)."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(LONGEST_LOCK, FIRST_LOCK * 2 ** min(failures - FREE_FAILURES, 20)))


class SignInGuard(Base):
    """An officer's failed sign-ins in a row, the lock they set, how many attempts the
    lock refused, and the last TOTP step that signed them in (migration 0010)."""

    __tablename__ = "signin_guards"

    username: Mapped[str] = mapped_column(String(40), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[int] = mapped_column(Integer, default=0)  # seconds since 1970
    refused: Mapped[int] = mapped_column(Integer, default=0)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    #: A hash of the CSRF cookie of the browser that used `last_step` (a resent form).
    last_by: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


@dataclass(frozen=True)
class Lock:
    until: int
    failures: int
    refused: int

    @property
    def until_text(self) -> str:
        return datetime.datetime.fromtimestamp(self.until, datetime.UTC).strftime(
            "%Y-%m-%d %H:%M UTC"
        )


@dataclass
class Outcome:
    """What one sign-in attempt came to."""

    officer: Officer | None = None
    #: Set when the account is locked: refused without a password check.
    locked_until: int = 0
    #: Failures in a row, this one included; `newly_locked`: this failure set the lock.
    failures: int = 0
    newly_locked: bool = False


class Locked(Exception):
    def __init__(self, until: int) -> None:
        super().__init__("locked")
        self.until = until


def browser_of(request: Request) -> bytes:
    """A hash of the browser's CSRF cookie: the same browser sending a form again."""
    cookie = request.cookies.get("lanthorn_csrf", "")
    return hashlib.blake2b(cookie.encode(), digest_size=32, person=b"lanthorn-signin").digest()


# -- the count, stored ---------------------------------------------------------------------


def _enrolled(officer: Officer | None) -> bool:
    return bool(
        officer is not None
        and officer.active
        and officer.password_hash is not None
        and officer.totp_secret is not None
    )


def is_officer(console: Console, username: str) -> bool:
    """Whether `username` is an active, enrolled officer (whose count is stored)."""
    with console.sessions() as session:
        return _enrolled(session.get(Officer, username))


def locked_until(console: Console, username: str, now: int) -> int:
    """When the officer's lock ends, if it holds at `now` (counting this refused attempt
    in one atomic update); else 0."""
    with console.sessions() as session:
        changed = session.execute(
            update(SignInGuard)
            .where(SignInGuard.username == username, SignInGuard.locked_until > now)
            .values(refused=SignInGuard.refused + 1)
        )
        if changed.rowcount == 0:
            return 0
        session.commit()
        return int(session.scalar(select(SignInGuard.locked_until).filter_by(username=username)))


def _reserve(console: Console, username: str, now: int) -> tuple[int, bool]:
    """Count an attempt on the officer as failed, before its password is checked (success
    clears it); raise `Locked` if the account is locked. Returns (failures in a row, this
    attempt set the lock). Compare-and-set: parallel requests are counted one by one."""
    while True:
        with console.sessions() as session:
            row = session.get(SignInGuard, username)
            if row is None:
                session.add(SignInGuard(username=username))
                with contextlib.suppress(IntegrityError):  # another request made it first
                    session.commit()
                continue
            if row.locked_until > now:
                raise Locked(row.locked_until)
            failures = row.failures + 1
            seconds = lock_seconds(failures)
            changed = session.execute(
                update(SignInGuard)
                .where(
                    SignInGuard.username == username,
                    SignInGuard.failures == row.failures,
                    SignInGuard.locked_until == row.locked_until,
                )
                .values(failures=failures, locked_until=now + seconds if seconds else 0)
            )
            session.commit()
            if changed.rowcount == 1:
                return failures, bool(seconds)


def _spend_step(console: Console, username: str, step: int, by: bytes) -> bool:
    """Record `step` as the officer's last, and clear their failures, if no sign-in used
    it (or a later one) before, but the same browser sending the form again; atomic."""
    with console.sessions() as session:
        changed = session.execute(
            update(SignInGuard)
            .where(
                SignInGuard.username == username,
                or_(
                    SignInGuard.last_step < step,
                    and_(SignInGuard.last_step == step, SignInGuard.last_by == by),
                ),
            )
            .values(failures=0, locked_until=0, refused=0, last_step=step, last_by=by)
        )
        session.commit()
        return bool(changed.rowcount == 1)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code `code` is, within `DRIFT` steps of now; else None."""
    code = code.strip()
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now) // STEP
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def locks(console: Console, now: int) -> dict[str, Lock]:
    """The officers locked at `now` (for the officers page)."""
    with console.sessions() as session:
        rows = session.scalars(select(SignInGuard).where(SignInGuard.locked_until > now))
        return {r.username: Lock(r.locked_until, r.failures, r.refused) for r in rows}


def unlock(console: Console, username: str) -> bool:
    """Clear an officer's failures and lock (an administrator's Unlock); audited. False
    if they were not locked."""
    with console.sessions() as session:
        row = session.get(SignInGuard, username)
        now = int(console.clock())
        if row is None or row.locked_until <= now:
            return False
        console.audit(
            session,
            "unlock officer",
            officer=username,
            failures=row.failures,
            refused_while_locked=row.refused,
        )
        row.failures, row.locked_until, row.refused = 0, 0, 0
        session.commit()
        return True


# -- names that are not officers -----------------------------------------------------------


class Remembered:
    """The same count for names that are not enrolled officers, in this process's memory,
    so that a lock tells nothing about who exists. Bounded: when full, forgotten."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # name -> (failures, locked until)

    def locked_until(self, name: str, now: int) -> int:
        with self._lock:
            until = self._counts.get(name, (0, 0))[1]
            return until if until > now else 0

    def reserve(self, name: str, now: int) -> tuple[int, bool]:
        with self._lock:
            if len(self._counts) >= MEMORY_LIMIT:
                self._counts.clear()
            failures, until = self._counts.get(name, (0, 0))
            if until > now:
                raise Locked(until)
            seconds = lock_seconds(failures + 1)
            self._counts[name] = (failures + 1, now + seconds if seconds else 0)
            return failures + 1, bool(seconds)


# -- checking, under the gate ----------------------------------------------------------------


def check(
    console: Console,
    remembered: Remembered,
    username: str,
    password: str,
    code: str,
    hasher: PasswordHasher,
    now: int,
    by: bytes,
) -> Outcome:
    """One attempt, run once a slot of the gate is granted: count it, then the password,
    then the code, then spend the code's step. Names that are not officers cost the
    same Argon2id and count the same (in memory)."""
    with console.sessions() as session:
        officer: Officer | None = session.get(Officer, username)
        session.expunge_all()
    try:
        if not _enrolled(officer):
            failures, newly = remembered.reserve(username, now)
            hasher.hash("x" * 12)  # spend the same time: do not reveal who exists
            return Outcome(failures=failures, newly_locked=newly)
        failures, newly = _reserve(console, username, now)
    except Locked as locked:
        return Outcome(locked_until=locked.until)
    failed = Outcome(failures=failures, newly_locked=newly)
    assert officer is not None  # noqa: S101 - _enrolled
    assert officer.password_hash is not None  # noqa: S101
    assert officer.totp_secret is not None  # noqa: S101
    if len(password) > MAX_PASSWORD_CHARS:
        hasher.hash("x" * 12)
        return failed
    try:
        hasher.verify(officer.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return failed
    secret = console.keys.open("totp", officer.totp_secret).decode()
    step = _matching_step(secret, code, time.time())
    if step is None or not _spend_step(console, username, step, by):
        return failed
    if hasher.check_needs_rehash(officer.password_hash):
        with console.sessions() as session:
            row = session.get(Officer, username)
            if row is not None:
                row.password_hash = hasher.hash(password)
                session.commit()
    return Outcome(officer=officer)


# -- the gate --------------------------------------------------------------------------------


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
