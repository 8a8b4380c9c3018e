#!/usr/bin/env python3
"""Benchmark Lanthorn's protocol v1 crypto on this machine, in one run.

Measures, and prints as Markdown-style tables:

1. Argon2id key derivation: `crypto.derive_reporter_keys` at `crypto.V1_KDF` (what every
   receipt lookup costs the portal or a client) and one officer passphrase at
   `crypto.VAULT_KDF` (what unsealing the console costs per passphrase).
2. Sealed documents: `crypto.seal_document` / `crypto.open_document` for a small report
   (1 KiB bucket) and a 256 KiB-bucket document, against raw `crypto_box_seal` /
   `crypto_box_seal_open` of the same padded size.
3. Blob streaming (secretstream XChaCha20-Poly1305, 64 KiB chunks): raw PyNaCl bindings
   against `BlobWriter`, `encrypt_file`, `encrypt_stream`, `BlobReader`, `decrypt_file`
   and `decrypt_stream`.
4. Memory: a 1 GiB stream (generated on the fly, never held in memory) encrypted with
   `encrypt_stream` into a hashing sink, encrypted with `encrypt_file` to a temporary file,
   and decrypted back with `decrypt_file`, each in a fresh subprocess so that the peak RSS
   is clean. Protocol v1 requires that memory does not grow with the file: the script
   checks each peak growth against 32 MiB and exits with status 1 if one is over.

Run from the repository root:

    .venv/bin/python bench/crypto.py            # full run, about a minute
    .venv/bin/python bench/crypto.py --quick    # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, cast

# Running this file puts bench/ first on sys.path, where this very file would shadow the
# `crypto` package; drop that entry and import from the repository root instead.
_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import nacl.bindings as raw  # noqa: E402
from nacl.public import PrivateKey  # noqa: E402

import crypto  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MB = 1_000_000  # throughput is reported in MB/s, 10^6 bytes per second
CHUNK = crypto.BLOB_CHUNK
MEMORY_LIMIT = 32 * MIB  # what protocol v1 §2.4 promises for a streamed blob
SEED = 20240501  # the generated plaintext is the same in every process


@dataclass(frozen=True)
class Settings:
    """How hard to measure: the full run, or `--quick` for a smoke run."""

    kdf_runs: int
    parallel_rounds: int  # derivations per thread in the all-cores measurement
    vault_runs: int
    doc_budget: float  # seconds spent timing each document operation
    doc_repeats: int
    stream_bytes: int  # bytes per throughput measurement
    stream_repeats: int
    memory_bytes: int  # size of the stream in the memory test

    @classmethod
    def make(cls, quick: bool, gib: float | None) -> Settings:
        if quick:
            return cls(
                kdf_runs=1,
                parallel_rounds=1,
                vault_runs=1,
                doc_budget=0.05,
                doc_repeats=3,
                stream_bytes=8 * MIB,
                stream_repeats=2,
                memory_bytes=GIB // 64 if gib is None else int(gib * GIB),
            )
        return cls(
            kdf_runs=5,
            parallel_rounds=4,
            vault_runs=3,
            doc_budget=1.0,
            doc_repeats=5,
            stream_bytes=256 * MIB,
            stream_repeats=3,
            memory_bytes=GIB if gib is None else int(gib * GIB),
        )


# --- output ----------------------------------------------------------------------------


def progress(message: str) -> None:
    """Say what is being measured (on stderr, so stdout holds only the results)."""
    print(f"  … {message}", file=sys.stderr, flush=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: bool = True) -> str:
    """A Markdown pipe table, padded so it also reads well in a terminal.

    The first column is left-aligned; with `numeric`, the others are right-aligned.
    """
    body = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in body) for i in range(len(headers))]

    def right(i: int) -> bool:
        return numeric and i > 0

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if right(i) else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if right(i) else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(body[0]), rule, *map(line, body[1:])])


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.1f}" if per_second < 100 else f"{per_second:,.0f}"


def fmt_mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def fmt_size(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            value = n / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.2f} {unit}"
    return f"{n} B"


# --- machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The CPU features libsodium and OpenSSL pick faster code paths for."""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("flags"):
                flags = set(text.split(":", 1)[1].split())
                wanted = ("sse4_1", "avx2", "avx512f", "aes", "sha_ni")
                return " ".join(f for f in wanted if f in flags) or "none of note"
    except OSError:
        pass
    return "unknown"


