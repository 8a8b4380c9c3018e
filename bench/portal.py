#!/usr/bin/env python3
"""Benchmark a real Lanthorn portal on this machine, in one run.

The script sets up a throwaway portal exactly as an operator would (`lanthorn portal init`,
then `lanthorn portal serve` with production Argon2id parameters, t = 3, m = 64 MiB, in a
temporary data directory with SQLite), drives it over loopback HTTP, and prints Markdown
tables:

1. The Argon2id bound: the median time of one `crypto.derive_reporter_keys` at
   `crypto.V1_KDF` in this process; cores ÷ that time is the most HTML reports per second
   the machine can take (each costs the server one derivation). All cores deriving at once
   is measured too.
2. Round trip: sequential GETs of `/api/v1/config` on an idle server, on one kept-alive
   connection and on a new connection each: the latency floor (and a check that the
   server sets TCP_NODELAY: without it, kept-alive requests wait for delayed ACKs).
3. HTML reports: N concurrent browser-like clients each load `/report/staff` (CSRF token
   and cookie), then POST the multipart form without a file; every answer must be a 201
   page with a receipt. Reports/s, POST latency, and the ratio to the Argon2id bound.
4. JSON API reports: clients POST sealed reports to `/api/v1/reports` with keys derived
   beforehand at cheap parameters (the server runs no KDF on this path): the portal's
   overhead without Argon2id.
5. Uploads and server memory: one HTML report with a 1 GiB attachment and one 1 GiB
   stored-form blob to `/api/v1/blobs`, both generated on the fly and streamed (the client
   never holds them), then the console's download of the first. For each: MB/s against raw
   secretstream measured in the same run, and the RSS of the server's processes sampled
   every 50 ms (baseline, peak, growth), with each process's high-water mark as a check.
   Protocol v1 requires memory that does not grow with the file; the script checks the
   growth of every server process against 32 MiB. Every transfer is verified: the
   attachment is opened with the oversight key and downloaded back, and the blob on disk is
   decrypted, against the SHA-256 of what was sent.

Run from the repository root:

    .venv/bin/python bench/portal.py            # full run, a few minutes, ~2 GiB on disk
    .venv/bin/python bench/portal.py --quick    # smoke run, about 10 s

Exit status 1 if any request failed, a transfer did not verify, or a server process grew
by 32 MiB or more during a transfer.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import html
import importlib.metadata
import io
import json
import os
import platform
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

# Running this file puts bench/ first on sys.path, where this very file would shadow the
# `portal` package (and bench/crypto.py the `crypto` package); drop that entry and import
# from the repository root instead.
_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import httpx  # noqa: E402
import nacl.bindings as raw  # noqa: E402

import crypto  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MB = 1_000_000  # throughput is reported in MB/s, 10^6 bytes per second
CHUNK = crypto.BLOB_CHUNK
MEMORY_LIMIT = 32 * MIB  # growth allowed per server process during a streamed transfer
SEED = 20240501
CHEAP_KDF = crypto.KdfParams(t=1, m_kib=8)  # client-side keys for the JSON API phase
CONSOLE_LIMIT = "999999999999999999"  # an outbox cursor past every item: "ack everything"

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')
RECEIPT_LABEL = re.compile(r'aria-label="Your receipt code: ([0-9 ]+)"')

FORM_FIELDS = {
    "category": "corruption",
    "urgent": "no",
    "facility": "HMP Example",
    "location": "",
    "occurred": "",
    "subjects": "",
    "witnesses": "",
    "description": (
        "An officer on C wing sells phones to prisoners and collects payment through "
        "visitors. It has gone on for months; several people on the wing know about it."
    ),
    "identity": "",
}


@dataclass(frozen=True)
class Settings:
    """How hard to measure: the full run, or `--quick` for a smoke run."""

    quick: bool
    kdf_runs: int
    parallel_rounds: int  # derivations per thread in the all-cores measurement
    workers: int
    clients: int
    submissions: int  # HTML reports
    api_submissions: int  # JSON API reports
    upload_bytes: int  # size of each upload
    raw_bytes: int  # plaintext per raw secretstream run
    raw_repeats: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        cores = os.cpu_count() or 1
        quick = bool(args.quick)

        def pick(value: int | None, full: int, smoke: int) -> int:
            return value if value is not None else (smoke if quick else full)

        upload_mib = pick(args.upload_mib, 1024, 64)
        return cls(
            quick=quick,
            kdf_runs=2 if quick else 5,
            parallel_rounds=1 if quick else 4,
            workers=pick(args.workers, cores, cores),
            clients=pick(args.clients, 2 * cores, 2 * cores),
            submissions=pick(args.submissions, 200, 20),
            api_submissions=pick(args.api_submissions, 1000, 50),
            upload_bytes=upload_mib * MIB,
            raw_bytes=(64 if quick else 256) * MIB,
            raw_repeats=3,
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


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:,.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else fmt_ms(seconds)


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.1f}" if per_second < 100 else f"{per_second:,.0f}"


def fmt_mib(n: float) -> str:
    return f"{n / MIB:,.1f} MiB"


def fmt_size(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            value = n / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.2f} {unit}"
    return f"{n} B"


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0–100), interpolating between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total() -> str:
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal:"):
                return fmt_size(int(text.split()[1]) * KIB)
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def http_stack() -> str:
    """What uvicorn's `auto` settings pick here: httptools or h11, uvloop or asyncio."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11 (pure Python)"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} / {loop}"


