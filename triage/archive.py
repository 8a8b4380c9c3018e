"""The file format of a console backup: a small clear header, then one encrypted stream.

    LANTHORN CONSOLE BACKUP\\n                      the magic line
    4 bytes, big-endian: the length of the header
    the clear header, JSON: format, vault.json, the two public keys, a random salt
    a secretstream in crypto.BlobWriter's stored form (protocol v1 §2.4), under
        BLAKE2b(key = vault key, "lanthorn/v1/console-backup" || salt)

The clear part holds only what is public or already wrapped under the officers'
passphrases; it is what lets k officers unseal the vault key the stream is encrypted
under, with nothing but the file. Everything else — keys.sealed, every database row,
every attachment, the manifest — is inside the stream, which authenticates every byte
and its order, and whose final chunk shows where the file really ends: a flipped byte,
a cut-off tail or bytes added after it all fail. The stream's first record repeats the
SHA-256 of the clear part, so that the clear part is authenticated too.

Inside the stream are records: 4 bytes of big-endian length, then a JSON object. A
record announcing a file (`"size": n`) is followed by exactly n raw bytes. Writer and
reader hold at most a few 64 KiB chunks and one record, however large the files are.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import IO, Any

import crypto

from .settings import ConsoleError

MAGIC = b"LANTHORN CONSOLE BACKUP\n"
FORMAT = "lanthorn/v1/console-backup"
_LABEL = b"lanthorn/v1/console-backup"
_SALT_BYTES = 16
#: The public key files of `public/`, carried in the clear header.
PUBLIC_FILES = ("oversight.pub", "console.pub")
_MAX_HEADER = 1 << 20
#: The largest record a reader accepts: a batch of rows is about 1 MiB, one sealed item
#: up to 1.4 MiB in base64; this only stops a damaged length from asking for gigabytes.
MAX_RECORD = 64 << 20


class BackupError(ConsoleError):
    """A backup cannot be made, read or restored; the message says why and what to do."""


def _stream_key(vault_key: bytes, salt: bytes) -> bytes:
    return hashlib.blake2b(_LABEL + salt, key=vault_key, digest_size=32).digest()


def _encode(value: dict[str, Any]) -> bytes:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return len(body).to_bytes(4, "big") + body


class ArchiveWriter:
    """Writes a backup to `out`: the clear header now, then records and raw bytes."""

    def __init__(self, out: IO[bytes], header: dict[str, Any], vault_key: bytes) -> None:
        salt = secrets.token_bytes(_SALT_BYTES)
        body = json.dumps({"format": FORMAT, **header, "salt": crypto.b64u_encode(salt)})
        clear = MAGIC + len(body.encode()).to_bytes(4, "big") + body.encode()
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0
        self._emit(clear)
        self._writer = crypto.BlobWriter(_stream_key(vault_key, salt))
        self._emit(self._writer.header)
        self.record({"kind": "clear", "sha256": hashlib.sha256(clear).hexdigest()})

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._hash.update(data)
            self.size += len(data)

    def record(self, value: dict[str, Any]) -> None:
        self._emit(self._writer.write(_encode(value)))

    def raw(self, data: bytes) -> None:
        self._emit(self._writer.write(data))

    def close(self) -> str:
        """End the stream (its final chunk); returns the SHA-256 of the whole file."""
        self._emit(self._writer.finish())
        return self._hash.hexdigest()


def read_header(handle: IO[bytes], name: str) -> tuple[dict[str, Any], bytes]:
    """The clear header of a backup file and its bytes; a clear error if it is not one."""
    magic = handle.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError(f"{name} is not a Lanthorn console backup")
    length = int.from_bytes(handle.read(4).rjust(4, b"\xff"), "big")
    if length > _MAX_HEADER:
        raise BackupError(f"{name} is damaged: its header is cut off or altered")
    body = handle.read(length)
    try:
        header = json.loads(body)
        if len(body) != length or header.get("format") != FORMAT:
            raise ValueError(name)
        crypto.b64u_decode(header["salt"], length=_SALT_BYTES)
        crypto.WrappedVaultKey.from_json(header["vault"])
        for public_file in PUBLIC_FILES:
            crypto.b64u_decode(header["public"][public_file], length=32)
    except (ValueError, KeyError, TypeError, AttributeError, crypto.CryptoError):
        raise BackupError(f"{name} is damaged: its header is cut off or altered") from None
    return header, magic + length.to_bytes(4, "big") + body


class ArchiveReader:
    """Reads the stream of a backup whose clear header was just read from `handle`.

    Every byte it returns is authentic; that the stream is whole is known only when
    `finish` returns, so a reader's output must stay provisional until then.
    """

    def __init__(
        self,
        handle: IO[bytes],
        name: str,
        header: dict[str, Any],
        clear: bytes,
        vault_key: bytes,
    ) -> None:
        self._handle = handle
        self._name = name
        self._hash = hashlib.sha256(clear)
        #: Bytes of the file read so far (for progress).
        self.position = len(clear)
        self._reader = crypto.BlobReader(
            _stream_key(vault_key, crypto.b64u_decode(header["salt"], length=_SALT_BYTES))
        )
        self._buffer = bytearray()
        self._started = False
        self._ended = False
        first = self.record()
        if first != {"kind": "clear", "sha256": hashlib.sha256(clear).hexdigest()}:
            raise self._damaged()

    def _damaged(self) -> BackupError:
        return BackupError(
            f"{self._name} is damaged or was altered (it fails authentication near byte "
            f"{self.position}); use another copy"
        )

    def _truncated(self) -> BackupError:
        return BackupError(
            f"{self._name} is cut off after {self.position} bytes: it is incomplete "
            "(a copy that did not finish?); use another copy"
        )

    def _read_block(self) -> None:
        """Decrypt the next piece of the file into the buffer, or learn that it ended."""
        if self._ended:
            raise self._damaged()  # a record promised more than the stream holds
        # One whole stored chunk at a time (the header first): then bytes added after
        # the final chunk arrive in a read of their own, and are told from a cut-off end.
        size = crypto.BLOB_STORED_CHUNK if self._started else crypto.BLOB_HEADER_BYTES
        self._started = True
        block = self._handle.read(size)
        try:
            if block:
                self._hash.update(block)
                self.position += len(block)
                self._buffer += self._reader.feed(block)
            else:
                self._reader.finish()
                self._ended = True
        except crypto.CryptoError:
            raise (self._damaged() if block else self._truncated()) from None

    def _fill(self, need: int) -> None:
        while len(self._buffer) < need:
            self._read_block()

    def _take(self, size: int) -> bytes:
        self._fill(size)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def record(self) -> dict[str, Any]:
        length = int.from_bytes(self._take(4), "big")
        if length > MAX_RECORD:
            raise self._damaged()
        try:
            value = json.loads(self._take(length))
        except ValueError:
            raise self._damaged() from None
        if not isinstance(value, dict):
            raise self._damaged()
        return value

    def raw(self, size: int) -> Iterator[bytes]:
        """The `size` raw bytes that follow a file's record, in pieces of at most 64 KiB."""
        while size > 0:
            if not self._buffer:
                self._fill(1)
            piece = self._take(min(size, len(self._buffer)))
            size -= len(piece)
            yield piece

    def finish(self) -> str:
        """Confirm the stream ends exactly here; returns the SHA-256 of the whole file."""
        while not self._ended:
            if self._buffer:
                raise self._damaged()  # more records than the manifest said
            self._read_block()
        if self._buffer:
            raise self._damaged()
        return self._hash.hexdigest()