def memory_total() -> str:
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal:"):
                return fmt_size(int(text.split()[1]) * KIB)
    except OSError:
        pass
    return "unknown"


def libsodium_version() -> str:
    """libsodium's own version string if PyNaCl exposes it, else what its changelog says."""
    version_string = getattr(raw, "sodium_version_string", None)
    if callable(version_string):
        value = version_string()
        return value.decode() if isinstance(value, bytes) else str(value)
    try:
        notes = importlib.metadata.distribution("pynacl").read_text("METADATA") or ""
    except importlib.metadata.PackageNotFoundError:
        notes = ""
    # The changelog is newest first; its first "libsodium to X" names the bundled copy.
    found = re.search(r"libsodium`*\s+to\s+(\S+)", notes)
    if found:
        return f"{found.group(1)} (bundled; PyNaCl does not expose sodium_version_string)"
    return "unknown (PyNaCl does not expose sodium_version_string)"


def machine_header(quick: bool) -> str:
    now = datetime.datetime.now().astimezone()
    rows = [
        ("date", now.strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", cpu_model()),
        ("CPU features", cpu_flags()),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", memory_total()),
        ("OS", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("PyNaCl", importlib.metadata.version("pynacl")),
        ("libsodium", libsodium_version()),
        ("mode", "quick (smoke run: small sizes, few repetitions)" if quick else "full"),
    ]
    return table(("machine", ""), rows, numeric=False)


# --- timing ----------------------------------------------------------------------------


def per_call(fn: Callable[[], object], budget: float, repeats: int) -> float:
    """Median seconds per call of `fn` over `repeats` batches lasting about `budget` in all."""
    fn()  # warm up
    n = 1
    while True:  # find a batch size that lasts long enough to time
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min(0.01, budget / repeats / 2):
            break
        n *= 2
    n = max(1, int(n * (budget / repeats) / elapsed))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def throughput(fn: Callable[[], int], repeats: int) -> float:
    """Median bytes per second; `fn` does one whole run and returns the bytes it processed."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = fn()
        samples.append(done / (time.perf_counter() - start))
    return statistics.median(samples)


def latency(fn: Callable[[], object], runs: int) -> float:
    """Median seconds of `runs` calls (for slow operations such as Argon2id)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# --- 1. Argon2id -----------------------------------------------------------------------


def bench_kdf(settings: Settings) -> str:
    cores = os.cpu_count() or 1
    receipt = crypto.generate_receipt()
    salt = os.urandom(crypto.RECEIPT_SALT_BYTES)
    v1 = crypto.V1_KDF
    vault = crypto.VAULT_KDF

    progress(f"Argon2id v1 ({v1.m_kib // 1024} MiB), {settings.kdf_runs} runs")
    v1_latency = latency(lambda: crypto.derive_reporter_keys(receipt, salt), settings.kdf_runs)

    # libsodium releases the GIL, so threads show what all cores really sustain together
    # (memory bandwidth and shared caches usually keep it below cores × one core's rate).
    jobs = cores * settings.parallel_rounds
    progress(f"Argon2id v1, {jobs} derivations on {cores} threads")
    start = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda _: crypto.derive_reporter_keys(receipt, salt), range(jobs)))
    parallel = jobs / (time.perf_counter() - start)

    progress(f"Argon2id vault ({vault.m_kib // 1024} MiB), {settings.vault_runs} runs")
    passphrase = "correct horse battery staple"  # noqa: S105 - a throwaway test passphrase
    wrapped = crypto.wrap_vault_key(crypto.new_vault_key(), [passphrase], 1)
    vault_latency = latency(
        lambda: crypto.unwrap_vault_key(wrapped, [passphrase]), settings.vault_runs
    )

    headers = (
        "Argon2id",
        "t, m",
        "median latency",
        "per core /s",
        f"{cores} cores, bound /s",
        f"{cores} threads, measured /s",
    )
    rows = [
        (
            "v1 receipt → reporter keys (`derive_reporter_keys`)",
            f"{v1.t}, {v1.m_kib // 1024} MiB",
            fmt_seconds(v1_latency),
            f"{1 / v1_latency:.2f}",
            f"{cores / v1_latency:.2f}",
            f"{parallel:.2f}",
        ),
        (
            "vault passphrase (`unwrap_vault_key`, 1 of 1)",
            f"{vault.t}, {vault.m_kib // 1024} MiB",
            fmt_seconds(vault_latency),
            f"{1 / vault_latency:.2f}",
            f"{cores / vault_latency:.2f}",
            "—",
        ),
    ]
    notes = (
        f"Median of {settings.kdf_runs} (v1) and {settings.vault_runs} (vault) runs. "
        '"bound" = cores ÷ latency; "measured" = derivations on one thread per core '
        f"at once (each holds its own {v1.m_kib // 1024} MiB while it runs)."
    )
    return table(headers, rows) + "\n\n" + notes


