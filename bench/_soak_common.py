"""What every phase of the soak (bench/soak.py) shares: the verdicts it collects, a pool
of reporter threads, and a real console driven through `lanthorn triage`."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _report import progress, table

import crypto
from tests.reliability.reporters import Sent
from tests.reliability.served import LANTHORN, ServedPortal, clean_environment
from triage.console import Console
from triage.keys import unseal
from triage.settings import TriageSettings

#: Every soak client sends these, so the leak scan can look for them too.
AGENT = "CanaryAgent/soak (reliability run)"
FORWARDED = "203.0.113.99"
HEADERS = {"User-Agent": AGENT, "X-Forwarded-For": FORWARDED, "X-Real-IP": FORWARDED}
PASSPHRASES = ("first soak officer passphrase", "second soak officer passphrase")

#: Every portal and console the run made, so that all are stopped and all are scanned,
#: even after a phase broke off.
PORTALS: list[ServedPortal] = []
CONSOLES: list[SoakConsole] = []


def new_portal(data_dir: Path, env: dict[str, str]) -> ServedPortal:
    """`lanthorn portal serve --workers 2` on a fresh data directory (not started yet)."""
    portal = ServedPortal(data_dir, env, workers=2)
    PORTALS.append(portal)
    return portal


@dataclass
class Verdicts:
    """Each thing the soak checked, with what it found; the run fails if one fails."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, what: str, ok: bool, found: object) -> bool:
        self.rows.append((what, str(found), "pass" if ok else "**FAIL**"))
        if not ok:
            progress(f"FAIL: {what}: {found}")
        return ok

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def passed(self) -> bool:
        return all(row[2] == "pass" for row in self.rows)

    def markdown(self) -> str:
        text = table(("checked", "found", ""), self.rows, numeric=False)
        return text + "".join(f"\n\n{note}" for note in self.notes)


Job = Callable[[httpx.Client], Any]


@dataclass
class PoolResult:
    results: list[Any] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    wall: float = 0.0


def run_pool(url: str, jobs: Sequence[Job], clients: int, label: str) -> PoolResult:
    """`clients` threads, each with its own HTTP client, run `jobs` until none are left."""
    tickets: queue.SimpleQueue[tuple[int, Job]] = queue.SimpleQueue()
    for ticket in enumerate(jobs):
        tickets.put(ticket)
    out = PoolResult(results=[None] * len(jobs))
    lock = threading.Lock()
    done = [0]

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as client:
            while True:
                try:
                    index, job = tickets.get_nowait()
                except queue.Empty:
                    return
                try:
                    out.results[index] = job(client)
                except httpx.TransportError as exc:
                    with lock:
                        out.transport_errors.append(f"{type(exc).__name__}: {exc}")
                with lock:
                    done[0] += 1
                    if done[0] % 500 == 0:
                        progress(f"{label}: {done[0]} / {len(jobs)}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.wall = time.perf_counter() - started
    return out


def status_counts(sent: Sequence[Sent]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for one in sent:
        for status in one.statuses:
            counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items()))


def fmt_counts(counts: dict[int, int]) -> str:
    return ", ".join(f"{status} × {n:,}" for status, n in counts.items()) or "none"


