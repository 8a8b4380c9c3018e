"""Timing and statistics: medians of repeated runs, throughput, all cores at once, percentiles."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

CORES = os.cpu_count() or 1


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median seconds of `runs` calls, for slow operations such as Argon2id."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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


def all_cores_rate(fn: Callable[[], object], rounds: int) -> float:
    """Calls per second when one thread per core makes `rounds` calls each, all at once.

    Meant for code that releases the GIL (libsodium does): it shows what the cores sustain
    together, which memory bandwidth and shared caches usually keep below cores × one's rate.
    """
    jobs = CORES * rounds
    start = time.perf_counter()
    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(lambda _: fn(), range(jobs)))
    return jobs / (time.perf_counter() - start)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0–100), interpolating between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
