"""The workflow steps an officer takes on a case: acknowledge, assess, record what a
deadline asks for, close with an outcome; and the deadlines each case owes
(triage/workflow.py), soonest first on the dashboard. Every step is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from foundation.categories import CATEGORIES

from . import replies, workflow
from .db import (
    Case,
    CaseEvent,
)
from .settings import ConsoleError

if TYPE_CHECKING:
    from .console import Console


def acknowledge(console: Console, case_id: str) -> None:
    """Tell the reporter the report was read (the 7-day deadline)."""
    with console.sessions() as session:
        case = console._case(session, case_id)
        if case.workflow == "new":
            case.workflow = "acknowledged"
        replies.set_status(console, session, case, "acknowledged")
        console._event(session, case_id, "acknowledged")
        console.audit(session, "acknowledge", case_id)
        session.commit()


def assess(
    console: Console, case_id: str, *, category: str, severity: str, urgent: bool, reason: str = ""
) -> None:
    """Record the officer's assessment; the category may differ from the reporter's."""
    if category not in CATEGORIES:
        raise ConsoleError(f"unknown category {category!r}")
    if severity not in workflow.SEVERITIES:
        raise ConsoleError(f"choose a severity: {', '.join(workflow.SEVERITIES)}")
    with console.sessions() as session:
        case = console._case(session, case_id)
        before = {"category": case.category, "severity": case.severity, "urgent": case.urgent}
        case.category, case.severity, case.urgent = category, severity, urgent
        if case.workflow in ("new", "acknowledged"):
            case.workflow = "assessed"
        console._event(
            session,
            case_id,
            "assessed",
            {"category": category, "severity": severity, "urgent": urgent, "reason": reason},
        )
        console.audit(
            session,
            "assess",
            case_id,
            category=category,
            severity=severity,
            urgent=urgent,
            before=before,
            reason=reason,
        )
        session.commit()


def record(console: Console, case_id: str, kind: str) -> None:
    """Record that something a deadline asks for was done today (police contacted, …)."""
    if kind not in workflow.RECORDABLE:
        raise ConsoleError(
            "choose what was done from the list, then record it"
            if not kind
            else f"nothing called {kind!r} can be recorded"
        )
    with console.sessions() as session:
        console._case(session, case_id)
        console._event(session, case_id, kind)
        console.audit(session, "record", case_id, what=kind)
        session.commit()


def close_case(
    console: Console, case_id: str, *, outcome: str, summary: str, feedback: str
) -> None:
    """Close with an outcome; the feedback reply tells the reporter (PREA 115.73) and is
    recorded as the outcome notification once the portal has it."""
    if outcome not in workflow.OUTCOMES:
        raise ConsoleError(f"choose an outcome: {', '.join(workflow.OUTCOMES)}")
    if not summary.strip():
        raise ConsoleError("write a summary of the outcome for the record")
    with console.sessions() as session:
        case = console._case(session, case_id)
        if case.workflow == "closed":
            raise ConsoleError("the case is already closed")
        # One outcome notice: the feedback, closing the case (its state is "closed").
        replies.reply_item(console, session, case_id, feedback, kind="outcome", state="closed")
        case.public_status = "closed"
        case.workflow, case.outcome, case.closed_on = "closed", outcome, console._today()
        console._event(session, case_id, "closed", {"summary": summary})
        console.audit(session, "close", case_id, outcome=outcome)
        session.commit()


def deadlines(console: Console, case_id: str) -> list[workflow.Deadline]:
    with console.sessions() as session:
        return case_deadlines(console, session, console._case(session, case_id))


def case_deadlines(console: Console, session: Session, case: Case) -> list[workflow.Deadline]:
    events = [
        workflow.Event(row.kind, row.on)
        for row in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))
    ]
    return workflow.deadlines(
        received_on=case.received_on,
        category=case.category,
        urgent=case.urgent,
        events=events,
        today=console._today(),
    )


def dashboard(console: Console, unit: str | None = None) -> list[tuple[Case, workflow.Deadline]]:
    """Every deadline not yet met, soonest first: overdue ones lead."""
    with console.sessions() as session:
        query = select(Case).where(Case.workflow != "closed")
        if unit is not None:
            query = query.where(Case.unit == unit)
        rows = [
            (case, deadline)
            for case in session.scalars(query)
            for deadline in workflow.open_deadlines(case_deadlines(console, session, case))
        ]
        closed = select(Case).where(Case.workflow == "closed")
        if unit is not None:
            closed = closed.where(Case.unit == unit)
        for case in session.scalars(closed):  # the outcome notification is still owed
            rows += [
                (case, d)
                for d in workflow.open_deadlines(case_deadlines(console, session, case))
                if d.name == "outcome_notified_by"
            ]
        console.audit(session, "dashboard")
        session.commit()
    return sorted(rows, key=lambda row: (row[1].date, row[0].id))
