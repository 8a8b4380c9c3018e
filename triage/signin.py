"""Signing in that cannot be ground down (issue 17, findings 3 and 4): `check` runs one
attempt, once the password gate grants it a slot (password_gate.py): it counts the attempt
as failed before anything is checked (signin_lockout.py: failures lock the account, even
in parallel), then checks the password, then the code, then spends the code's time step
(signin_codes.py: a code works once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .console import Console
from .db import Officer
from .officers import MAX_PASSWORD_CHARS
from .signin_codes import matching_step, spend_step
from .signin_lockout import Locked, Remembered, reserve


@dataclass
class Outcome:
    """What one sign-in attempt came to."""

    officer: Officer | None = None
    #: Set when the account is locked: refused without a password check.
    locked_until: int = 0
    #: Failures in a row, this one included; `newly_locked`: this failure set the lock.
    failures: int = 0
    newly_locked: bool = False


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
        failures, newly = reserve(console, username, now)
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
    step = matching_step(secret, code, time.time())
    if step is None or not spend_step(console, username, step, by):
        return failed
    if hasher.check_needs_rehash(officer.password_hash):
        with console.sessions() as session:
            row = session.get(Officer, username)
            if row is not None:
                row.password_hash = hasher.hash(password)
                session.commit()
    return Outcome(officer=officer)
