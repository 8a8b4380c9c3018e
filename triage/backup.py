"""Console backups: everything a console is, in one encrypted file (format: triage.archive).

Inside the file's authenticated stream, in this order:

1. a start record: the database's schema revision, when and by whom the backup was made;
2. `keys.sealed`, as it is on disk (the private keys, sealed under the vault key);
3. every table of the console database as a logical dump: its columns and their kinds,
   its rows in primary-key order (bytes as b64u, dates as ISO text), then its row count
   and the SHA-256 of its rows. Nothing depends on the database engine, so a backup of
   a SQLite console restores into PostgreSQL and back;
4. every file of the blob store (attachments, still encrypted under their own keys),
   each followed by its SHA-256;
5. a manifest that repeats every count and hash, with the audit chain's length and head.

The tables are read in one transaction (one snapshot of the database), while the sync
lock keeps a sync from adding files; content columns are copied as they are, still
sealed under the vault key.

**The "backup" audit entry comes after the backup, not in it.** It names the file's
SHA-256, which exists only once the last byte is written, and an entry inside the file
could not name the file it is in. So the backup holds the log as it was when the
snapshot was taken — a chain that verifies on its own — and the live log goes on with a
"backup" entry that records the file's SHA-256 and the backup's audit head (the digest
its chain ends with). The backup's chain is a prefix of the live one, and the two are
tied by that head. A restore appends a "restore" entry naming the same SHA-256.

Reading a backup back (verify, restore) is in triage.backup_reading.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import crypto
from foundation.blobstore import BlobStore

from .archive import PUBLIC_FILES, ArchiveWriter, BackupError
from .console import Console
from .keys import KEYS_FILE
from .migrations import VERSION_TABLE, current_revision
from .sync_lock import one_sync_at_a_time
from .vault import VAULT_FILE

Progress = Callable[[str], None]
#: Asked for k, returns k officers' passphrases (prompted, or from the environment).
Passphrases = Callable[[int], list[str]]

_BATCH_BYTES = 1 << 20
_BATCH_ROWS = 1000
_PIECE = 1 << 20
KINDS = ("str", "int", "bool", "bytes", "date", "datetime")


def quiet(_: str) -> None:
    pass


@dataclass
class Contents:
    """What a backup holds, counted as it was written or read."""

    revision: str = ""
    made_at: str = ""
    made_by: str = ""
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0
    file_bytes: int = 0
    audit_entries: int = 0
    audit_head: str = ""
    #: Where the audit chain inside is broken (it was so on the console), or None.
    audit_broken_at: int | None = None
    sha256: str = ""
    size: int = 0

    def fill(self, start: dict[str, Any], manifest: dict[str, Any]) -> None:
        self.revision, self.made_at = start["revision"], start["made_at"]
        self.made_by = start["made_by"]
        self.tables = {name: table["rows"] for name, table in manifest["tables"].items()}
        self.files, self.file_bytes = manifest["blobs"]["count"], manifest["blobs"]["bytes"]
        audit = manifest["audit"]
        self.audit_entries, self.audit_head = audit["entries"], audit["head"]
        self.audit_broken_at = audit["broken_at"]


class Throttled:
    """Passes progress lines on at most every quarter second."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, line: str, *, now: bool = False) -> None:
        if now or time.monotonic() - self.last >= 0.25:
            self.last = time.monotonic()
            self.progress(line)


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"


# -- rows --------------------------------------------------------------------------------


def _kind(table: str, column: sa.Column[Any]) -> str:
    """How a column's values are written: the kinds every console table uses."""
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        return "bytes"
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.DateTime):
        return "datetime"
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.String):
        return "str"
    raise BackupError(f"column {table}.{column.name} is of a type backups do not know: {kind}")


def encode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return crypto.b64u_encode(bytes(value))
    if kind in ("date", "datetime"):
        return value.isoformat()
    if kind == "bool":
        return bool(value)
    return value


def decode_value(kind: str, value: Any) -> Any:
    """A value as written by `encode_value`; ValueError for anything else."""
    if value is None:
        return None
    if kind == "bytes" and isinstance(value, str):
        return crypto.b64u_decode(value)
    if kind == "date" and isinstance(value, str):
        return datetime.date.fromisoformat(value)
    if kind == "datetime" and isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str):
        return value
    raise ValueError(kind)


def row_line(values: list[Any]) -> bytes:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class AuditChain:
    """Follows the audit table's rows as they go by: count, head, first broken entry."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.head = crypto.AUDIT_GENESIS
        self.count = 0
        self.broken_at: int | None = None

    def add(self, entry: str, digest: bytes) -> None:
        if self.broken_at is None:
            try:
                expected = crypto.audit_digest(self.head, json.loads(entry), self.key)
            except (ValueError, TypeError):
                expected = b""
            if not hmac.compare_digest(expected, digest):
                self.broken_at = self.count
        self.head = digest
        self.count += 1

    def summary(self) -> dict[str, Any]:
        return {"entries": self.count, "head": self.head.hex(), "broken_at": self.broken_at}


def console_tables(connection: Connection) -> list[sa.Table]:
    """The console's tables as the database defines them, parents before children."""
    names = [n for n in sa.inspect(connection).get_table_names() if n != VERSION_TABLE]
    metadata = sa.MetaData()
    metadata.reflect(connection, only=names)
    return list(metadata.sorted_tables)


# -- writing -----------------------------------------------------------------------------


