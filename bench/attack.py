#!/usr/bin/env python3
"""Honest reporters while an unauthenticated attacker does its worst, in one run.

Sets up a throwaway portal as an operator would (`lanthorn portal init`, then `lanthorn
portal serve --workers 2`, production Argon2id, SQLite in a temporary directory), sends
it a steady stream of honest reports (no-JavaScript forms and API clients), and, in turn:
(a) floods the follow-up sign-in from 50 connections, (b) holds 50 slow uploads open,
(c) floods unclaimed uploads from 4 clients, each attack followed by a recovery window.
It measures the honest reports against a baseline taken in the same run, reads every
accepted report back from the portal's database, samples the memory and open files of
every server process, and checks the goals of docs/reliability.md ("Under attack").

Run from the repository root:

    .venv/bin/python bench/attack.py            # full run, about 5 minutes
    .venv/bin/python bench/attack.py --quick    # smoke run, about a minute

Both take longer when the portal is slow to recover from an attack: the next attack waits
for it, up to a limit (--settle-max).

Exit status 1 if a goal is missed; one line per goal says which.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# `python bench/attack.py` puts bench/ first on sys.path, where bench/crypto.py and
# bench/portal.py would shadow the `crypto` and `portal` packages: the root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _attackers import (
    ABANDON_AFTER,
    ATTACKS,
    BLOB_CHUNKS,
    SLOW_DECLARED,
    SLOW_FIRST,
    TRICKLE,
    Tally,
    attacker_main,
)
from _honest import ATTACH_EVERY, PHOTO_SIZES, TIMEOUT, Report, Traffic, prepare_api
from _memory import command_line, cpu_times, open_fds, process_tree, rss_bytes
from _postgres import fresh_database
from _report import MIB, fmt_ms, fmt_seconds, fmt_size, machine_header, progress, table, version
from _server import Portal, lanthorn_command, running_portal
from _timing import CORES, percentile
from sqlalchemy import create_engine, text

import crypto
from tests.reliability.reporters import CLIENT_KDF, PortalKeys

#: The goals of issue 14 (docs/reliability.md, "Under attack").
P99_FACTOR = 3.0  # honest p99 under attack, at most this times the baseline's
RECOVERY_GOAL = 5.0  # seconds after an attack stops, honest latency back within baseline
#: "Back within baseline": every honest report that began in this many seconds in a row
#: was accepted within its kind's baseline p99.
STEADY = 2.0


@dataclass(frozen=True)
class Phase:
    key: str  # a, b, c
    attack: str  # the attacker's kind (_attackers.ATTACKS)
    title: str


PHASES = {
    "a": Phase("a", "follow-up", "follow-up flood"),
    "b": Phase("b", "slow-upload", "slow uploads"),
    "c": Phase("c", "blob-flood", "blob flood"),
}


@dataclass(frozen=True)
class Settings:
    """How long and how hard: the full run, or `--quick` for a smoke run."""

    quick: bool
    workers: int
    connections: int  # (a) and (b)
    blob_clients: int  # (c)
    warm_up: float
    baseline: float
    attack: float
    recovery: float
    settle_max: float
    form_rate: float
    api_rate: float
    phases: tuple[Phase, ...]
    rss_cap: int  # bytes, per server process
    fd_cap: int  # per server process

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        quick = bool(args.quick)

        def pick(value: float | None, full: float, smoke: float) -> float:
            return value if value is not None else (smoke if quick else full)

        return cls(
            quick=quick,
            workers=args.workers,
            connections=int(pick(args.connections, 50, 10)),
            blob_clients=int(pick(args.blob_clients, 4, 2)),
            warm_up=2.0 if quick else 5.0,
            baseline=pick(args.baseline, 40, 5),
            attack=pick(args.attack, 40, 4),
            recovery=pick(args.recovery, 15, RECOVERY_GOAL + STEADY),
            settle_max=pick(args.settle_max, 60, 10),
            form_rate=pick(args.form_rate, 2, 1),
            api_rate=pick(args.api_rate, 4, 2),
            phases=tuple(PHASES[key] for key in args.phases.split(",")),
            rss_cap=args.rss_cap_mib * MIB,
            fd_cap=args.fd_cap,
        )

    @property
    def seconds(self) -> float:
        """Roughly how long the honest traffic runs (each attacker takes ~1 s to start)."""
        return self.warm_up + self.baseline + len(self.phases) * (self.attack + self.recovery + 1)

    def connections_of(self, phase: Phase) -> int:
        return self.blob_clients if phase.attack == "blob-flood" else self.connections


# --- the server's processes ------------------------------------------------------------


@dataclass
class Peak:
    value: int = 0
    window: str = ""

    def see(self, value: int, window: str) -> None:
        if value > self.value:
            self.value, self.window = value, window


class Watch:
    """Samples the RSS and open file descriptors of every process of `serve` (found anew
    each time as the serve process's descendants) 4 times a second, in a thread."""

    INTERVAL = 0.25

    def __init__(self, root: int) -> None:
        self.root = root
        self.window = "start"  # set by the main thread as the run goes on
        self.names: dict[int, str] = {}
        self.first: dict[int, tuple[int, int]] = {}
        self.rss: dict[int, Peak] = {}
        self.fds: dict[int, Peak] = {}
        self.by_window: dict[str, list[int]] = {}  # largest RSS, most fds, RSS of all
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _name(self, pid: int) -> str:
        if pid == self.root:
            return "serve (supervisor, Argon2id queue)"
        line = command_line(pid)
        if "resource_tracker" in line:
            return "multiprocessing resource tracker"
        if "spawn_main" in line or "multiprocessing" in line:
            return "uvicorn worker"
        return line.split(" ")[0].rsplit("/", 1)[-1] or "?"

    def sample(self) -> None:
        window = self.window
        totals = self.by_window.setdefault(window, [0, 0, 0])
        rss_all = 0
        for pid in process_tree(self.root):
            rss, fds = rss_bytes(pid), open_fds(pid)
            if rss is None or fds is None:
                continue
            if pid not in self.names:
                self.names[pid] = self._name(pid)
                self.first[pid] = (rss, fds)
            self.rss.setdefault(pid, Peak()).see(rss, window)
            self.fds.setdefault(pid, Peak()).see(fds, window)
            totals[0], totals[1] = max(totals[0], rss), max(totals[1], fds)
            rss_all += rss
        totals[2] = max(totals[2], rss_all)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def peak_rss(self) -> int:
        return max((p.value for p in self.rss.values()), default=0)

    def peak_fds(self) -> int:
        return max((p.value for p in self.fds.values()), default=0)


# --- the attacks -----------------------------------------------------------------------


@dataclass
class Attack:
    phase: Phase
    connections: int
    started: float
    stopped: float
    tally: Tally


def run_attack(
    phase: Phase, settings: Settings, url: str, watch: Watch, windows: list[Window]
) -> Attack:
    """One attack in a process of its own; its windows are marked as it starts and stops."""
    connections = settings.connections_of(phase)
    command = [sys.executable, str(Path(__file__).resolve()), "--attacker", phase.attack]
    command += ["--url", url, "--connections", str(connections)]
    command += ["--attack", str(settings.attack)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert child.stdout is not None
    lines = iter(child.stdout.readline, "")
    started = _stamp(next(lines, ""), "started", child)
    watch.window = f"{phase.key}: {phase.title}"
    stopped = _stamp(next(lines, ""), "stopped", child)
    watch.window = f"{phase.key}: recovery"
    tally = Tally.from_json(json.loads(next(lines, "{}")))
    if child.wait(timeout=30) != 0:
        raise RuntimeError(f"the {phase.attack} attacker exited with status {child.returncode}")
    windows.append(Window(f"{phase.key}: {phase.title}", started, stopped, phase))
    return Attack(phase, connections, started, stopped, tally)


def _stamp(line: str, word: str, child: subprocess.Popen[str]) -> float:
    found, _, moment = line.partition(" ")
    if found != word:
        child.kill()
        child.wait()
        raise RuntimeError(f"the attacker did not say {word!r} (see its errors above)")
    return float(moment)


# --- honest reports by window ----------------------------------------------------------


@dataclass(frozen=True)
class Window:
    label: str
    start: float
    end: float
    phase: Phase | None = None  # the attack of this window, or after which it recovers
    recovery: bool = False


@dataclass
class Stats:
    """The honest reports of one kind that were due in one window."""

    reports: list[Report] = field(default_factory=list)

    @property
    def accepted(self) -> list[Report]:
        return [r for r in self.reports if r.accepted]

    def latencies(self) -> list[float]:
        return [r.latency for r in self.accepted if r.latency is not None]

    def p(self, q: float) -> float:
        return percentile(self.latencies(), q)

    def answers(self) -> Counter[str]:
        counted: Counter[str] = Counter()
        for report in self.reports:
            counted.update(str(status) for status in report.statuses)
            counted.update(report.errors)
            if report.latency is None:
                counted["unfinished"] += 1
        return counted


def window_of(report: Report, windows: Sequence[Window]) -> str:
    for window in windows:
        if window.start <= report.due < window.end:
            return window.label
    return "between phases"


def by_window(reports: Iterable[Report], windows: Sequence[Window]) -> dict[tuple[str, str], Stats]:
    found: dict[tuple[str, str], Stats] = {}
    for report in reports:
        found.setdefault((window_of(report, windows), report.kind), Stats()).reports.append(report)
    return found


def baseline_p99(reports: Sequence[Report], windows: Sequence[Window]) -> dict[str, float]:
    stats = by_window(reports, windows)
    return {kind: stats.get(("baseline", kind), Stats()).p(99) for kind in ("form", "api")}


def settle(traffic: Traffic, windows: Sequence[Window], stop: float, most: float) -> bool:
    """Wait, up to `most` seconds more, until honest reports are back within baseline
    after the attack that stopped at `stop`, so that the next attack meets a portal that
    is no longer busy with this one. Whether it came back."""
    deadline = time.monotonic() + most
    said = False
    while True:
        reports = list(traffic.reports)
        limits = baseline_p99(reports, windows)
        if back_to_baseline(reports, stop, time.monotonic(), limits) is not None:
            return True
        if time.monotonic() >= deadline:
            progress(f"still not back to baseline after {most:g} s more: going on")
            return False
        if not said:
            progress(f"not back to baseline yet: waiting up to {most:g} s more")
            said = True
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def back_to_baseline(
    reports: Sequence[Report], stop: float, end: float, limits: dict[str, float]
) -> float | None:
    """Seconds from `stop` until honest reports are back within baseline, or None if they
    were not within the window: the first moment (the stop, or when a report was due)
    from which every report due in the next `STEADY` seconds was accepted within its
    kind's baseline p99."""
    after = sorted((r for r in reports if stop <= r.due < end), key=lambda r: r.due)
    for moment in [stop, *(r.due for r in after)]:
        if moment + STEADY > end:
            return None
        steady = [r for r in after if moment <= r.due < moment + STEADY]
        if steady and all(
            r.accepted and r.latency is not None and r.latency <= limits[r.kind] for r in steady
        ):
            return moment - stop
    return None


# --- reading back ----------------------------------------------------------------------


@dataclass
class ReadBack:
    accepted: int = 0
    found: int = 0
    lost: int = 0  # accepted (receipt or case came back), not in the database
    with_files: int = 0  # accepted with a file the portal took
    files_found: int = 0
    cases: int = 0  # in the database
    unclaimed_files: int = 0
    unclaimed_bytes: int = 0


def read_back(database_url: str, reports: Sequence[Report], salt: bytes) -> ReadBack:
    """Every accepted report's case, looked up in the portal's own database by the lookup
    id its receipt gives (and for the API, the case number it was answered with)."""
    forms = [r for r in reports if r.kind == "form" and r.receipt]
    progress(
        f"reading back: lookup ids of {len(forms)} form receipts (production Argon2id, "
        f"{CORES} threads), then the database"
    )
    with ThreadPoolExecutor(CORES) as pool:
        derived = pool.map(
            lambda r: crypto.derive_reporter_keys(r.receipt, salt, crypto.V1_KDF).lookup_id,
            forms,
        )
        for report, lookup_id in zip(forms, derived, strict=True):
            report.lookup_id = lookup_id
    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            cases = {bytes(lookup): case for case, lookup in db.execute(text(_CASES))}
            files = {case: n for case, n in db.execute(text(_FILES_BY_CASE))}
            unclaimed = db.execute(text(_UNCLAIMED)).one()
    finally:
        engine.dispose()
    result = ReadBack(cases=len(cases))
    result.unclaimed_files, result.unclaimed_bytes = int(unclaimed[0]), int(unclaimed[1])
    for report in reports:
        if not report.accepted:
            continue
        result.accepted += 1
        case = cases.get(report.lookup_id)
        if case is None or (report.kind == "api" and case != report.case):
            result.lost += 1
            continue
        result.found += 1
        if report.with_file and not report.file_refused:
            result.with_files += 1
            result.files_found += files.get(case, 0) > 0
    return result


_CASES = "SELECT id, lookup_id FROM cases"
_FILES_BY_CASE = (
    "SELECT items.case_id, count(blobs.id) FROM blobs JOIN items ON blobs.item_seq = items.seq "
    "GROUP BY items.case_id"
)
_UNCLAIMED = "SELECT count(*), coalesce(sum(size), 0) FROM blobs WHERE item_seq IS NULL"


# --- what is printed -------------------------------------------------------------------


def counted(answers: Counter[str]) -> str:
    return ", ".join(f"{k} × {n:,}" for k, n in sorted(answers.items())) or "—"


def header(settings: Settings, database: str, chosen: dict[str, str], root: Path) -> str:
    http = "httptools" if importlib.util.find_spec("httptools") else "h11 (pure Python)"
    packages = ("starlette", "uvicorn", "httpx", "SQLAlchemy", "PyNaCl")
    phases = ", ".join(f"({p.key}) {p.title}" for p in settings.phases)
    return machine_header(
        [
            ("packages", ", ".join(f"{p} {version(p.lower())}" for p in packages)),
            (
                "server",
                f"`lanthorn portal serve --workers {settings.workers}` on 127.0.0.1 ({http}), "
                + (
                    f"SQLite in a temporary directory under {root}"
                    if database == "SQLite"
                    else f"{database}, a database of its own on this machine"
                ),
            ),
            ("settings", ", ".join(f"`{k}={v}`" for k, v in chosen.items()) or "defaults"),
            (
                "Argon2id on the server",
                f"t = {crypto.V1_KDF.t}, {crypto.V1_KDF.m_kib // 1024} MiB (production; "
                "the portal's /api/v1/config was checked to say so)",
            ),
            (
                "honest reports",
                f"{settings.form_rate:g}/s by no-JS form, {settings.api_rate:g}/s by API; "
                f"1 in {ATTACH_EVERY} with a file",
            ),
            (
                "phases",
                f"warm-up {settings.warm_up:g} s, baseline {settings.baseline:g} s, then "
                f"{phases}: each {settings.attack:g} s + {settings.recovery:g} s recovery",
            ),
            (
                "attackers",
                f"{settings.connections} connections for (a) and (b), "
                f"{settings.blob_clients} clients for (c); a process of their own",
            ),
            (
                "caps per server process",
                f"RSS {fmt_size(settings.rss_cap)}, {settings.fd_cap} open file descriptors",
            ),
            (
                "mode",
                "quick (smoke run: short phases, few attackers)" if settings.quick else "full",
            ),
        ]
    )


def honest_table(kind: str, stats: dict[tuple[str, str], Stats], windows: Sequence[Window]) -> str:
    base = stats.get(("baseline", kind), Stats()).p(99)
    rows = []
    labels = [w.label for w in windows] + ["between phases"]
    for label in labels:
        s = stats.get((label, kind))
        if s is None:
            continue
        p99 = s.p(99)
        ratio = "—" if label in ("warm-up", "between phases") else f"{p99 / base:.2f}"
        rows.append(
            (
                label,
                f"{len(s.reports):,}",
                f"{len(s.accepted):,}",
                fmt_ms(s.p(50)),
                fmt_ms(p99),
                ratio,
                fmt_ms(max(s.latencies(), default=float("nan"))),
                counted(s.answers()),
            )
        )
    headers = ("phase", "sent", "accepted", "p50", "p99", "p99 ÷ baseline", "max", "answers")
    return table(headers, rows)


def attack_table(attacks: Sequence[Attack]) -> str:
    rows = []
    for a in attacks:
        extra = ""
        if a.phase.attack == "slow-upload":
            held = a.tally.held
            extra = f"; ended by the portal: {len(held):,}"
            if held:
                median, most = fmt_seconds(statistics.median(held)), fmt_seconds(max(held))
                extra += f" (held for {median} median, {most} at most)"
            extra += f"; still open at the stop: {a.tally.held_to_end:,}"
        if a.phase.attack == "blob-flood":
            extra = f"; stored: {fmt_size(a.tally.stored_bytes)}"
        rows.append(
            (
                f"{a.phase.key}: {a.phase.title}",
                str(a.connections),
                fmt_seconds(a.stopped - a.started),
                f"{a.tally.attempts:,}",
                counted(a.tally.answers) + extra,
                f"{a.tally.cpu:.1f} s",
            )
        )
    headers = ("attack", "connections", "ran", "requests", "answers", "attacker CPU")
    return table(headers, rows)


def recovery_table(recoveries: Sequence[tuple[Attack, float | None, float]]) -> str:
    rows = [
        (
            f"{a.phase.key}: {a.phase.title}",
            "not within the window" if took is None else fmt_seconds(took),
            fmt_seconds(window),
        )
        for a, took, window in recoveries
    ]
    return table(("after", "back to baseline", "recovery window"), rows)


def process_table(watch: Watch, settings: Settings) -> str:
    rows = []
    for pid in sorted(watch.names):
        rss0, fds0 = watch.first[pid]
        rss, fds = watch.rss[pid], watch.fds[pid]
        rows.append(
            (
                f"{watch.names[pid]} ({pid})",
                fmt_size(rss0),
                f"{fmt_size(rss.value)} ({rss.window})",
                str(fds0),
                f"{fds.value} ({fds.window})",
            )
        )
    headers = ("server process", "RSS at start", "peak RSS (when)", "fds at start", "peak fds")
    return table(headers, rows)


def window_process_table(watch: Watch, windows: Sequence[Window]) -> str:
    rows = []
    for label in ["start", *(w.label for w in windows)]:
        if label in watch.by_window:
            rss, fds, total = watch.by_window[label]
            rows.append((label, fmt_size(rss), str(fds), fmt_size(total)))
    headers = ("phase", "peak RSS, one process", "peak open fds, one process", "peak RSS, all")
    return table(headers, rows)


def read_back_table(back: ReadBack, reports: Sequence[Report]) -> str:
    refused_files = sum(r.file_refused for r in reports)
    unclaimed = f"{back.unclaimed_files:,}, {fmt_size(back.unclaimed_bytes)}"
    rows = [
        ("sent", f"{len(reports):,}"),
        ("accepted (a receipt or a case came back)", f"{back.accepted:,}"),
        ("… found in the portal's database", f"{back.found:,}"),
        ("… lost (accepted, not in the database)", f"{back.lost:,}"),
        ("cases in the database", f"{back.cases:,}"),
        ("… stored, but no answer reached the reporter", f"{back.cases - back.found:,}"),
        (
            "accepted with a file / its case has the file",
            f"{back.with_files:,} / {back.files_found:,}",
        ),
        ("API files refused (the report sent without it)", f"{refused_files:,}"),
        ("unclaimed uploads left (the flood's and refused ones)", unclaimed),
    ]
    return table(("honest reports, read back", ""), rows)


# --- the run ---------------------------------------------------------------------------


@dataclass
class Goal:
    text: str
    ok: bool

    def line(self) -> str:
        return f"- **{'PASS' if self.ok else 'FAIL'}** {self.text}"


def server_errors_of(statuses: Iterable[tuple[str, int]]) -> Counter[str]:
    """Answers with a status of 500 or more other than 503 (a 503 is a proper refusal)."""
    found: Counter[str] = Counter()
    for status, count in statuses:
        if status.isdigit() and int(status) >= 500 and int(status) != 503:
            found[status] += count
    return found


def run(settings: Settings, portal: Portal, database_url: str) -> tuple[str, list[Goal]]:
    keys = PortalKeys(portal.salt, portal.oversight_pk)
    count = int(settings.api_rate * settings.seconds * 1.2) + 20
    progress(f"preparing {count} API reports (keys at the cheap KDF, files encrypted)")
    prepared = prepare_api(count, portal.salt)
    watch = Watch(portal.process.pid)
    watch.start()
    traffic = Traffic(portal.url, keys, prepared, settings.form_rate, settings.api_rate)
    windows: list[Window] = []
    attacks: list[Attack] = []
    unsettled: list[Phase] = []  # the next attack began before the portal was back

    def hold(label: str, seconds: float, phase: Phase | None = None) -> None:
        start = time.monotonic()
        watch.window = label
        time.sleep(seconds)
        windows.append(Window(label, start, time.monotonic(), phase, phase is not None))

    progress(f"honest reports begin: warm-up {settings.warm_up:g} s")
    traffic.start()
    try:
        hold("warm-up", settings.warm_up)
        progress(f"baseline: {settings.baseline:g} s, no attack")
        hold("baseline", settings.baseline)
        for phase in settings.phases:
            progress(
                f"({phase.key}) {phase.title}: {settings.connections_of(phase)} "
                f"connections for {settings.attack:g} s, then {settings.recovery:g} s recovery"
            )
            attack = run_attack(phase, settings, portal.url, watch, windows)
            attacks.append(attack)
            time.sleep(max(0.0, attack.stopped + settings.recovery - time.monotonic()))
            if not settle(traffic, windows, attack.stopped, settings.settle_max):
                unsettled.append(phase)
            windows.append(
                Window(f"{phase.key}: recovery", attack.stopped, time.monotonic(), phase, True)
            )
    finally:
        progress("honest reports stop; waiting for those under way")
        watch.window = "end"
        traffic.stop()
        watch.stop()

    reports = traffic.reports
    back = read_back(database_url, reports, portal.salt)
    log_errors = portal.server_errors()
    stats = by_window(reports, windows)

    # Goals.
    goals = []
    sent = len(reports)
    refused = [r for r in reports if not r.accepted]
    where = Counter(window_of(r, windows) for r in refused)
    goals.append(
        Goal(
            f"100 % of honest reports accepted in every phase: {sent - len(refused):,} of "
            f"{sent:,}"
            + (f" (not accepted: {counted(where)})" if refused else "")
            + f"; read back from the database: {back.found:,} found, lost: {back.lost}",
            not refused and back.lost == 0 and back.found == sent,
        )
    )
    limits = baseline_p99(reports, windows)
    ratios, ratio_ok = [], True
    for attack in attacks:
        parts = []
        for kind in ("form", "api"):
            s = stats.get((f"{attack.phase.key}: {attack.phase.title}", kind), Stats())
            ratio = s.p(99) / limits[kind]
            ratio_ok = ratio_ok and ratio <= P99_FACTOR  # NaN (nothing accepted) fails
            parts.append(f"{kind} {ratio:.2f}×")
        ratios.append(f"({attack.phase.key}) " + ", ".join(parts))
    goals.append(
        Goal(
            f"honest p99 under attack ≤ {P99_FACTOR:g} × baseline p99 "
            f"(form {fmt_ms(limits['form'])}, API {fmt_ms(limits['api'])}): " + "; ".join(ratios),
            ratio_ok and bool(attacks),
        )
    )
    recoveries = []
    for attack in attacks:
        recovery = next(w for w in windows if w.recovery and w.phase is attack.phase)
        took = back_to_baseline(reports, recovery.start, recovery.end, limits)
        recoveries.append((attack, took, recovery.end - recovery.start))
    goals.append(
        Goal(
            f"back to baseline within {RECOVERY_GOAL:g} s of the attack stopping: "
            + "; ".join(
                f"({a.phase.key}) " + ("not within the window" if t is None else fmt_seconds(t))
                for a, t, _ in recoveries
            ),
            all(t is not None and t <= RECOVERY_GOAL for _, t, _ in recoveries),
        )
    )
    honest_500 = server_errors_of(
        (str(status), 1) for r in reports for status in r.statuses
    )  # fmt: skip
    attacker_500 = server_errors_of(
        (status, n) for a in attacks for status, n in a.tally.answers.items()
    )
    goals.append(
        Goal(
            f"no status 500 (nor any 5xx but 503): honest {sum(honest_500.values())}, "
            f"attackers {sum(attacker_500.values())}; ERROR lines in the server log: "
            f"{len(log_errors)}",
            not honest_500 and not attacker_500 and not log_errors,
        )
    )
    goals.append(
        Goal(
            f"every server process under the caps: peak RSS {fmt_size(watch.peak_rss())} ≤ "
            f"{fmt_size(settings.rss_cap)}, peak open fds {watch.peak_fds()} ≤ "
            f"{settings.fd_cap} ({watch.samples} samples)",
            watch.peak_rss() <= settings.rss_cap and watch.peak_fds() <= settings.fd_cap,
        )
    )

    sections = [
        "## Honest no-JavaScript reports (GET the form, POST it; server-side Argon2id)",
        honest_table("form", stats, windows),
        "## Honest API reports (upload the file, seal, POST; no server-side KDF)",
        honest_table("api", stats, windows),
        (
            "Latency is from when a report was due (the arrivals keep their rate whatever "
            "the portal does) to its last answer: the form's GET and POST, or the API's "
            'upload and report. Percentiles are of accepted reports; "answers" counts '
            f"every request's status. Client threads started reports at most "
            f"{fmt_ms(traffic.late)} late."
        ),
        "## Attackers",
        attack_table(attacks),
        (
            f"(a) closes each connection {ABANDON_AFTER:g} s after sending its follow-up "
            f"unless answered first; (b) declares a {fmt_size(SLOW_DECLARED)} photo, sends "
            f"{fmt_size(SLOW_FIRST)} of it, then half trickle {TRICKLE} B/s and half stall; "
            f"(c) uploads {BLOB_CHUNKS[0]} to {BLOB_CHUNKS[1]} stored chunks of random bytes "
            "back to back. Attacker CPU is the attacking process's own (it shares the "
            "machine's cores with the portal and the honest clients)."
        ),
        "## Back to baseline",
        recovery_table(recoveries),
        (
            "Back to baseline: the time from the attack's stop until every honest report "
            f"due in {STEADY:g} s in a row was accepted within its kind's baseline p99. "
            f"The recovery window lasts {settings.recovery:g} s, and up to "
            f"{settings.settle_max:g} s more until the portal is back, so that the next "
            "attack meets a portal done with this one."
            + "".join(
                f" **After ({p.key}) the portal was not back within the window: the next "
                "phase's figures include what was left of this attack.**"
                for p in unsettled
            )
        ),
        "## Server processes",
        process_table(watch, settings),
        window_process_table(watch, windows),
        "## Read back",
        read_back_table(back, reports),
    ]
    if log_errors:
        sections.append(
            "Server log, ERROR lines:\n\n"
            + "\n".join(f"    {line} (× {n})" for line, n in Counter(log_errors).most_common(10))
        )
    return "\n\n".join(sections), goals


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/attack.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Honest reporters while an unauthenticated attacker does its worst, in one run.\n\n"
            "Starts a throwaway portal as an operator would (`lanthorn portal init`, then "
            "`lanthorn portal serve --workers 2`,\nproduction Argon2id, SQLite in a "
            "temporary directory) and sends it honest reports at a steady rate:\nno-JavaScript "
            "staff forms (the portal derives the keys) and API reports (sealed by the "
            "client),\none in four with a photo-sized file. After a warm-up and a baseline "
            "with no attack, in turn:\n\n"
            "  (a) follow-up flood: N connections POST /follow-up with random valid receipts,\n"
            f"      each closed after {ABANDON_AFTER:g} s unless answered;\n"
            "  (b) slow uploads: N connections start a multipart report with a photo, send "
            f"{SLOW_FIRST // 1024} KiB,\n      then trickle {TRICKLE} B/s or stall, and "
            "reconnect when cut off;\n"
            "  (c) blob flood: 4 clients POST /api/v1/blobs back to back (random bytes of "
            "valid sizes);\n\n"
            "each followed by a recovery window. Every accepted report is read back from "
            "the portal's database.\nThe RSS and open file descriptors of every server "
            "process are sampled 4 times a second.\n\n"
            'Goals (docs/reliability.md, "Under attack"), one verdict line each:\n'
            "  1. 100 % of honest reports accepted in every phase, each found in the database;\n"
            f"  2. honest p99 under attack ≤ {P99_FACTOR:g} × the same run's baseline p99 "
            "(form and API apart);\n"
            f"  3. back to baseline within {RECOVERY_GOAL:g} s of each attack stopping;\n"
            "  4. no answer with status 500 (nor any 5xx but 503), no ERROR in the server log;\n"
            "  5. every server process's RSS and open fds under the caps the run prints.\n\n"
            "Markdown tables go to standard output, progress to standard error."
        ),
        epilog=(
            "examples:\n"
            "  .venv/bin/python bench/attack.py --quick              # smoke run, ~1 min\n"
            "  .venv/bin/python bench/attack.py                      # full run, ~5 min\n"
            "  .venv/bin/python bench/attack.py --phases a --attack 60 --connections 100\n"
            "  .venv/bin/python bench/attack.py --postgres postgresql://root@127.0.0.1:5432/test\n\n"
            "Exit status: 0 when every goal is met, 1 otherwise (or if the portal would not "
            "start).\nRun it on a quiet machine: the attackers, the honest clients and the "
            "portal share its cores."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 10 connections, 2 blob clients, 5 s baseline, 4 s attacks, 7 s "
        "recovery (10 s more at most), 1 form and 2 API reports a second; under a minute "
        "when the portal recovers from each attack in time",
    )
    numbers: list[tuple[str, type, str, str]] = [
        ("--connections", int, "N", "attacking connections in (a) and (b) (default 50)"),
        ("--blob-clients", int, "N", "attacking clients in (c) (default 4)"),
        ("--baseline", float, "S", "seconds of baseline, no attack (default 40)"),
        ("--attack", float, "S", "seconds each attack lasts (default 40)"),
        (
            "--recovery",
            float,
            "S",
            f"seconds after each attack (default 15; at least {RECOVERY_GOAL + STEADY:g})",
        ),
        ("--form-rate", float, "R", "honest no-JavaScript reports a second (default 2)"),
        ("--api-rate", float, "R", "honest API reports a second (default 4)"),
    ]
    numbers.append(
        (
            "--settle-max",
            float,
            "S",
            "seconds to wait at most, after a recovery window, for the portal to be back to "
            "baseline before the next attack (default 60; quick 10)",
        )
    )
    for flag, kind, metavar, helptext in numbers:
        parser.add_argument(flag, type=kind, metavar=metavar, help=helptext)
    parser.add_argument(
        "--phases",
        default="a,b,c",
        metavar="a,b,c",
        help="which attacks, in this order (default: a,b,c)",
    )
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument(
        "--rss-cap-mib",
        type=int,
        default=512,
        metavar="MIB",
        help="the RSS cap for each server process (default 512 MiB)",
    )
    parser.add_argument(
        "--fd-cap",
        type=int,
        default=256,
        metavar="N",
        help="the open file descriptor cap for each server process (default 256)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the portal on PostgreSQL: a server URL such as "
        "postgresql://root@127.0.0.1:5432/test; the benchmark creates and drops its own "
        "database lanthorn_bench_attack there (default: SQLite)",
    )
    parser.add_argument(
        "--set",
        metavar="LANTHORN_NAME=VALUE",
        action="append",
        default=[],
        help="a setting for the server (docs/operations.md); may be given more than once",
    )
    parser.add_argument("--port", type=int, help="server port (default: a free one)")
    parser.add_argument(
        "--lanthorn", metavar="PATH", help="the `lanthorn` command (default: the one next to "
        "this Python)"
    )  # fmt: skip
    # The attacker's own process (run_attack starts it): not for people.
    parser.add_argument("--attacker", choices=ATTACKS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attacker:
        if not args.url or args.connections is None or args.attack is None:
            parser.error("--attacker needs --url, --connections and --attack")
        return args
    chosen = {}
    for item in args.set:
        name, equals, value = item.partition("=")
        if not equals or not name.startswith("LANTHORN_"):
            parser.error(f"--set takes LANTHORN_NAME=VALUE, not {item!r}")
        chosen[name] = value
    args.set = chosen
    keys = args.phases.split(",")
    if not keys or any(k not in PHASES for k in keys):
        parser.error("--phases takes a, b and c separated by commas, e.g. a,c")
    for name in ("connections", "blob_clients", "baseline", "attack", "form_rate", "api_rate"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be more than 0")
    if args.recovery is not None and args.recovery < RECOVERY_GOAL + STEADY:
        parser.error(
            f"--recovery must be at least {RECOVERY_GOAL + STEADY:g} s: the goal is "
            f"{RECOVERY_GOAL:g} s, and being back takes {STEADY:g} s in a row to see"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.attacker:
        return attacker_main(args.attacker, args.url, args.connections, args.attack)
    settings = Settings.from_args(args)
    lanthorn = lanthorn_command(args.lanthorn)
    began = time.perf_counter()
    steal_before, total_before = cpu_times()
    progress(f"about {settings.seconds / 60:.1f} min of traffic, then reading back")
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.postgres:
            database_url = stack.enter_context(
                fresh_database(args.postgres, "lanthorn_bench_attack")
            )
        database = "PostgreSQL" if database_url else "SQLite"
        portal = stack.enter_context(
            running_portal(lanthorn, settings.workers, args.port, database_url, args.set)
        )
        print("# Lanthorn under attack\n", flush=True)
        print(header(settings, database, args.set, portal.data_dir.parent.parent) + "\n")
        sqlite = f"sqlite+pysqlite:///{(portal.data_dir / 'portal.db').resolve()}"
        text_out, goals = run(settings, portal, database_url or sqlite)
        print(text_out + "\n", flush=True)
    steal, total = (a - b for a, b in zip(cpu_times(), (steal_before, total_before), strict=True))
    if total:
        print(
            f"CPU steal time during the run: {100 * steal / total:.1f} % of all CPU time. "
            f"Client-side keys for API reports: Argon2id t = {CLIENT_KDF.t}, "
            f"m = {CLIENT_KDF.m_kib} KiB (the portal never runs an API client's KDF). "
            f"Files: {', '.join(fmt_size(s) for s in PHOTO_SIZES)}; each honest request "
            f"gives up after {TIMEOUT:g} s.\n",
            flush=True,
        )
    print("## Goals\n\n" + "\n".join(goal.line() for goal in goals), flush=True)
    passed = all(goal.ok for goal in goals)
    progress(f"{'PASS' if passed else 'FAIL'}; done in {time.perf_counter() - began:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # the portal would not start, or a setup step failed
        print(f"bench/attack.py: {exc}", file=sys.stderr)
        sys.exit(1)