def machine_header(settings: Settings, data_dir: Path) -> str:
    now = datetime.datetime.now().astimezone()
    rows = [
        ("date", now.strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", cpu_model()),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", memory_total()),
        ("OS", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        (
            "packages",
            f"starlette {_version('starlette')}, uvicorn {_version('uvicorn')}, "
            f"httpx {_version('httpx')}, python-multipart {_version('python-multipart')}, "
            f"SQLAlchemy {_version('sqlalchemy')}, PyNaCl {_version('pynacl')}",
        ),
        (
            "server",
            f"`lanthorn portal serve --workers {settings.workers}` on 127.0.0.1, "
            f"SQLite (WAL, synchronous=FULL) in a temporary directory under {data_dir.parent}",
        ),
        ("uvicorn HTTP / loop", http_stack()),
        ("clients", f"{settings.clients} threads in this process, one `httpx.Client` each"),
        ("mode", "quick (smoke run: small sizes, few requests)" if settings.quick else "full"),
    ]
    return table(("machine", ""), rows, numeric=False)


# --- processes: RSS and CPU time from /proc --------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/PID/stat (after the command name, which may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (uvicorn's workers are children of `lanthorn`)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(tree)


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes so far."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / _TICKS


def _status_kib(pid: int, name: str) -> int | None:
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith(name + ":"):
                return int(text.split()[1])
    except OSError:
        pass
    return None


def rss_bytes(pid: int) -> int | None:
    kib = _status_kib(pid, "VmRSS")
    return None if kib is None else kib * KIB


def reset_high_water_mark(pid: int) -> bool:
    """Reset a process's RSS high-water mark (Linux: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class MemoryReport:
    """What `TreeSampler` saw of the server's processes during one transfer."""

    processes: int
    samples: int
    baseline_total: int
    peak_total: int
    worst_pid_growth: int  # largest (peak - baseline) of any one server process
    hwm_growth: int | None  # largest (VmHWM after - RSS at reset), if resets worked
    client_growth: int
    server_cpu: float
    client_cpu: float


class TreeSampler:
    """Samples VmRSS of a process tree every `interval` s in a thread, with CPU times.

    Use as a context manager around one transfer. The baseline is the median of a few
    samples taken just before; the high-water marks are reset at the same moment.
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.pids: list[int] = []
        self.baseline: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.peak_total = 0
        self.samples = 0
        self.client_baseline = 0
        self.client_peak = 0
        self.reset_rss: dict[int, int] = {}
        self.hwm_ok = False
        self.report: MemoryReport | None = None
        self._cpu_start = 0.0
        self._client_cpu_start = 0.0

    def _sample(self) -> dict[int, int]:
        found = {pid: rss_bytes(pid) for pid in self.pids}
        return {pid: rss for pid, rss in found.items() if rss is not None}

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            sample = self._sample()
            for pid, rss in sample.items():
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self.peak_total = max(self.peak_total, sum(sample.values()))
            self.client_peak = max(self.client_peak, rss_bytes(me) or 0)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self.pids = process_tree(self.root)
        warmup: list[dict[int, int]] = []
        for _ in range(5):
            warmup.append(self._sample())
            time.sleep(self.interval)
        self.baseline = {
            pid: int(statistics.median(s[pid] for s in warmup if pid in s)) for pid in self.pids
        }
        self.client_baseline = self.client_peak = rss_bytes(os.getpid()) or 0
        self.hwm_ok = all(reset_high_water_mark(pid) for pid in self.pids)
        self.reset_rss = self._sample()
        self._cpu_start = cpu_seconds(self.pids)
        self._client_cpu_start = time.process_time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        final = self._sample()  # one last look, so a very short transfer has a sample
        for pid, rss in final.items():
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
        self.peak_total = max(self.peak_total, sum(final.values()))
        hwm_growth = None
        if self.hwm_ok:
            growths = []
            for pid in self.pids:
                hwm = _status_kib(pid, "VmHWM")
                if hwm is not None and pid in self.reset_rss:
                    growths.append(hwm * KIB - self.reset_rss[pid])
            hwm_growth = max(growths, default=0)
        self.report = MemoryReport(
            processes=len(self.pids),
            samples=self.samples,
            baseline_total=sum(self.baseline.values()),
            peak_total=self.peak_total,
            worst_pid_growth=max(
                (self.peak.get(pid, 0) - base for pid, base in self.baseline.items()), default=0
            ),
            hwm_growth=hwm_growth,
            client_growth=self.client_peak - self.client_baseline,
            server_cpu=cpu_seconds(self.pids) - self._cpu_start,
            client_cpu=time.process_time() - self._client_cpu_start,
        )


class Prober:
    """GETs /api/v1/config on a fresh connection every `interval` s, timing each answer.

    Shows whether a transfer stalls the server for other visitors (e.g. by blocking an
    event loop). Connections land on whichever worker accepts first.
    """

    def __init__(self, url: str, interval: float = 0.1) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.interval = interval

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                ok = self._client.get("/api/v1/config").status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                self.latencies.append(time.perf_counter() - start)
            else:
                self.failures += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def summary(self) -> str:
        if not self.latencies:
            return "—"
        p50 = statistics.median(self.latencies)
        return f"{fmt_ms(p50)} / {fmt_ms(max(self.latencies))}"


# --- the portal under test -------------------------------------------------------------


@dataclass
class Portal:
    """A running `lanthorn portal serve` and what the benchmark needs to talk to it."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    oversight: crypto.PrivateKey
    console: crypto.SigningKey
    config: dict[str, Any]

    @property
    def salt(self) -> bytes:
        return crypto.b64u_decode(self.config["receipt_salt"])

    @property
    def oversight_pk(self) -> crypto.PublicKey:
        return crypto.PublicKey(crypto.b64u_decode(self.config["oversight_public_key"]))

    def server_errors(self) -> list[str]:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.startswith(("ERROR", "CRITICAL"))]

    def signed_headers(self, method: str, target: str, body: bytes = b"") -> dict[str, str]:
        return crypto.sign_request(self.console, method, target, body, timestamp=int(time.time()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lanthorn_command(given: str | None) -> str:
    candidates = [given] if given else [str(Path(sys.executable).parent / "lanthorn")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).absolute())
    found = shutil.which("lanthorn")
    if found is None:
        raise SystemExit("cannot find the `lanthorn` command: pass --lanthorn PATH")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - our own command, absolute path, no shell
        command, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for uvicorn (it stops its workers), then harder if it does not go."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
    process.wait(timeout=10)


@contextlib.contextmanager
def running_portal(settings: Settings, lanthorn: str, port: int | None) -> Iterator[Portal]:
    """Init and serve a portal in a temporary directory; stop it and delete everything."""
    with tempfile.TemporaryDirectory(prefix="lanthorn-bench-portal-") as tmp:
        root = Path(tmp)
        oversight = crypto.PrivateKey.generate()
        console = crypto.SigningKey.generate()
        oversight_file, console_file = root / "oversight.pub", root / "console.pub"
        oversight_file.write_text(crypto.b64u_encode(bytes(oversight.public_key)) + "\n")
        console_file.write_text(crypto.b64u_encode(bytes(console.verify_key)) + "\n")
        data_dir = root / "portal"
        # A clean environment: no LANTHORN_* from the caller (database URL, limits).
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
        progress(f"lanthorn portal init --data {data_dir}")
        init = [lanthorn, "portal", "init", "--data", str(data_dir)]
        _run(
            [*init, "--oversight-key", str(oversight_file), "--console-key", str(console_file)], env
        )
        port = port or free_port()
        log_path = root / "server.log"
        progress(f"lanthorn portal serve --port {port} --workers {settings.workers}")
        with open(log_path, "wb") as log:
            serve = [lanthorn, "portal", "serve", "--data", str(data_dir), "--port", str(port)]
            process = subprocess.Popen(  # noqa: S603 - our own command, absolute path
                [*serve, "--workers", str(settings.workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            config = _wait_until_up(url, process, log_path, settings.workers)
            yield Portal(url, data_dir, process, log_path, oversight, console, config)
        finally:
            progress("stopping the server, deleting the temporary directory")
            _stop(process)


def _wait_until_up(
    url: str, process: subprocess.Popen[bytes], log_path: Path, workers: int
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer GET /api/v1/config within 60 s")
            try:
                response = client.get("/api/v1/config")
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    # Every worker up (uvicorn spawns them as children), so baselines include them all.
    while workers > 1 and len(process_tree(process.pid)) < workers + 1:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    config: dict[str, Any] = response.json()
    kdf = config["kdf"]
    assert (kdf["t"], kdf["m_kib"]) == (crypto.V1_KDF.t, crypto.V1_KDF.m_kib), kdf
    return config


# --- 1. Argon2id bound -----------------------------------------------------------------


@dataclass(frozen=True)
class KdfResult:
    latency: float
    measured: float  # derivations/s with one thread per core

    @property
    def bound(self) -> float:
        return (os.cpu_count() or 1) / self.latency


def measure_kdf(settings: Settings, salt: bytes) -> KdfResult:
    cores = os.cpu_count() or 1
    receipt = crypto.generate_receipt()
    progress(f"Argon2id v1, {settings.kdf_runs} runs in this process")
    crypto.derive_reporter_keys(receipt, salt)  # warm up
    samples = []
    for _ in range(settings.kdf_runs):
        start = time.perf_counter()
        crypto.derive_reporter_keys(receipt, salt, crypto.V1_KDF)
        samples.append(time.perf_counter() - start)
    jobs = cores * settings.parallel_rounds
    progress(f"Argon2id v1, {jobs} derivations on {cores} threads")
    start = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda _: crypto.derive_reporter_keys(receipt, salt), range(jobs)))
    measured = jobs / (time.perf_counter() - start)
    return KdfResult(statistics.median(samples), measured)


def kdf_section(settings: Settings, kdf: KdfResult) -> str:
    cores = os.cpu_count() or 1
    v1 = crypto.V1_KDF
    rows = [
        (
            "`derive_reporter_keys` at `V1_KDF`",
            f"{v1.t}, {v1.m_kib // 1024} MiB",
            fmt_ms(kdf.latency),
            f"{1 / kdf.latency:.2f}",
            f"**{kdf.bound:.2f}**",
            f"{kdf.measured:.2f}",
        )
    ]
    headers = (
        "Argon2id",
        "t, m",
        "median latency",
        "per core /s",
        f"bound: {cores} cores ÷ latency",
        f"{cores} threads, measured /s",
    )
    notes = (
        f"Median of {settings.kdf_runs} runs in the benchmark process, with the server idle. "
        "The bound is what the HTML form path could reach if Argon2id were its only cost and "
        f"scaled perfectly; the last column ran {cores * settings.parallel_rounds} "
        "derivations on one thread per core at once."
    )
    return table(headers, rows) + "\n\n" + notes


# --- 2. round trip --------------------------------------------------------------------


def round_trip_section(settings: Settings, portal: Portal) -> str:
    """Sequential GETs of /api/v1/config on an idle server: kept-alive vs new connections."""
    count = 20 if settings.quick else 100
    progress(f"round trip: {count} sequential GETs, kept-alive and on new connections")
    rows = []
    medians = []
    for label, limits in (
        ("one kept-alive connection", httpx.Limits()),
        ("a new connection per request", httpx.Limits(max_keepalive_connections=0)),
    ):
        with httpx.Client(base_url=portal.url, timeout=30, limits=limits) as client:
            client.get("/api/v1/config")  # connect (kept-alive) and warm up
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                response = client.get("/api/v1/config")
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
        medians.append(statistics.median(samples))
        rows.append((label, fmt_ms(medians[-1]), fmt_ms(percentile(samples, 99))))
    notes = (
        f"{count} sequential GET `/api/v1/config` from one client thread, server idle: "
        "the floor under every latency below."
    )
    if medians[0] - medians[1] > 0.02:
        notes += (
            " **A kept-alive connection is slower than a new one by about "
            f"{fmt_ms(medians[0] - medians[1])}**: the signature of Nagle's algorithm "
            "meeting delayed ACKs, i.e. TCP_NODELAY is not set on the server's accepted "
            "sockets (uvicorn with `--workers` > 1 binds the listening socket with `proto` "
            "0, and asyncio then skips TCP_NODELAY: uvicorn issue #3149)."
        )
    return table(("GET /api/v1/config over", "p50", "p99"), rows) + "\n\n" + notes


# --- load phases -----------------------------------------------------------------------


@dataclass
class LoadResult:
    """One concurrent load phase: successes, timings, failures by kind."""

    wall: float = 0.0
    ok: int = 0
    latencies: list[float] = field(default_factory=list)  # the timed request, per success
    side_latencies: list[float] = field(default_factory=list)  # e.g. the form GET
    failures: Counter[str] = field(default_factory=Counter)
    failure_samples: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, kind: str, detail: str) -> None:
        with self.lock:
            self.failures[kind] += 1
            if len(self.failure_samples) < 3:
                self.failure_samples.append(f"{kind}: {detail[:300]}")

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0


def run_load(
    portal: Portal,
    clients: int,
    jobs: Sequence[Any],
    warmup: Callable[[httpx.Client, LoadResult], None],
    one: Callable[[httpx.Client, Any, LoadResult], None],
) -> LoadResult:
    """`clients` threads, each with its own `httpx.Client`, share `jobs` between them.

    Each thread first runs `warmup` (not timed, but its failures count); the clock starts
    when all are ready.
    """
    result = LoadResult()
    tickets: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for job in jobs:
        tickets.put(job)
    ready = threading.Barrier(clients + 1)

    def worker() -> None:
        with httpx.Client(base_url=portal.url, timeout=120) as client:
            try:
                warmup(client, result)
            except httpx.HTTPError as exc:
                result.fail(f"warm-up {type(exc).__name__}", str(exc))
            finally:
                ready.wait()
            while True:
                try:
                    job = tickets.get_nowait()
                except queue.Empty:
                    return
                try:
                    one(client, job, result)
                except httpx.HTTPError as exc:
                    result.fail(type(exc).__name__, str(exc))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    pids = process_tree(portal.process.pid)
    ready.wait()
    cpu_before, client_before = cpu_seconds(pids), time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - start
    result.server_cpu = cpu_seconds(pids) - cpu_before
    result.client_cpu = time.process_time() - client_before
    return result


def load_rows(result: LoadResult, what: str) -> list[tuple[str, str]]:
    total = result.ok + sum(result.failures.values())
    per = max(result.ok, 1)
    rows = [
        ("submitted / accepted", f"{total} / {result.ok}"),
        ("wall time", fmt_seconds(result.wall)),
        (f"**{what} per second**", f"**{fmt_rate(result.rate)}**"),
        ("POST latency p50", fmt_ms(percentile(result.latencies, 50))),
        ("POST latency p99", fmt_ms(percentile(result.latencies, 99))),
        ("POST latency max", fmt_ms(max(result.latencies, default=float("nan")))),
        ("server CPU per report (all processes)", fmt_ms(result.server_cpu / per)),
        ("client CPU per report (this process)", fmt_ms(result.client_cpu / per)),
    ]
    failures = ", ".join(f"{k} × {n}" for k, n in sorted(result.failures.items()))
    rows.append(("failures", failures or "none"))
    return rows


def failure_notes(result: LoadResult) -> str:
    if not result.failure_samples:
        return ""
    return "\n\nFirst failures:\n\n" + "\n".join(f"- `{s}`" for s in result.failure_samples)


# --- 3. HTML reports -------------------------------------------------------------------


def browser_form(csrf: str) -> tuple[bytes, str]:
    """The report form as a browser sends it with no file chosen (an empty file part)."""
    boundary = "----LanthornBench" + os.urandom(8).hex()
    parts = []
    for name, value in [("csrf", csrf), *FORM_FIELDS.items()]:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        'name="attachments"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n".encode()
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def form_token(client: httpx.Client) -> str:
    """GET the staff form; return its CSRF token (the client keeps the cookie)."""
    response = client.get("/report/staff")
    if response.status_code != 200:
        raise RuntimeError(f"GET /report/staff: {response.status_code}")
    found = CSRF_INPUT.search(response.text)
    if found is None:
        raise RuntimeError("GET /report/staff: no csrf input in the page")
    return html.unescape(found.group(1))


def receipt_in(page: str) -> str | None:
    found = RECEIPT_LABEL.search(page)
    if found is None:
        return None
    try:
        return crypto.validate_receipt(found.group(1))
    except crypto.InvalidReceipt:
        return None


def html_submission(client: httpx.Client, _job: object, result: LoadResult) -> None:
    start = time.perf_counter()
    try:
        token = form_token(client)
    except RuntimeError as exc:
        result.fail("form GET", str(exc))
        return
    got_form = time.perf_counter()
    body, content_type = browser_form(token)
    sent = time.perf_counter()
    response = client.post("/report/staff", content=body, headers={"Content-Type": content_type})
    done = time.perf_counter()
    if response.status_code != 201:
        result.fail(f"HTTP {response.status_code}", response.text)
    elif receipt_in(response.text) is None:
        result.fail("no receipt", response.text)
    else:
        with result.lock:
            result.ok += 1
            result.latencies.append(done - sent)
            result.side_latencies.append(got_form - start)


def warm_up_html(client: httpx.Client, result: LoadResult) -> None:
    """One untimed report; only its failures are kept."""
    scratch = LoadResult()
    html_submission(client, None, scratch)
    for kind, count in scratch.failures.items():
        for _ in range(count):
            result.fail(f"warm-up {kind}", "; ".join(scratch.failure_samples))


def html_section(settings: Settings, portal: Portal, kdf: KdfResult) -> tuple[str, bool]:
    progress(
        f"HTML reports: {settings.submissions} by {settings.clients} concurrent clients "
        "(each GETs the form, then POSTs it)"
    )
    result = run_load(
        portal,
        settings.clients,
        range(settings.submissions),
        warm_up_html,
        html_submission,
    )
    rows = load_rows(result, "reports")
    rows[3:3] = [
        ("÷ Argon2id bound", f"{result.rate / kdf.bound:.2f}"),
        ("÷ Argon2id measured on all cores", f"{result.rate / kdf.measured:.2f}"),
    ]
    rows.insert(-1, ("form GET latency p50", fmt_ms(percentile(result.side_latencies, 50))))
    notes = (
        f"{settings.clients} client threads, {settings.workers} server workers. A report = "
        "GET `/report/staff` (CSRF token and cookie) + POST of the multipart form "
        "(category, urgency, prison, a 160-character description, empty optional fields, "
        "an empty file input), answered by a 201 page holding a valid receipt. The rate "
        "counts accepted reports over the wall time of the whole phase, GETs included; "
        "latencies are of the POST alone, which derives the reporter's keys (Argon2id, "
        "t = 3, m = 64 MiB), seals the report and commits it to SQLite. One untimed report "
        "per client warms up connections first."
    )
    return table(("HTML form, POST /report/staff", ""), rows) + "\n\n" + notes + failure_notes(
        result
    ), not result.failures


# --- 4. JSON API reports ---------------------------------------------------------------


def api_bodies(portal: Portal, count: int) -> list[bytes]:
    """Ready-to-send `/api/v1/reports` bodies, each for a new receipt (keys at CHEAP_KDF)."""
    bodies = []
    for _ in range(count):
        keys = crypto.derive_reporter_keys(crypto.generate_receipt(), portal.salt, CHEAP_KDF)
        document = {
            "v": 1,
            "type": "report",
            "channel": "staff",
            "lang": "en",
            "category": FORM_FIELDS["category"],
            "facility": FORM_FIELDS["facility"],
            "location": "",
            "occurred": "",
            "description": FORM_FIELDS["description"],
            "subjects": "",
            "witnesses": "",
            "urgent": False,
            "identity": None,
            "attachments": [],
            "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
            "sent_on": datetime.datetime.now(datetime.UTC).date().isoformat(),
        }
        sealed = crypto.seal_report(document, portal.oversight_pk)
        body = {
            "sealed": crypto.b64u_encode(sealed),
            "lookup_id": crypto.b64u_encode(keys.lookup_id),
            "box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
            "sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
            "blob_ids": [],
        }
        bodies.append(json.dumps(body).encode())
    return bodies


def api_submission(client: httpx.Client, body: bytes, result: LoadResult) -> None:
    start = time.perf_counter()
    response = client.post(
        "/api/v1/reports", content=body, headers={"Content-Type": "application/json"}
    )
    elapsed = time.perf_counter() - start
    if response.status_code != 201 or "case" not in response.json():
        result.fail(f"HTTP {response.status_code}", response.text)
        return
    with result.lock:
        result.ok += 1
        result.latencies.append(elapsed)


def api_section(settings: Settings, portal: Portal, kdf: KdfResult) -> tuple[str, bool]:
    count = settings.api_submissions
    progress(f"JSON API: preparing {count + settings.clients} sealed reports (cheap KDF)")
    bodies = api_bodies(portal, count + settings.clients)
    warm = iter(bodies[count:])
    warm_lock = threading.Lock()

    def warmup(client: httpx.Client, result: LoadResult) -> None:
        with warm_lock:
            body = next(warm)
        scratch = LoadResult()
        api_submission(client, body, scratch)
        for kind, count in scratch.failures.items():
            for _ in range(count):
                result.fail(f"warm-up {kind}", "; ".join(scratch.failure_samples))

    progress(f"JSON API: {count} reports by {settings.clients} concurrent clients")
    result = run_load(portal, settings.clients, bodies[:count], warmup, api_submission)
    rows = load_rows(result, "reports")
    rows.insert(3, ("÷ Argon2id bound (for scale)", f"{result.rate / kdf.bound:.1f}"))
    notes = (
        f"{settings.clients} client threads, {settings.workers} server workers. Each POST "
        "`/api/v1/reports` carries a sealed report (1 KiB bucket) for a new receipt, with "
        f"keys derived client-side at t = {CHEAP_KDF.t}, m = {CHEAP_KDF.m_kib} KiB (each "
        "report needs its own `lookup_id`); all bodies are built before the clock starts, "
        "so the phase times only HTTP and the server, which runs no KDF here: JSON and "
        "field checks, one SQLite transaction (fsync), the response. Client and server "
        "share the machine's cores; the CPU rows show who spent what."
    )
    return table(("JSON API, POST /api/v1/reports", ""), rows) + "\n\n" + notes + failure_notes(
        result
    ), not result.failures


# --- 5. raw secretstream ---------------------------------------------------------------


@dataclass(frozen=True)
class RawRates:
    push: float  # bytes/s
    push_sha256: float


def measure_raw(settings: Settings) -> RawRates:
    n = settings.raw_bytes // CHUNK
    block = random.Random(SEED).randbytes(CHUNK)
    key = crypto.new_blob_key()
    tag_message = raw.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    tag_final = raw.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    push = raw.crypto_secretstream_xchacha20poly1305_push
    final_block = bytes(raw.sodium_pad(b"", CHUNK))

    def run(hash_too: bool) -> float:
        state = raw.crypto_secretstream_xchacha20poly1305_state()
        raw.crypto_secretstream_xchacha20poly1305_init_push(state, key)
        digest = hashlib.sha256()
        start = time.perf_counter()
        for _ in range(n):
            push(state, block, None, tag_message)
            if hash_too:
                digest.update(block)
        push(state, final_block, None, tag_final)
        return n * CHUNK / (time.perf_counter() - start)

    progress(f"raw secretstream push, {fmt_size(n * CHUNK)} × {settings.raw_repeats}, twice")
    run(False)  # warm up
    plain = statistics.median(run(False) for _ in range(settings.raw_repeats))
    hashed = statistics.median(run(True) for _ in range(settings.raw_repeats))
    return RawRates(plain, hashed)


# --- 6. uploads, download and memory ---------------------------------------------------


class PatternFile(io.RawIOBase):
    """A read-only, seekable file of `size` bytes repeating a 1 MiB random pattern.

    Made on the fly: reading it costs one read's worth of memory, however large it is.
    Seekable, so httpx can announce a Content-Length as a browser would.
    """

    POOL = 1 * MIB

    def __init__(self, size: int, seed: int = SEED) -> None:
        super().__init__()
        self.size = size
        self.pos = 0
        self.pool = random.Random(seed).randbytes(self.POOL)

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

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self.size - self.pos))
        filled = 0
        while filled < want:
            offset = (self.pos + filled) % self.POOL
            take = min(want - filled, self.POOL - offset)
            view[filled : filled + take] = self.pool[offset : offset + take]
            filled += take
        self.pos += filled
        return filled

    def sha256(self) -> str:
        """SHA-256 of the whole content, computed by reading it again from the start."""
        digest = hashlib.sha256()
        self.seek(0)
        while block := self.read(MIB):
            digest.update(block)
        return digest.hexdigest()


