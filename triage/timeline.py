"""A case's timeline: what happened, in order, and who did it.

The case page reads top to bottom as one list: the report, each message and reply (each
with the files that came with it), each assessment, routing, status change, note,
referral, person or place of concern, identity request, closure, and each deadline met
or missed. It is built from what the console already keeps — the thread's items, the
case's events (triage/db.py `CaseEvent`), internal notes (triage/notes.py), identity
requests (triage/custody.py) and the deadlines computed from the events — merged by day,
then by the time of day each was stored (kept since migration 0015; older rows keep
the order in which they were written).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from . import labels, workflow
from .db import CaseEvent

if TYPE_CHECKING:
    from .console import Console

#: The kinds of case event the thread already shows as an item (a reply, the outcome
#: notice), so that the timeline does not show them twice; they name the reply's author.
_SHOWN_AS_ITEMS = ("reply", "feedback")
_END_OF_DAY = 1 << 62


def who(officer: str | None) -> str:
    """The audit log's name for an officer ("officer:tess") as a person reads it."""
    if not officer:
        return "an officer (not recorded)"
    return officer.split(":", 1)[1] if officer.startswith("officer:") else officer


def _event_text(kind: str, detail: dict[str, Any], units: dict[str, str]) -> str:
    if kind == "assessed":
        text = (
            f"Assessed: {labels.word(labels.SEVERITIES, detail.get('severity'))} severity, "
            f"category {detail.get('category_name', detail.get('category', ''))}"
        )
        return text + (", urgent" if detail.get("urgent") else "")
    if kind == "routed":
        return f"Routed to {units.get(detail.get('unit', ''), detail.get('unit', ''))}"
    if kind == "status":
        state = labels.word(labels.STATUSES, detail.get("state"))
        return f"Status the reporter sees set to: {state}"
    if kind == "referred":
        return f"Referral package exported for {units.get(detail.get('unit', ''), 'a unit')}"
    if kind == "concern":
        return f"Recorded a {detail.get('kind', 'person or place')} of concern"
    return labels.word(labels.EVENTS, kind)


def build(
    console: Console,
    case_id: str,
    shown: dict[str, Any],
    deadlines: list[workflow.Deadline],
    notes: list[dict[str, Any]],
    asked: list[Any],
    units: dict[str, str],
    categories: dict[str, str],
) -> list[dict[str, Any]]:
    """The case's entries, oldest first. Each is a dict: `kind` (report, message,
    unsigned, reply, note, event, deadline, identity), `on` (a date), `who`, `title`,
    and `text` and `files` where it has them (`text` is the officer's or reporter's own
    words, shown as text). `shown` is the opened case (triage/reading.py `show`)."""
    with console.sessions() as session:
        events = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        ).all()
        opened = [(e, console._open(e.detail) if e.detail is not None else {}) for e in events]
    entries: list[tuple[tuple[datetime.date, int, int, int], dict[str, Any]]] = []
    # Who wrote each reply: the reply's own record (since 0015), else the events that
    # were written with the replies, in the same order (a reply, then the outcome notice).
    authors = [e.officer for e, _ in opened if e.kind in (*_SHOWN_AS_ITEMS, "closed")]
    replies = 0
    received = datetime.date.fromisoformat(shown["received_on"])
    for message in shown["messages"]:
        seq, at = message["seq"], message["at"]
        on = datetime.date.fromisoformat(message["on"])
        title = labels.word(labels.ITEMS, message["kind"])
        entry = {**message, "on": on, "who": None, "title": title}
        key = (on, at if at is not None else -1, 0, seq)
        if message["kind"] == "report":
            # What happened starts with the report, on the day the portal received it,
            # even when the console was given steps dated before it stored the item (the
            # demo's fictional history, a console restored from an older backup).
            on = entry["on"] = min(on, received)
            key = (datetime.date.min, -1, -1, seq)
        if message["kind"] == "reply":
            author = message.get("by") or (authors[replies] if replies < len(authors) else None)
            entry["who"] = who(author)
            replies += 1
        entries.append((key, entry))
    for event, detail in opened:
        if event.kind in _SHOWN_AS_ITEMS:
            continue
        if event.kind == "assessed":
            detail = {**detail, "category_name": categories.get(detail.get("category", ""), "")}
        entry = {
            "kind": "event",
            "event": event.kind,
            "on": event.on,
            "who": who(event.officer),
            "title": _event_text(event.kind, detail, units),
            "text": detail.get("summary") or detail.get("reason") or None,
            "files": [],
        }
        key = (event.on, event.at if event.at is not None else -1, 1, event.seq)
        entries.append((key, entry))
    for note in notes:
        entry = {
            "kind": "note",
            "on": note["on"],
            "who": who(note["officer"]),
            "title": "Internal note (the reporter never sees it)",
            "text": note["text"],
            "files": [],
        }
        entries.append(((note["on"], note["at"], 2, note["seq"]), entry))
    for number, a in enumerate(asked):
        asked_on = datetime.date.fromisoformat(str(a.on))
        title = "Asked a custodian to see who the reporter is"
        entry = _plain(asked_on, a.requester, title)
        entries.append(((asked_on, _END_OF_DAY - 2, 3, number), entry))
        if a.state != "pending" and a.decided_on:
            decided_on = datetime.date.fromisoformat(str(a.decided_on))
            verdict = "Approved" if a.state == "approved" else "Refused"
            title = f"{verdict} {a.requester}'s request to see who the reporter is"
            entry = _plain(decided_on, a.decided_by, title)
            entries.append(((decided_on, _END_OF_DAY - 1, 3, number), entry))
    for number, d in enumerate(deadlines):
        if d.met_on is not None:
            late = " (late)" if d.late else ""
            entry = {**_plain(d.met_on, None, f"Deadline met{late}: {d.label}"), "kind": "deadline"}
            entries.append(((d.met_on, _END_OF_DAY, 4, number), entry))
        elif d.state == "overdue":
            missed = d.date + datetime.timedelta(days=1)
            title = f"Deadline missed: {d.label} (by {labels.day(d.date)})"
            entry = {**_plain(missed, None, title), "kind": "deadline", "missed": True}
            entries.append(((missed, -1, -1, number), entry))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


def _plain(on: datetime.date, officer: str | None, title: str) -> dict[str, Any]:
    """An entry without words of its own (an identity request, a deadline)."""
    return {
        "kind": "identity",
        "on": on,
        "who": who(officer) if officer else None,
        "title": title,
        "text": None,
        "files": [],
    }
