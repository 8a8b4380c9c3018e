"""Officers' words in the audit log, sealed under the vault key.

An audit entry is canonical JSON (crypto/audit.py). Its free-text details — the reason an
officer gave for an assessment, a routing or a referral, a note, a summary — are written
as `{"sealed": "<base64url>"}`: the JSON of the text, padded to a multiple of 64 bytes
(so the stored length says little about what was written), sealed with the vault key's
"content" box like every other thing an officer writes (`Console._seal`, triage/console.py).

The chain's digests cover the entry *as stored*, sealed form included: the chain is
checked without opening anything, a changed ciphertext breaks it at that entry, and
`lanthorn triage audit verify` names the first bad one as before. Opening is only for
showing the entries to an auditor or admin (`Console.audit_entries`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import crypto

#: The detail fields that hold words rather than codes, sealed whatever action they are in;
#: `path` is a page asked for, or the name a reporter gave a file that was downloaded.
SEALED_FIELDS = frozenset(
    {"reason", "note", "notes", "summary", "text", "comment", "message", "path"}
)
#: Shown in place of a sealed text that does not open (the entry is then also broken).
UNREADABLE = "[sealed text that does not open with this console's key]"
_PAD = 64


class Sealer(Protocol):
    def seal(self, purpose: str, data: bytes) -> bytes: ...

    def open(self, purpose: str, data: bytes) -> bytes: ...


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"sealed"} and isinstance(value["sealed"], str)


def seal_text(keys: Sealer, value: Any) -> dict[str, str]:
    data = json.dumps(value, ensure_ascii=False).encode()
    data += b" " * (-len(data) % _PAD)  # JSON allows trailing spaces
    return {"sealed": crypto.b64u_encode(keys.seal("content", data))}


def seal_entry(keys: Sealer, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with each free-text field sealed (a field sealed already stays as it is)."""
    return {
        name: seal_text(keys, value) if name in SEALED_FIELDS and not is_sealed(value) else value
        for name, value in entry.items()
    }


def needs_sealing(entry: Mapping[str, Any]) -> bool:
    return any(name in SEALED_FIELDS and not is_sealed(v) for name, v in entry.items())


def open_entry(keys: Sealer, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry as the officer wrote it, for reading on the audit page."""
    opened = dict(entry)
    for name, value in entry.items():
        if is_sealed(value):
            try:
                opened[name] = json.loads(keys.open("content", crypto.b64u_decode(value["sealed"])))
            except (crypto.CryptoError, ValueError):
                opened[name] = UNREADABLE
    return opened