def stored_form(size: int, key: bytes, summary: list[crypto.BlobSummary]) -> Iterator[bytes]:
    """The v1 stored form of a `PatternFile(size)`, encrypted as it is sent."""
    writer = crypto.BlobWriter(key)
    yield writer.header
    source = PatternFile(size)
    while block := source.read(CHUNK):
        if out := writer.write(block):
            yield out
    yield writer.finish()
    summary.append(writer.summary)


@dataclass
class Transfer:
    label: str
    seconds: float
    plaintext: int
    memory: MemoryReport
    probe: str
    verified: bool
    detail: str
    derives_keys: bool = False  # the request also runs Argon2id (the HTML report)


def ack_everything(portal: Portal, client: httpx.Client) -> None:
    """Acknowledge every outbox item, so the next outbox page holds only new reports."""
    body = json.dumps({"cursor": CONSOLE_LIMIT}).encode()
    target = "/api/v1/console/ack"
    response = client.post(
        target,
        content=body,
        headers={"Content-Type": "application/json", **portal.signed_headers("POST", target, body)},
    )
    assert response.status_code == 200, response.text


def html_upload(portal: Portal, size: int, client: httpx.Client) -> tuple[Transfer, Any]:
    ack_everything(portal, client)
    token = form_token(client)
    source = PatternFile(size)
    files = [("attachments", ("evidence.bin", source, "application/octet-stream"))]
    progress(f"upload: HTML report with a {fmt_size(size)} attachment")
    with TreeSampler(portal.process.pid) as sampler, Prober(portal.url) as prober:
        start = time.perf_counter()
        response = client.post(
            "/report/staff", data={"csrf": token, **FORM_FIELDS}, files=files, timeout=None
        )
        seconds = time.perf_counter() - start
    assert sampler.report is not None
    ok = response.status_code == 201 and receipt_in(response.text) is not None
    detail = f"HTTP {response.status_code}" + ("" if ok else f": {response.text[:300]}")
    descriptor: Any = None
    if ok:
        progress("checking the attachment: outbox, open the report, compare SHA-256")
        target = "/api/v1/console/outbox?limit=10"
        page = client.get(target, headers=portal.signed_headers("GET", target)).json()
        items = page["items"]
        report = crypto.open_document(crypto.b64u_decode(items[0]["sealed"]), portal.oversight)
        descriptor = report["attachments"][0]
        expected = source.sha256()
        ok = (
            len(items) == 1
            and descriptor["size"] == size
            and descriptor["sha256"] == expected
            and items[0]["blob_ids"] == [descriptor["blob_id"]]
        )
        detail += "; sealed descriptor: size and SHA-256 " + ("match" if ok else "**DIFFER**")
    transfer = Transfer(
        "HTML form: POST `/report/staff` with one file",
        seconds,
        size,
        sampler.report,
        prober.summary(),
        ok,
        detail,
        derives_keys=True,
    )
    return transfer, descriptor


