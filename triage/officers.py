"""Officers: who may use the console, in which role, proven by a password and a TOTP code.

An admin adds an officer and hands them a one-time setup code; the officer enrols by
choosing a password (Argon2id) and scanning a TOTP secret shown as a QR code drawn on the
console itself (no outside service), then confirming one code. Login needs all three:
username, password, current code, and is checked in triage/signin.py (a code works once,
failures lock the account, password checks are bounded).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import pyotp
import segno
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from .console import Console
from .db import Officer
from .settings import ConsoleError
from .units import units

#: A custodian reads no case: they approve or refuse triage officers' requests to see
#: who a reporter is (triage/custody.py).
ROLES = ("admin", "triage", "investigator", "auditor", "custodian")
MAX_PASSWORD_CHARS = 256
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,39}")
#: Argon2id for officers' passwords: 64 MiB, 3 passes (tests pass cheaper ones).
PASSWORDS = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)


@dataclass(frozen=True)
class Enrolment:
    username: str
    secret: str
    uri: str

    def qr_svg(self) -> str:
        """The TOTP secret as an inline SVG QR code, drawn here (nothing leaves the host)."""
        return str(segno.make(self.uri, micro=False).svg_inline(scale=5, border=2))


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def check_officer(console: Console, username: str, role: str, unit: str | None) -> None:
    """Raise ConsoleError unless `username`, `role` and `unit` make a valid officer."""
    if not _USERNAME.fullmatch(username):
        raise ConsoleError(
            "a username is 2 to 40 lower-case letters, digits, dots, dashes or underscores, "
            "starting with a letter"
        )
    if role not in ROLES:
        raise ConsoleError(f"the role must be one of: {', '.join(ROLES)}")
    if role == "investigator":
        offered = units(console)  # active units only: a retired one takes no one new
        if unit not in offered:
            if not unit:
                why = "an investigator needs a unit"
            elif unit in units(console, include_retired=True):
                why = f"the unit {unit!r} is retired"
            else:
                why = f"there is no unit {unit!r}"
            raise ConsoleError(f"{why}: choose one of {', '.join(offered)}")


def add_officer(console: Console, username: str, role: str, unit: str | None) -> str:
    """Create an officer at once; returns the one-time setup code to hand them.

    The key holders' way (`lanthorn triage officer`, which k passphrases unseal; the
    demo): in the web console an admin only asks, and a second admin approves
    (triage/approvals.py)."""
    check_officer(console, username, role, unit)
    with console.sessions() as session:
        code = new_officer(session, username, role, unit)
        console.audit(session, "add officer", officer=username, role=role, unit=unit)
        session.commit()
    return code


def new_officer(session: Session, username: str, role: str, unit: str | None) -> str:
    """Add the officer row in the caller's transaction; returns their setup code."""
    if session.get(Officer, username) is not None:
        raise ConsoleError(f"there is already an officer called {username!r}")
    code = "-".join(secrets.token_hex(3) for _ in range(4))
    session.add(
        Officer(
            username=username,
            role=role,
            unit=unit if role == "investigator" else None,
            setup_code_hash=_code_hash(code),
            active=True,
        )
    )
    return code


def start_enrolment(console: Console, username: str, code: str) -> Enrolment:
    """Check a setup code and make the officer's TOTP secret (not yet saved)."""
    with console.sessions() as session:
        officer = session.get(Officer, username)
        if (
            officer is None
            or officer.setup_code_hash is None
            or not secrets.compare_digest(officer.setup_code_hash, _code_hash(code.strip()))
        ):
            raise ConsoleError("that username and setup code do not match an open enrolment")
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Lanthorn console")
    return Enrolment(username, secret, uri)


def finish_enrolment(
    console: Console,
    enrolment: Enrolment,
    code: str,
    password: str,
    totp_code: str,
    hasher: PasswordHasher = PASSWORDS,
) -> None:
    if not 12 <= len(password) <= MAX_PASSWORD_CHARS:
        raise ConsoleError(f"a password needs 12 to {MAX_PASSWORD_CHARS} characters")
    if not pyotp.TOTP(enrolment.secret).verify(totp_code.strip(), valid_window=1):
        raise ConsoleError("that code is not the one your authenticator app shows now")
    start_enrolment(console, enrolment.username, code)  # the setup code is still valid
    with console.sessions() as session:
        officer = session.get(Officer, enrolment.username)
        assert officer is not None  # noqa: S101 - start_enrolment found it
        officer.password_hash = hasher.hash(password)
        officer.totp_secret = console.keys.seal("totp", enrolment.secret.encode())
        officer.setup_code_hash = None
        console.audit(session, "enrol", officer=officer.username)
        session.commit()


def enrolled_with(console: Console, enrolment: Enrolment) -> bool:
    """Whether the officer finished this very enrolment (its form was sent again)."""
    with console.sessions() as session:
        officer = session.get(Officer, enrolment.username)
        if officer is None or officer.totp_secret is None or officer.setup_code_hash:
            return False
        secret = console.keys.open("totp", officer.totp_secret).decode()
        return secrets.compare_digest(secret, enrolment.secret)


def enrol_for_demo(
    console: Console,
    username: str,
    role: str,
    password: str,
    secret: str,
    hasher: PasswordHasher = PASSWORDS,
) -> None:
    """Add an already-enrolled officer with a known password and TOTP secret (demo only)."""
    add_officer(console, username, role, None)
    with console.sessions() as session:
        officer = session.get(Officer, username)
        assert officer is not None  # noqa: S101 - just added
        officer.password_hash = hasher.hash(password)
        officer.totp_secret = console.keys.seal("totp", secret.encode())
        officer.setup_code_hash = None
        session.commit()


def officers(console: Console) -> list[Officer]:
    with console.sessions() as session:
        return list(session.scalars(select(Officer).order_by(Officer.username)))


def deactivate(console: Console, username: str) -> None:
    with console.sessions() as session:
        officer = session.get(Officer, username)
        if officer is None:
            raise ConsoleError(f"there is no officer called {username!r}")
        officer.active = False
        console.audit(session, "deactivate officer", officer=username)
        session.commit()
