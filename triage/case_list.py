"""The case list, a page at a time by keyset: filters, full-text search, and the urgent count.

Cases are listed urgent first, then newest first, then by id, or soonest deadline first
(`Filters.sort`); either order is one stored string per case (triage/list_keys.py), and a
page is "the 50 cases after (or before) this key", read from an index (migration 0014)
as quickly on the last page as on the first: nothing is skipped by offset. A link
carries the key of the row it continues from, so a case added or removed while an
officer pages through does not make the walk skip or repeat any other.

"Cases 51–100 of 1,234": the list counts its cases only up to `COUNT_LIMIT`, and past it
says "of more than 1,000", as large issue trackers do, so that no page costs a count of
the whole table (a count of 100,000 cases took PostgreSQL longer than the list's 50 ms
budget). A page's position (51) travels in the links that lead to it (`Cursor.n`, the
number of cases before it); a link without it, typed or old, has the cases before its
page counted, up to the same limit. The position a link carries is the one the officer
saw: if cases were added or removed meanwhile it may be off by as many, never the list.

A search (`Filters.text`) asks the in-memory index (`triage.search`) which cases hold the
words, then lists those cases in the same order, with the same filters and the same rule
for investigators (their unit only): the keys of the matching cases are read in order
(by the database, when there are few; by walking the filtered list's keys, when there are
many) and the page is cut from them by the same cursor.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .case_filters import STAGES, Cursor, Filters, conditions
from .console import Console
from .db import Case
from .search import Progress

__all__ = [
    "COUNT_LIMIT",
    "FEW_MATCHES",
    "PER_PAGE",
    "STAGES",
    "Cursor",
    "Filters",
    "Page",
    "list_cases",
]

PER_PAGE = 50
#: Up to this many matches are sorted by the database (`WHERE id IN …`).
FEW_MATCHES = 1000
#: The list counts up to this many cases; past it, it says "more than 1,000".
COUNT_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    """One page of the list, and where it stands in the whole."""

    cases: list[Case]
    #: How many cases of the list come before this page; None: more than `limit`.
    position: int | None
    #: How many cases the list holds, counted up to `limit` + 1 (`over`: more than that).
    total: int
    #: Urgent cases not closed, visible to this officer, whatever the filters (counted
    #: up to `limit` + 1 too).
    open_urgent: int
    filters: Filters = field(default_factory=Filters)
    building: Progress | None = None  # the search index is not ready yet
    past_end: bool = False  # the cursor pointed past the list's end: this is its last page
    has_next: bool = False
    has_previous: bool = False
    limit: int = COUNT_LIMIT
    per_page: int = PER_PAGE

    @property
    def over(self) -> bool:
        """The list holds more cases than it counted."""
        return self.total > self.limit

    @property
    def urgent_over(self) -> bool:
        return self.open_urgent > self.limit

    @property
    def first(self) -> int | None:
        if not self.cases:
            return 0
        return None if self.position is None else self.position + 1

    @property
    def last(self) -> int | None:
        return None if self.position is None else self.position + len(self.cases)

    def key(self, case: Case) -> str:
        return str(case.due_key if self.filters.sort == "deadline" else case.list_key)

    def link(self, where: str) -> str:
        """The address of the "first", "previous", "next" or "last" page."""
        known = self.position is not None
        if where == "previous" and self.cases:
            n = max(0, (self.position or 0) - self.per_page) if known else None
            return self.filters.link(Cursor(before=self.key(self.cases[0]), n=n))
        if where == "next" and self.cases:
            return self.filters.link(Cursor(after=self.key(self.cases[-1]), n=self.last))
        return self.filters.link(Cursor(last=True) if where == "last" else None)


def list_cases(
    console: Console,
    filters: Filters,
    cursor: Cursor | None = None,
    *,
    unit: str | None = None,
    per_page: int = PER_PAGE,
    limit: int = COUNT_LIMIT,
) -> Page:
    """The page at `cursor` of the cases `filters` select, for an officer who sees only
    `unit`'s cases (investigators) or every case (`unit` None), counted up to `limit`.
    Audited as "list cases", or as "search" with the number of results (never the words
    searched for)."""
    cursor = cursor or Cursor()
    where = conditions(filters, unit, console._today())
    found: set[str] | None = None
    if filters.text:
        found = console.search.find(filters.text)
        if found is None:  # still building after unsealing
            with console.sessions() as session:
                urgent = _open_urgent(session, unit, limit)
            building = console.search.progress()
            return Page([], 0, 0, urgent, filters, building, limit=limit, per_page=per_page)
    key = filters.key_column()
    with console.sessions() as session:
        if found is None:
            walked = _keyset(session, key, where, cursor, per_page, limit)
            ids, position, total, past_end, more = walked
        else:
            keys, matched = matching(session, key, where, found)
            ids, position, past_end = _cut(keys, matched, cursor, per_page)
            total = len(keys)
            more = (position + len(ids) < total, position > 0)
        rows = session.scalars(select(Case).where(Case.id.in_(ids)).order_by(key)).all()
        urgent = _open_urgent(session, unit, limit)
        if filters.text:
            console.audit(session, "search", results=total)
        else:
            console.audit(session, "list cases")
        session.commit()
    page = Page(list(rows), position, total, urgent, filters, None, past_end, *more, limit)
    return replace(page, per_page=per_page)


def _keyset(
    session: Session, key: Any, where: list[Any], cursor: Cursor, per_page: int, limit: int
) -> tuple[list[str], int | None, int, bool, tuple[bool, bool]]:
    """(ids on the page, cases before it, total, past the end, (more after it, more
    before it)) from the database, every count stopping past `limit`. One row beyond
    the page is read to tell whether there is more that way."""
    ids_and_keys = select(Case.id, key).where(*where)
    past_end = False
    after = before = True  # is there a case after the page, before it
    if cursor.after:
        rows = session.execute(
            ids_and_keys.where(key > cursor.after).order_by(key).limit(per_page + 1)
        )
        page = list(rows)
        after = len(page) > per_page
        if not page:  # everything after it was removed, or the key is made up
            past_end = True
            cursor = Cursor(last=True)
    elif cursor.before:
        query = ids_and_keys.where(key < cursor.before).order_by(key.desc())
        page = list(session.execute(query.limit(per_page + 1)))[::-1]
        before = len(page) > per_page
        if not page:
            cursor = Cursor()
        elif not before:  # the page reaches the start of the list
            cursor = Cursor(before=cursor.before, n=0)
    if not (cursor.after or cursor.before):
        order = key.desc() if cursor.last else key
        page = list(session.execute(ids_and_keys.order_by(order).limit(per_page + 1)))
        if cursor.last:
            page.reverse()
            before, after = len(page) > per_page, False
        else:
            before, after = False, len(page) > per_page
    page = page[1:] if len(page) > per_page and (cursor.before or cursor.last) else page
    page = page[:per_page]
    total = _count(session, where, limit)
    position: int | None = 0
    if page and (cursor.after or cursor.before) and cursor.n is not None:
        position = cursor.n  # as the link that led here said
    elif page and cursor.last and total <= limit:
        position = total - len(page)
    elif page and (cursor.after or cursor.before or cursor.last):
        position = _count(session, [*where, key < page[0][1]], limit)
        position = None if position > limit else position
    if position is not None and total <= limit:
        position = max(0, min(position, total - len(page)))
    if position == 0:
        before = False
    return [row[0] for row in page], position, total, past_end, (after, before)


def _count(session: Session, where: list[Any], limit: int) -> int:
    """How many cases `where` selects, counted up to `limit` + 1 (and no further)."""
    some = select(Case.id).where(*where).limit(limit + 1).subquery()
    return session.scalar(select(func.count()).select_from(some)) or 0


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


def _open_urgent(session: Session, unit: str | None, limit: int) -> int:
    """Urgent cases not closed that the officer sees, counted up to `limit` + 1."""
    where = [Case.list_key < "1", Case.workflow != "closed"]  # urgent: keys starting "0"
    if unit is not None:
        where.append(Case.unit == unit)
    return _count(session, where, limit)
