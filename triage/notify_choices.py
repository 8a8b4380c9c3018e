"""An officer's notification choices: their address, their OpenPGP key and what they
want to be told of (triage/notify.py sends; triage/notify_pages.py is their page).

The address and key name a person who works for the oversight body: they are sealed
together under the vault key (purpose "notify"). Each officer sets their own: the page
passes the signed-in officer, never a name from the form. The audit log records each
choice (which events, encrypted or not), never the address.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from . import openpgp
from .db import Notification, NotificationChoice, Officer
from .settings import ConsoleError

if TYPE_CHECKING:
    from .console import Console

#: Roles told of new reports (investigators see only what is routed to their unit).
NEW_REPORT_ROLES = ("triage",)
#: Roles that have a Notifications page: those who work on cases.
DEADLINE_ROLES = ("triage", "investigator")
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z0-9-]{2,63}")


@dataclass(frozen=True)
class Choices:
    """An officer's choices, opened: where, with which key, and of what to tell them."""

    address: str
    key: openpgp.PublicKey | None
    new_reports: bool
    urgent_reports: bool
    deadlines: bool


@dataclass(frozen=True)
class Waiting:
    """Notifications queued for an officer and not yet taken by the relay."""

    count: int
    failure: str | None


def choices(console: Console, username: str) -> Choices | None:
    with console.sessions() as session:
        row = session.get(NotificationChoice, username)
        return None if row is None else opened(console, row)


def opened(console: Console, row: NotificationChoice) -> Choices:
    sealed = json.loads(console.keys.open("notify", row.sealed))
    key = sealed.get("key")
    return Choices(
        address=sealed["address"],
        key=openpgp.PublicKey(key, sealed["fingerprint"]) if key else None,
        new_reports=row.new_reports,
        urgent_reports=row.urgent_reports,
        deadlines=row.deadlines,
    )


def choose(
    console: Console,
    username: str,
    *,
    address: str,
    key: str,
    new_reports: bool,
    urgent_reports: bool,
    deadlines: bool,
) -> Choices:
    """Save `username`'s own choices (the page passes the signed-in officer, never a
    name from the form); refuse an address or key that cannot be used, saying why."""
    address = address.strip()
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise ConsoleError("give one email address, like name@oversight.example")
    checked = openpgp.check_key(key, console._today()) if key.strip() else None
    with console.sessions() as session:
        officer = session.get(Officer, username)
        if officer is None or not officer.active:
            raise ConsoleError("only an active officer can be notified")
        if officer.role not in DEADLINE_ROLES:
            raise ConsoleError("notifications are for officers who work on cases")
        if officer.role not in NEW_REPORT_ROLES:
            new_reports = urgent_reports = False
        sealed = {"address": address, "key": None, "fingerprint": None}
        if checked is not None:
            sealed |= {"key": checked.armored, "fingerprint": checked.fingerprint}
        row = session.get(NotificationChoice, username) or NotificationChoice(username=username)
        row.sealed = console.keys.seal("notify", json.dumps(sealed).encode())
        row.new_reports, row.urgent_reports, row.deadlines = new_reports, urgent_reports, deadlines
        session.merge(row)
        console.audit(
            session,
            "notification choices",
            officer=username,
            new_reports=new_reports,
            urgent_reports=urgent_reports,
            deadlines=deadlines,
            encrypted=checked is not None,
        )
        session.commit()
    return Choices(address, checked, new_reports, urgent_reports, deadlines)


def stop(console: Console, username: str) -> bool:
    """Forget `username`'s address and key and drop what waits for them."""
    with console.sessions() as session:
        row = session.get(NotificationChoice, username)
        if row is None:
            return False
        session.execute(delete(Notification).where(Notification.username == username))
        session.delete(row)
        console.audit(session, "notifications stopped", officer=username)
        session.commit()
    return True


def queue_test(console: Console, username: str) -> None:
    with console.sessions() as session:
        if session.get(NotificationChoice, username) is None:
            raise ConsoleError("save an address first")
        session.add(new_row(console, username, "test", 0, 0))
        session.commit()


def waiting(console: Console, username: str) -> Waiting:
    with console.sessions() as session:
        rows = session.scalars(select(Notification).where(Notification.username == username)).all()
        failures = [row.failure for row in rows if row.failure]
        return Waiting(len(rows), failures[-1] if failures else None)


def new_row(console: Console, username: str, kind: str, a: int, b: int) -> Notification:
    return Notification(
        username=username,
        kind=kind,
        new_or_due=a,
        urgent_or_missed=b,
        queued_at=int(console.clock()),
        attempts=0,
    )
