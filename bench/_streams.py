"""Blob plaintext made on the fly, sinks that keep nothing, and the raw secretstream baseline.

The raw loop is the least the blob API could do; both benchmarks report speeds against it.
"""

from __future__ import annotations

import hashlib
import io
import random
import time

import nacl.bindings as raw
from _report import MIB

import crypto

CHUNK: int = crypto.BLOB_CHUNK
SEED = 20240501  # the same plaintext in every process and every run
POOL = 1 * MIB


def pattern_block(size: int = CHUNK) -> bytes:
    return random.Random(SEED).randbytes(size)


class PatternFile(io.RawIOBase):
    """A read-only file of `size` bytes repeating a 1 MiB random pattern, made as it is read.

    However large, it costs the pattern and one read. Seekable, so that httpx can send a
    Content-Length as a browser would. A read returns at most up to the pattern's end.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.pos = 0
        self.pool = pattern_block(POOL)
        self.finished_at: float | None = None  # when a read first found the end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, size: int = -1) -> bytes:
        offset = self.pos % POOL
        take = max(0, min(self.size - self.pos, POOL - offset))
        if size >= 0:
            take = min(take, size)
        if take == 0 and size != 0 and self.finished_at is None:
            self.finished_at = time.perf_counter()
        self.pos += take
        return self.pool[offset : offset + take]

    def sha256(self) -> str:
        """SHA-256 of the whole content, read again from the start."""
        digest = hashlib.sha256()
        self.seek(0)
        while block := self.read():
            digest.update(block)
        return digest.hexdigest()


class NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


class HashSink:
    """A writable that keeps only the SHA-256 and the length of what it was given."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def raw_push(key: bytes, block: bytes, count: int, hash_too: bool = False) -> int:
    """Encrypt `block` `count` times and a final chunk with the bare secretstream binding.

    With `hash_too`, also SHA-256 the plaintext, as v1 blob descriptors require. Returns the
    plaintext bytes.
    """
    state = raw.crypto_secretstream_xchacha20poly1305_state()
    raw.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    push = raw.crypto_secretstream_xchacha20poly1305_push
    tag = raw.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    digest = hashlib.sha256()
    for _ in range(count):
        push(state, block, None, tag)
        if hash_too:
            digest.update(block)
    final = bytes(raw.sodium_pad(b"", len(block)))
    push(state, final, None, raw.crypto_secretstream_xchacha20poly1305_TAG_FINAL)
    return count * len(block)
