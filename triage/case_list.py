"""The case list, a page at a time: filters, full-text search, and the urgent count.

Cases are listed urgent first, then newest first, then by id (`ORDER`). Migration 0006
indexes exactly that order, alone and after each filter's column, with the other filter
columns inside each index, so a page, its count and the urgent count are read from an
index, never the table. Page N is found by offset; past the middle of the list the walk
starts from the end instead, so the deepest page walks half the list's index entries.

A search (`Filters.text`) asks the in-memory index (`triage.search`) which cases hold the
words, then lists those cases in the same order, with the same filters and the same rule
for investigators (their unit only). Matches are sorted by the database, by id, when
there are few; when there are many, the filtered list's ids are walked in order and kept
if they match, which costs about as much as the matches do.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .console import Console
from .db import Case
from .search import MAX_QUERY_CHARS, Progress

PER_PAGE = 50
ORDER = (Case.urgent.desc(), Case.received_on.desc(), Case.id)
REVERSED = (Case.urgent.asc(), Case.received_on.asc(), Case.id.desc())
#: A case's stage in the workflow (triage/workflow.py and docs/design.md §3), in order.
STAGES = ("new", "acknowledged", "assessed", "routed", "investigating", "closed")
#: Up to this many matches are sorted by the database (`WHERE id IN …`).
FEW_MATCHES = 1000


@dataclass(frozen=True)
class Filters:
    """What the officer asked for: exact-match filters and search words (all optional)."""

    status: str = ""  # the public status the reporter sees
    workflow: str = ""
    category: str = ""
    facility: str = ""
    unit: str = ""
    text: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        limits = {"facility": 200, "text": MAX_QUERY_CHARS}
        return cls(
            **{
                name: " ".join(params.get(key, "").split())[: limits.get(name, 40)]
                for name, key in _PARAMS.items()
            }
        )

    def link(self, page: int | None = None) -> str:
        """The /cases address of these filters (and a page)."""
        query = {key: getattr(self, name) for name, key in _PARAMS.items() if getattr(self, name)}
        if page is not None and page > 1:
            query["page"] = str(page)
        return "/cases" + ("?" + urllib.parse.urlencode(query) if query else "")

    def any(self) -> bool:
        return any(asdict(self).values())


#: Filter field → query parameter (the search box is `q`).
_PARAMS = {
    "status": "status",
    "workflow": "workflow",
    "category": "category",
    "facility": "facility",
    "unit": "unit",
    "text": "q",
}


@dataclass(frozen=True)
class Page:
    """One page of the list, and where it stands in the whole."""

    cases: list[Case]
    number: int
    pages: int
    total: int
    per_page: int
    asked: int  # the page asked for: differs from `number` when there is no such page
    open_urgent: int  # urgent cases not closed, visible to this officer, whatever the filters
    filters: Filters = field(default_factory=Filters)
    building: Progress | None = None  # the search index is not ready yet

    @property
    def first(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.number * self.per_page, self.total)

    def link(self, number: int) -> str:
        return self.filters.link(number)


def parse_page(value: str | None) -> int:
    """A page number from the address; anything that is not one means the first page."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return 1
    return max(1, int(text))


