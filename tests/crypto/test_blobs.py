"""Blobs: attachments stream through in 64 KiB chunks; anything but the whole, untouched
blob under the right key is refused."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto
from tests.conftest import run_coroutine

CHUNK = crypto.BLOB_CHUNK
STORED = crypto.BLOB_STORED_CHUNK
HEADER = crypto.BLOB_HEADER_BYTES


def payload(size: int) -> bytes:
    return (os.urandom(4096) * (size // 4096 + 1))[:size]


def encrypt(data: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    crypto.encrypt_file(io.BytesIO(data), out, key)
    return out.getvalue()


def decrypt(stored: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_file(io.BytesIO(stored), out, key)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 1024 * 1024 + 5])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    key = crypto.new_blob_key()
    data = payload(size)
    stored = encrypt(data, key)
    assert len(stored) == crypto.stored_size(size) == HEADER + (size // CHUNK + 1) * STORED
    out = io.BytesIO()
    summary = crypto.decrypt_file(io.BytesIO(stored), out, key)
    assert out.getvalue() == data
    assert summary == crypto.BlobSummary(size, hashlib.sha256(data).hexdigest())


@given(
    data=st.binary(max_size=3 * CHUNK + 100),
    write_sizes=st.lists(st.integers(1, 2 * CHUNK), min_size=1, max_size=20),
    feed_sizes=st.lists(st.integers(1, 2 * STORED), min_size=1, max_size=20),
)
def test_round_trip_in_pieces_of_any_size(
    data: bytes, write_sizes: list[int], feed_sizes: list[int]
) -> None:
    key = crypto.new_blob_key()
    writer = crypto.BlobWriter(key)
    stored = bytearray(writer.header)
    pos, i = 0, 0
    while pos < len(data):
        step = write_sizes[i % len(write_sizes)]
        stored += writer.write(data[pos : pos + step])
        pos, i = pos + step, i + 1
    stored += writer.finish()
    assert writer.summary == crypto.BlobSummary(len(data), hashlib.sha256(data).hexdigest())

    reader = crypto.BlobReader(key)
    plain = bytearray()
    pos, i = 0, 0
    while pos < len(stored):
        step = feed_sizes[i % len(feed_sizes)]
        plain += reader.feed(stored[pos : pos + step])
        pos, i = pos + step, i + 1
    assert reader.finish().size == len(data)
    assert bytes(plain) == data


def test_writer_emits_each_full_chunk_as_soon_as_it_is_complete() -> None:
    writer = crypto.BlobWriter(crypto.new_blob_key())
    assert writer.write(b"a" * (CHUNK - 1)) == b""
    assert len(writer.write(b"a")) == STORED
    assert len(writer.write(b"a" * (2 * CHUNK + 3))) == 2 * STORED
    assert len(writer.finish()) == STORED


def test_async_streams_round_trip() -> None:
    data = payload(5 * CHUNK + 123)

    async def pieces(blob: bytes, size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(blob), size):
            yield blob[i : i + size]

    async def run() -> tuple[bytes, bytes, list[crypto.BlobSummary]]:
        key = crypto.new_blob_key()
        summaries: list[crypto.BlobSummary] = []
        stored = b"".join(
            [b async for b in crypto.encrypt_stream(pieces(data, 10_000), key, summaries)]
        )
        plain = b"".join(
            [b async for b in crypto.decrypt_stream(pieces(stored, 7_777), key, summaries)]
        )
        return stored, plain, summaries

    stored, plain, summaries = run_coroutine(run())
    assert plain == data
    assert len(stored) == crypto.stored_size(len(data))
    assert (
        summaries[0]
        == summaries[1]
        == crypto.BlobSummary(len(data), hashlib.sha256(data).hexdigest())
    )


def test_plaintext_does_not_appear_in_the_stored_form() -> None:
    canary = b"CANARY-photo-of-cell-door-9981" * 5000
    stored = encrypt(canary, crypto.new_blob_key())
    assert b"CANARY" not in stored


def test_same_file_twice_gives_different_stored_forms() -> None:
    key = crypto.new_blob_key()
    assert encrypt(b"same", key) != encrypt(b"same", key)  # random header per stream


def test_wrong_key_is_refused() -> None:
    stored = encrypt(payload(1000), crypto.new_blob_key())
    with pytest.raises(crypto.CryptoError):
        decrypt(stored, crypto.new_blob_key())


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(0, id="empty"),
        pytest.param(HEADER - 1, id="half-header"),
        pytest.param(HEADER, id="header-only"),
        pytest.param(HEADER + STORED, id="drop-final-chunk-at-boundary"),
        pytest.param(HEADER + 2 * STORED, id="drop-final-chunk"),
        pytest.param(HEADER + 2 * STORED + 100, id="mid-final-chunk"),
        pytest.param(-1, id="last-byte"),
    ],
)
def test_truncated_blobs_are_refused(cut: int) -> None:
    key = crypto.new_blob_key()
    stored = encrypt(payload(2 * CHUNK + 500), key)
    with pytest.raises(crypto.CryptoError):
        decrypt(stored[:cut], key)


def test_reordered_chunks_are_refused() -> None:
    key = crypto.new_blob_key()
    stored = encrypt(payload(3 * CHUNK), key)
    first = stored[HEADER : HEADER + STORED]
    second = stored[HEADER + STORED : HEADER + 2 * STORED]
    swapped = stored[:HEADER] + second + first + stored[HEADER + 2 * STORED :]
    with pytest.raises(crypto.CryptoError):
        decrypt(swapped, key)


def test_a_chunk_from_another_blob_is_refused() -> None:
    key = crypto.new_blob_key()
    a, b = encrypt(payload(2 * CHUNK), key), encrypt(payload(2 * CHUNK), key)
    spliced = a[: HEADER + STORED] + b[HEADER + STORED :]
    with pytest.raises(crypto.CryptoError):
        decrypt(spliced, key)


def test_an_early_final_chunk_cannot_end_a_blob_short() -> None:
    """Dropping middle chunks leaves the final chunk in the wrong position: refused."""
    key = crypto.new_blob_key()
    stored = encrypt(payload(3 * CHUNK + 5), key)
    shortened = stored[: HEADER + STORED] + stored[-STORED:]
    with pytest.raises(crypto.CryptoError):
        decrypt(shortened, key)


@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    key = crypto.new_blob_key()
    stored = bytearray(encrypt(payload(CHUNK + 10), key))
    stored[data.draw(st.integers(0, len(stored) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(crypto.CryptoError):
        decrypt(bytes(stored), key)


@pytest.mark.parametrize("extra", [b"\0", b"x" * 100, b"y" * STORED, b"z" * (2 * STORED + 1)])
def test_bytes_after_the_final_chunk_are_refused(extra: bytes) -> None:
    key = crypto.new_blob_key()
    stored = encrypt(payload(1000), key)
    with pytest.raises(crypto.CryptoError):
        decrypt(stored + extra, key)


def test_a_second_copy_of_the_final_chunk_is_refused() -> None:
    key = crypto.new_blob_key()
    stored = encrypt(payload(1000), key)
    reader = crypto.BlobReader(key)
    reader.feed(stored)
    with pytest.raises(crypto.CryptoError):
        reader.feed(stored[-STORED:])


def test_finished_writers_and_readers_refuse_more_work() -> None:
    key = crypto.new_blob_key()
    writer = crypto.BlobWriter(key)
    stored = writer.header + writer.finish()
    with pytest.raises(ValueError, match="already finished"):
        writer.write(b"late")
    reader = crypto.BlobReader(key)
    reader.feed(stored)
    reader.finish()
    with pytest.raises(ValueError, match="already finished"):
        reader.feed(b"late")


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_keys_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.BlobWriter(bytes(size))
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.BlobReader(bytes(size))


def test_memory_does_not_grow_with_file_size() -> None:
    """256 MiB through the writer and reader: Python allocations stay within a few chunks."""
    block = os.urandom(CHUNK)

    def blocks(count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield block

    key = crypto.new_blob_key()
    tracemalloc.start()
    try:
        writer, reader = crypto.BlobWriter(key), crypto.BlobReader(key)
        reader.feed(writer.header)
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for piece in blocks(4096):  # 256 MiB
            reader.feed(writer.write(piece))
        reader.feed(writer.finish())
        summary = reader.finish()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert summary.size == 4096 * CHUNK
    assert peak < 1024 * 1024, f"peak growth {peak} bytes for 256 MiB"
