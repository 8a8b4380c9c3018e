"""What an officer asks the case list for: filters, search words, order, and where in the
list to start (a keyset cursor), read from the address and written back into links.

Every filter is an exact match on a plain column (triage/db.py `Case`), except the
deadline state, which compares the case's earliest unmet deadline (`due_on`, see
triage/list_keys.py) with today: "missed" (its day has passed), "soon" (due within
`SOON_DAYS` days, today included), "later", "met" (every deadline met) or "none" (the
case owes none: its content was purged). "Unassigned" is the assignee `UNASSIGNED`;
the language `UNKNOWN` is a case stored before the console kept languages.
"""

from __future__ import annotations

import datetime
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .db import Case
from .search_words import MAX_QUERY_CHARS

#: A case's stage in the workflow (triage/workflow.py and docs/design.md §3), in order.
STAGES = ("new", "acknowledged", "assessed", "routed", "investigating", "closed")
DEADLINE_STATES = {
    "missed": "missed",
    "soon": "due within a week",
    "later": "due later",
    "met": "all met",
    "none": "none owed",
}
SOON_DAYS = 7
SORTS = {"": "urgent first, then newest", "deadline": "soonest deadline first"}
#: The assignee filter for cases nobody is assigned to (no username starts with "-").
UNASSIGNED = "-"
#: The language filter for cases stored without one (before migration 0014).
UNKNOWN = "-"
_KEY = re.compile(r"[0-9A-Za-z._-]{1,96}")
_POSITION = re.compile(r"[0-9]{1,9}")
_CHOICES = {"deadline": DEADLINE_STATES, "urgent": {"yes": "", "no": ""}, "sort": SORTS}


@dataclass(frozen=True)
class Filters:
    """What the officer asked for: exact-match filters, search words, order (all optional)."""

    status: str = ""  # the public status the reporter sees
    workflow: str = ""
    deadline: str = ""
    category: str = ""
    facility: str = ""
    unit: str = ""
    assignee: str = ""
    urgent: str = ""  # "yes" | "no"
    lang: str = ""
    text: str = ""
    sort: str = ""  # "" | "deadline"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        limits = {"facility": 200, "text": MAX_QUERY_CHARS}
        values = {
            name: " ".join(params.get(key, "").split())[: limits.get(name, 40)]
            for name, key in _PARAMS.items()
        }
        for name, allowed in _CHOICES.items():  # anything else means "any"
            if values[name] not in allowed:
                values[name] = ""
        return cls(**values)

    def query(self) -> dict[str, str]:
        return {key: getattr(self, name) for name, key in _PARAMS.items() if getattr(self, name)}

    def link(self, cursor: Cursor | None = None, path: str = "/cases") -> str:
        """The address of these filters (and a place in the list)."""
        query = self.query()
        if cursor is not None:
            query |= cursor.query()
        return path + ("?" + urllib.parse.urlencode(query) if query else "")

    def any(self) -> bool:
        return any(value for name, value in asdict(self).items() if name != "sort")

    def key_column(self) -> Any:
        """The stored key the list is ordered and paged by."""
        return Case.due_key if self.sort == "deadline" else Case.list_key


#: Filter field → query parameter (the search box is `q`).
_PARAMS = {name: name for name in Filters.__dataclass_fields__} | {"text": "q"}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after a key, before one, at the end, or (none) at the start;
    with `n`, how many cases the link's page has before it, as the officer last saw
    (triage/case_list.py: it spares a count; it says where, not what, is shown)."""

    after: str = ""
    before: str = ""
    last: bool = False
    n: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Cursor:
        """Anything that is not a key means the first page; a position that is not a
        number is left out (the page's position is then counted)."""
        after, before = params.get("after", ""), params.get("before", "")
        n = params.get("n", "")
        position = int(n) if _POSITION.fullmatch(n) else None
        if after and _KEY.fullmatch(after):
            return cls(after=after, n=position)
        if before and _KEY.fullmatch(before):
            return cls(before=before, n=position)
        return cls(last=params.get("at") == "last")

    def query(self) -> dict[str, str]:
        position = {} if self.n is None else {"n": str(self.n)}
        if self.after:
            return {"after": self.after} | position
        if self.before:
            return {"before": self.before} | position
        return {"at": "last"} if self.last else {}


def conditions(filters: Filters, unit: str | None, today: datetime.date) -> list[Any]:
    """The WHERE clauses for `filters`, for an officer who sees only `unit`'s cases
    (investigators) or every case (`unit` None)."""
    found: list[Any] = [] if unit is None else [Case.unit == unit]
    for name, column in (
        ("status", Case.public_status),
        ("workflow", Case.workflow),
        ("category", Case.category),
        ("facility", Case.facility),
        ("unit", Case.unit),
    ):
        if getattr(filters, name):
            found.append(column == getattr(filters, name))
    if filters.assignee:
        unassigned = filters.assignee == UNASSIGNED
        found.append(Case.assignee.is_(None) if unassigned else Case.assignee == filters.assignee)
    if filters.lang:
        found.append(Case.lang.is_(None) if filters.lang == UNKNOWN else Case.lang == filters.lang)
    if filters.urgent:
        found.append(Case.urgent.is_(filters.urgent == "yes"))
    if filters.deadline:
        found.extend(_deadline(filters, today))
    return found


def _deadline(filters: Filters, today: datetime.date) -> list[Any]:
    """The deadline state as clauses: on `due_key` when the list is ordered by it (a
    range of the index walked), else on `due_on` (held in the list order's index)."""
    if filters.deadline in ("met", "none"):
        return [Case.deadlines == filters.deadline]
    later = today + datetime.timedelta(days=SOON_DAYS)
    column: Any
    low: Any
    high: Any
    if filters.sort == "deadline":
        column, low, high = Case.due_key, today.isoformat(), later.isoformat() + "~"
        end = "9999"
    else:
        column, low, high, end = Case.due_on, today, later, None
    if filters.deadline == "missed":
        return [column < low]
    if filters.deadline == "soon":
        return [column >= low, column <= high]
    return [column > high, Case.deadlines == "open"] + ([column < end] if end else [])