# --- 2. sealed documents ---------------------------------------------------------------

_WORDS = (
    "officer wing cell night search property visit complaint injury staff told "
    "détenu заключённый medical record camera door shift report threatened"
).split()


def _text(n: int, rng: random.Random) -> str:
    words: list[str] = []
    length = 0
    while length < n:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def sample_report(description_chars: int, reply_pk: bytes) -> dict[str, Any]:
    rng = random.Random(SEED)
    return {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "use_of_force",
        "facility": "HMP Example",
        "location": "B wing, landing 2",
        "occurred": "2024-05-01",
        "description": _text(description_chars, rng),
        "subjects": "two officers on the night shift",
        "witnesses": "cell 14",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(reply_pk),
        "sent_on": "2024-05-02",
    }


def bench_documents(settings: Settings) -> str:
    oversight = PrivateKey.generate()
    pk, sk = bytes(oversight.public_key), bytes(oversight)
    reply_pk = bytes(PrivateKey.generate().public_key)
    budget, repeats = settings.doc_budget, settings.doc_repeats
    rows = []
    for label, chars, bucket in (
        ("small report", 500, 1 * KIB),
        ("large document", 200_000, 256 * KIB),
    ):
        doc = sample_report(chars, reply_pk)
        sealed = crypto.seal_document(doc, oversight.public_key)
        assert len(sealed) - raw.crypto_box_SEALBYTES == bucket, "sample landed in another bucket"
        assert crypto.open_document(sealed, oversight) == doc
        padded = os.urandom(bucket)  # raw sealing costs the same whatever the bytes are
        raw_sealed = raw.crypto_box_seal(padded, pk)

        progress(f"seal/open, {label} ({fmt_size(bucket)} bucket)")
        seal = partial(crypto.seal_document, doc, oversight.public_key)
        ours_seal = per_call(seal, budget, repeats)
        raw_seal = per_call(partial(raw.crypto_box_seal, padded, pk), budget, repeats)
        ours_open = per_call(partial(crypto.open_document, sealed, oversight), budget, repeats)
        raw_open = per_call(partial(raw.crypto_box_seal_open, raw_sealed, pk, sk), budget, repeats)

        for op, ours, base in (("seal", ours_seal, raw_seal), ("open", ours_open, raw_open)):
            rows.append(
                (
                    f"{op} {label}",
                    fmt_size(bucket),
                    fmt_us(ours),
                    fmt_rate(1 / ours),
                    fmt_us(base),
                    fmt_rate(1 / base),
                    f"{base / ours:.2f}",
                )
            )
    headers = (
        "sealed document",
        "bucket",
        "ours µs/op",
        "ours ops/s",
        "raw µs/op",
        "raw ops/s",
        "ours ÷ raw",
    )
    notes = (
        '"ours" = `crypto.seal_document` / `crypto.open_document` (schema check, JSON, '
        '`sodium_pad`, sealed box); "raw" = `nacl.bindings.crypto_box_seal` / '
        '`crypto_box_seal_open` of a buffer of the bucket size. "ours ÷ raw" is a speed '
        "ratio: 1.00 = no overhead, 0.50 = half as fast."
    )
    return table(headers, rows) + "\n\n" + notes


