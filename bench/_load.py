"""Concurrent clients against the portal, and the table rows that sum up one load phase."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from _memory import cpu_seconds, process_tree
from _report import fmt_ms, fmt_rate, fmt_seconds
from _server import Portal
from _timing import percentile, tail


@dataclass
class LoadResult:
    """One concurrent load phase: successes, timings, failures by kind."""

    wall: float = 0.0
    ok: int = 0
    latencies: list[float] = field(default_factory=list)  # the timed request, per success
    side_latencies: list[float] = field(default_factory=list)  # e.g. the form GET
    finished: list[float] = field(default_factory=list)  # perf_counter() at each success
    failures: Counter[str] = field(default_factory=Counter)
    failure_samples: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    server_cpu_by_process: list[float] = field(default_factory=list)  # busiest first
    client_cpu: float = 0.0
    #: Every success of the phase, the settling time included: what a read-back must find.
    all_ok: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def succeed(self, latency: float, side_latency: float | None = None) -> None:
        with self.lock:
            self.ok += 1
            self.latencies.append(latency)
            self.finished.append(time.perf_counter())
            if side_latency is not None:
                self.side_latencies.append(side_latency)

    def fail(self, kind: str, detail: str) -> None:
        with self.lock:
            self.failures[kind] += 1
            if len(self.failure_samples) < 3:
                self.failure_samples.append(f"{kind}: {detail[:300]}")

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0


Job = Callable[[httpx.Client, Any, LoadResult], None]


def run_load(portal: Portal, jobs: Sequence[Any], warmups: Sequence[Any], one: Job) -> LoadResult:
    """One client thread per warm-up job, each with its own `httpx.Client`, share `jobs`.

    Each thread first runs `one` on its warm-up job, untimed (only its failures count, as
    "warm-up …"); the clock starts when all are ready.
    """
    result = LoadResult()
    tickets: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for job in jobs:
        tickets.put(job)
    ready = threading.Barrier(len(warmups) + 1)

    def warm_up(client: httpx.Client, job: Any) -> None:
        scratch = LoadResult()
        try:
            one(client, job, scratch)
        except httpx.HTTPError as exc:
            result.fail(f"warm-up {type(exc).__name__}", str(exc))
        with result.lock:
            result.all_ok += scratch.ok  # stored too: a read-back finds these
        for kind, count in scratch.failures.items():
            for _ in range(count):
                result.fail(f"warm-up {kind}", "; ".join(scratch.failure_samples))

    def worker(warmup_job: Any) -> None:
        with httpx.Client(base_url=portal.url, timeout=120) as client:
            try:
                warm_up(client, warmup_job)
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

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in warmups]
    for thread in threads:
        thread.start()
    pids = process_tree(portal.process.pid)
    ready.wait()
    cpu_before = {pid: cpu_seconds([pid]) for pid in pids}
    client_before = time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - start
    result.all_ok += result.ok
    used = [cpu_seconds([pid]) - before for pid, before in cpu_before.items()]
    result.server_cpu = sum(used)
    result.server_cpu_by_process = sorted((u for u in used if u >= 0.05), reverse=True)
    result.client_cpu = time.process_time() - client_before
    return result


def run_steady(
    portal: Portal, clients: int, settle: float, seconds: float, one: Job, fresh: bool = False
) -> LoadResult:
    """`clients` threads, each with its own `httpx.Client`, run `one` back to back for
    `settle` + `seconds`; only what finishes in the last `seconds` counts.

    A fixed number of reports per client would also time the start, when the queues
    fill, and the end, when the last few reports leave cores idle: with 4 reports per
    client that edge is a large share of the run. Here the rate is the steady state:
    successes that finished in the window ÷ its length; latencies are theirs too.

    `fresh`: a new connection for every request, as nginx makes them to the portal
    (deploy/portal/lanthorn-portal.conf keeps none open), so that each request goes to
    whichever worker accepts it; otherwise each client keeps its connection alive.
    """
    limits = httpx.Limits(max_keepalive_connections=0 if fresh else None)
    raw = LoadResult()
    ready = threading.Barrier(clients + 1)
    stop = threading.Event()

    def worker() -> None:
        with httpx.Client(base_url=portal.url, timeout=120, limits=limits) as client:
            ready.wait()
            while not stop.is_set():
                try:
                    one(client, None, raw)
                except httpx.HTTPError as exc:
                    raw.fail(type(exc).__name__, str(exc))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    pids = process_tree(portal.process.pid)
    ready.wait()
    time.sleep(settle)
    cpu_before = {pid: cpu_seconds([pid]) for pid in pids}
    client_before = time.process_time()
    window_start = time.perf_counter()
    time.sleep(seconds)
    window_end = time.perf_counter()
    used = [cpu_seconds([pid]) - before for pid, before in cpu_before.items()]
    client_cpu = time.process_time() - client_before
    stop.set()
    for thread in threads:
        thread.join()
    result = LoadResult(wall=window_end - window_start, failures=raw.failures, all_ok=raw.ok)
    result.failure_samples = raw.failure_samples
    for latency, side, done in zip(
        raw.latencies, raw.side_latencies or [None] * raw.ok, raw.finished, strict=True
    ):
        if window_start <= done < window_end:
            result.ok += 1
            result.latencies.append(latency)
            result.finished.append(done)
            if side is not None:
                result.side_latencies.append(side)
    result.server_cpu = sum(used)
    result.server_cpu_by_process = sorted((u for u in used if u >= 0.05), reverse=True)
    result.client_cpu = client_cpu
    return result


def load_rows(result: LoadResult, what: str) -> list[tuple[str, str]]:
    total = result.ok + sum(result.failures.values())
    per = max(result.ok, 1)
    by_process = result.server_cpu_by_process
    split = " / ".join(
        f"{s:.1f} s ({100 * s / (sum(by_process) or 1.0):.0f} %)" for s in by_process
    )
    failures = ", ".join(f"{k} × {n}" for k, n in sorted(result.failures.items()))
    return [
        ("submitted / accepted", f"{total} / {result.ok}"),
        ("wall time", fmt_seconds(result.wall)),
        (f"**{what} per second**", f"**{fmt_rate(result.rate)}**"),
        ("POST latency p50", fmt_ms(percentile(result.latencies, 50))),
        (f"POST latency {tail(result.latencies)[0]}", fmt_ms(tail(result.latencies)[1])),
        ("POST latency max", fmt_ms(max(result.latencies, default=float("nan")))),
        ("server CPU per report (all processes)", fmt_ms(result.server_cpu / per)),
        ("server CPU by process (busiest first)", split or "—"),
        ("client CPU per report (this process)", fmt_ms(result.client_cpu / per)),
        ("failures", failures or "none"),
    ]


def failure_notes(result: LoadResult) -> str:
    if not result.failure_samples:
        return ""
    return "\n\nFirst failures:\n\n" + "\n".join(f"- `{s}`" for s in result.failure_samples)
