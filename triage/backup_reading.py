"""Reading a backup back: `backup-verify` checks one end to end, writing nothing, and
`restore` (triage.restore) reads it the same way into a new console.

`read_backup` checks the stream in the order it was written (triage.backup): the start
record and its schema revision, keys.sealed (it must open with the vault key), each
table's rows against their count and SHA-256, each file against its SHA-256, the audit
chain, and the manifest against all of these; then that the stream ends exactly there.
It hands each part to a `Reading` only once the bytes before it checked out.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import IO, Any

import crypto
from foundation.blobstore import is_blob_id

from .archive import ArchiveReader, BackupError, read_header
from .backup import (
    KINDS,
    AuditChain,
    Contents,
    Passphrases,
    Progress,
    Throttled,
    decode_value,
    mib,
    quiet,
    row_line,
)
from .keys import KEYS_FILE, open_keys
from .migrations import revisions
from .vault import unwrap

_MAX_KEYS_FILE = 1 << 20


class Reading:
    """Where a backup's contents go as they are read: nowhere (verify), or a new console
    (triage.restore). Each step is called only after the bytes before it checked out."""

    def start(self, revision: str) -> None:
        """The schema revision is known, and this Lanthorn knows it."""

    def keys_file(self, data: bytes) -> None:
        """keys.sealed, which opened with the vault key."""

    def table(self, name: str, columns: list[str]) -> None:
        """The rows that follow are of this table, with these columns."""

    def rows(self, rows: list[list[Any]]) -> None:
        """A batch of rows, decoded, in the columns' order."""

    def tables_done(self, names: list[str]) -> None:
        """Every table has been read."""

    def blob(self, blob_id: str, day: datetime.date) -> None:
        """An attachment file starts."""

    def blob_data(self, piece: bytes) -> None:
        """Its next bytes."""

    def blob_done(self) -> None:
        """It ended, and its SHA-256 matched."""


def open_backup(
    path: Path, passphrases: Passphrases
) -> tuple[IO[bytes], dict[str, Any], bytes, bytes]:
    """The open file, its clear header and bytes, and the vault key k officers unsealed."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    try:
        header, clear = read_header(handle, str(path))
        wrapped = crypto.WrappedVaultKey.from_json(header["vault"])
        vault_key = unwrap(
            wrapped,
            passphrases(wrapped.threshold),
            "this backup",
            hint=f" If every officer is sure of theirs, the vault.json at the start of {path} "
            "was damaged: try another copy.",
        )
    except BaseException:
        handle.close()
        raise
    return handle, header, clear, vault_key


def verify_backup(path: Path, passphrases: Passphrases, progress: Progress = quiet) -> Contents:
    """Read and check a whole backup, writing nothing; raises `BackupError` at the first
    fault (damaged, altered, cut off, from a newer Lanthorn, manifest mismatch)."""
    handle, header, clear, vault_key = open_backup(path, passphrases)
    with handle:
        reader = ArchiveReader(handle, str(path), header, clear, vault_key)
        return read_backup(reader, vault_key, Reading(), progress)


def _damaged(what: str) -> BackupError:
    return BackupError(f"the backup is damaged or was not written by Lanthorn: {what}")


def read_backup(
    reader: ArchiveReader, vault_key: bytes, sink: Reading, progress: Progress = quiet
) -> Contents:
    """Check a backup's stream from the start record to its very end, feeding `sink`."""
    every = Throttled(progress)
    start = reader.record()
    revision = start.get("revision")
    if start.get("kind") != "start" or not isinstance(revision, str):
        raise _damaged("it does not begin with a start record")
    known = revisions()
    if revision not in known:
        raise BackupError(
            f"this backup was made by a newer version of Lanthorn: its database is at "
            f"schema revision {revision}, and this version knows revisions up to "
            f"{known[-1]}. Install the newer version here first."
        )
    sink.start(revision)
    record = reader.record()
    size = record.get("size")
    if record != {"kind": "file", "name": KEYS_FILE, "size": size} or not (
        isinstance(size, int) and 0 < size <= _MAX_KEYS_FILE
    ):
        raise _damaged(f"{KEYS_FILE} is not where it should be")
    keys = b"".join(reader.raw(size))
    try:
        audit_key = open_keys(vault_key, keys).subkey("audit")
    except crypto.CryptoError:
        raise _damaged(f"its {KEYS_FILE} does not open with its vault key") from None
    sink.keys_file(keys)
    chain = AuditChain(audit_key)
    tables: dict[str, Any] = {}
    record = reader.record()
    while record.get("kind") == "table":
        name, columns = record.get("name"), record.get("columns")
        if (
            not isinstance(name, str)
            or name in tables
            or not isinstance(columns, list)
            or not all(
                isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and c[1] in KINDS
                for c in columns
            )
        ):
            raise _damaged("a table's description is malformed")
        tables[name] = _read_table(reader, name, columns, sink, chain, every)
        record = reader.record()
    sink.tables_done(list(tables))
    if record.get("kind") != "blobs":
        raise _damaged("the attachment files are not where they should be")
    blobs, record = _read_blobs(reader, sink, every)
    expected = {
        "kind": "manifest",
        "tables": tables,
        "files": {KEYS_FILE: hashlib.sha256(keys).hexdigest()},
        "blobs": blobs,
        "audit": chain.summary(),
    }
    if record != expected:
        raise _damaged("its manifest does not match what it holds")
    contents = Contents()
    contents.fill(start, expected)
    contents.sha256, contents.size = reader.finish(), reader.position
    every(f"checked {mib(contents.size)}", now=True)
    return contents