def console_download(portal: Portal, descriptor: Any, client: httpx.Client) -> Transfer:
    target = f"/api/v1/console/blobs/{descriptor['blob_id']}"
    reader = crypto.BlobReader(crypto.b64u_decode(descriptor["key"]))
    progress(f"download: console GET of the {fmt_size(descriptor['size'])} attachment")
    status = 0
    with TreeSampler(portal.process.pid) as sampler, Prober(portal.url) as prober:
        start = time.perf_counter()
        with client.stream("GET", target, headers=portal.signed_headers("GET", target)) as r:
            status = r.status_code
            for piece in r.iter_bytes(CHUNK):
                reader.feed(piece)
        seconds = time.perf_counter() - start
    assert sampler.report is not None
    try:
        summary = reader.finish()
        ok = status == 200 and (summary.size, summary.sha256) == (
            descriptor["size"],
            descriptor["sha256"],
        )
    except crypto.CryptoError:
        ok = False
    detail = f"HTTP {status}; decrypted while streaming: " + (
        "SHA-256 matches" if ok else "**DOES NOT MATCH**"
    )
    return Transfer(
        "console: GET `/api/v1/console/blobs/{id}`, decrypted as it arrives",
        seconds,
        int(descriptor["size"]),
        sampler.report,
        prober.summary(),
        ok,
        detail,
    )


