"""The filtered case list as CSV, for the board's monthly meeting: counts and dates, no
identities and no free text.

Each row holds only what the console keeps plain to sort and filter by, in fixed words:
the case id (the board's way to ask "what happened to this one?"; it names no person
and opens nothing without the reporter's receipt), the day received, urgency, category,
severity, stage, the status the reporter sees, the unit, the reporter's language, the
next deadline and its state, the day closed and the outcome. Never in it: anything the
reporter wrote (the report, messages, names they gave, even the prison, which the
reporter types in their own words), anything an officer wrote (replies, notes, reasons,
summaries), the identity section, or any officer's name (not even who is assigned).

A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return) as a
formula: such a cell is written with a leading apostrophe, so it is shown as text.
Every export is audited with the number of rows (never the words searched for).
"""

from __future__ import annotations

import csv
import datetime
import io

from sqlalchemy import select

from .case_filters import SOON_DAYS, Filters, conditions
from .case_list import matching
from .console import Console
from .db import Case
from .list_keys import NO_DEADLINE

COLUMNS = (
    "case",
    "received_on",
    "urgent",
    "category",
    "severity",
    "stage",
    "status",
    "unit",
    "language",
    "next_deadline",
    "deadline_state",
    "closed_on",
    "outcome",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe(value: object) -> str:
    """A cell's text, neutralised if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def deadline_state(case: Case, today: datetime.date) -> str:
    """The deadline state as the list's filter names it (triage/case_filters.py)."""
    if case.deadlines != "open" or case.due_on == NO_DEADLINE:
        return case.deadlines
    if case.due_on < today:
        return "missed"
    return "soon" if case.due_on <= today + datetime.timedelta(days=SOON_DAYS) else "later"


def row(case: Case, today: datetime.date) -> list[str]:
    open_deadline = case.deadlines == "open" and case.due_on != NO_DEADLINE
    values = (
        case.id,
        case.received_on.isoformat(),
        "yes" if case.urgent else "no",
        case.category,
        case.severity,
        case.workflow,
        case.public_status,
        case.unit,
        case.lang,
        case.due_on.isoformat() if open_deadline else "",
        deadline_state(case, today),
        case.closed_on.isoformat() if case.closed_on else "",
        case.outcome,
    )
    return [safe(value) for value in values]


def export(console: Console, filters: Filters, unit: str | None = None) -> tuple[str, int]:
    """(CSV text, rows) of every case `filters` select, in list order; audited."""
    today = console._today()
    where = conditions(filters, unit, today)
    key = filters.key_column()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    with console.sessions() as session:
        if filters.text:
            found = console.search.find(filters.text)
            if found is None:
                raise ExportNotReady
            ids = set(matching(session, key, where, found)[1])
            where.append(Case.id.in_(sorted(ids)) if len(ids) < 1000 else Case.id.is_not(None))
        else:
            ids = None
        count = 0
        query = select(Case).where(*where).order_by(key).execution_options(yield_per=2000)
        for case in session.scalars(query):
            if ids is not None and case.id not in ids:
                continue
            writer.writerow(row(case, today))
            count += 1
        console.audit(session, "export cases", rows=count)
        session.commit()
    return out.getvalue(), count


class ExportNotReady(Exception):  # noqa: N818 - a state
    """Search is still being prepared after unsealing: nothing to export yet."""
