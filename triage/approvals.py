"""No one grants themselves content (issue 17, finding 2): a second admin approves.

Every role reads something or grants something — triage officers and investigators read
cases, auditors the audit log, custodians open identities, admins make accounts — so in
the web console every new account and every change of role (or of an investigator's
unit) is only a request until a second admin approves it. Until then the account does
not exist (no setup code, no sign-in) or keeps the role it had. The setup code of an
approved account is shown to the admin who approved it, once, to hand over in person.
Nobody approves a request they made or one about their own account, and a request is
decided once. Asking, approving and refusing are each audited, and every admin sees the
requests waiting and those decided lately on the officers page, where they land when
they sign in.

Taking away needs no second admin: deactivating an officer is immediate.

The key holders' way stays: `lanthorn triage officer` (k passphrases unseal the vault
for it) adds an officer at once. It is how the first admins are made, and how a console
with a single admin adds anyone (docs/operations.md).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .console import Console
from .db import AccountRequest, Officer, OfficerSession
from .officers import check_officer, new_officer
from .settings import ConsoleError

#: How many decided requests the officers page lists (newest first).
HISTORY = 20


@dataclass(frozen=True)
class Waiting:
    id: int
    kind: str  # add | role
    username: str
    role: str
    unit: str | None
    requester: str
    on: datetime.date
    state: str
    decided_by: str | None
    decided_on: datetime.date | None


@dataclass(frozen=True)
class Decided:
    request: Waiting
    #: An approved new account's one-time setup code, for the approving admin.
    setup_code: str | None


class OwnRequest(ConsoleError):
    """An admin tried to approve their own request, or one about their own account."""


def _waiting(row: AccountRequest) -> Waiting:
    return Waiting(
        row.id,
        row.kind,
        row.username,
        row.role,
        row.unit,
        row.requester,
        row.on,
        row.state,
        row.decided_by,
        row.decided_on,
    )


def _no_pending(session: object, username: str) -> None:
    found = session.scalar(  # type: ignore[attr-defined]
        select(AccountRequest.requester).where(
            AccountRequest.username == username, AccountRequest.state == "pending"
        )
    )
    if found is not None:
        raise ConsoleError(
            f"a request about {username!r} (by {found}) is already waiting for a second "
            "administrator: approve or refuse it first"
        )


#: The audit action that records each kind of request.
_ASKED = {"add": "ask to add officer", "role": "ask to change role"}


def _file(
    console: Console,
    session: Session,
    kind: str,
    requester: str,
    username: str,
    role: str,
    unit: str | None,
    **detail: Any,
) -> int:
    """Store a pending request of `kind` and audit it (with `detail`), in `session`; its
    number."""
    _no_pending(session, username)
    row = AccountRequest(
        kind=kind,
        username=username,
        role=role,
        unit=unit,
        requester=requester,
        on=console._today(),
        state="pending",
    )
    session.add(row)
    session.flush()
    console.audit(
        session, _ASKED[kind], officer=username, role=role, unit=unit, request=row.id, **detail
    )
    session.commit()
    return row.id


def ask_to_add(console: Console, requester: str, username: str, role: str, unit: str | None) -> int:
    """Ask for a new officer; nothing exists until a second admin approves."""
    check_officer(console, username, role, unit)
    unit = unit if role == "investigator" else None
    with console.sessions() as session:
        if session.get(Officer, username) is not None:
            raise ConsoleError(f"there is already an officer called {username!r}")
        return _file(console, session, "add", requester, username, role, unit)


def ask_to_change(
    console: Console, requester: str, username: str, role: str, unit: str | None
) -> int:
    """Ask for an officer's new role (or unit); they keep the old one until approved."""
    check_officer(console, username, role, unit)  # a valid role, an active unit
    unit = unit if role == "investigator" else None
    with console.sessions() as session:
        officer = session.get(Officer, username)
        if officer is None or not officer.active:
            raise ConsoleError(f"there is no active officer called {username!r}")
        if (officer.role, officer.unit) == (role, unit):
            raise ConsoleError(f"{username} already has that role")
        return _file(console, session, "role", requester, username, role, unit, was=officer.role)


def own(console: Console, request_id: int, admin: str) -> bool:
    """Whether `admin` made this request, or it is about their own account."""
    with console.sessions() as session:
        row = session.get(AccountRequest, request_id)
        return row is not None and admin in (row.requester, row.username)


def decide(console: Console, request_id: int, admin: str, approve: bool) -> Decided:
    """A second admin's decision. Refused: anyone but an active admin, the admin who
    asked, the officer it is about, a request already decided."""
    with console.sessions() as session:
        me = session.get(Officer, admin)
        if me is None or not me.active or me.role != "admin":
            raise ConsoleError("only an administrator decides account requests")
        row = session.get(AccountRequest, request_id)
        if row is None:
            raise ConsoleError("there is no such request")
        if row.requester == admin:
            raise OwnRequest("you asked for this: another administrator decides it")
        if row.username == admin:
            raise OwnRequest("this is about your own account: another administrator decides it")
        changed = session.execute(
            update(AccountRequest)
            .where(AccountRequest.id == request_id, AccountRequest.state == "pending")
            .values(
                state="approved" if approve else "refused",
                decided_by=admin,
                decided_on=console._today(),
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            session.rollback()
            now = session.get(AccountRequest, request_id)
            assert now is not None  # noqa: S101 - found above; requests are never deleted
            raise ConsoleError(f"this request was already {now.state} by {now.decided_by}")
        code = None
        detail = {
            "officer": row.username,
            "role": row.role,
            "unit": row.unit,
            "request": row.id,
            "requester": row.requester,
        }
        if not approve:
            console.audit(session, f"refuse {'officer' if row.kind == 'add' else 'role'}", **detail)
        elif row.kind == "add":
            code = new_officer(session, row.username, row.role, row.unit)
            console.audit(session, "approve officer", **detail)
        else:
            officer = session.get(Officer, row.username)
            if officer is None or not officer.active:
                raise ConsoleError(f"{row.username} is no longer an active officer")
            officer.role, officer.unit = row.role, row.unit
            # Signed in with the old role: they sign in again to work in the new one.
            session.execute(delete(OfficerSession).where(OfficerSession.username == row.username))
            console.audit(session, "approve role", **detail)
        session.commit()
        session.refresh(row)
        return Decided(_waiting(row), code)


def waiting(console: Console) -> list[Waiting]:
    with console.sessions() as session:
        rows = session.scalars(
            select(AccountRequest)
            .where(AccountRequest.state == "pending")
            .order_by(AccountRequest.id)
        ).all()
        return [_waiting(row) for row in rows]


def decided(console: Console) -> list[Waiting]:
    with console.sessions() as session:
        rows = session.scalars(
            select(AccountRequest)
            .where(AccountRequest.state != "pending")
            .order_by(AccountRequest.id.desc())
            .limit(HISTORY)
        ).all()
        return [_waiting(row) for row in rows]
