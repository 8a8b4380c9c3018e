"""Read back from the portal's database what it said it accepted: count and content hash.

A 201 is the portal's promise that a report is durably stored. A throughput figure counts
those promises; this module checks them afterwards against the database itself (SQLite or
PostgreSQL, through the same URL the portal uses), so that "lost: 0" is printed only when
every accepted report was found there with the exact sealed bytes that were sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, create_engine, text

import crypto

_BATCH = 500
_REPORTS = text(
    "SELECT cases.lookup_id, items.sealed FROM cases JOIN items ON items.case_id = cases.id "
    "WHERE items.kind = 'report' AND cases.lookup_id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_SINCE = text("SELECT sealed FROM items WHERE kind = 'report' AND seq > :seq ORDER BY seq")
_LAST = text("SELECT coalesce(max(seq), 0) FROM items")


@dataclass(frozen=True)
class ReadBack:
    """How many of the `claimed` (201) reports the database holds with the content sent."""

    claimed: int
    found: int  # rows whose content hash matches what was sent
    differ: int  # rows for a sent report whose content does not match

    @property
    def lost(self) -> int:
        return max(0, self.claimed - self.found)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.differ == 0

    def line(self) -> str:
        text = (
            f"read back from the database: {self.found:,} of {self.claimed:,} accepted "
            f"reports, each with the SHA-256 of what was sent; lost: {self.lost:,}"
        )
        if self.found > self.claimed:
            text += f" ({self.found - self.claimed:,} more stored than answered 201)"
        if self.differ:
            text += f"; **{self.differ:,} stored with different content**"
        return text


def sent_reports(bodies: Iterable[bytes]) -> dict[bytes, bytes]:
    """lookup_id → SHA-256 of the sealed report, for `POST /api/v1/reports` bodies."""
    sent = {}
    for body in bodies:
        data = json.loads(body)
        sealed = crypto.b64u_decode(data["sealed"])
        sent[crypto.b64u_decode(data["lookup_id"])] = hashlib.sha256(sealed).digest()
    return sent


def read_back_reports(database_url: str, sent: Mapping[bytes, bytes], claimed: int) -> ReadBack:
    """Find the `sent` reports in the portal's database and compare their content hashes."""
    ids = list(sent)
    found = differ = 0
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), _BATCH):
                rows = conn.execute(_REPORTS, {"ids": ids[start : start + _BATCH]})
                for lookup_id, sealed in rows:
                    if hashlib.sha256(bytes(sealed)).digest() == sent[bytes(lookup_id)]:
                        found += 1
                    else:
                        differ += 1
    finally:
        engine.dispose()
    return ReadBack(claimed, found, differ)


def last_item(database_url: str) -> int:
    """The newest item's number: reports stored after this moment have larger ones."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(_LAST).scalar_one())
    finally:
        engine.dispose()


def read_back_opened(
    database_url: str,
    since: int,
    claimed: int,
    oversight: crypto.PrivateKey,
    fields: Mapping[str, Any],
) -> ReadBack:
    """For reports the server sealed itself (the HTML form): every report stored after
    item `since` is opened with the oversight key and its `fields` compared, by SHA-256,
    with what the form sent."""
    expected = _digest(fields)
    found = differ = 0
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            for (sealed,) in conn.execute(_SINCE, {"seq": since}):
                document = crypto.open_document(bytes(sealed), oversight, versions=(1, 2))
                if _digest({k: document.get(k) for k in fields}) == expected:
                    found += 1
                else:
                    differ += 1
    finally:
        engine.dispose()
    return ReadBack(claimed, found, differ)


def _digest(fields: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(dict(fields), sort_keys=True).encode()).digest()
