"""The audit hash chain (docs/design.md §3): each entry's digest commits to the one before it.

    digest_i = crypto_generichash(32, "lanthorn/v1/audit\\n" || digest_{i-1} || entry_i, key)

with `digest_0`'s predecessor being 32 zero bytes and `entry_i` the canonical JSON of the
entry (keys sorted, no spaces, UTF-8). Changing, removing, inserting or reordering any
entry changes every later digest. With `key` (the console derives one from its vault
key), someone who can write the log but lacks the key cannot recompute a valid chain.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from . import _sodium
from .errors import AuditChainBroken

__all__ = ["AUDIT_GENESIS", "audit_digest", "canonical_entry", "verify_audit_chain"]

AUDIT_GENESIS = bytes(32)
_LABEL = b"lanthorn/v1/audit\n"


def canonical_entry(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry is hashed as: sorted keys, compact separators, UTF-8."""
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def audit_digest(previous: bytes, entry: Mapping[str, Any], key: bytes = b"") -> bytes:
    """The digest of `entry` following the entry whose digest is `previous`."""
    if len(previous) != 32:
        raise ValueError("a previous digest is 32 bytes")
    return _sodium.generichash(_LABEL + previous + canonical_entry(entry), key=key, size=32)


def verify_audit_chain(
    entries: Iterable[tuple[Mapping[str, Any], bytes]],
    key: bytes = b"",
    start: bytes = AUDIT_GENESIS,
) -> tuple[int, bytes]:
    """Check (entry, stored digest) pairs in order; return (count, head digest).

    Raises `AuditChainBroken` with the index of the first entry whose digest is wrong.
    """
    previous = start
    count = 0
    for index, (entry, digest) in enumerate(entries):
        expected = audit_digest(previous, entry, key)
        if not hmac.compare_digest(expected, digest):
            raise AuditChainBroken(index)
        previous = digest
        count += 1
    return count, previous