def _read_table(
    reader: ArchiveReader,
    name: str,
    columns: list[list[str]],
    sink: Reading,
    chain: AuditChain,
    every: Throttled,
) -> dict[str, Any]:
    names = [column for column, _ in columns]
    kinds = [kind for _, kind in columns]
    sink.table(name, names)
    audit = (names.index("entry"), names.index("digest")) if name == "audit" else None
    digest, count = hashlib.sha256(), 0
    while True:
        record = reader.record()
        if record.get("kind") == "table-end":
            summary = {"rows": count, "sha256": digest.hexdigest()}
            if record != {"kind": "table-end", **summary}:
                raise _damaged(f"table {name} does not hold the rows it says")
            return summary
        rows = record.get("rows")
        if record.get("kind") != "rows" or not isinstance(rows, list):
            raise _damaged(f"table {name} is malformed")
        decoded = []
        for values in rows:
            if not isinstance(values, list) or len(values) != len(kinds):
                raise _damaged(f"a row of table {name} is malformed")
            digest.update(row_line(values))
            count += 1
            try:
                row = [decode_value(kind, value) for kind, value in zip(kinds, values, strict=True)]
            except (ValueError, crypto.CryptoError):
                raise _damaged(f"a row of table {name} holds a malformed value") from None
            if audit is not None:
                chain.add(row[audit[0]], row[audit[1]])
            decoded.append(row)
        sink.rows(decoded)
        every(f"table {name}: {count:,} rows")


def _read_blobs(
    reader: ArchiveReader, sink: Reading, every: Throttled
) -> tuple[dict[str, Any], dict[str, Any]]:
    combined, total, seen = hashlib.sha256(), 0, set()
    record = reader.record()
    while record.get("kind") == "blob":
        blob_id, size, on = record.get("id"), record.get("size"), record.get("on")
        try:
            if not is_blob_id(blob_id) or blob_id in seen or not isinstance(size, int):
                raise ValueError(blob_id)
            day = datetime.date.fromisoformat(on)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise _damaged("an attachment file's description is malformed") from None
        seen.add(blob_id)
        sink.blob(str(blob_id), day)
        digest = hashlib.sha256()
        for piece in reader.raw(size):
            digest.update(piece)
            sink.blob_data(piece)
            total += len(piece)
            every(f"files: {len(seen):,}, {mib(total)}")
        if reader.record() != {"kind": "blob-end", "sha256": digest.hexdigest()}:
            raise _damaged(f"the attachment file {blob_id} does not match its SHA-256")
        sink.blob_done()
        combined.update(f"{blob_id} {size} {digest.hexdigest()}\n".encode())
        record = reader.record()
    summary = {"count": len(seen), "bytes": total, "sha256": combined.hexdigest()}
    return summary, record
