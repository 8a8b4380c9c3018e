"""Retention: deleting a closed case's content once the rule for keeping it runs out.

A closed case keeps its content `retention_days_sexual_abuse` days after closure if it is
about sexual abuse (PREA 115.71: five years), `retention_days_other` days otherwise (two
years). Then `purge_expired` deletes what reporters and officers wrote and the attachment
files, and keeps what anonymous statistics need: the case row's plain fields (category,
facility, unit, urgency, severity, outcome, workflow, the dates) and the kind and day of
each event, item and audit entry. The audit log is not touched; the purge adds to it.

A purged case is marked by a "purged" case event, with no detail: the mark needs no new
column. Its items stay, their content replaced by a sealed tombstone (`{"document": {},
"purged_on": DAY}`; a report's keeps its channel, which the statistics count), so the
portal's item ids still recognise an item delivered twice, and everything that reads items
(`Console.show`, the web pages, the statistics) keeps working and finds no text and no
files.

Each case is purged in one transaction, and its files are deleted only after that commits:
a crash in between leaves files that no row names, encrypted under keys that were only in
the deleted content, never a row naming a file that is gone.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from foundation.blobstore import is_blob_id

from . import workflow
from .db import Case, CaseEvent, CaseNote, Concern, Item, Outgoing, SetAside

if TYPE_CHECKING:
    from .console import Console
    from .settings import TriageSettings

PURGED = "purged"  # the case event that marks a purged case


@dataclass(frozen=True)
class Expired:
    """A closed case whose content the retention rule no longer allows keeping."""

    case: str
    category: str
    closed_on: datetime.date
    rule: str


@dataclass
class PurgeReport:
    today: datetime.date
    dry_run: bool
    cases: list[Expired] = field(default_factory=list)
    files: int = 0  # attachment files deleted from disk


def rule(settings: TriageSettings, category: str) -> tuple[int, str]:
    """How many days after closure a case of `category` is kept, and the rule in words."""
    if category in workflow.SEXUAL_ABUSE:
        days = settings.retention_days_sexual_abuse
        return days, f"sexual abuse (PREA 115.71): kept {days} days after closure"
    days = settings.retention_days_other
    return days, f"kept {days} days after closure"


def expired_cases(console: Console, today: datetime.date) -> list[Expired]:
    """Closed, not yet purged cases with closed_on + retention < today, oldest first."""
    purged = select(CaseEvent.case_id).where(CaseEvent.kind == PURGED)
    query = (
        select(Case)
        .where(Case.workflow == "closed", Case.closed_on.is_not(None), Case.id.not_in(purged))
        .order_by(Case.closed_on, Case.id)
    )
    found = []
    with console.sessions() as session:
        for case in session.scalars(query):
            days, words = rule(console.settings, case.category)
            if case.closed_on and case.closed_on + datetime.timedelta(days=days) < today:
                found.append(Expired(case.id, case.category, case.closed_on, words))
    return found


def purge_expired(
    console: Console, *, today: datetime.date | None = None, dry_run: bool = False
) -> PurgeReport:
    """Purge every case past its retention; `dry_run` only says which, changing nothing.

    Running it again purges nothing more: a purged case carries the "purged" event.
    """
    today = today or console._today()
    report = PurgeReport(today=today, dry_run=dry_run)
    for expired in expired_cases(console, today):
        if dry_run:
            report.cases.append(expired)
            continue
        files = _purge_case(console, expired, today)
        if files is None:
            continue  # another purge got there first
        report.cases.append(expired)
        for blob_id in files:  # after the commit: see the module docstring
            if console.blobs.exists(blob_id):
                console.blobs.delete(blob_id)
                report.files += 1
    if report.files:
        console.blobs.sync_directory()
    if report.cases and not dry_run:
        console.search.refresh()  # the purged cases' words leave the in-memory index now
    return report


def _purge_case(console: Console, expired: Expired, today: datetime.date) -> list[str] | None:
    """Delete one case's content in one transaction; returns the files to delete after."""
    with console.sessions() as session:
        # Lock the case row (PostgreSQL) so two purges at once cannot both go ahead.
        session.scalar(select(Case).where(Case.id == expired.case).with_for_update())
        done = select(CaseEvent.seq).where(
            CaseEvent.case_id == expired.case, CaseEvent.kind == PURGED
        )
        if session.scalar(done.limit(1)) is not None:
            return None
        files: list[str] = []
        items = session.scalars(select(Item).where(Item.case_id == expired.case)).all()
        for item in items:
            content = console._open(item.content)
            files += [
                blob_id
                for blob_id, state in content.get("files", {}).items()
                # Only files this console kept for this item; "missing" ones may name
                # another case's file.
                if state == "stored" and is_blob_id(blob_id)
            ]
            # The channel (staff, kiosk, third party) is kept: the statistics count it.
            document = content.get("document", {})
            report = item.kind == "report" and "channel" in document
            kept = {"channel": document["channel"]} if report else {}
            item.content = console._seal({"document": kept, "purged_on": today.isoformat()})
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == expired.case, CaseEvent.detail.is_not(None))
            .values(detail=None)
        )
        # Sent or still queued, a request body carries the reply: it goes too, unsent.
        queued = len(
            session.scalars(
                select(Outgoing.seq).where(
                    Outgoing.case_id == expired.case, Outgoing.sent_on.is_(None)
                )
            ).all()
        )
        session.execute(delete(Outgoing).where(Outgoing.case_id == expired.case))
        # Persons and places of concern would go on linking the case to a name.
        session.execute(delete(Concern).where(Concern.case_id == expired.case))
        # Officers' internal notes are the case's content too.
        session.execute(delete(CaseNote).where(CaseNote.case_id == expired.case))
        set_aside = session.scalars(select(SetAside).where(SetAside.case_id == expired.case))
        for row in set_aside:
            row.content = console._seal({"purged_on": today.isoformat()})
        session.add(
            CaseEvent(case_id=expired.case, kind=PURGED, on=today, officer=console.who, detail=None)
        )
        console.audit(
            session,
            "purge",
            expired.case,
            reason=expired.rule,
            closed_on=expired.closed_on.isoformat(),
            items=len(items),
            files=len(files),
            unsent=queued,
        )
        session.commit()
    return files