def api_blob_upload(portal: Portal, size: int, client: httpx.Client) -> Transfer:
    key = crypto.new_blob_key()
    summary: list[crypto.BlobSummary] = []
    stored = crypto.stored_size(size)
    progress(f"upload: API blob, {fmt_size(size)} encrypted client-side as it is sent")
    with TreeSampler(portal.process.pid) as sampler, Prober(portal.url) as prober:
        start = time.perf_counter()
        response = client.post(
            "/api/v1/blobs",
            content=stored_form(size, key, summary),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(stored)},
            timeout=None,
        )
        seconds = time.perf_counter() - start
    assert sampler.report is not None
    ok = response.status_code == 201
    detail = f"HTTP {response.status_code}" + ("" if ok else f": {response.text[:300]}")
    if ok:
        progress("checking the blob: decrypt the stored file on the portal's disk")
        path = portal.data_dir / "blobs" / response.json()["blob_id"]
        with open(path, "rb") as src:
            got = crypto.decrypt_file(src, cast(BinaryIO, _NullSink()), key)
        ok = path.stat().st_size == stored and got == summary[0]
        detail += "; stored file decrypts to the same SHA-256: " + ("yes" if ok else "**NO**")
    return Transfer(
        "JSON API: POST `/api/v1/blobs`, stored form, encrypted client-side",
        seconds,
        size,
        sampler.report,
        prober.summary(),
        ok,
        detail,
    )


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


