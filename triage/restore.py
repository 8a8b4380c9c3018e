"""`lanthorn triage restore`: a console rebuilt from a backup in an empty place — or nothing.

1. The target is checked before anyone types a passphrase: the data directory is missing
   or empty, and the database (`LANTHORN_DATABASE_URL`, or SQLite in the new directory)
   holds no table at all.
2. k officers unseal the backup's own vault.json. Its start record names the schema
   revision; one newer than this Lanthorn knows is refused before anything is written.
3. As the stream is read: keys.sealed; the tables, created by the migrations up to the
   backup's revision and filled in one transaction; the attachment files.
4. Once the whole stream and its manifest have checked out: the rows are committed,
   PostgreSQL's sequences are moved past them, the migrations bring the database to the
   newest schema, a "restore" entry is appended to the audit log and the chain verified.
5. The public keys, then vault.json — last, as at `init`: a directory without it is not
   a console, whatever else it holds.

Any failure, Ctrl-C included, removes everything written: the files, the directory if
restore made it, and the tables (or the SQLite file it created).
"""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

import crypto
from foundation.blobstore import BlobStore, PendingBlob

from .archive import PUBLIC_FILES, ArchiveReader, BackupError
from .backup import Contents, Passphrases, Progress, console_tables, quiet
from .backup_reading import Reading, open_backup, read_backup
from .console import Console
from .db import make_engine
from .keys import KEYS_FILE, open_keys, write_public_files, write_public_key
from .migrations import upgrade
from .settings import TriageSettings
from .vault import VAULT_FILE


def _database_error(exc: SQLAlchemyError) -> BackupError:
    first_line = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
    if isinstance(exc, OperationalError | InterfaceError):
        return BackupError(
            f"cannot use the database ({type(exc).__name__}: {first_line}). "
            "Check LANTHORN_DATABASE_URL and that the database server is running."
        )
    return BackupError(
        f"the database refused the restored rows ({type(exc).__name__}: "
        f"{first_line}); nothing was kept"
    )