def list_cases(
    console: Console,
    filters: Filters,
    page: int = 1,
    *,
    unit: str | None = None,
    per_page: int = PER_PAGE,
) -> Page:
    """One page of the cases `filters` select, for an officer who sees only `unit`'s
    cases (investigators) or every case (`unit` None). Audited as "list cases", or as
    "search" with the number of results (never the words searched for)."""
    conditions = _conditions(filters, unit)
    found: set[str] | None = None
    if filters.text:
        found = console.search.find(filters.text)
        if found is None:  # still building after unsealing
            with console.sessions() as session:
                urgent = _open_urgent(session, unit)
            return Page([], 1, 1, 0, per_page, page, urgent, filters, console.search.progress())
    with console.sessions() as session:
        if found is None:
            total = session.scalar(select(func.count()).select_from(Case).where(*conditions))
            number, pages = _clamp(page, total or 0, per_page)
            ids = _page_ids(session, conditions, number, per_page, total or 0)
        elif len(found) <= FEW_MATCHES:
            conditions.append(Case.id.in_(sorted(found)))
            total = session.scalar(select(func.count()).select_from(Case).where(*conditions))
            number, pages = _clamp(page, total or 0, per_page)
            ids = _page_ids(session, conditions, number, per_page, total or 0)
        elif not conditions:  # every case is listed, so every match counts
            total = len(found)
            number, pages = _clamp(page, total, per_page)
            ids = _walk(session, [], found, number, per_page, total)
        else:  # the filters decide which matches count: walk them all
            ordered = _walk(session, conditions, found, 1, len(found), len(found))
            total = len(ordered)
            number, pages = _clamp(page, total, per_page)
            ids = ordered[(number - 1) * per_page : number * per_page]
        rows = session.scalars(select(Case).where(Case.id.in_(ids)).order_by(*ORDER)).all()
        urgent = _open_urgent(session, unit)
        if filters.text:
            console.audit(session, "search", results=total or 0)
        else:
            console.audit(session, "list cases")
        session.commit()
    return Page(list(rows), number, pages, total or 0, per_page, page, urgent, filters)


def _conditions(filters: Filters, unit: str | None) -> list[Any]:
    conditions: list[Any] = [] if unit is None else [Case.unit == unit]
    for name, column in (
        ("status", Case.public_status),
        ("workflow", Case.workflow),
        ("category", Case.category),
        ("facility", Case.facility),
        ("unit", Case.unit),
    ):
        if getattr(filters, name):
            conditions.append(column == getattr(filters, name))
    return conditions


def _clamp(page: int, total: int, per_page: int) -> tuple[int, int]:
    """The page to show for `page` (the last one if it is past the end), and how many."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(1, page), pages), pages


def _page_ids(
    session: Session, conditions: list[Any], number: int, per_page: int, total: int
) -> list[str]:
    """The ids on page `number`, walking the order index from whichever end is nearer."""
    offset = (number - 1) * per_page
    if offset <= total // 2:
        query = select(Case.id).where(*conditions).order_by(*ORDER)
        return list(session.scalars(query.offset(offset).limit(per_page)))
    count = min(per_page, total - offset)
    from_end = total - offset - count
    query = select(Case.id).where(*conditions).order_by(*REVERSED)
    return list(reversed(session.scalars(query.offset(from_end).limit(count)).all()))


def _walk(
    session: Session,
    conditions: list[Any],
    found: set[str],
    number: int,
    per_page: int,
    total: int,
) -> list[str]:
    """Page `number` of the cases in `found`, in list order, by walking the list's ids
    from whichever end is nearer and stopping once the page is complete. `total` is how
    many of `found` the walk can meet."""
    offset = (number - 1) * per_page
    skip, take, backwards = offset, per_page, offset > total // 2
    if backwards:
        take = min(per_page, total - offset)
        skip = total - offset - take
    query = select(Case.id).where(*conditions).order_by(*(REVERSED if backwards else ORDER))
    picked: list[str] = []
    seen = 0
    # Core, not the ORM: this may read every case's id, and only the id is needed.
    result = session.connection().execute(query.execution_options(yield_per=2000))
    try:
        for case_id in result.scalars():
            if case_id in found:
                if seen >= skip:
                    picked.append(case_id)
                    if len(picked) == take:
                        break
                seen += 1
    finally:
        result.close()
    return picked[::-1] if backwards else picked


def _open_urgent(session: Session, unit: str | None) -> int:
    query = (
        select(func.count())
        .select_from(Case)
        .where(Case.urgent.is_(True), Case.workflow != "closed")
    )
    if unit is not None:
        query = query.where(Case.unit == unit)
    return session.scalar(query) or 0
