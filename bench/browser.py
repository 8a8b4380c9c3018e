#!/usr/bin/env python3
"""Benchmark protocol v1 in the reporter's browser (lanthorn-protocol.js), in one run.

Sets up a throwaway portal as bench/portal.py does (`lanthorn portal init` and `serve`,
production Argon2id, SQLite in a temporary directory), opens its staff report page in
headless Debian Chromium (Playwright), and measures there, under the page's own CSP, with
the portal's own scripts: 1. `LanthornProtocol.deriveKeys` at the portal's Argon2id cost,
against `crypto.derive_reporter_keys` in this process; 2. `encryptBlob` on files chosen in
the form's file input, against raw libsodium.js secretstream `push` in the same page;
3. `submitReport` with one large file, end to end through the portal. docs/benchmarks.md
explains each figure.

Run from the repository root:

    .venv/bin/python bench/browser.py            # full run, about 1.5 minutes
    .venv/bin/python bench/browser.py --quick    # smoke run, about 10 s

Exit status 1 if the page logged an error, an encrypted blob was wrong (SHA-256, size) or
unreadable, or a submission failed or did not verify (sealed descriptor, stored blob).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

# `python bench/browser.py` puts bench/ first on sys.path, where crypto.py and portal.py
# would shadow the `crypto` and `portal` packages: put the repository root before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _browser import FORM_FIELDS
from _report import MB, MIB, fmt_mib, fmt_ms, fmt_size, machine_header, progress, table, version
from _reporter_page import (
    CHROMIUM,
    DERIVE,
    ENCRYPT,
    RAW,
    READ,
    SUBMIT,
    Reporter,
    plaintext_files,
    reporter_page,
)
from _server import Portal, lanthorn_command, running_portal
from _streams import CHUNK, NullSink, PatternFile, pattern_block, raw_push
from _timing import percentile, throughput
from playwright.sync_api import Error as PlaywrightError

import crypto
from portal import kiosk_audio

#: Argon2id for the end-to-end rows that isolate sealing and transfer (tests' CHEAP_KDF).
CHEAP_KDF = crypto.KdfParams(t=1, m_kib=8)
VENDOR_VERSION = Path(__file__).resolve().parent.parent / "portal/static/vendor/libsodium/VERSION"


@dataclass(frozen=True)
class Settings:
    """How hard to measure: the full run, or `--quick` for a smoke run."""

    quick: bool
    kdf_runs: int
    blob_sizes: tuple[int, ...]  # plaintext bytes, multiples of the 1 MiB pattern
    blob_repeats: int
    submissions: int  # end-to-end reports per KDF setting


FULL = Settings(
    quick=False, kdf_runs=10, blob_sizes=(64 * MIB, 256 * MIB), blob_repeats=3, submissions=3
)
QUICK = Settings(
    quick=True, kdf_runs=2, blob_sizes=(8 * MIB, 16 * MIB), blob_repeats=1, submissions=1
)


def runs(count: int, what: str = "run") -> str:
    return f"{count} {what}" + ("" if count == 1 else "s")


def ms_stats(samples_ms: Sequence[float]) -> tuple[float, float]:
    """Median and p90, in seconds, of times in milliseconds."""
    return statistics.median(samples_ms) / 1e3, percentile(samples_ms, 90) / 1e3


# --- 1. Argon2id -----------------------------------------------------------------------


def kdf_section(settings: Settings, reporter: Reporter, portal: Portal) -> str:
    kdf = crypto.V1_KDF
    count = settings.kdf_runs
    receipt = crypto.generate_receipt()
    progress(f"Argon2id v1 in Python, {count} runs after one to warm up")
    python_times: list[float] = []
    for _ in range(count + 1):
        start = time.perf_counter()
        crypto.derive_reporter_keys(receipt, portal.salt, kdf)
        python_times.append((time.perf_counter() - start) * 1e3)
    python_first, python_times = python_times[0], python_times[1:]
    progress(f"Argon2id v1 in Chromium (deriveKeys), {count} runs after the page's first")
    derived = reporter.run(DERIVE, {"runs": count + 1, "config": portal.config})
    first, browser_times = derived["ms"][0], derived["ms"][1:]
    heap = "not exposed"
    if derived["heapBefore"] and derived["heapAfter"]:
        heap = f"{fmt_mib(derived['heapBefore'])} before, {fmt_mib(derived['heapAfter'])} after"

    b_median, b_p90 = ms_stats(browser_times)
    p_median, p_p90 = ms_stats(python_times)
    rows = [
        ("Chromium: `LanthornProtocol.deriveKeys`", fmt_ms(b_median), fmt_ms(b_p90))
        + (fmt_ms(first / 1e3), f"**{b_median / p_median:.2f}**"),
        ("Python: `crypto.derive_reporter_keys`", fmt_ms(p_median), fmt_ms(p_p90))
        + (fmt_ms(python_first / 1e3), "1.00"),
    ]
    headers = ["Argon2id, t = 3, m = 64 MiB", "median", "p90", "first call"]
    headers += ["÷ Python (time)"]
    notes = (
        f"{count} derivations each, one after another, at the portal's `/api/v1/config` cost "
        f"(t = {kdf.t}, m = {kdf.m_kib // 1024} MiB, p = 1), a fresh receipt each time in "
        "the browser. The first call on each side is left out of the median and shown on "
        "its own: in the page it grows libsodium.js's WebAssembly memory to hold Argon2id's "
        f"64 MiB ({heap}), and a reporter's page usually derives only once. "
        '"÷ Python" is a **time** ratio: 2.00 = the browser takes twice as long.'
    )
    return table(headers, rows) + "\n\n" + notes


# --- 2. blob encryption ----------------------------------------------------------------


@dataclass
class Rates:
    """Bytes/s at one plaintext size, all measured in the same page."""

    push: float
    sha256: float
    push_sha256: float
    read_slices: float
    read_stream: float
    encrypt: float
    encrypt_seconds: float


def _page_rate(reporter: Reporter, body: str, arg: dict[str, Any], repeats: int) -> float:
    """Median bytes/s of `repeats` runs of `body`, which returns its time in ms."""
    samples: list[float] = [arg["bytes"] / reporter.run(body, arg) * 1e3 for _ in range(repeats)]
    return statistics.median(samples)


def _encrypt(reporter: Reporter, arg: dict[str, Any], repeats: int) -> tuple[float, bool]:
    """Median seconds of `encryptBlob`, and whether every result was right and readable."""
    size = arg["bytes"]
    results = [reporter.run(ENCRYPT, arg) for _ in range(repeats)]
    expected = (PatternFile(size).sha256(), crypto.stored_size(size), True)
    ok = all((r["sha256"], r["stored"], r["readable"]) == expected for r in results)
    return statistics.median(r["ms"] for r in results) / 1e3, ok


def blob_rates(settings: Settings, reporter: Reporter, size: int) -> tuple[Rates, bool]:
    reps = settings.blob_repeats
    progress(f"{fmt_size(size)}: raw push, SHA-256, both, File reads, encryptBlob; {runs(reps)}")
    arg = {"bytes": size}
    push = _page_rate(reporter, RAW, arg | {"push": True}, reps)
    sha = _page_rate(reporter, RAW, arg | {"hash": True}, reps)
    both = _page_rate(reporter, RAW, arg | {"push": True, "hash": True}, reps)
    slices = _page_rate(reporter, READ, arg, reps)
    stream = _page_rate(reporter, READ, arg | {"stream": True}, reps)
    seconds, ok = _encrypt(reporter, arg, reps)
    return Rates(push, sha, both, slices, stream, size / seconds, seconds), ok


def _rate_row(label: str, size: int, rate: float, *ratios: str) -> list[str]:
    return [label, fmt_size(size), "—", f"{rate / MB:,.0f}", *ratios, *["—"] * (2 - len(ratios))]


def _memory_file_row(
    settings: Settings, reporter: Reporter, size: int, r: Rates
) -> tuple[list[str], bool]:
    """encryptBlob on the same bytes made into a File in the page's memory, not chosen."""
    progress(f"{fmt_size(size)}: encryptBlob on a File made in the page's memory")
    seconds, ok = _encrypt(reporter, {"bytes": size, "memory": True}, settings.blob_repeats)
    rate = size / seconds
    row = ["`encryptBlob` on the same bytes as a `File` made in memory", fmt_size(size)]
    row += [f"{seconds:.2f} s", f"{rate / MB:,.0f}", f"{rate / r.push:.2f}"]
    return [*row, f"{rate / r.push_sha256:.2f}"], ok