def make_backup(console: Console, out: Path, progress: Progress = quiet) -> Contents:
    """Write a backup of the console to `out` (through `out.part`), then audit it."""
    if out.exists():
        raise BackupError(f"{out} already exists; a backup never replaces a file")
    part = out.with_name(out.name + ".part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(
            f"{part} exists: another backup is writing it, or one stopped halfway "
            "(then delete it and run the backup again)"
        ) from None
    except OSError as exc:
        raise BackupError(f"cannot write {part}: {exc.strerror}") from None
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            one_sync_at_a_time(console.settings.data_dir, progress),
        ):
            contents = _write(console, handle, Throttled(progress))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, out)
        _sync_directory(out.parent)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    with console.sessions() as session:
        console.audit(
            session,
            "backup",
            file=out.name,
            sha256=contents.sha256,
            bytes=contents.size,
            tables=contents.tables,
            files=contents.files,
            audit_entries=contents.audit_entries,
            audit_head=contents.audit_head,
        )
        session.commit()
    return contents


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _snapshot(connection: Connection) -> None:
    """Make every read on `connection` see the database as it was at the first one."""
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="REPEATABLE READ")
    elif connection.dialect.name == "sqlite":
        # pysqlite opens no transaction for a SELECT: each would see a newer database.
        connection.exec_driver_sql("BEGIN")


def _write(console: Console, handle: IO[bytes], progress: Throttled) -> Contents:
    settings = console.settings
    try:
        header = {
            "vault": (settings.data_dir / VAULT_FILE).read_text(encoding="utf-8"),
            "public": {
                name: (settings.public_dir / name).read_text(encoding="ascii").strip()
                for name in PUBLIC_FILES
            },
        }
        keys = (settings.data_dir / KEYS_FILE).read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"cannot read the console's key files: {exc}") from None
    writer = ArchiveWriter(handle, header, console.keys.vault_key)
    start = {
        "kind": "start",
        "revision": "",
        "made_at": datetime.datetime.fromtimestamp(console.clock(), datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "made_by": console.who,
    }
    chain = AuditChain(console.keys.subkey("audit"))
    tables: dict[str, Any] = {}
    with console.engine.connect() as connection:
        _snapshot(connection)
        start["revision"] = current_revision(connection) or ""
        if not start["revision"]:
            raise BackupError("the console database has no schema: nothing to back up")
        blob_ids = sorted(console.blobs.ids())  # the sync lock keeps this list whole
        writer.record(start)
        writer.record({"kind": "file", "name": KEYS_FILE, "size": len(keys)})
        writer.raw(keys)
        for table in console_tables(connection):
            tables[table.name] = _dump_table(connection, table, writer, chain, progress)
    blobs = _dump_blobs(console.blobs, blob_ids, writer, progress)
    manifest = {
        "kind": "manifest",
        "tables": tables,
        "files": {KEYS_FILE: hashlib.sha256(keys).hexdigest()},
        "blobs": blobs,
        "audit": chain.summary(),
    }
    writer.record(manifest)
    contents = Contents()
    contents.fill(start, manifest)
    contents.sha256, contents.size = writer.close(), writer.size
    return contents


def _dump_table(
    connection: Connection,
    table: sa.Table,
    writer: ArchiveWriter,
    chain: AuditChain,
    progress: Throttled,
) -> dict[str, Any]:
    columns = [(column.name, _kind(table.name, column)) for column in table.columns]
    writer.record({"kind": "table", "name": table.name, "columns": [list(c) for c in columns]})
    order = list(table.primary_key.columns) or list(table.columns)
    query = sa.select(table).order_by(*order).execution_options(yield_per=500)
    digest, count, batch, size = hashlib.sha256(), 0, [], 0
    for row in connection.execute(query):
        values = [encode_value(kind, value) for (_, kind), value in zip(columns, row, strict=True)]
        line = row_line(values)
        digest.update(line)
        count += 1
        if table.name == "audit":
            chain.add(row._mapping["entry"], bytes(row._mapping["digest"]))
        batch.append(values)
        size += len(line)
        if size >= _BATCH_BYTES or len(batch) >= _BATCH_ROWS:
            writer.record({"kind": "rows", "rows": batch})
            batch, size = [], 0
            progress(f"table {table.name}: {count:,} rows")
    if batch:
        writer.record({"kind": "rows", "rows": batch})
    summary = {"rows": count, "sha256": digest.hexdigest()}
    writer.record({"kind": "table-end", **summary})
    return summary


def _dump_blobs(
    store: BlobStore, blob_ids: list[str], writer: ArchiveWriter, progress: Throttled
) -> dict[str, Any]:
    writer.record({"kind": "blobs", "count": len(blob_ids)})
    combined, total = hashlib.sha256(), 0
    for number, blob_id in enumerate(blob_ids, 1):
        try:
            handle = store.path(blob_id).open("rb")
        except FileNotFoundError:
            raise BackupError(
                f"the attachment file {blob_id} was deleted while the backup ran (by a "
                "purge?); run the backup again"
            ) from None
        with handle:
            stat = os.fstat(handle.fileno())
            day = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC).date()
            size = stat.st_size
            writer.record({"kind": "blob", "id": blob_id, "size": size, "on": day.isoformat()})
            digest, left = hashlib.sha256(), size
            while left:
                piece = handle.read(min(_PIECE, left))
                if not piece:
                    raise BackupError(f"the attachment file {blob_id} shrank while it was read")
                writer.raw(piece)
                digest.update(piece)
                left -= len(piece)
                total += len(piece)
                progress(f"files: {number:,} of {len(blob_ids):,}, {mib(total)}")
        writer.record({"kind": "blob-end", "sha256": digest.hexdigest()})
        combined.update(f"{blob_id} {size} {digest.hexdigest()}\n".encode())
    return {"count": len(blob_ids), "bytes": total, "sha256": combined.hexdigest()}
