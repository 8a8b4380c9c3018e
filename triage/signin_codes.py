"""A TOTP code works once (issue 17, finding 3).

The last time step that signed an officer in is stored with them (`SignInGuard.last_step`);
a code of that step or an earlier one is refused, from any session, however fast it is
replayed (the row is changed only if its step is still older: two requests with one code
cannot both win). The same browser sending the same sign-in form again (a double click,
the password checked again) is not a replay: it is known by a hash of its CSRF cookie.
"""

from __future__ import annotations

import hashlib
import secrets

import pyotp
from sqlalchemy import and_, or_, update
from starlette.requests import Request

from .console import Console
from .signin_lockout import SignInGuard

#: TOTP: 30-second steps, and one step either side of now is accepted (clock drift).
STEP = 30
DRIFT = 1


def browser_of(request: Request) -> bytes:
    """A hash of the browser's CSRF cookie: the same browser sending a form again."""
    cookie = request.cookies.get("lanthorn_csrf", "")
    return hashlib.blake2b(cookie.encode(), digest_size=32, person=b"lanthorn-signin").digest()


def spend_step(console: Console, username: str, step: int, by: bytes) -> bool:
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


def matching_step(secret: str, code: str, now: float) -> int | None:
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