def blob_section(
    settings: Settings, reporter: Reporter, files: dict[int, Path]
) -> tuple[str, dict[int, Rates], bool]:
    rows = []
    by_size: dict[int, Rates] = {}
    ok = True
    for size in settings.blob_sizes:
        reporter.choose(files[size])
        r, verified = blob_rates(settings, reporter, size)
        by_size[size], ok = r, ok and verified
        rows += [
            _rate_row("raw `crypto_secretstream_xchacha20poly1305_push`", size, r.push),
            _rate_row("`crypto_hash_sha256` (init, update per chunk, final)", size, r.sha256),
            _rate_row(
                "raw push + `crypto_hash_sha256`",
                size,
                r.push_sha256,
                f"{r.push_sha256 / r.push:.2f}",
            ),
            _rate_row(
                "read the `File` alone, `slice(…).arrayBuffer()` per 64 KiB", size, r.read_slices
            ),
            _rate_row("read the `File` alone, `stream()`, for comparison", size, r.read_stream),
            ["`LanthornProtocol.encryptBlob` (`File` → stored Blob)", fmt_size(size)]
            + [f"{r.encrypt_seconds:.2f} s", f"**{r.encrypt / MB:,.0f}**"]
            + [f"**{r.encrypt / r.push:.2f}**", f"{r.encrypt / r.push_sha256:.2f}"],
        ]
        if size == settings.blob_sizes[0]:
            row, verified = _memory_file_row(settings, reporter, size, r)
            rows.append(row)
            ok = ok and verified
    size = settings.blob_sizes[-1]
    progress(f"{fmt_size(size)}: PyNaCl raw push in this process, for scale")
    key, block = crypto.new_blob_key(), pattern_block()
    native = throughput(lambda: raw_push(key, block, size // CHUNK), settings.blob_repeats)
    rows.append(_rate_row("for scale: PyNaCl raw push in this process (C libsodium)", size, native))

    headers = ["in Chromium, 64 KiB chunks", "plaintext", "time", "MB/s", "÷ raw push"]
    headers += ["÷ raw push + SHA-256"]
    notes = (
        f"Median of {runs(settings.blob_repeats)} each, all in the same page; MB/s counts "
        "plaintext bytes (1 MB = 10^6 bytes), ratios compare with the rows above at the "
        "same size. The plaintext repeats a 1 MiB random pattern. It reaches the page as "
        "a reporter's file does, chosen in the form's file input (`set_input_files`; a "
        "temporary file, in the page cache). The raw rows call libsodium.js directly on "
        "64 KiB views of the pattern in memory (the same number of chunks, plus the padded "
        "final chunk for push). `encryptBlob` reads the `File` 4 MiB at a time "
        "(`slice().arrayBuffer()`), hashes and encrypts it in 64 KiB chunks, and gathers the "
        "ciphertext in a Blob. The two read rows only read, no cryptography: the first in "
        "64 KiB slices, the second with the `File`'s own stream, in whatever pieces the browser "
        'hands out. "raw" is libsodium.js, not C: each call copies its input into the '
        "WebAssembly heap and its output back out; the last row is PyNaCl's binding to C "
        "libsodium on the same data, for scale. Every `encryptBlob` result had the "
        "expected SHA-256 and stored size, and its stored Blob could be read back: "
        + ("yes." if ok else "**NO**.")
    )
    return table(headers, rows) + "\n\n" + notes, by_size, ok


# --- 3. end to end ---------------------------------------------------------------------

#: submitReport's `onProgress` stages, each timed from its first call to the next one's.
STAGES = (
    ("encrypting", "uploading"),
    ("uploading", "deriving"),
    ("deriving", "sending"),
    ("sending", "done"),
)


def submit_fields() -> dict[str, Any]:
    """The staff form's fields as report.js hands them to `submitReport`."""
    fields: dict[str, Any] = {"channel": "staff", "lang": "en", **FORM_FIELDS}
    fields["urgent"] = fields["urgent"] == "yes"
    fields["identity"] = fields["identity"] or None
    return fields


def verify_submissions(portal: Portal, count: int, size: int) -> str | None:
    """None if the outbox holds `count` reports, each with the file intact; else why not."""
    expected = PatternFile(size).sha256()
    target = f"/api/v1/console/outbox?limit={count + 1}"
    with httpx.Client(base_url=portal.url, timeout=60) as client:
        items = client.get(target, headers=portal.signed_headers("GET", target)).json()["items"]
    if len(items) != count:
        return f"{len(items)} reports in the outbox, expected {count}"
    for item in items:
        report = crypto.open_document(
            crypto.b64u_decode(item["sealed"]), portal.oversight, versions=(1, 2)
        )
        (attachment,) = report["attachments"]
        if (attachment["size"], attachment["sha256"]) != (size, expected):
            return "a sealed descriptor's size or SHA-256 differs from the file's"
        if item["blob_ids"] != [attachment["blob_id"]]:
            return "a report's blob_ids do not name its attachment"
        path = portal.data_dir / "blobs" / attachment["blob_id"]
        key = crypto.b64u_decode(attachment["key"])
        with open(path, "rb") as stored:
            summary = crypto.decrypt_file(stored, cast(BinaryIO, NullSink()), key)
        if (summary.size, summary.sha256) != (size, expected):
            return "a stored blob does not decrypt to the file"
    return None


def submit_section(
    settings: Settings, reporter: Reporter, portal: Portal, file: Path, push: float
) -> tuple[str, bool]:
    size = settings.blob_sizes[0]
    reporter.choose(file)
    rows = []
    for label, kdf in (
        (f"cheap Argon2id (t = {CHEAP_KDF.t}, m = {CHEAP_KDF.m_kib} KiB)", CHEAP_KDF),
        ("the portal's Argon2id (t = 3, m = 64 MiB), as served", None),
    ):
        n = settings.submissions
        progress(f"submitReport with one {fmt_size(size)} file, {label}, {runs(n)}")
        arg = {"bytes": size, "fields": submit_fields(), "kdf": kdf and kdf.as_json()}
        marks = [reporter.run(SUBMIT, arg)["marks"] for _ in range(n)]
        stages = [
            fmt_ms(statistics.median(m[end] - m[start] for m in marks) / 1e3)
            for start, end in STAGES
        ]
        seconds = statistics.median(m["done"] for m in marks) / 1e3
        rows.append(
            [f"`submitReport`, {label}", fmt_size(size), f"{seconds:.2f} s"]
            + [f"**{size / seconds / MB:,.0f}**", f"**{size / seconds / push:.2f}**"]
            + stages
        )
    problem = verify_submissions(portal, 2 * settings.submissions, size)
    headers = ["in Chromium, through the portal", "file", "time", "MB/s", "÷ raw push"]
    headers += ["encrypt", "upload", "derive keys", "seal and post"]
    notes = (
        f"Median of {runs(settings.submissions, 'report')} each, one at a time; MB/s = file size "
        "÷ the whole `submitReport` call (encrypt, `POST /api/v1/blobs`, derive keys, seal, "
        "`POST /api/v1/reports`), against raw push at the same size in section 2. The "
        "stage columns are medians of the time between `onProgress` stage changes. The "
        "first row swaps the portal's Argon2id cost for the tests' cheap one in the "
        "config object the page passes (the portal does not check how lookup ids were "
        "derived), to show sealing and transfer alone; the second is what a reporter "
        "waits for. Checked afterwards through the console API: every report opens with "
        "the oversight key, its descriptor has the file's size and SHA-256, and its stored "
        "blob decrypts to that SHA-256: " + ("yes." if problem is None else f"**NO**: {problem}.")
    )
    return table(headers, rows) + "\n\n" + notes, problem is None


# --- main ------------------------------------------------------------------------------


#: The kiosk screen measured in section 4, and the goal for it (issue 19).
KIOSK_SCREEN = "/kiosk/report?lang=pl"
KIOSK_GOAL_MS = 300
#: The screen is ready to be heard once its page has loaded and its question's clip can
#: play through: the clip is fetched as a Listen tap fetches it (the page makes its <audio>,
#: preload="none", when Listen is first touched: kiosk-listen.js), so this is the whole cost
#: of hearing the screen, less the person's own delay.
KIOSK_READY = """async () => {
  const listen = document.querySelector(".step:not([hidden]) button.listen-screen[data-clip]");
  const audio = document.createElement("audio");
  audio.hidden = true;
  audio.src = listen.getAttribute("data-clip");
  listen.after(audio);
  await new Promise((resolve, reject) => {
    audio.addEventListener("canplaythrough", resolve, { once: true });
    audio.addEventListener("error", () => reject(new Error("the clip did not load")));
    audio.preload = "auto";
    audio.load();
  });
  const page = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const before = performance.getEntriesByType("resource")
    .filter((r) => r.startTime < page.loadEventEnd && !r.name.includes("/static/audio/"));
  return { ms: performance.now(), page: page.loadEventEnd,
           paint: paint ? paint.startTime : 0, scripts: page.domContentLoadedEventEnd,
           files: before.length, fileBytes: before.reduce((n, r) => n + r.encodedBodySize, 0),
           pictures: document.querySelectorAll(".icon-symbols > symbol").length,
           file: new URL(audio.currentSrc).pathname.replace("/static/audio/", ""),
           pageBytes: page.encodedBodySize };
}"""


def kiosk_section(reporter: Reporter, portal: Portal, repeats: int) -> tuple[str, bool]:
    """A kiosk screen (the first question, in Polish) and its Listen clip, on the loopback."""
    page = reporter.page.context.new_page()
    page.on("pageerror", lambda error: reporter.problems.append(str(error)))
    try:
        results = []
        for _ in range(repeats + 1):  # the first warms the server's templates
            page.goto(portal.url + KIOSK_SCREEN, wait_until="load")
            results.append(page.evaluate(KIOSK_READY))
        results = results[1:]
    finally:
        page.close()
    ready = [float(result["ms"]) for result in results]
    loaded = [float(result["page"]) for result in results]
    painted = [float(result["paint"]) for result in results]
    scripts = [float(result["scripts"]) for result in results]
    median, p90 = ms_stats(ready)
    clip_only = [total - page for total, page in zip(ready, loaded, strict=True)]
    rows = [
        ["first paint (words on the screen)", *map(fmt_ms, ms_stats(painted))],
        ["its scripts run (DOMContentLoaded)", *map(fmt_ms, ms_stats(scripts))],
        ["page loaded (its load event)", *map(fmt_ms, ms_stats(loaded))],
        ["then its clip, fetched and ready to play", *map(fmt_ms, ms_stats(clip_only))],
        ["page loaded and its clip ready to play", fmt_ms(median), fmt_ms(p90)],
    ]
    clip_kib = (kiosk_audio.AUDIO / str(results[0]["file"])).stat().st_size / 1024
    page_kib = results[0]["pageBytes"] / 1024
    files, files_kib = results[0]["files"], results[0]["fileBytes"] / 1024
    pictures = results[0]["pictures"]  # drawn from shapes in the HTML (portal/kiosk_icons.py)
    passed = p90 * 1e3 < KIOSK_GOAL_MS
    text = (
        f"`{KIOSK_SCREEN}` and the first question's clip, {runs(repeats)}, from navigation "
        f"start (HTML {page_kib:.0f} KiB with the shapes of {pictures} pictures in it, then "
        f"{files} files before the load event, "
        f"{files_kib:.0f} KiB; clip {clip_kib:.1f} KiB):\n\n"
        + table(["", "median", "p90"], rows)
        + f"\n\nGoal: under {KIOSK_GOAL_MS} ms (p90): **{'met' if passed else 'NOT met'}**."
    )
    return text, passed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/browser.py",
        description=(
            "Measure protocol v1 in the reporter's browser: headless Debian Chromium on a "
            "throwaway portal's staff report page (`lanthorn portal init` and `serve`, "
            "production Argon2id, SQLite in a temporary directory). Argon2id in "
            "`LanthornProtocol.deriveKeys` against `crypto.derive_reporter_keys` in this "
            "process; `encryptBlob` MB/s against raw libsodium.js secretstream push in the "
            "same page; `submitReport` with one large file, end to end. Results are printed "
            "as Markdown tables on stdout; progress goes to stderr."
        ),
        epilog=(
            "Exit status: 0, or 1 if the page logged an error, an encrypted blob was wrong "
            "or unreadable, or a submission failed or did not verify. A full run takes about "
            "1.5 minutes on 2 cores and needs about 700 MiB of free space in the temporary "
            "directory (the chosen files, 320 MiB, and six stored 64 MiB uploads)."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 derivations, 8 and 16 MiB files, one report each; about 10 s",
    )
    parser.add_argument(
        "--kiosk",
        action="store_true",
        help="only section 4: a kiosk screen and its Listen clip; about 10 s",
    )
    parser.add_argument("--port", type=int, help="server port (default: a free one)")
    parser.add_argument(
        "--lanthorn",
        metavar="PATH",
        help="the `lanthorn` command (default: the one next to this Python)",
    )
    return parser.parse_args(argv)


def vendored_libsodium() -> str:
    """The libsodium.js package the portal serves, as its VERSION file records it."""
    for line in VENDOR_VERSION.read_text(encoding="utf-8").splitlines():
        if line.startswith("package:") and "wrappers" not in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def run(settings: Settings, portal: Portal) -> bool:
    with (
        plaintext_files(settings.blob_sizes) as files,
        reporter_page(portal.url) as (reporter, chromium),
    ):
        libsodium = reporter.run("return sodium.sodium_version_string();")
        mode = "quick (smoke run: small sizes, few runs)" if settings.quick else "full"
        extra = [
            ("browser", f"Chromium {chromium} (`{CHROMIUM}`, headless, Playwright)"),
            ("libsodium.js", f"{vendored_libsodium()}, libsodium {libsodium} inside"),
            ("PyNaCl", version("pynacl")),
            ("server", "`lanthorn portal serve --workers 1` on 127.0.0.1, SQLite"),
            ("mode", mode),
        ]
        print("# Lanthorn browser benchmark\n", flush=True)
        print(machine_header(extra, cpu_features=True) + "\n", flush=True)
        print(f"## 1. Argon2id\n\n{kdf_section(settings, reporter, portal)}\n", flush=True)
        text, rates, ok = blob_section(settings, reporter, files)
        print(f"## 2. Attachment encryption\n\n{text}\n", flush=True)
        size = settings.blob_sizes[0]
        text, passed = submit_section(settings, reporter, portal, files[size], rates[size].push)
        print(f"## 3. End to end\n\n{text}\n", flush=True)
        text, fast = kiosk_section(reporter, portal, 5 if settings.quick else 30)
        print(f"## 4. A kiosk screen with its clip\n\n{text}\n", flush=True)
    problems = reporter.problems
    listed = "".join(f"\n    {p}" for p in problems[:10])
    print(f"Page errors and warnings: {len(problems)}" + (f":\n{listed}" if problems else "."))
    errors = portal.server_errors()
    listed = "".join(f"\n    {line}" for line in errors[:10])
    print(f"Server log: {len(errors)} ERROR line(s)" + (f":\n{listed}" if errors else "."))
    return ok and passed and fast and not problems and not errors


def run_kiosk(portal: Portal) -> bool:
    """`--kiosk`: section 4 alone, without the Argon2id and attachment runs."""
    with reporter_page(portal.url) as (reporter, chromium):
        extra = [
            ("browser", f"Chromium {chromium} (`{CHROMIUM}`, headless, Playwright)"),
            ("server", "`lanthorn portal serve --workers 1` on 127.0.0.1, SQLite"),
        ]
        print("# Lanthorn browser benchmark: the kiosk\n", flush=True)
        print(machine_header(extra, cpu_features=False) + "\n", flush=True)
        text, fast = kiosk_section(reporter, portal, 30)
        print(f"## 4. A kiosk screen with its clip\n\n{text}\n", flush=True)
    problems = reporter.problems
    print(f"Page errors and warnings: {len(problems)}" + "".join(f"\n    {p}" for p in problems))
    return fast and not problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"bench/browser.py: {CHROMIUM} is missing (scripts/test installs it)")
    began = time.perf_counter()
    kiosk = {"LANTHORN_KIOSK_FACILITY": "HMP Benchmark"}  # the kiosk's pages are on
    with running_portal(lanthorn_command(args.lanthorn), 1, args.port, settings=kiosk) as portal:
        ok = run_kiosk(portal) if args.kiosk else run(settings, portal)
    progress(f"done in {time.perf_counter() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, PlaywrightError) as exc:  # the portal or the page failed
        print(f"bench/browser.py: {exc}", file=sys.stderr)
        sys.exit(1)