def html_control(portal: Portal, client: httpx.Client) -> MemoryReport:
    """Server memory for one HTML report without a file: Argon2id's share, for comparison."""
    progress("control: server memory for one HTML report without a file")
    token = form_token(client)
    body, content_type = browser_form(token)
    with TreeSampler(portal.process.pid) as sampler:
        response = client.post(
            "/report/staff", content=body, headers={"Content-Type": content_type}
        )
    assert response.status_code == 201, response.text
    assert sampler.report is not None
    return sampler.report


def worst_growth(m: MemoryReport) -> int:
    """The largest growth of one server process, sampled or from its high-water mark."""
    return max(m.worst_pid_growth, m.hwm_growth or 0)


def transfer_section(settings: Settings, portal: Portal, raw_rates: RawRates) -> tuple[str, bool]:
    size = settings.upload_bytes
    transfers = []
    with httpx.Client(base_url=portal.url, timeout=600) as client:
        control = html_control(portal, client)
        upload, descriptor = html_upload(portal, size, client)
        transfers.append(upload)
        if descriptor is not None:
            transfers.append(console_download(portal, descriptor, client))
        transfers.append(api_blob_upload(portal, size, client))

    raw_label = "raw `crypto_secretstream_xchacha20poly1305_push`, this process"
    raw_size = fmt_size(settings.raw_bytes)
    hashed_ratio = f"{raw_rates.push_sha256 / raw_rates.push:.2f}"
    speed_rows = [
        (raw_label, raw_size, "—", f"{raw_rates.push / MB:,.0f}", *["—"] * 5),
        ("raw push + `hashlib.sha256`, this process", raw_size, "—")
        + (f"{raw_rates.push_sha256 / MB:,.0f}", hashed_ratio, *["—"] * 4),
    ]
    memory_rows = [
        (
            "control: HTML form without a file (one Argon2id derivation)",
            fmt_mib(control.baseline_total),
            fmt_mib(control.peak_total),
            fmt_mib(control.peak_total - control.baseline_total),
            fmt_mib(control.worst_pid_growth),
            "—" if control.hwm_growth is None else fmt_mib(control.hwm_growth),
            "—",
            fmt_mib(control.client_growth),
            "—",
        )
    ]
    ok = True
    for t in transfers:
        rate = t.plaintext / t.seconds
        m = t.memory
        speed_rows.append(
            (
                t.label,
                fmt_size(t.plaintext),
                f"{t.seconds:.2f} s",
                f"**{rate / MB:,.0f}**",
                f"{rate / raw_rates.push:.2f}",
                f"{rate / raw_rates.push_sha256:.2f}",
                f"{m.server_cpu:.1f} s",
                f"{m.client_cpu:.1f} s",
                t.probe,
            )
        )
        # The HTML report also derives keys (64 MiB of Argon2id, whatever the file size):
        # what the file itself costs is the growth beyond the control's.
        from_file = worst_growth(m) - (worst_growth(control) if t.derives_keys else 0)
        under = from_file < MEMORY_LIMIT
        ok = ok and under and t.verified
        memory_rows.append(
            (
                t.label,
                fmt_mib(m.baseline_total),
                fmt_mib(m.peak_total),
                fmt_mib(m.peak_total - m.baseline_total),
                fmt_mib(m.worst_pid_growth),
                "—" if m.hwm_growth is None else fmt_mib(m.hwm_growth),
                f"**{fmt_mib(from_file)}**",
                fmt_mib(m.client_growth),
                "yes" if under else "**NO**",
            )
        )
    speed_headers = ("transfer", "plaintext", "time", "MB/s", "÷ raw push")
    speed_headers += ("÷ raw push + SHA-256", "server CPU", "client CPU", "probe p50 / max")
    speed = table(speed_headers, speed_rows)
    processes = transfers[0].memory.processes
    samples = ", ".join(str(t.memory.samples) for t in transfers)
    memory_headers = ("server RSS", "baseline", "peak", "growth", "worst process growth")
    memory_headers += ("worst process VmHWM growth", "due to the file", "client growth")
    memory_headers += (f"< {fmt_size(MEMORY_LIMIT)}",)
    memory = table(memory_headers, memory_rows)
    checks = "\n".join(f"- {t.label}: {t.detail}." for t in transfers)
    notes = (
        "MB/s counts plaintext bytes over the wall time of the request, 1 MB = 10^6 bytes; "
        "the ratios compare with raw secretstream measured in this run (the HTML path "
        "must also hash every byte for the blob descriptor, hence the second baseline). "
        "Times include writing and fsyncing the stored form on the portal's disk, and for "
        "the HTML report one Argon2id derivation. The client generates the data as it goes "
        "(a 1 MiB random pattern, repeated) and shares the cores with the server; for the "
        'API blob it also encrypts. "server CPU" sums user + system time of all server '
        'processes during the transfer. "probe" = GET `/api/v1/config` on a new connection '
        "every 100 ms during the transfer (whichever worker accepts it)."
    )
    memory_notes = (
        f"RSS of the server's {processes} processes (`lanthorn portal serve`, its uvicorn "
        f"workers and helpers), sampled every 50 ms ({samples} samples). Baseline = median "
        'of 5 samples just before the transfer; "growth" = peak total less baseline total; '
        '"worst process growth" = the largest rise of any single process. "VmHWM growth" = '
        "each process's kernel high-water mark, reset (`/proc/PID/clear_refs`) just before "
        "the transfer, less its RSS at the reset: it also catches peaks between samples. "
        '"due to the file" = the larger of the two worst-process figures, less the same '
        "figure for the control (an HTML report without a file, which still derives keys "
        f"with {crypto.V1_KDF.m_kib // 1024} MiB of Argon2id) for the HTML upload. The "
        f"requirement is that it stays under {fmt_size(MEMORY_LIMIT)}, whatever the file size."
    )
    verdict = (
        f"Checks:\n\n{checks}\n\nRequirement (the file makes no server process grow by "
        f"{fmt_size(MEMORY_LIMIT)} or more during a {fmt_size(size)} transfer, and every "
        f"transfer verifies): {'met' if ok else '**NOT MET**'}."
    )
    text = "\n\n".join([speed, notes, memory, memory_notes, verdict])
    return text, ok


