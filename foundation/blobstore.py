"""Encrypted files in a data directory's `blobs/`: the portal's stored-form attachments,
and the files the console fetched from it.

A file is written under a temporary name, flushed to disk, and renamed to its id only
when complete, so a crash never leaves a half blob under a real name. Only ciphertext
ever reaches this directory. File times are set to midnight of the day, so the files do
not record a time of day (the inode change time still does: see SECURITY.md).
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO

import crypto

_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_TEMP_PREFIX = ".tmp-"

#: How much of a blob is written before the kernel is asked to start writing it to disk.
#: Without this, a 1 GiB upload left up to 1 GiB of dirty pages for `commit`'s fsync,
#: which then stalled the answer for seconds at disk speed; with it, the disk works
#: while the rest of the body streams in, and the fsync finds little left to do. It
#: changes nothing about durability: `commit` still fsyncs the file and the directory
#: before the blob gets its id.
WRITEBACK_BYTES = 8 * 1024 * 1024
_START_WRITEBACK = getattr(os, "POSIX_FADV_DONTNEED", None)


def new_blob_id() -> str:
    return crypto.b64u_encode(secrets.token_bytes(16))


def is_blob_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_stored_form_size(size: int) -> bool:
    """Whether `size` can be a v1 stored blob: header plus one or more whole chunks."""
    body = size - crypto.BLOB_HEADER_BYTES
    return body >= crypto.BLOB_STORED_CHUNK and body % crypto.BLOB_STORED_CHUNK == 0


def _midnight(day: datetime.date) -> float:
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp()


class PendingBlob:
    """A blob being written. `commit()` makes it durable under its id; `abort()` drops it.

    `close()` gives back its file descriptor as soon as the blob is written (a form with
    many files holds one open at a time); `commit()` then opens it again to sync it.
    """

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self.blob_id = new_blob_id()
        self._temp = store.root / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
        fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self._written_back = 0  # bytes the kernel has been asked to write to disk

    def write(self, data: bytes) -> None:
        if data:
            self._file.write(data)
            self.size += len(data)
            if self.size - self._written_back >= WRITEBACK_BYTES:
                self._start_writeback()

    def _start_writeback(self) -> None:
        """Ask the kernel to start writing what is written so far, without waiting.

        On Linux, POSIX_FADV_DONTNEED starts writeback of the range's dirty pages and
        drops the pages already clean: the ciphertext does not crowd the page cache
        either (the portal never reads a blob back while receiving it)."""
        if _START_WRITEBACK is None:
            return
        self._file.flush()
        os.posix_fadvise(
            self._file.fileno(),
            self._written_back,
            self.size - self._written_back,
            _START_WRITEBACK,
        )
        self._written_back = self.size

    def close(self) -> None:
        """Write out what is buffered and close the file; nothing more will be written."""
        if not self._file.closed:
            self._file.close()

    def touch(self) -> None:
        """Mark the file as still in use, so that `BlobStore.sweep_temporary`, which
        removes temporary files nobody wrote to for an hour, leaves a written file alone
        while the rest of its form still streams in."""
        os.utime(self._temp)

    def commit(self, day: datetime.date) -> str:
        """Flush, fsync, give it the day's timestamp, rename to its id, fsync the directory."""
        if self._file.closed:
            fd = os.open(self._temp, os.O_WRONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        stamp = _midnight(day)
        os.utime(self._temp, (stamp, stamp))
        os.replace(self._temp, self._store.path(self.blob_id))
        self._store.sync_directory()
        return self.blob_id

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._temp.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not is_blob_id(blob_id):
            raise ValueError("not a blob id")
        return self.root / blob_id

    def start(self) -> PendingBlob:
        return PendingBlob(self)

    def delete(self, blob_id: str) -> None:
        self.path(blob_id).unlink(missing_ok=True)

    def exists(self, blob_id: str) -> bool:
        return self.path(blob_id).is_file()

    def sync_directory(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def sweep_temporary(self, now: float, idle_seconds: float = 3600) -> int:
        """Remove temporary files a crash left behind: those nobody wrote to for an hour.

        Only idle ones: another worker may be receiving an upload into a temporary file
        right now, and its modification time moves with every chunk.
        """
        count = 0
        for path in self.root.glob(f"{_TEMP_PREFIX}*"):
            try:
                idle = now - path.stat().st_mtime
            except FileNotFoundError:
                continue  # finished or aborted a moment ago
            if idle > idle_seconds:
                path.unlink(missing_ok=True)
                count += 1
        return count

    def clear_temporary(self) -> int:
        """Remove every temporary file: call only when nothing can be writing one, as when
        `portal serve` starts (before its workers) or the console's sync holds its lock."""
        count = 0
        for path in self.root.glob(f"{_TEMP_PREFIX}*"):
            path.unlink(missing_ok=True)
            count += 1
        return count

    def written_at(self, blob_id: str, default: float) -> float:
        """When the file was last written (its ctime: stored blobs' mtimes are set to
        midnight), or `default` if it is gone."""
        try:
            return self.path(blob_id).stat().st_ctime
        except OSError:
            return default

    def ids(self) -> set[str]:
        return {p.name for p in self.root.iterdir() if is_blob_id(p.name)}
