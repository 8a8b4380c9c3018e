#!/usr/bin/env python3
"""Benchmark Lanthorn's protocol v1 crypto on this machine, in one run.

Prints Markdown tables of: 1. Argon2id at `V1_KDF` (every receipt lookup) and `VAULT_KDF`
(each officer passphrase); 2. `seal_document` / `open_document` against raw
`crypto_box_seal`; 3. blob streaming (`BlobWriter`, `encrypt_file`, `encrypt_stream` and
their readers) against the raw secretstream bindings; 4. the peak memory of streaming a
1 GiB blob, each way in a fresh subprocess. docs/benchmarks.md explains each figure.

Run from the repository root:

    .venv/bin/python bench/crypto.py            # full run, about a minute
    .venv/bin/python bench/crypto.py --quick    # smoke run, a few seconds

Exit status 1 if a memory peak grows by 32 MiB or more (protocol v1 promises memory that
does not grow with the file) or a round trip does not give back the same SHA-256.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

# `python bench/crypto.py` puts bench/ first on sys.path, where this very file would shadow
# the `crypto` package: put the repository root before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nacl.bindings as raw
from _blobs import memory_child, memory_section, streams_section
from _report import GIB, KIB, MIB, fmt_rate, fmt_size, machine_header, progress, table, version
from _streams import SEED
from _timing import CORES, all_cores_rate, median_time, per_call_in_turn
from _verdict import against_limit, exit_status
from nacl.public import PrivateKey

import crypto


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


FULL = Settings(
    kdf_runs=5,
    parallel_rounds=12,
    vault_runs=3,
    doc_budget=1.0,
    doc_repeats=5,
    stream_bytes=256 * MIB,
    stream_repeats=3,
    memory_bytes=GIB,
)
QUICK = replace(
    FULL,
    kdf_runs=1,
    parallel_rounds=2,
    vault_runs=1,
    doc_budget=0.05,
    doc_repeats=3,
    stream_bytes=8 * MIB,
    stream_repeats=2,
    memory_bytes=GIB // 64,
)


def libsodium_version() -> str:
    """libsodium's own version string if PyNaCl exposes it, else what its changelog says."""
    version_string = getattr(raw, "sodium_version_string", None)
    if callable(version_string):
        value = version_string()
        return value.decode() if isinstance(value, bytes) else str(value)
    notes = importlib.metadata.distribution("pynacl").read_text("METADATA") or ""
    # The changelog is newest first; its first "libsodium to X" names the bundled copy.
    found = re.search(r"libsodium`*\s+to\s+(\S+)", notes)
    if found:
        return f"{found.group(1)} (bundled; PyNaCl does not expose sodium_version_string)"
    return "unknown (PyNaCl does not expose sodium_version_string)"


# --- 1. Argon2id -----------------------------------------------------------------------


def fmt_latency(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.1f} ms"


def kdf_section(settings: Settings) -> str:
    receipt = crypto.generate_receipt()
    salt = os.urandom(crypto.RECEIPT_SALT_BYTES)
    v1, vault = crypto.V1_KDF, crypto.VAULT_KDF

    def derive() -> object:
        return crypto.derive_reporter_keys(receipt, salt)

    progress(f"Argon2id v1 ({v1.m_kib // 1024} MiB), {settings.kdf_runs} runs")
    v1_latency = median_time(derive, settings.kdf_runs)
    progress(f"Argon2id v1, {CORES * settings.parallel_rounds} derivations on {CORES} threads")
    parallel = all_cores_rate(derive, settings.parallel_rounds)

    progress(f"Argon2id vault ({vault.m_kib // 1024} MiB), {settings.vault_runs} runs")
    passphrase = "correct horse battery staple"  # noqa: S105 - a throwaway test passphrase
    wrapped = crypto.wrap_vault_key(crypto.new_vault_key(), [passphrase], 1)
    unwrap = partial(crypto.unwrap_vault_key, wrapped, [passphrase])
    vault_latency = median_time(unwrap, settings.vault_runs)

    rows = []
    for label, kdf, latency, measured in (
        ("v1 receipt → reporter keys (`derive_reporter_keys`)", v1, v1_latency, f"{parallel:.2f}"),
        ("vault passphrase (`unwrap_vault_key`, 1 of 1)", vault, vault_latency, "—"),
    ):
        rows.append(
            (label, f"{kdf.t}, {kdf.m_kib // 1024} MiB", fmt_latency(latency))
            + (f"{1 / latency:.2f}", f"{CORES / latency:.2f}", measured)
        )
    headers = ["Argon2id", "t, m", "median latency", "per core /s"]
    headers += [f"{CORES} × one core, for scale", f"{CORES} threads at once, measured /s"]
    notes = (
        f"Median of {settings.kdf_runs} (v1) and {settings.vault_runs} (vault) runs. "
        f'"{CORES} × one core" assumes perfect scaling and is only for scale; "measured" = '
        f"{CORES * settings.parallel_rounds} derivations on one thread per core at once "
        f"(each holds its own {v1.m_kib // 1024} MiB while it runs): the limit to size on."
    )
    return table(headers, rows) + "\n\n" + notes