# --- 3. streaming throughput -----------------------------------------------------------


class NullSink:
    """A writable that throws everything away."""

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


class GeneratedSource:
    """A readable of `total` pseudo-random bytes made on the fly from a 1 MiB pool.

    The same `seed` gives the same bytes in every process; at most one read's worth of
    bytes is created at a time, so a 1 GiB source costs 1 MiB of memory.
    """

    POOL = 1 * MIB

    def __init__(self, total: int, seed: int = SEED) -> None:
        self.pool = random.Random(seed).randbytes(self.POOL)
        self.total = total
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        left = self.total - self.pos
        if size < 0 or size > left:
            size = left
        offset = self.pos % self.POOL
        size = min(size, self.POOL - offset)
        self.pos += size
        return self.pool[offset : offset + size]

    def blocks(self, size: int = CHUNK) -> Iterable[bytes]:
        while block := self.read(size):
            yield block


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


@dataclass(frozen=True)
class Stored:
    """A blob encrypted in memory, kept as header and chunks for the decryption timings."""

    key: bytes
    header: bytes
    chunks: list[bytes]

    @property
    def plaintext_size(self) -> int:
        return (len(self.chunks) - 1) * CHUNK


def bench_streams(settings: Settings) -> str:
    n = settings.stream_bytes // CHUNK
    size = n * CHUNK
    block = random.Random(SEED).randbytes(CHUNK)
    key = crypto.new_blob_key()
    reps = settings.stream_repeats
    tag_message = raw.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    tag_final = raw.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    push = raw.crypto_secretstream_xchacha20poly1305_push
    pull = raw.crypto_secretstream_xchacha20poly1305_pull
    new_state = raw.crypto_secretstream_xchacha20poly1305_state
    final_block = bytes(raw.sodium_pad(b"", CHUNK))

    def raw_push(hash_too: bool = False) -> int:
        state = new_state()
        raw.crypto_secretstream_xchacha20poly1305_init_push(state, key)
        digest = hashlib.sha256()
        for _ in range(n):
            push(state, block, None, tag_message)
            if hash_too:
                digest.update(block)
        push(state, final_block, None, tag_final)
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

    progress(f"encrypting {fmt_size(size)} × {reps} five ways")
    sha_only = throughput(lambda: _sha256_only(block, n), reps)
    enc = [
        ("raw `crypto_secretstream_xchacha20poly1305_push`", throughput(raw_push, reps)),
        ("raw push + `hashlib.sha256` of the plaintext", throughput(lambda: raw_push(True), reps)),
        ("`BlobWriter.write` / `finish`", throughput(blob_writer, reps)),
        ("`encrypt_file` (memory → null sink)", throughput(encrypt_file, reps)),
        ("`encrypt_stream` (async, asyncio.run)", throughput(encrypt_stream, reps)),
    ]

    writer = crypto.BlobWriter(key)
    stored = Stored(key, writer.header, [writer.write(block) for _ in range(n)] + [writer.finish()])
    stored_bytes = b"".join([stored.header, *stored.chunks])
    assert stored.plaintext_size == size

    def raw_pull(hash_too: bool = False) -> int:
        state = new_state()
        raw.crypto_secretstream_xchacha20poly1305_init_pull(state, stored.header, key)
        digest = hashlib.sha256()
        for chunk in stored.chunks:
            message, _tag = pull(state, chunk)
            if hash_too:
                digest.update(message)
        return size

    def blob_reader() -> int:
        reader = crypto.BlobReader(key)
        reader.feed(stored.header)
        for chunk in stored.chunks:
            reader.feed(chunk)
        reader.finish()
        return size

    def decrypt_file() -> int:
        crypto.decrypt_file(io.BytesIO(stored_bytes), cast(BinaryIO, NullSink()), key)
        return size

    def decrypt_stream() -> int:
        source = _aiter([stored.header, *stored.chunks])
        asyncio.run(_drain(crypto.decrypt_stream(source, key), NullSink()))
        return size

    progress(f"decrypting {fmt_size(size)} × {reps} five ways")
    dec = [
        ("raw `crypto_secretstream_xchacha20poly1305_pull`", throughput(raw_pull, reps)),
        ("raw pull + `hashlib.sha256` of the plaintext", throughput(lambda: raw_pull(True), reps)),
        ("`BlobReader.feed` / `finish`", throughput(blob_reader, reps)),
        ("`decrypt_file` (BytesIO → null sink)", throughput(decrypt_file, reps)),
        ("`decrypt_stream` (async, asyncio.run)", throughput(decrypt_stream, reps)),
    ]

    rows = []
    for direction, results in (("encrypt", enc), ("decrypt", dec)):
        base, base_hashed = results[0][1], results[1][1]
        for i, (label, rate) in enumerate(results):
            rows.append(
                (
                    f"{direction}: {label}",
                    f"{rate / MB:,.0f}",
                    "—" if i == 0 else f"{rate / base:.2f}",
                    "—" if i < 2 else f"{rate / base_hashed:.2f}",
                )
            )
    rows.append(("`hashlib.sha256` alone, for scale", f"{sha_only / MB:,.0f}", "—", "—"))
    headers = ("secretstream, 64 KiB chunks", "MB/s", "÷ raw", "÷ raw + SHA-256")
    notes = (
        f"Median of {reps} runs over {fmt_size(size)} of plaintext each; MB/s counts "
        'plaintext bytes, 1 MB = 10^6 bytes. "÷ raw" is our speed over the bare binding\'s; '
        '"÷ raw + SHA-256" compares with a loop that does the least our API must do '
        "(v1 blob descriptors carry the plaintext's SHA-256, so `BlobWriter`/`BlobReader` "
        "hash every byte)."
    )
    return table(headers, rows) + "\n\n" + notes


