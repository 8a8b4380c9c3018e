"""Memory and CPU time of processes, from Linux's /proc.

`peak_growth` measures this process around a block (tracemalloc and the RSS high-water
mark); `TreeSampler` watches a server's whole process tree during one transfer.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _report import KIB, fmt_mib

_TICKS = os.sysconf("SC_CLK_TCK")


def _status_bytes(pid: int | str, field: str) -> int | None:
    """A `field: N kB` line of /proc/PID/status, in bytes."""
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith(field + ":"):
                return int(text.split()[1]) * KIB
    except OSError:
        pass
    return None


def rss_bytes(pid: int | str) -> int | None:
    return _status_bytes(pid, "VmRSS")


def open_fds(pid: int | str) -> int | None:
    """How many file descriptors a process has open (sockets and files alike)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def command_line(pid: int | str) -> str:
    """A process's command line, its arguments separated by spaces ("" if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def reset_high_water_mark(pid: int | str) -> bool:
    """Reset a process's RSS high-water mark (VmHWM) by writing 5 to its clear_refs."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


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
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
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
        if (fields := _stat_fields(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / _TICKS


def cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


@dataclass
class Growth:
    """How far this process's memory rose above its state at the start of a block."""

    traced: int = 0  # Python allocations at their peak (tracemalloc)
    rss: int = 0  # VmHWM at the end less RSS at the start
    rss_reset: bool = False  # whether VmHWM could be reset at the start


@contextmanager
def peak_growth() -> Iterator[Growth]:
    """Measure the peak memory growth of this process in the block; tracemalloc must be on."""
    gc.collect()
    growth = Growth(rss_reset=reset_high_water_mark("self"))
    rss_before = _status_bytes("self", "VmHWM") or 0
    traced_before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    yield growth
    _, traced_peak = tracemalloc.get_traced_memory()
    growth.traced = traced_peak - traced_before
    growth.rss = (_status_bytes("self", "VmHWM") or 0) - rss_before


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
    # The worst one-process growth while the request body was still arriving; the caller
    # narrows it when it knows when that was.
    streaming_growth: int
    #: Each process's absolute peak RSS (the larger of the samples and its VmHWM), by
    #: role: what a memory limit on the machine is about, where growth is about the file.
    peaks: dict[str, int] = field(default_factory=dict)

    def peaks_text(self) -> str:
        """`server 70.1 MiB, worker 1 105.3 MiB, …; all 281.0 MiB`."""
        each = ", ".join(f"{role} {fmt_mib(rss)}" for role, rss in self.peaks.items())
        return f"{each}; all {fmt_mib(self.peak_total)}" if each else "—"


def roles(root: int, pids: Iterable[int]) -> dict[int, str]:
    """Names for a server's processes: `server` (the one started), `worker N` (uvicorn's
    workers, children started through multiprocessing), `helper N` (anything else)."""
    named, workers, helpers = {}, 0, 0
    for pid in sorted(pids):
        if pid == root:
            named[pid] = "server"
        elif "spawn_main" in command_line(pid) and "resource_tracker" not in command_line(pid):
            workers += 1
            named[pid] = f"worker {workers}"
        else:
            helpers += 1
            named[pid] = f"helper {helpers}"
    return named


class TreeSampler:
    """Samples the RSS of a process tree every 50 ms in a thread, and its CPU time.

    Use around one transfer. The baseline is the median of 5 samples taken just before;
    the high-water marks are reset at the same moment. `report` is set on exit.
    """

    INTERVAL = 0.05

    def __init__(self, root: int) -> None:
        self.root = root
        self.pids: list[int] = []
        self.baseline: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.peak_total = 0
        self.samples = 0
        self.timeline: list[tuple[float, dict[int, int]]] = []
        self.report: MemoryReport | None = None
        self._client_baseline = self._client_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[int, int]:
        found = {pid: rss_bytes(pid) for pid in self.pids}
        return {pid: rss for pid, rss in found.items() if rss is not None}

    def _record(self, sample: dict[int, int]) -> None:
        for pid, rss in sample.items():
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
        self.peak_total = max(self.peak_total, sum(sample.values()))

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self._sample()
            self.timeline.append((time.perf_counter(), sample))
            self._record(sample)
            self._client_peak = max(self._client_peak, rss_bytes("self") or 0)
            self.samples += 1
            self._stop.wait(self.INTERVAL)

    def worst_growth_until(self, moment: float) -> int:
        """The largest growth of one process over its baseline in samples up to `moment`."""
        return max(
            (
                rss - self.baseline.get(pid, rss)
                for at, sample in self.timeline
                if at <= moment
                for pid, rss in sample.items()
            ),
            default=0,
        )

    def __enter__(self) -> TreeSampler:
        self.pids = process_tree(self.root)
        warmup = []
        for _ in range(5):
            warmup.append(self._sample())
            time.sleep(self.INTERVAL)
        self.baseline = {
            pid: int(statistics.median(s[pid] for s in warmup if pid in s)) for pid in self.pids
        }
        self._client_baseline = self._client_peak = rss_bytes("self") or 0
        self._hwm_ok = all(reset_high_water_mark(pid) for pid in self.pids)
        self._reset_rss = self._sample()
        self._cpu_start = cpu_seconds(self.pids)
        self._client_cpu_start = time.process_time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._record(self._sample())  # one last look, so a very short transfer has a sample
        hwm_growth = None
        if self._hwm_ok:
            growths = []
            for pid in self.pids:
                hwm = _status_bytes(pid, "VmHWM")
                if hwm is not None and pid in self._reset_rss:
                    growths.append(hwm - self._reset_rss[pid])
            hwm_growth = max(growths, default=0)
        worst = max((self.peak.get(pid, 0) - b for pid, b in self.baseline.items()), default=0)
        peaks = {
            role: max(self.peak.get(pid, 0), _status_bytes(pid, "VmHWM") or 0)
            for pid, role in roles(self.root, self.pids).items()
        }
        self.report = MemoryReport(
            processes=len(self.pids),
            samples=self.samples,
            baseline_total=sum(self.baseline.values()),
            peak_total=self.peak_total,
            worst_pid_growth=worst,
            hwm_growth=hwm_growth,
            client_growth=self._client_peak - self._client_baseline,
            server_cpu=cpu_seconds(self.pids) - self._cpu_start,
            client_cpu=time.process_time() - self._client_cpu_start,
            streaming_growth=worst,
            peaks=peaks,
        )