# --- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        prog="bench/portal.py",
        description=(
            "Benchmark a real Lanthorn portal on this machine: `lanthorn portal init` and "
            "`lanthorn portal serve` (production Argon2id) in a temporary directory, then "
            "HTML-form reports/s under concurrency against the Argon2id bound, JSON API "
            "reports/s, and large streamed uploads (HTML attachment, API blob) and a "
            "console download, with MB/s against raw secretstream and the server's RSS "
            "sampled throughout. Results are printed as Markdown tables on stdout; "
            "progress goes to stderr. The server is stopped and the directory deleted at "
            "the end, whatever happens."
        ),
        epilog=(
            "Exit status: 0, or 1 if a request failed, a transfer did not verify, or a "
            "server process grew by 32 MiB or more during a transfer. A full run takes a "
            "few minutes and needs about 2.1 GiB of free space in the temporary directory "
            "(two stored 1 GiB uploads)."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20 HTML and 50 API reports, 64 MiB uploads; about 10 s",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"server worker processes (default: os.cpu_count() = {cores})",
    )
    parser.add_argument(
        "--clients",
        type=int,
        metavar="N",
        help=f"concurrent client threads (default: 2 × cores = {2 * cores})",
    )
    parser.add_argument(
        "--submissions",
        type=int,
        metavar="N",
        help="HTML reports to time (default: 200; quick: 20)",
    )
    parser.add_argument(
        "--api-submissions",
        type=int,
        metavar="N",
        help="JSON API reports to time (default: 1000; quick: 50)",
    )
    parser.add_argument(
        "--upload-mib",
        type=int,
        metavar="MIB",
        help="size of each upload in MiB (default: 1024; quick: 64)",
    )
    parser.add_argument("--port", type=int, help="server port (default: a free one)")
    parser.add_argument(
        "--lanthorn",
        metavar="PATH",
        help="the `lanthorn` command (default: the one next to this Python)",
    )
    args = parser.parse_args(argv)
    for name in ("workers", "clients", "submissions", "api_submissions", "upload_mib"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_args(args)
    lanthorn = lanthorn_command(args.lanthorn)
    began = time.perf_counter()
    ok = True
    with running_portal(settings, lanthorn, args.port) as portal:
        print("# Lanthorn portal benchmark\n", flush=True)
        print(machine_header(settings, portal.data_dir.parent) + "\n", flush=True)

        kdf = measure_kdf(settings, portal.salt)
        print(f"## 1. Argon2id bound\n\n{kdf_section(settings, kdf)}\n", flush=True)
        print(f"## 2. Round trip\n\n{round_trip_section(settings, portal)}\n", flush=True)

        text, passed = html_section(settings, portal, kdf)
        ok = ok and passed
        print(f"## 3. HTML reports (server-side Argon2id)\n\n{text}\n", flush=True)

        text, passed = api_section(settings, portal, kdf)
        ok = ok and passed
        print(f"## 4. JSON API reports (no server-side KDF)\n\n{text}\n", flush=True)

        raw_rates = measure_raw(settings)
        text, passed = transfer_section(settings, portal, raw_rates)
        ok = ok and passed
        print(f"## 5. Uploads, download and server memory\n\n{text}\n", flush=True)

        errors = portal.server_errors()
        listed = "\n".join(f"    {line}" for line in errors[:10])
        print(
            f"Server log: {len(errors)} ERROR line(s)" + (f":\n\n{listed}\n" if errors else "."),
            flush=True,
        )
        ok = ok and not errors
    progress(f"done in {time.perf_counter() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