def _sha256_only(block: bytes, n: int) -> int:
    digest = hashlib.sha256()
    for _ in range(n):
        digest.update(block)
    return n * len(block)


# --- 4. memory -------------------------------------------------------------------------


def _proc_status_kib(field: str) -> int | None:
    try:
        for text in Path("/proc/self/status").read_text().splitlines():
            if text.startswith(field + ":"):
                return int(text.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * KIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB  # KiB on Linux


def memory_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one memory job in this (fresh) process and return what it measured."""
    mode, total, key, path = job["mode"], job["bytes"], bytes.fromhex(job["key"]), job["path"]
    with ExitStack() as files:
        gc.collect()
        tracemalloc.start()
        source = GeneratedSource(total)  # its 1 MiB pool is made before the baseline
        sink = HashSink()
        if mode == "encrypt-file":
            dst_file = files.enter_context(open(path, "wb"))
        elif mode == "decrypt-file":
            src_file = files.enter_context(open(path, "rb"))

        gc.collect()
        reset = _reset_peak_rss()
        rss_before = _peak_rss_bytes()
        traced_before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        start = time.perf_counter()

        if mode == "encrypt-stream":
            out: list[crypto.BlobSummary] = []
            stream = crypto.encrypt_stream(_aiter(source.blocks()), key, out)
            asyncio.run(_drain(stream, sink))
            summary = out[0]
        elif mode == "encrypt-file":
            summary = crypto.encrypt_file(cast(BinaryIO, source), dst_file, key)
            dst_file.flush()
        elif mode == "decrypt-file":
            summary = crypto.decrypt_file(src_file, cast(BinaryIO, sink), key)
        else:
            raise ValueError(f"unknown memory job {mode!r}")

        elapsed = time.perf_counter() - start
        _, traced_peak = tracemalloc.get_traced_memory()
        rss_peak = _peak_rss_bytes()
    return {
        "mode": mode,
        "seconds": elapsed,
        "traced_growth": traced_peak - traced_before,
        "rss_growth": rss_peak - rss_before,
        "rss_before": rss_before,
        "rss_reset": reset,
        "plaintext_sha256": summary.sha256,
        "plaintext_size": summary.size,
        "sink_sha256": sink.hash.hexdigest(),
        "sink_size": sink.size,
    }


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run `memory_child(job)` in a fresh interpreter, so its peak RSS is its own."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and script, no shell
        [sys.executable, str(Path(__file__).resolve()), "--memory-child"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory job {job['mode']} failed:\n{result.stderr}")
    return cast(dict[str, Any], json.loads(result.stdout))


def bench_memory(settings: Settings) -> tuple[str, bool]:
    total = settings.memory_bytes
    key = crypto.new_blob_key()
    results = []
    with tempfile.TemporaryDirectory(prefix="lanthorn-bench-") as tmp:
        path = str(Path(tmp) / "blob")
        for mode, what in (
            ("encrypt-stream", "generated → hashing sink"),
            ("encrypt-file", "generated → temporary file"),
            ("decrypt-file", "temporary file → hashing sink"),
        ):
            progress(f"memory: {mode} of {fmt_size(total)} ({what}), fresh process")
            job = {"mode": mode, "bytes": total, "key": key.hex(), "path": path}
            results.append((mode, what, run_child(job)))
            if mode == "encrypt-file":
                on_disk = os.path.getsize(path)
                assert on_disk == crypto.stored_size(total), "stored size is not as v1 says"
        # the file and the directory are deleted here

    enc_stream, enc_file, dec_file = (r for _, _, r in results)
    expected = enc_stream["plaintext_sha256"]
    hashes_agree = (
        enc_file["plaintext_sha256"] == expected
        and dec_file["plaintext_sha256"] == expected
        and dec_file["sink_sha256"] == expected
        and dec_file["sink_size"] == total
    )

    ok = hashes_agree
    rows = []
    for mode, what, r in results:
        peak = max(r["traced_growth"], r["rss_growth"])
        under = peak < MEMORY_LIMIT
        ok = ok and under
        rows.append(
            (
                f"`{mode}`: {what}",
                fmt_size(total),
                f"{r['seconds']:.2f} s",
                f"{total / r['seconds'] / MB:,.0f}",
                fmt_mib(r["traced_growth"]),
                fmt_mib(r["rss_growth"]),
                "yes" if under else "**NO**",
            )
        )
    headers = (
        "streamed blob",
        "size",
        "time",
        "MB/s",
        "tracemalloc peak growth",
        "peak RSS growth",
        f"< {fmt_size(MEMORY_LIMIT)}",
    )
    reset_note = (
        "the high-water mark is reset just before the stream through `/proc/self/clear_refs`"
        if all(r["rss_reset"] for _, _, r in results)
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


# --- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/crypto.py",
        description=(
            "Measure Lanthorn's protocol v1 crypto on this machine: Argon2id latency and "
            "derivations per second, sealed-document ops/s against raw crypto_box_seal, "
            "blob secretstream MB/s against the raw bindings, and the peak memory of "
            "encrypting and decrypting a large blob (must stay under 32 MiB). Results are "
            "printed as Markdown tables on stdout; progress goes to stderr."
        ),
        epilog=(
            "Exit status: 0, or 1 if a memory peak is 32 MiB or more or a round trip did "
            "not give back the same SHA-256. A full run takes about a minute and writes a "
            "temporary file as large as --gib."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: small sizes, few repetitions; finishes in seconds "
        "(the memory stream is 16 MiB unless --gib is given)",
    )
    parser.add_argument(
        "--gib",
        type=float,
        default=None,
        metavar="N",
        help="size of the memory-test stream in GiB (default: 1)",
    )
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gib is not None and not args.gib > 0:
        parser.error("--gib must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(json.load(sys.stdin))))
        return 0

    settings = Settings.make(args.quick, args.gib)
    print("# Lanthorn crypto benchmark\n", flush=True)
    print(machine_header(args.quick) + "\n", flush=True)
    sections: list[tuple[str, Callable[[Settings], str]]] = [
        ("1. Argon2id", bench_kdf),
        ("2. Sealed documents", bench_documents),
        ("3. Blob streaming throughput", bench_streams),
    ]
    for title, bench in sections:
        print(f"## {title}\n\n{bench(settings)}\n", flush=True)
    text, ok = bench_memory(settings)
    print(f"## 4. Memory of a streamed blob\n\n{text}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
