"""Attachment blobs (protocol v1 §2.4): streaming secretstream encryption and decryption.

Stored form: the 24-byte secretstream header, then one ciphertext chunk per 65536
plaintext bytes tagged `TAG_MESSAGE`, then exactly one `TAG_FINAL` chunk holding the
remaining 0–65535 bytes padded to 65536. Every chunk is the same size on disk, so a blob
reveals only how many 64 KiB chunks it has.

`BlobWriter` and `BlobReader` are push-style state machines: feed them bytes in pieces of
any size, get back what can be emitted now. They hold at most one chunk, so memory does
not grow with the file. `encrypt_file`/`decrypt_file` and the async generators
`encrypt_stream`/`decrypt_stream` drive them over file objects and async iterables.

Plaintext a reader emits before `finish()` returns is authentic chunk by chunk but may
still turn out to be a truncated file: write it somewhere provisional and keep it only
once `finish()` has succeeded.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO

from . import _sodium
from .errors import CryptoError

__all__ = [
    "BLOB_CHUNK",
    "BLOB_HEADER_BYTES",
    "BLOB_KEY_BYTES",
    "BLOB_STORED_CHUNK",
    "BlobReader",
    "BlobSummary",
    "BlobWriter",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "new_blob_key",
    "stored_size",
]

BLOB_CHUNK = 65536
BLOB_KEY_BYTES = _sodium.STREAM_KEY_BYTES
BLOB_HEADER_BYTES = _sodium.STREAM_HEADER_BYTES
BLOB_STORED_CHUNK = BLOB_CHUNK + _sodium.STREAM_ABYTES


def new_blob_key() -> bytes:
    """A fresh random 32-byte key; v1 uses one per file and never reuses it."""
    return _sodium.random_bytes(BLOB_KEY_BYTES)


def stored_size(plaintext_size: int) -> int:
    """The stored-form size of a blob holding `plaintext_size` bytes."""
    return BLOB_HEADER_BYTES + (plaintext_size // BLOB_CHUNK + 1) * BLOB_STORED_CHUNK


@dataclass(frozen=True)
class BlobSummary:
    """What a finished writer or reader knows about the plaintext: size and SHA-256 (hex)."""

    size: int
    sha256: str


class _Chunker:
    """Collects bytes and hands them out in pieces of exactly `size`, holding < `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buffer = bytearray()

    def take(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        view = memoryview(data)
        pieces: list[bytes] = []
        if self.buffer:
            need = self.size - len(self.buffer)
            self.buffer += view[:need]
            view = view[need:]
            if len(self.buffer) < self.size:
                return pieces
            pieces.append(bytes(self.buffer))
            self.buffer.clear()
        while len(view) >= self.size:
            pieces.append(bytes(view[: self.size]))
            view = view[self.size :]
        self.buffer += view
        return pieces


class BlobWriter:
    """Encrypts a stream chunk by chunk.

    >>> w = BlobWriter(new_blob_key())
    >>> stored = w.header + w.write(b"some bytes") + w.finish()
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != BLOB_KEY_BYTES:
            raise ValueError("a blob key is 32 bytes")
        self._push = _sodium.StreamPush(key)
        self._chunks = _Chunker(BLOB_CHUNK)
        self._hash = hashlib.sha256()
        self._size = 0
        self._summary: BlobSummary | None = None
        #: The 24-byte header; the stored form starts with it.
        self.header = self._push.header

    def write(self, data: bytes | bytearray | memoryview) -> bytes:
        """Accept plaintext; return the stored-form bytes of every chunk now complete.

        A chunk of exactly 65536 bytes is always a `TAG_MESSAGE` chunk, because v1 always
        ends with a separate final chunk (empty when the size is a multiple of 65536).
        """
        if self._summary is not None:
            raise ValueError("this blob is already finished")
        self._hash.update(data)
        self._size += len(data)
        return b"".join(
            self._push.push(chunk, _sodium.TAG_MESSAGE) for chunk in self._chunks.take(data)
        )

    def finish(self) -> bytes:
        """Return the padded `TAG_FINAL` chunk; afterwards `summary` is available."""
        if self._summary is not None:
            raise ValueError("this blob is already finished")
        rest = bytes(self._chunks.buffer)
        self._chunks.buffer.clear()
        final = self._push.push(_sodium.pad(rest, BLOB_CHUNK), _sodium.TAG_FINAL)
        self._summary = BlobSummary(self._size, self._hash.hexdigest())
        return final

    @property
    def summary(self) -> BlobSummary:
        if self._summary is None:
            raise ValueError("the blob is not finished yet")
        return self._summary


class BlobReader:
    """Decrypts a stored-form blob fed in pieces of any size.

    Truncation (no final chunk), reordered or altered chunks, a wrong key and any byte
    after the final chunk all raise the opaque `CryptoError`.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != BLOB_KEY_BYTES:
            raise ValueError("a blob key is 32 bytes")
        self._key = key
        self._pull: _sodium.StreamPull | None = None
        self._header = bytearray()
        self._chunks = _Chunker(BLOB_STORED_CHUNK)
        self._hash = hashlib.sha256()
        self._size = 0
        self._final = False
        self._summary: BlobSummary | None = None

    def _decrypt(self, pull: _sodium.StreamPull, stored: bytes) -> bytes:
        if self._final:  # anything after the final chunk makes the blob invalid
            raise CryptoError("blob")
        plain, tag = pull.pull(stored)
        if tag == _sodium.TAG_FINAL:
            self._final = True
            plain = _sodium.unpad(plain, BLOB_CHUNK)
        elif tag != _sodium.TAG_MESSAGE:
            raise CryptoError("blob")
        self._hash.update(plain)
        self._size += len(plain)
        return plain

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Accept stored-form bytes; return the plaintext of every chunk now complete."""
        if self._summary is not None:
            raise ValueError("this blob is already finished")
        view = memoryview(data)
        if self._pull is None:
            need = BLOB_HEADER_BYTES - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) < BLOB_HEADER_BYTES:
                return b""
            self._pull = _sodium.StreamPull(bytes(self._header), self._key)
        if self._final and len(view):
            raise CryptoError("blob")
        pull = self._pull
        return b"".join(self._decrypt(pull, chunk) for chunk in self._chunks.take(view))

    def finish(self) -> BlobSummary:
        """Confirm the blob ended exactly after its final chunk; return size and SHA-256."""
        if self._summary is None:
            if not self._final or self._chunks.buffer:
                raise CryptoError("blob")
            self._summary = BlobSummary(self._size, self._hash.hexdigest())
        return self._summary


def encrypt_file(src: BinaryIO, dst: BinaryIO, key: bytes) -> BlobSummary:
    """Encrypt everything `src` yields into `dst`, one chunk at a time."""
    writer = BlobWriter(key)
    dst.write(writer.header)
    while block := src.read(BLOB_CHUNK):
        dst.write(writer.write(block))
    dst.write(writer.finish())
    return writer.summary


def decrypt_file(src: BinaryIO, dst: BinaryIO, key: bytes) -> BlobSummary:
    """Decrypt the stored blob in `src` into `dst`; raises `CryptoError` if it is not whole."""
    reader = BlobReader(key)
    reader.feed(src.read(BLOB_HEADER_BYTES))  # then every read is one whole stored chunk
    while block := src.read(BLOB_STORED_CHUNK):
        dst.write(reader.feed(block))
    return reader.finish()


async def encrypt_stream(
    source: AsyncIterable[bytes], key: bytes, summary: list[BlobSummary] | None = None
) -> AsyncIterator[bytes]:
    """Yield the stored form of `source` (header first), chunk by chunk.

    Pass a list as `summary` to receive the `BlobSummary` when the stream ends.
    """
    writer = BlobWriter(key)
    yield writer.header
    async for block in source:
        if out := writer.write(block):
            yield out
    yield writer.finish()
    if summary is not None:
        summary.append(writer.summary)


async def decrypt_stream(
    source: AsyncIterable[bytes], key: bytes, summary: list[BlobSummary] | None = None
) -> AsyncIterator[bytes]:
    """Yield the plaintext of a stored blob; raises `CryptoError` at the end if not whole."""
    reader = BlobReader(key)
    async for block in source:
        if out := reader.feed(block):
            yield out
    result = reader.finish()
    if summary is not None:
        summary.append(result)
