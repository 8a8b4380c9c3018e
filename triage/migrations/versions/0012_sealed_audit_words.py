"""Officers' words in the audit log sealed under the vault key (issue 17, finding 6).

Consoles before this one wrote the reasons officers gave (for an assessment, a routing,
a referral), the retention rule of a purge and the name of each downloaded file into the
audit table as clear JSON. This migration seals each such field as the console now
writes it (triage/sealed_audit.py) and recomputes the chain's digests over the sealed
entries, so that the chain is checked over what is stored, as for every new entry.

Recomputing a chain must not launder a break: the old chain is checked first, and only
the entries before its first bad one get new digests. From that entry on, the old digests
stay, so the chain is still broken there and `lanthorn triage audit verify` names the same
entry as before. A last entry, "sealed officers' words", records how many entries were
sealed and the old chain's head and count, so that a head written down earlier (in a
backup's manifest, say) can still be matched.

It needs the unsealed keys (`triage.migrations.upgrade(..., unsealed=...)`, as the
console does when it starts); without them it refuses if there is anything to seal.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import datetime
import hmac
import json

import sqlalchemy as sa
from alembic import context, op

import crypto
from triage.migrations import NeedsKeys
from triage.sealed_audit import needs_sealing, seal_entry

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT seq, entry, digest FROM audit ORDER BY seq")).all()
    entries = []
    for _, entry, _ in rows:
        try:
            entries.append(json.loads(entry))
        except ValueError:
            entries.append(None)  # a damaged entry: left as it is (the chain is broken there)
    if not any(e is not None and needs_sealing(e) for e in entries):
        return
    unsealed = context.config.attributes.get("unsealed")
    if unsealed is None:
        raise NeedsKeys(
            "this console's audit log holds officers' words in the clear: unseal the "
            "console to upgrade it, so that they can be sealed"
        )
    key = unsealed.subkey("audit")
    broken = len(rows)
    previous = crypto.AUDIT_GENESIS
    for index, (entry, (_, _, digest)) in enumerate(zip(entries, rows, strict=True)):
        expected = crypto.audit_digest(previous, entry, key) if entry is not None else b""
        if not hmac.compare_digest(expected, bytes(digest)):
            broken = index
            break
        previous = bytes(digest)
    old_head = bytes(rows[-1][2])
    sealed_count = 0
    previous = crypto.AUDIT_GENESIS
    update = sa.text("UPDATE audit SET entry = :entry, digest = :digest WHERE seq = :seq")
    for index, (entry, (seq, _, digest)) in enumerate(zip(entries, rows, strict=True)):
        new_digest = bytes(digest)
        if entry is not None and needs_sealing(entry):
            entry = seal_entry(unsealed, entry)
            sealed_count += 1
        if index < broken:
            new_digest = crypto.audit_digest(previous, entry, key)
        if entry is not None:
            connection.execute(
                update,
                {"entry": crypto.canonical_entry(entry).decode(), "digest": new_digest, "seq": seq},
            )
        previous = new_digest
    at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record = {
        "at": at,
        "who": "console:upgrade",
        "action": "sealed officers' words",
        "case": None,
        "entries": sealed_count,
        "old_count": len(rows),
        "old_head": old_head.hex(),
    }
    connection.execute(
        sa.text("INSERT INTO audit (entry, digest) VALUES (:entry, :digest)"),
        {
            "entry": crypto.canonical_entry(record).decode(),
            "digest": crypto.audit_digest(previous, record, key),
        },
    )


def downgrade() -> None:
    """Nothing to undo in the schema, and the words stay sealed: an older console checks
    the chain over the entries as stored, so it still verifies, and shows a sealed text as
    `{"sealed": …}`."""
