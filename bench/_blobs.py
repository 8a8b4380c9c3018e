"""Blob streaming: throughput against the raw bindings, and the memory of a large blob.

Sections 3 and 4 of bench/crypto.py. The memory jobs each run in a fresh interpreter (the
script's hidden `--memory-child` mode) so that each peak RSS is the job's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, cast

import nacl.bindings as raw
from _memory import peak_growth
from _report import MB, MIB, fmt_mib, fmt_size, progress, table
from _streams import CHUNK, HashSink, NullSink, PatternFile, pattern_block, raw_push
from _timing import interleaved
from _verdict import against_limit

import crypto

MEMORY_LIMIT = 32 * MIB  # what protocol v1 §2.4 promises for a streamed blob


class RepeatingSource:
    """A readable that returns the same block `count` times (no copying, no generation)."""

    def __init__(self, block: bytes, count: int) -> None:
        self.block = block
        self.left = count

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            return b""
        assert size in (-1, len(self.block)), "read in whole blocks only"
        self.left -= 1
        return self.block


async def _aiter(items: Iterable[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def _drain(stream: AsyncIterator[bytes], sink: NullSink | HashSink) -> None:
    async for piece in stream:
        sink.write(piece)


def streams_section(stream_bytes: int, reps: int) -> str:
    n = stream_bytes // CHUNK
    size = n * CHUNK
    block = pattern_block()
    key = crypto.new_blob_key()

    def sha256_only() -> int:
        digest = hashlib.sha256()
        for _ in range(n):
            digest.update(block)
        return size

    def blob_writer() -> int:
        writer = crypto.BlobWriter(key)
        for _ in range(n):
            writer.write(block)
        writer.finish()
        return size

    def encrypt_file() -> int:
        src = cast(BinaryIO, RepeatingSource(block, n))
        crypto.encrypt_file(src, cast(BinaryIO, NullSink()), key)
        return size

    def encrypt_stream() -> int:
        source = _aiter(block for _ in range(n))
        asyncio.run(_drain(crypto.encrypt_stream(source, key), NullSink()))
        return size

    progress(f"encrypting {fmt_size(size)} × {reps} five ways, in turn")
    enc: list[tuple[str, Callable[[], int]]] = [
        ("raw `crypto_secretstream_xchacha20poly1305_push`", partial(raw_push, key, block, n)),
        ("raw push + `hashlib.sha256` of the plaintext", partial(raw_push, key, block, n, True)),
        ("`BlobWriter.write` / `finish`", blob_writer),
        ("`encrypt_file` (memory → null sink)", encrypt_file),
        ("`encrypt_stream` (async, asyncio.run)", encrypt_stream),
    ]
    # In turn (raw, ours, raw, ours, …): a baseline and what it divides share the window.
    enc_rates = list(interleaved(dict(enc, sha256=sha256_only), reps).items())
    sha_only = enc_rates.pop()[1]

    writer = crypto.BlobWriter(key)
    header = writer.header
    chunks = [writer.write(block) for _ in range(n)] + [writer.finish()]
    stored = b"".join([header, *chunks])

    def raw_pull(hash_too: bool = False) -> int:
        state = raw.crypto_secretstream_xchacha20poly1305_state()
        raw.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
        pull = raw.crypto_secretstream_xchacha20poly1305_pull
        digest = hashlib.sha256()
        for chunk in chunks:
            message, _tag = pull(state, chunk)
            if hash_too:
                digest.update(message)
        return size

    def blob_reader() -> int:
        reader = crypto.BlobReader(key)
        reader.feed(header)
        for chunk in chunks:
            reader.feed(chunk)
        reader.finish()
        return size

    def decrypt_file() -> int:
        crypto.decrypt_file(io.BytesIO(stored), cast(BinaryIO, NullSink()), key)
        return size

    def decrypt_stream() -> int:
        source = _aiter([header, *chunks])
        asyncio.run(_drain(crypto.decrypt_stream(source, key), NullSink()))
        return size

    progress(f"decrypting {fmt_size(size)} × {reps} five ways, in turn")
    dec: list[tuple[str, Callable[[], int]]] = [
        ("raw `crypto_secretstream_xchacha20poly1305_pull`", raw_pull),
        ("raw pull + `hashlib.sha256` of the plaintext", partial(raw_pull, True)),
        ("`BlobReader.feed` / `finish`", blob_reader),
        ("`decrypt_file` (BytesIO → null sink)", decrypt_file),
        ("`decrypt_stream` (async, asyncio.run)", decrypt_stream),
    ]
    dec_rates = list(interleaved(dict(dec), reps).items())

    rows = []
    for direction, results in (("encrypt", enc_rates), ("decrypt", dec_rates)):
        base, base_hashed = results[0][1], results[1][1]
        for i, (label, rate) in enumerate(results):
            what = f"{direction}: {label}"
            plain = "—" if i == 0 else f"{against_limit(rate, base, what):.2f}"
            hashed = "—"
            if i >= 2:  # our API hashes every byte: raw + SHA-256 is its limit too
                hashed = f"{against_limit(rate, base_hashed, what + ' ÷ raw + SHA-256'):.2f}"
            rows.append((what, f"{rate / MB:,.0f}", plain, hashed))
    rows.append(("`hashlib.sha256` alone, for scale", f"{sha_only / MB:,.0f}", "—", "—"))
    headers = ("secretstream, 64 KiB chunks", "MB/s", "÷ raw", "÷ raw + SHA-256")
    notes = (
        f"Median of {reps} runs over {fmt_size(size)} of plaintext each, the rows of each "
        "direction run in turn (raw, ours, raw, …) so that every ratio's baseline is "
        "measured in the same window; a ratio above 1.0 to the raw binding fails the run. "
        "MB/s counts "
        'plaintext bytes, 1 MB = 10^6 bytes. "÷ raw" is our speed over the bare binding\'s; '
        '"÷ raw + SHA-256" compares with a loop that does the least our API must do '
        "(v1 blob descriptors carry the plaintext's SHA-256, so `BlobWriter`/`BlobReader` "
        "hash every byte)."
    )
    return table(headers, rows) + "\n\n" + notes


MEMORY_MODES = (
    ("encrypt-stream", "generated → hashing sink"),
    ("encrypt-file", "generated → temporary file"),
    ("decrypt-file", "temporary file → hashing sink"),
)


def memory_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one memory job in this (fresh) process and return what it measured."""
    mode, total, key, path = job["mode"], job["bytes"], bytes.fromhex(job["key"]), job["path"]
    tracemalloc.start()
    source = PatternFile(total)  # its 1 MiB pattern is made before the baseline
    sink = HashSink()
    with ExitStack() as files:
        if mode == "encrypt-file":
            dst_file = files.enter_context(open(path, "wb"))
        elif mode == "decrypt-file":
            src_file = files.enter_context(open(path, "rb"))

        with peak_growth() as growth:
            start = time.perf_counter()
            if mode == "encrypt-stream":
                out: list[crypto.BlobSummary] = []
                blocks = _aiter(iter(partial(source.read, CHUNK), b""))
                asyncio.run(_drain(crypto.encrypt_stream(blocks, key, out), sink))
                summary = out[0]
            elif mode == "encrypt-file":
                summary = crypto.encrypt_file(cast(BinaryIO, source), dst_file, key)
                dst_file.flush()
            else:
                summary = crypto.decrypt_file(src_file, cast(BinaryIO, sink), key)
            elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "traced_growth": growth.traced,
        "rss_growth": growth.rss,
        "rss_reset": growth.rss_reset,
        "plaintext_sha256": summary.sha256,
        "sink_sha256": sink.hash.hexdigest(),
        "sink_size": sink.size,
    }


