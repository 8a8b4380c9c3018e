"""Who works on which case, and the list's bulk actions: assign (or unassign) several
cases, acknowledge several new cases at once.

A case is assigned to one officer: a triage officer, or an investigator of the unit the
case is routed to. Only triage officers assign (their own cases or a colleague's); an
investigator sees the "My cases" queue of their unit's cases but does not hand them out,
and an admin manages people, not cases. Each change is audited per case as "assign"
(to whom, from whom: usernames only, never anything of the case). Assigning grants no
access: an investigator still sees only their unit's cases.

Bulk acknowledgement does for each selected case still "received" what the case page's
Acknowledge does (triage/case_steps.py), in one transaction, each case audited as
"acknowledge" like a single one; cases already acknowledged are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import replies
from .console import Console
from .db import Case, Officer
from .settings import ConsoleError

#: Roles a case can be assigned to.
ASSIGNABLE = ("triage", "investigator")
#: The most cases one bulk action takes (one page of the list).
MAX_BULK = 50


@dataclass(frozen=True)
class Assignee:
    """An officer a case can be assigned to, as the list's forms offer them."""

    username: str
    role: str
    unit: str | None

    @property
    def label(self) -> str:
        return self.username if self.role == "triage" else f"{self.username} (investigator)"


def assignees(console: Console, unit: str | None = None) -> list[Assignee]:
    """Active officers cases can be assigned to; only `unit`'s investigators if given."""
    query = select(Officer).where(Officer.active.is_(True), Officer.role.in_(ASSIGNABLE))
    with console.sessions() as session:
        rows = session.scalars(query.order_by(Officer.username)).all()
    found = [Assignee(o.username, o.role, o.unit) for o in rows]
    return [a for a in found if unit is None or (a.role == "investigator" and a.unit == unit)]


def _chosen(case_ids: Iterable[str]) -> list[str]:
    ids = sorted(set(case_ids))
    if not ids:
        raise ConsoleError("tick at least one case first")
    if len(ids) > MAX_BULK:
        raise ConsoleError(f"at most {MAX_BULK} cases at once")
    return ids


def assign(console: Console, case_ids: Iterable[str], username: str | None) -> int:
    """Assign the cases to `username` (None: unassign them); how many changed hands.

    All or nothing: a case that does not exist, or is not routed to an investigator's
    unit, refuses the whole action."""
    ids = _chosen(case_ids)
    with console.sessions() as session:
        officer = session.get(Officer, username) if username else None
        if username and (officer is None or not officer.active or officer.role not in ASSIGNABLE):
            raise ConsoleError(
                f"{username!r} is not an active triage officer or investigator on this console"
            )
        cases = session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)).all()
        missing = sorted(set(ids) - {case.id for case in cases})
        if missing:
            raise ConsoleError(f"there is no case {missing[0]!r} on this console")
        if officer is not None and officer.role == "investigator":
            elsewhere = [case.id for case in cases if case.unit != officer.unit]
            if elsewhere:
                raise ConsoleError(
                    f"case {elsewhere[0]} is not routed to {officer.username}'s unit: route it "
                    "there first, or assign it to a triage officer"
                )
        entries: list[tuple[str, str | None, dict[str, Any]]] = []
        for case in cases:
            if case.assignee == username:
                continue
            entries.append(("assign", case.id, {"to": username, "from": case.assignee}))
            case.assignee = username
        console.audit_many(session, entries)
        session.commit()
    return len(entries)


def after_routing(console: Console, session: Session, case: Case) -> None:
    """In the routing's own transaction: an investigator assigned to `case` whose unit it
    has just left is no longer its assignee (they could not even open it), and the audit
    log says so; a triage officer stays assigned."""
    if case.assignee is None:
        return
    officer = session.get(Officer, case.assignee)
    if officer is not None and officer.role == "investigator" and officer.unit != case.unit:
        detail = {"to": None, "from": case.assignee, "why": "routed"}
        console.audit_many(session, [("assign", case.id, detail)])
        case.assignee = None


def acknowledge_many(console: Console, case_ids: Iterable[str]) -> int:
    """Acknowledge each case still "received"; how many were (all or nothing)."""
    ids = _chosen(case_ids)
    with console.sessions() as session:
        cases = session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)).all()
        missing = sorted(set(ids) - {case.id for case in cases})
        if missing:
            raise ConsoleError(f"there is no case {missing[0]!r} on this console")
        entries: list[tuple[str, str | None, dict[str, Any]]] = []
        for case in cases:
            if case.public_status != "received":
                continue
            if case.workflow == "new":
                case.workflow = "acknowledged"
            replies.set_status(console, session, case, "acknowledged")
            console._event(session, case.id, "acknowledged")
            entries.append(("acknowledge", case.id, {}))
        console.audit_many(session, entries)
        session.commit()
    return len(entries)
