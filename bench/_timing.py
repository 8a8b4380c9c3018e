"""Timing and statistics: medians of repeated runs, throughput, all cores at once, percentiles."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from _report import fmt_ms

CORES = os.cpu_count() or 1


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median seconds of `runs` calls, for slow operations such as Argon2id."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _batch_size(fn: Callable[[], object], budget: float, repeats: int) -> int:
    """How many calls of `fn` make one batch: long enough to time, and `repeats` batches
    lasting about `budget` in all."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min(0.01, budget / repeats / 2):
            break
        n *= 2
    return max(1, int(n * (budget / repeats) / elapsed))


def per_call(fn: Callable[[], object], budget: float, repeats: int) -> float:
    """Median seconds per call of `fn` over `repeats` batches lasting about `budget` in all."""
    fn()  # warm up
    n = _batch_size(fn, budget, repeats)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def per_call_in_turn(
    fns: Mapping[str, Callable[[], object]], budget: float, repeats: int
) -> dict[str, float]:
    """`per_call` for several functions, their batches run in turn (a, b, a, b, …) so that
    a baseline and what it is compared with share the same window."""
    sizes = {}
    for name, fn in fns.items():  # warm up, and find each one's batch size
        fn()
        sizes[name] = _batch_size(fn, budget, repeats)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = sizes[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


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
    Give it enough rounds (a few seconds' worth): with one or two each, the threads' uneven
    finish dominates.
    """
    jobs = CORES * rounds
    start = time.perf_counter()
    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(lambda _: fn(), range(jobs)))
    return jobs / (time.perf_counter() - start)


def interleaved(fns: Mapping[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Median bytes per second of each of `fns`, run in turn `repeats` times (a, b, c, a, b,
    c, …), so that a baseline and what is compared with it share the same window: a burst
    of load elsewhere slows them alike instead of flattering one of them."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            done = fn()
            samples[name].append(done / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in samples.items()}


#: Below this many samples a "p99" is the largest sample or next to it, and says so.
P99_SAMPLES = 1000


def tail(values: Sequence[float]) -> tuple[str, float]:
    """("p99", the 99th percentile) from enough samples, else ("max of N", the maximum)."""
    if len(values) >= P99_SAMPLES:
        return "p99", percentile(values, 99)
    return f"max of {len(values)}", max(values, default=float("nan"))


def fmt_tail(values: Sequence[float]) -> str:
    """`12.3 ms` for a p99, `12.3 ms (max of 100)` when there are too few samples for one."""
    name, value = tail(values)
    return fmt_ms(value) if name == "p99" else f"{fmt_ms(value)} ({name})"


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0–100), interpolating between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
