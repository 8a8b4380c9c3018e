"""What the benchmarks print: progress on stderr; Markdown tables and figures on stdout."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MB = 1_000_000  # throughput is reported in MB/s, 10^6 bytes per second


def progress(message: str) -> None:
    """Say what is being measured, on stderr so that stdout holds only the results."""
    print(f"  … {message}", file=sys.stderr, flush=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: bool = True) -> str:
    """A Markdown pipe table, padded to read well in a terminal too.

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

    rule = "|".join(
        "-" * (w + 1) + ":" if right(i) else "-" * (w + 2) for i, w in enumerate(widths)
    )
    return "\n".join([line(body[0]), f"|{rule}|", *map(line, body[1:])])


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


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first `name: value` line of a /proc file, if there is one."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_features() -> str:
    """The CPU features libsodium and OpenSSL pick faster code paths for."""
    flags = _proc_field("/proc/cpuinfo", "flags")
    if flags is None:
        return "unknown"
    wanted = ("sse4_1", "avx2", "avx512f", "aes", "sha_ni")
    return " ".join(f for f in wanted if f in flags.split()) or "none of note"


def _memory_total() -> str:
    total = _proc_field("/proc/meminfo", "MemTotal:")
    return "unknown" if total is None else fmt_size(int(total.split()[0]) * KIB)


def priority() -> str:
    """Niceness and autogroup, which decide what a load average means for this run: with
    autogroup on, each session shares the cores equally whatever its niceness."""
    try:
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        autogroup = "?"
    state = {"0": "off", "1": "on"}.get(autogroup, "unknown")
    return f"nice {os.getpriority(os.PRIO_PROCESS, 0)}; the kernel's autogroup scheduling {state}"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages: on a quiet machine, well under 1 at the start."""
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def machine_header(extra: Iterable[tuple[str, str]], cpu_features: bool = False) -> str:
    """The machine and software the figures were measured on, how busy the machine was as
    the run began, then the script's `extra` rows."""
    now = datetime.datetime.now().astimezone()
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    rows = [("date", now.strftime("%Y-%m-%d %H:%M %Z")), ("CPU", cpu)]
    if cpu_features:
        rows.append(("CPU features", _cpu_features()))
    rows += [
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", _memory_total()),
        ("OS", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("load average at the start (1, 5, 15 min)", load_average()),
        ("this benchmark's priority", priority()),
        *extra,
    ]
    return table(("machine", ""), rows, numeric=False)