@dataclass
class _Target:
    """Where a restore writes, as it was before: what to remove if it fails."""

    data_dir: Path
    made_dir: bool
    database_url: str
    #: The SQLite file the restore will create (deleted on failure), if it is one.
    new_sqlite_file: Path | None

    @classmethod
    def check(cls, settings: TriageSettings) -> _Target:
        data = settings.data_dir
        if data.exists() and not data.is_dir():
            raise BackupError(f"{data} is a file: restore into a new or empty directory")
        if data.is_dir() and any(data.iterdir()):
            raise BackupError(
                f"{data} is not empty: restore only into a new or empty directory, so that "
                "nothing of another console mixes in (move the old one aside first)"
            )
        url = sa.engine.make_url(settings.database_url)
        new_file = None
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                raise BackupError("restore needs a database on disk, not SQLite in memory")
            if not Path(url.database).exists():
                new_file = Path(url.database)
        if new_file is None:  # an existing database: it must hold nothing
            # Plainly for SQLite: make_engine's pragmas would switch someone's file to WAL.
            sqlite = url.get_backend_name() == "sqlite"
            engine = (sa.create_engine if sqlite else make_engine)(settings.database_url)
            try:
                with engine.connect() as connection:
                    tables = sa.inspect(connection).get_table_names()
            except SQLAlchemyError as exc:
                raise _database_error(exc) from None
            finally:
                engine.dispose()
            if tables:
                raise BackupError(
                    f"the database already holds tables ({', '.join(sorted(tables)[:5])}"
                    f"{', …' if len(tables) > 5 else ''}): restore only into an empty "
                    "database (set LANTHORN_DATABASE_URL to a new one)"
                )
        return cls(data, not data.exists(), settings.database_url, new_file)

    def undo(self) -> None:
        """Remove everything the restore wrote (the target was empty before it began)."""
        if self.new_sqlite_file is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.new_sqlite_file}{suffix}").unlink(missing_ok=True)
        else:
            engine = make_engine(self.database_url)
            try:
                with engine.begin() as connection:
                    metadata = sa.MetaData()
                    metadata.reflect(connection)
                    metadata.drop_all(connection)
            except SQLAlchemyError:  # pragma: no cover - best effort; the message says more
                pass
            finally:
                engine.dispose()
        if self.made_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        elif self.data_dir.is_dir():
            for child in self.data_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class _Restoring(Reading):
    """Writes what the backup holds into the new data directory and database."""

    def __init__(self, settings: TriageSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.connection: Connection | None = None
        self.tables: dict[str, sa.Table] = {}
        self.revision = ""
        self.table_now: sa.Table | None = None
        self.columns: list[str] = []
        self.pending: PendingBlob | None = None
        self.day = datetime.date.today()

    def start(self, revision: str) -> None:
        self.revision = revision
        self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        upgrade(self.engine, revision)  # the schema the rows were dumped from
        with self.engine.connect() as connection:
            self.tables = {table.name: table for table in console_tables(connection)}
        self.connection = self.engine.connect()
        self.connection.begin()
        # The migrations seed some tables (units, routing); the backup holds them whole.
        for table in reversed(list(self.tables.values())):
            self.connection.execute(table.delete())

    def keys_file(self, data: bytes) -> None:
        _write_private(self.settings.data_dir / KEYS_FILE, data)

    def table(self, name: str, columns: list[str]) -> None:
        table = self.tables.get(name)
        if table is None or set(columns) != set(table.columns.keys()):
            raise BackupError(
                f"the backup's table {name!r} is not the one schema revision {self.revision} "
                "defines here; restore with the version of Lanthorn that made the backup"
            )
        self.table_now, self.columns = table, columns

    def rows(self, rows: list[list[Any]]) -> None:
        if self.connection is None or self.table_now is None:
            raise BackupError("rows came before their table")  # read_backup prevents this
        self.connection.execute(
            self.table_now.insert(), [dict(zip(self.columns, row, strict=True)) for row in rows]
        )

    def tables_done(self, names: list[str]) -> None:
        missing = sorted(set(self.tables) - set(names))
        if missing:
            raise BackupError(f"the backup lacks tables of its own schema: {', '.join(missing)}")

    def blob(self, blob_id: str, day: datetime.date) -> None:
        self.pending = BlobStore(self.settings.blob_dir).start()
        self.pending.blob_id = blob_id
        self.day = day

    def blob_data(self, piece: bytes) -> None:
        if self.pending is not None:
            self.pending.write(piece)

    def blob_done(self) -> None:
        if self.pending is not None:
            self.pending.commit(self.day)
            self.pending = None

    def commit(self) -> None:
        """Keep the rows: only once the whole stream and its manifest checked out."""
        if self.connection is not None:
            self.connection.commit()
        self.close()

    def close(self) -> None:
        if self.pending is not None:
            self.pending.abort()
            self.pending = None
        if self.connection is not None:
            self.connection.close()  # rolls back what was not committed
            self.connection = None


def _move_sequences_past_rows(engine: Engine) -> None:
    """PostgreSQL hands out `seq` numbers from a sequence that the restored rows (loaded
    with their own numbers) did not move; the next insert would collide without this."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for table in console_tables(connection):
            key = list(table.primary_key.columns)
            if len(key) != 1 or not isinstance(key[0].type, sa.Integer):
                continue
            column = key[0]
            highest = sa.func.max(column)
            connection.execute(
                sa.select(
                    sa.func.setval(
                        sa.func.pg_get_serial_sequence(table.name, column.name),
                        sa.func.coalesce(highest, 1),
                        highest.is_not(None),
                    )
                )
            )


def restore_backup(
    settings: TriageSettings,
    path: Path,
    passphrases: Passphrases,
    progress: Progress = quiet,
    *,
    who: str,
) -> Contents:
    """Rebuild a console from the backup at `path` into `settings`' empty data directory
    and database; returns what was restored. Raises `BackupError`, leaving nothing."""
    target = _Target.check(settings)
    handle, header, clear, vault_key = open_backup(path, passphrases)
    engine = make_engine(settings.database_url)
    sink = _Restoring(settings, engine)
    try:
        with handle:
            reader = ArchiveReader(handle, str(path), header, clear, vault_key)
            contents = read_backup(reader, vault_key, sink, progress)
        sink.commit()
        _move_sequences_past_rows(engine)
        # An older backup's schema, brought up to date (with the keys: 0012 seals the
        # officers' words an older console wrote in the clear).
        upgrade(engine, unsealed=open_keys(vault_key, (settings.data_dir / KEYS_FILE).read_bytes()))
        _finish(settings, header, vault_key, contents, who)
    except SQLAlchemyError as exc:
        sink.close()
        engine.dispose()
        target.undo()
        raise _database_error(exc) from None
    except BaseException:
        sink.close()
        engine.dispose()
        target.undo()
        raise
    engine.dispose()
    return contents


def _finish(
    settings: TriageSettings,
    header: dict[str, Any],
    vault_key: bytes,
    contents: Contents,
    who: str,
) -> None:
    unsealed = open_keys(vault_key, (settings.data_dir / KEYS_FILE).read_bytes())
    console = Console(settings, unsealed, who=who)
    try:
        with console.sessions() as session:
            console.audit(
                session,
                "restore",
                backup_sha256=contents.sha256,
                backup_made_at=contents.made_at,
                backup_audit_entries=contents.audit_entries,
                backup_audit_head=contents.audit_head,
                revision=contents.revision,
            )
            session.commit()
        if contents.audit_broken_at is None:
            try:
                console.verify_audit()
            except crypto.AuditChainBroken as exc:
                raise BackupError(
                    f"the restored audit log does not verify (entry {exc.index + 1})"
                ) from None
    finally:
        console.close()
    settings.public_dir.mkdir(mode=0o755, exist_ok=True)
    for name in PUBLIC_FILES:
        write_public_key(settings.public_dir / name, crypto.b64u_decode(header["public"][name]))
    write_public_files(settings, unsealed)  # oversight.json, from the restored keys
    path = settings.data_dir / VAULT_FILE
    _write_private(path, header["vault"].encode("utf-8"))  # last: marks "a console"
    fd = os.open(settings.data_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