# --- 2. sealed documents ---------------------------------------------------------------

_WORDS = (
    "officer wing cell night search property visit complaint injury staff told "
    "détenu заключённый medical record camera door shift report threatened"
).split()


def sample_report(description_chars: int, reply_pk: bytes) -> dict[str, Any]:
    rng = random.Random(SEED)
    words: list[str] = []
    length = 0
    while length < description_chars:
        words.append(rng.choice(_WORDS))
        length += len(words[-1]) + 1
    return {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "use_of_force",
        "facility": "HMP Example",
        "location": "B wing, landing 2",
        "occurred": "2024-05-01",
        "description": " ".join(words),
        "subjects": "two officers on the night shift",
        "witnesses": "cell 14",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(reply_pk),
        "sent_on": "2024-05-02",
    }


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def documents_section(settings: Settings) -> str:
    oversight = PrivateKey.generate()
    pk, sk = bytes(oversight.public_key), bytes(oversight)
    reply_pk = bytes(PrivateKey.generate().public_key)

    rows = []
    for label, chars, bucket in (
        ("small report", 500, KIB),
        ("large document", 200_000, 256 * KIB),
    ):
        doc = sample_report(chars, reply_pk)
        sealed = crypto.seal_document(doc, oversight.public_key)
        assert len(sealed) - raw.crypto_box_SEALBYTES == bucket, "sample landed in another bucket"
        assert crypto.open_document(sealed, oversight) == doc
        padded = os.urandom(bucket)  # raw sealing costs the same whatever the bytes are
        raw_sealed = raw.crypto_box_seal(padded, pk)

        progress(f"seal/open, {label} ({fmt_size(bucket)} bucket), ours and raw in turn")
        times = per_call_in_turn(
            {
                "ours_seal": partial(crypto.seal_document, doc, oversight.public_key),
                "raw_seal": partial(raw.crypto_box_seal, padded, pk),
                "ours_open": partial(crypto.open_document, sealed, oversight),
                "raw_open": partial(raw.crypto_box_seal_open, raw_sealed, pk, sk),
            },
            settings.doc_budget,
            settings.doc_repeats,
        )
        ours_seal, raw_seal = times["ours_seal"], times["raw_seal"]
        ours_open, raw_open = times["ours_open"], times["raw_open"]
        for op, ours, base in (("seal", ours_seal, raw_seal), ("open", ours_open, raw_open)):
            rows.append(
                (f"{op} {label}", fmt_size(bucket), fmt_us(ours), fmt_rate(1 / ours))
                + (fmt_us(base), fmt_rate(1 / base))
                + (f"{against_limit(base, ours, f'{op} {label} ÷ raw'):.2f}",)
            )
    headers = ["sealed document", "bucket", "ours µs/op", "ours ops/s"]
    headers += ["raw µs/op", "raw ops/s", "ours ÷ raw"]
    notes = (
        '"ours" = `crypto.seal_document` / `crypto.open_document` (schema check, JSON, '
        '`sodium_pad`, sealed box); "raw" = `nacl.bindings.crypto_box_seal` / '
        "`crypto_box_seal_open` of a buffer of the bucket size, the four timed in turn "
        '(batches of each, one after another) so that they share the window. "ours ÷ raw" is '
        "a speed ratio: 1.00 = no overhead, 0.50 = half as fast; above 1.0 the run fails."
    )
    return table(headers, rows) + "\n\n" + notes


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
            "Exit status: 0, or 1 if a memory peak is 32 MiB or more, a round trip did "
            "not give back the same SHA-256, or a ratio to the raw binding came out above "
            "1.0 (printed as a RUN FAILED: line). A full run takes about a minute and writes a "
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

    settings = QUICK if args.quick else FULL
    if args.gib is not None:
        settings = replace(settings, memory_bytes=int(args.gib * GIB))
    print("# Lanthorn crypto benchmark\n", flush=True)
    mode = "quick (smoke run: small sizes, few repetitions)" if args.quick else "full"
    extra = [("PyNaCl", version("pynacl")), ("libsodium", libsodium_version()), ("mode", mode)]
    print(machine_header(extra, cpu_features=True) + "\n", flush=True)
    print(f"## 1. Argon2id\n\n{kdf_section(settings)}\n", flush=True)
    print(f"## 2. Sealed documents\n\n{documents_section(settings)}\n", flush=True)
    text = streams_section(settings.stream_bytes, settings.stream_repeats)
    print(f"## 3. Blob streaming throughput\n\n{text}\n", flush=True)
    child = [sys.executable, str(Path(__file__).resolve()), "--memory-child"]
    text, ok = memory_section(settings.memory_bytes, child)
    print(f"## 4. Memory of a streamed blob\n\n{text}", flush=True)
    return exit_status(ok)


if __name__ == "__main__":
    sys.exit(main())
