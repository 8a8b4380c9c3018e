"""The stored sort keys and deadline summary the case list pages by (migration 0014).

The list is read a page at a time by keyset: "the 50 cases after this one", never "skip
N cases". Its orders mix directions (urgent first, newest first, then case id), which no
single comparison of several columns can follow, so each case carries its position as
one string that sorts ascending:

- `list_key`: urgent or not (0 / 1), the received day counted backwards, the case id;
- `due_key`: the day of the case's earliest deadline not yet met (or 9999-12-31 when it
  owes none), then `list_key`.

`due_on` is that day, and `deadlines` says whether the case owes any ("open"), met them
all ("met"), or has none (its content was purged: "none"). They depend only on what was
done on the case and when (triage/workflow.py), not on today's date, so they change
only when the case does: when it is stored, and when an event is recorded or its
category or urgency change (`refresh`, called from a flush hook in triage/db.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from . import workflow

#: The `due_on` of a case that owes nothing: sorts after every real deadline.
NO_DEADLINE = datetime.date(9999, 12, 31)
_LAST_DAY = 99991231


def list_key(urgent: bool, received_on: datetime.date, case_id: str) -> str:
    """Urgent first, newest first, then by id, as one ascending string."""
    day = received_on.year * 10000 + received_on.month * 100 + received_on.day
    return f"{0 if urgent else 1}{_LAST_DAY - day:08d}{case_id}"


def due_key(due_on: datetime.date, key: str) -> str:
    """Soonest deadline first, then in list order."""
    return due_on.isoformat() + key


def summary(
    received_on: datetime.date,
    category: str,
    urgent: bool,
    events: Iterable[workflow.Event],
) -> tuple[datetime.date, str]:
    """(`due_on`, `deadlines`) for a case with these facts and events."""
    found = workflow.deadlines(
        received_on=received_on,
        category=category,
        urgent=urgent,
        events=list(events),
        today=received_on,  # states are not kept: only which are met, and when each falls
    )
    if not found:
        return NO_DEADLINE, "none"
    owed = [d.date for d in found if d.met_on is None]
    return (min(owed), "open") if owed else (NO_DEADLINE, "met")


def fill(row: dict[str, Any]) -> dict[str, Any]:
    """The key columns of a new case, from its other columns (a case is stored before
    anything is done on it)."""
    due_on, state = summary(row["received_on"], row["category"], bool(row["urgent"]), ())
    key = list_key(bool(row["urgent"]), row["received_on"], row["id"])
    return {"list_key": key, "due_key": due_key(due_on, key), "due_on": due_on, "deadlines": state}


def refresh(case: Any, events: Iterable[workflow.Event]) -> None:
    """Set a case's key columns from its facts and every event recorded on it."""
    due_on, state = summary(case.received_on, case.category, bool(case.urgent), events)
    key = list_key(bool(case.urgent), case.received_on, case.id)
    case.list_key, case.due_key, case.due_on, case.deadlines = (
        key,
        due_key(due_on, key),
        due_on,
        state,
    )


def keep_up_to_date(case_table: Any, event_table: Any) -> None:
    """Before every flush: refresh the keys of each case changed, or with an event
    recorded, in it, from the case's events stored and about to be (triage/db.py calls
    this with its `Case` and `CaseEvent`)."""

    @event.listens_for(Session, "before_flush")
    def _refresh_keys(session: Session, _context: Any, _instances: Any) -> None:
        cases = {
            c.id: c for c in session.dirty if isinstance(c, case_table) and session.is_modified(c)
        }
        pending: dict[str, list[workflow.Event]] = {}
        for row in session.new:
            if isinstance(row, event_table):
                pending.setdefault(row.case_id, []).append(workflow.Event(row.kind, row.on))
        if not cases and not pending:
            return
        with session.no_autoflush:
            for case_id in pending.keys() - cases.keys():
                found = session.get(case_table, case_id)
                if found is not None:
                    cases[case_id] = found
            stored: dict[str, list[workflow.Event]] = {}
            query = select(event_table.case_id, event_table.kind, event_table.on).where(
                event_table.case_id.in_(sorted(cases))
            )
            for case_id, kind, on in session.execute(query):
                stored.setdefault(case_id, []).append(workflow.Event(kind, on))
        for case_id, case in cases.items():
            if case.received_on is None or case.category is None:
                continue  # not a whole case (a test's partial row): nothing to sort by
            refresh(case, stored.get(case_id, []) + pending.get(case_id, []))
