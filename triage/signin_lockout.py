"""Failures lock the account (issue 17, finding 4).

Each attempt on an officer is counted in the database before any password is checked: the
count is raised by a compare-and-set on the officer's row, so requests sent in parallel
are counted one by one, and once `FREE_FAILURES` attempts in a row have failed the
account is locked for `lock_seconds(failures)`, doubling from `FIRST_LOCK` to
`LONGEST_LOCK`. A locked account is refused before the password gate, without any
Argon2id. Signing in resets the count (signin_codes.py); so does an administrator (Unlock
on the officers page, audited). Names that are not enrolled officers lock the same way,
counted in this process's memory (`Remembered`), so that the lock does not tell who exists.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from dataclasses import dataclass

from sqlalchemy import Integer, LargeBinary, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .console import Console
from .db import Base

#: Failed attempts in a row an officer (or a name) is allowed before the first lock.
FREE_FAILURES = 5
#: The first lock, in seconds; each further failure doubles it, up to `LONGEST_LOCK`.
FIRST_LOCK = 60
LONGEST_LOCK = 60 * 60
#: Names that are not officers, remembered at most (in memory; then forgotten at once).
MEMORY_LIMIT = 10_000


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


class Locked(Exception):
    def __init__(self, until: int) -> None:
        super().__init__("locked")
        self.until = until


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


def reserve(console: Console, username: str, now: int) -> tuple[int, bool]:
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
