"""The case list, a page at a time by keyset: filters, full-text search, and the urgent count.

Cases are listed urgent first, then newest first, then by id, or soonest deadline first
(`Filters.sort`); either order is one stored string per case (triage/list_keys.py), and a
page is "the 50 cases after (or before) this key", read from an index (migration 0014)
as quickly on the last page as on the first: nothing is skipped by offset. A link
carries the key of the row it continues from, so a case added or removed while an
officer pages through does not make the walk skip or repeat any other. "Cases 51–100
of 1,234" comes from two counts on the same index.

A search (`Filters.text`) asks the in-memory index (`triage.search`) which cases hold the
words, then lists those cases in the same order, with the same filters and the same rule
for investigators (their unit only): the keys of the matching cases are read in order
(by the database, when there are few; by walking the filtered list's keys, when there are
many) and the page is cut from them by the same cursor.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .case_filters import STAGES, Cursor, Filters, conditions
from .console import Console
from .db import Case
from .search import Progress

__all__ = ["FEW_MATCHES", "PER_PAGE", "STAGES", "Cursor", "Filters", "Page", "list_cases"]

PER_PAGE = 50
#: Up to this many matches are sorted by the database (`WHERE id IN …`).
FEW_MATCHES = 1000


@dataclass(frozen=True)
class Page:
    """One page of the list, and where it stands in the whole."""

    cases: list[Case]
    position: int  # how many cases of the list come before this page
    total: int
    open_urgent: int  # urgent cases not closed, visible to this officer, whatever the filters
    filters: Filters = field(default_factory=Filters)
    building: Progress | None = None  # the search index is not ready yet
    past_end: bool = False  # the cursor pointed past the list's end: this is its last page

    @property
    def first(self) -> int:
        return self.position + 1 if self.cases else 0

    @property
    def last(self) -> int:
        return self.position + len(self.cases)

    @property
    def has_previous(self) -> bool:
        return self.position > 0

    @property
    def has_next(self) -> bool:
        return self.last < self.total

    def key(self, case: Case) -> str:
        return str(case.due_key if self.filters.sort == "deadline" else case.list_key)

    def link(self, where: str) -> str:
        """The address of the "first", "previous", "next" or "last" page."""
        if where == "previous" and self.cases:
            return self.filters.link(Cursor(before=self.key(self.cases[0])))
        if where == "next" and self.cases:
            return self.filters.link(Cursor(after=self.key(self.cases[-1])))
        return self.filters.link(Cursor(last=True) if where == "last" else None)


def list_cases(
    console: Console,
    filters: Filters,
    cursor: Cursor | None = None,
    *,
    unit: str | None = None,
    per_page: int = PER_PAGE,
) -> Page:
    """The page at `cursor` of the cases `filters` select, for an officer who sees only
    `unit`'s cases (investigators) or every case (`unit` None). Audited as "list cases",
    or as "search" with the number of results (never the words searched for)."""
    cursor = cursor or Cursor()
    where = conditions(filters, unit, console._today())
    found: set[str] | None = None
    if filters.text:
        found = console.search.find(filters.text)
        if found is None:  # still building after unsealing
            with console.sessions() as session:
                urgent = _open_urgent(session, unit)
            return Page([], 0, 0, urgent, filters, console.search.progress())
    key = filters.key_column()
    with console.sessions() as session:
        if found is None:
            ids, position, total, past_end = _keyset(session, key, where, cursor, per_page)
        else:
            keys, matched = matching(session, key, where, found)
            ids, position, past_end = _cut(keys, matched, cursor, per_page)
            total = len(keys)
        rows = session.scalars(select(Case).where(Case.id.in_(ids)).order_by(key)).all()
        urgent = _open_urgent(session, unit)
        if filters.text:
            console.audit(session, "search", results=total)
        else:
            console.audit(session, "list cases")
        session.commit()
    return Page(list(rows), position, total, urgent, filters, None, past_end)


def _keyset(
    session: Session, key: Any, where: list[Any], cursor: Cursor, per_page: int
) -> tuple[list[str], int, int, bool]:
    """(ids on the page, cases before it, total, past the end) from the database."""
    ids_and_keys = select(Case.id, key).where(*where)
    past_end = False
    if cursor.after:
        rows = session.execute(ids_and_keys.where(key > cursor.after).order_by(key).limit(per_page))
        page = list(rows)
        if not page:  # everything after it was removed, or the key is made up
            past_end = True
            cursor = Cursor(last=True)
    elif cursor.before:
        query = ids_and_keys.where(key < cursor.before).order_by(key.desc()).limit(per_page)
        page = list(session.execute(query))[::-1]
        if not page:
            cursor = Cursor()
    if not (cursor.after or cursor.before):
        order = key.desc() if cursor.last else key
        page = list(session.execute(ids_and_keys.order_by(order).limit(per_page)))
        if cursor.last:
            page.reverse()
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    position = 0
    if page and cursor.last:  # in the same transaction: the rest come before it
        position = max(0, total - len(page))
    elif page:
        before = select(func.count()).select_from(Case).where(*where, key < page[0][1])
        position = session.scalar(before) or 0
    return [row[0] for row in page], position, total, past_end


def matching(
    session: Session, key: Any, where: list[Any], found: set[str]
) -> tuple[list[str], list[str]]:
    """The keys and ids of the cases in `found` that `where` selects, in list order."""
    if len(found) <= FEW_MATCHES:
        query = select(key, Case.id).where(*where, Case.id.in_(sorted(found))).order_by(key)
        rows = session.execute(query).all()
        return [row[0] for row in rows], [row[1] for row in rows]
    keys: list[str] = []
    ids: list[str] = []
    query = select(key, Case.id).where(*where).order_by(key)
    # Core, not the ORM: this reads every listed case's key, and only the key is needed.
    result = session.connection().execute(query.execution_options(yield_per=2000))
    try:
        for case_key, case_id in result:
            if case_id in found:
                keys.append(case_key)
                ids.append(case_id)
    finally:
        result.close()
    return keys, ids


def _cut(
    keys: list[str], ids: list[str], cursor: Cursor, per_page: int
) -> tuple[list[str], int, bool]:
    """The page at `cursor` of a list already in order: (ids, cases before it, past end)."""
    start, past_end = 0, False
    if cursor.after:
        start = bisect.bisect_right(keys, cursor.after)
        if start >= len(keys):
            start, past_end = max(0, len(keys) - per_page), True
    elif cursor.before:
        end = bisect.bisect_left(keys, cursor.before)
        start = max(0, end - per_page) if end else 0
        return ids[start:end] if end else ids[:per_page], start, False
    elif cursor.last:
        start = max(0, len(keys) - per_page)
    return ids[start : start + per_page], start, past_end


def _open_urgent(session: Session, unit: str | None) -> int:
    query = (
        select(func.count())
        .select_from(Case)
        .where(Case.list_key < "1", Case.workflow != "closed")  # urgent: keys starting "0"
    )
    if unit is not None:
        query = query.where(Case.unit == unit)
    return session.scalar(query) or 0
