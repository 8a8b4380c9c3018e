"""What a sync carries while it takes in the portal's outbox, page by page: the items
and cases already here (`Seen`), what one page adds (`Batch`, stored in one transaction
by triage/sync.py), and what the whole sync did (`SyncReport`, printed by `triage sync`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The state of a file a sync could not fetch yet; the next sync fetches it again.
TO_FETCH = "still to fetch: "


@dataclass
class CaseKeys:
    """What verifying a case's items needs: its case key (the reporter's box key, from the
    report), the reporter's signing key (None in a case filed under v1 until a key proof
    establishes one), and whether that key was established in this page."""

    case_key: bytes
    reporter_key: bytes | None
    established: bool = False


@dataclass
class Seen:
    """The item ids (taken or set aside) and case ids a sync found here already, the keys
    of those cases, and the hashes of the item headers held (to find a copy sent again)."""

    items: set[str]
    cases: set[str]
    fetching: set[str]  # items here already whose files are still to fetch
    keys: dict[str, CaseKeys] = field(default_factory=dict)
    hashes: set[bytes] = field(default_factory=set)


@dataclass
class Batch:
    """What one outbox page adds: rows for `cases`, `items` and `set_aside`, and the
    audit entries (action, case, detail) that record them, in order."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    to_fetch: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    #: Cases in a v1 filing whose reporter key a key proof established in this page.
    established: dict[str, bytes] = field(default_factory=dict)
    audit: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)


@dataclass
class SyncReport:
    taken: int = 0
    already: int = 0
    set_aside: list[str] = field(default_factory=list)
    files: int = 0
    bad_files: list[str] = field(default_factory=list)
    files_to_fetch: list[str] = field(default_factory=list)
    pushed: int = 0
    queued: int = 0
    #: Why queued items wait, when the portal answered and it is not that it is
    #: unreachable (`Console.held_because`); "" otherwise.
    held: str = ""