def _run_child(command: Sequence[str], job: dict[str, Any]) -> dict[str, Any]:
    """Run `memory_child(job)` through `command`, in a fresh interpreter."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and script, no shell
        command, input=json.dumps(job), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory job {job['mode']} failed:\n{result.stderr}")
    return cast(dict[str, Any], json.loads(result.stdout))


def memory_section(total: int, child: Sequence[str]) -> tuple[str, bool]:
    """Stream `total` bytes each way, each job run by the `child` command; (text, passed)."""
    key = crypto.new_blob_key()
    results = []
    with tempfile.TemporaryDirectory(prefix="lanthorn-bench-") as tmp:
        path = str(Path(tmp) / "blob")
        for mode, what in MEMORY_MODES:
            progress(f"memory: {mode} of {fmt_size(total)} ({what}), fresh process")
            job = {"mode": mode, "bytes": total, "key": key.hex(), "path": path}
            results.append(_run_child(child, job))
            if mode == "encrypt-file":
                on_disk = os.path.getsize(path)
                assert on_disk == crypto.stored_size(total), "stored size is not as v1 says"

    enc_stream, enc_file, dec_file = results
    expected = enc_stream["plaintext_sha256"]
    hashes_agree = (
        enc_file["plaintext_sha256"] == expected
        and dec_file["plaintext_sha256"] == expected
        and dec_file["sink_sha256"] == expected
        and dec_file["sink_size"] == total
    )
    ok = hashes_agree
    rows = []
    for (mode, what), r in zip(MEMORY_MODES, results, strict=True):
        under = max(r["traced_growth"], r["rss_growth"]) < MEMORY_LIMIT
        ok = ok and under
        rows.append(
            (f"`{mode}`: {what}", fmt_size(total), f"{r['seconds']:.2f} s")
            + (f"{total / r['seconds'] / MB:,.0f}", fmt_mib(r["traced_growth"]))
            + (fmt_mib(r["rss_growth"]), "yes" if under else "**NO**")
        )
    headers = ["streamed blob", "size", "time", "MB/s", "tracemalloc peak growth"]
    headers += ["peak RSS growth", f"< {fmt_size(MEMORY_LIMIT)}"]
    reset_note = (
        "the high-water mark is reset just before the stream through `/proc/self/clear_refs`"
        if all(r["rss_reset"] for r in results)
        else "it could not be reset, so this is growth over the process's earlier peak"
    )
    notes = (
        'Each row runs in a fresh subprocess. "tracemalloc peak growth" = Python '
        'allocations at their peak during the stream, less those before it; "peak RSS '
        "growth\" = the process's RSS high-water mark (VmHWM) after the stream less its RSS "
        f"before; {reset_note}. It also counts what libsodium and the C library allocate. "
        "Times include tracemalloc's overhead and, for files, the disk. "
        f"SHA-256 of the plaintext: `{expected[:16]}…` from `encrypt_stream`, "
        f"`encrypt_file` and `decrypt_file`, and of what `decrypt_file` wrote: "
        f"{'all equal' if hashes_agree else '**MISMATCH**'}. The temporary file "
        f"({fmt_size(crypto.stored_size(total))} stored form) is deleted."
    )
    verdict = (
        f"Requirement (peak growth under {fmt_size(MEMORY_LIMIT)} for a "
        f"{fmt_size(total)} blob): {'met' if ok else '**NOT MET**'}."
    )
    return table(headers, rows) + "\n\n" + notes + "\n\n" + verdict, ok