class SoakConsole:
    """A console made by `lanthorn triage init` (cheap vault KDF), synced by the CLI."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = clean_environment(
            LANTHORN_UNSEAL_PASSPHRASES=",".join(PASSPHRASES), LANTHORN_VAULT_KDF="1,8"
        )
        self.outputs: list[str] = []  # what the CLI printed, for the leak scan
        CONSOLES.append(self)
        command = [str(LANTHORN), "triage", "init", "--data", str(data_dir)]
        self._run([*command, "--officers", "2", "--threshold", "2"])

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - our own command
            command, env=self.env, capture_output=True, text=True, check=False
        )
        self.outputs.append(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[1:3])} failed:\n{result.stdout}{result.stderr}")
        return result

    def public_keys(self) -> tuple[dict[str, Any], crypto.VerifyKey]:
        """What public/oversight.json holds, and the console's verify key."""
        public = self.data_dir / "public"
        oversight = json.loads((public / "oversight.json").read_text())
        console = crypto.b64u_decode((public / "console.pub").read_text().strip())
        return oversight, crypto.VerifyKey(console)

    def _sync_command(self, url: str) -> list[str]:
        return [str(LANTHORN), "triage", "sync", "--data", str(self.data_dir), "--portal", url]

    def sync(self, url: str) -> float:
        """`lanthorn triage sync` to the end; its wall time."""
        started = time.perf_counter()
        self._run(self._sync_command(url))
        return time.perf_counter() - started

    def sync_killed(self, url: str, files_at_least: int, timeout: float = 600) -> tuple[int, bool]:
        """Start a sync and SIGKILL it once it kept `files_at_least` files and is writing
        another. Returns (files kept when killed, whether a partial file was left)."""
        blobs = self.data_dir / "blobs"
        process = subprocess.Popen(  # noqa: S603 - our own command
            self._sync_command(url),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        kept = 0
        try:
            while process.poll() is None and time.monotonic() < deadline:
                names = [p.name for p in blobs.iterdir()] if blobs.is_dir() else []
                kept = sum(not n.startswith(".") for n in names)
                if kept >= files_at_least and any(n.startswith(".tmp-") for n in names):
                    break
                time.sleep(0.001)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        if process.returncode != -signal.SIGKILL:
            raise RuntimeError("the sync ended before it could be killed")
        return kept, any(blobs.glob(".tmp-*"))

    @contextlib.contextmanager
    def opened(self) -> Iterator[Console]:
        """The console unsealed in this process, to read what the CLI stored."""
        settings = TriageSettings.from_env(str(self.data_dir), self.env)
        console = Console(settings, unseal(settings, PASSPHRASES), who="cli:soak")
        try:
            yield console
        finally:
            console.close()


#: A reporter's submission: its canary, and what sends it.
Submission = tuple[str, Callable[[httpx.Client], Sent]]


@dataclass
class Call:
    """One submission a continuous reporter made: when, how long, and what came back."""

    canary: str
    began: float  # time.monotonic()
    seconds: float = 0.0
    sent: Sent | None = None  # None when the connection broke
    error: str = ""

    def as_sent(self) -> Sent:
        """What was sent; for a broken connection, a report that got no receipt."""
        return self.sent or Sent(self.canary, "cut off", "staff", crypto.V1_KDF)


class Reporters:
    """`count` reporter threads, each sending one submission after another until halted;
    `job(i, n)` makes reporter i's n-th. The kill phases watch `busy()` and `accepted()`."""

    def __init__(self, url: str, count: int, job: Callable[[int, int], Submission]) -> None:
        self.calls: list[Call] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._busy = [False] * count
        self._threads = [
            threading.Thread(target=self._run, args=(url, i, job), daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str, i: int, job: Callable[[int, int], Submission]) -> None:
        with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as client:
            n = 0
            while not self._halt.is_set():
                canary, send = job(i, n)
                n += 1
                call = Call(canary, time.monotonic())
                self._busy[i] = True
                try:
                    call.sent = send(client)
                except httpx.TransportError as exc:
                    call.error = f"{type(exc).__name__}: {exc}"
                finally:
                    self._busy[i] = False
                call.seconds = time.monotonic() - call.began
                with self._lock:
                    self.calls.append(call)

    def busy(self) -> int:
        return sum(self._busy)

    def accepted(self) -> int:
        with self._lock:
            return sum(1 for c in self.calls if c.sent is not None and c.sent.accepted)

    def sent(self) -> list[Sent]:
        """Everything sent, a broken connection's submission included."""
        with self._lock:
            return [c.as_sent() for c in self.calls]

    def halt(self) -> None:
        """Start no new submission (those under way go on)."""
        self._halt.set()

    def stop(self) -> None:
        self.halt()
        for thread in self._threads:
            thread.join(timeout=180)
