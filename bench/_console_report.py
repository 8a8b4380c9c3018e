"""The console benchmark's results: what one size measured, and the Markdown it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from _report import fmt_mib, fmt_ms, fmt_rate, fmt_seconds, table
from _timing import fmt_tail, percentile, tail
from _verdict import against_limit


@dataclass
class Timed:
    """One kind of request at one size: HTTP latencies and the in-process limit."""

    label: str
    samples: list[float]
    limit: float  # seconds, the same work without the console (see each table)
    detail: str = ""

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def tail(self) -> tuple[str, float]:
        """("p99", value) from 1,000 samples or more, else ("max of N", the maximum)."""
        return tail(self.samples)

    def tail_text(self) -> str:
        return fmt_tail(self.samples)


@dataclass
class SizeResult:
    size: int
    cases: int = 0  # after the sync
    generate_seconds: float = 0.0
    unseal_seconds: float = 0.0  # POST /unseal: k Argon2id runs and opening the database
    ready_seconds: float = 0.0  # from POST /unseal until a search answers
    build_seconds: float = 0.0  # the same index built in this process
    index_bytes: int = 0
    index_counts: dict[str, int] = field(default_factory=dict)
    rss_sealed: int = 0
    rss_ready: int = 0
    rss_after: int = 0
    hwm: int = 0
    synced: int = 0  # new reports found in the console's database, content checked
    sync_expected: int = 0  # reports sent to the portal for this sync
    sync_seconds: float = 0.0
    open_rate: float = 0.0  # crypto.open_document per second, this process
    pages: list[Timed] = field(default_factory=list)
    searches: list[Timed] = field(default_factory=list)
    floor: float = 0.0  # GET /static/console.css, kept alive
    failures: list[str] = field(default_factory=list)


def fmt_ratio(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def growth(results: list[SizeResult]) -> str:
    """Each figure at each size, and how many times it grew from one size to the next."""
    rows: list[tuple[str, list[str], list[float]]] = []

    def add(label: str, values: list[float], fmt: Callable[[float], str]) -> None:
        rows.append((label, [fmt(v) for v in values], values))

    add(
        "sync, per 1,000 items",
        [1000 * r.sync_seconds / max(r.synced, 1) for r in results],
        fmt_seconds,
    )
    add("unseal until searchable", [r.ready_seconds for r in results], fmt_seconds)
    add("index build (this process)", [r.build_seconds for r in results], fmt_seconds)
    add("index memory (estimate)", [r.index_bytes for r in results], fmt_mib)
    add("console RSS when ready", [r.rss_ready for r in results], fmt_mib)
    for kind in ("pages", "searches"):
        for n, timed in enumerate(getattr(results[0], kind)):
            add(f"{timed.label}, p50", [getattr(r, kind)[n].p50 for r in results], fmt_ms)
    pairs = list(zip(results, results[1:], strict=False))
    headers = ["figure", *(f"{r.cases:,} cases" for r in results)]
    headers += [f"× from {a.cases:,}" for a, _ in pairs]
    return table(
        headers,
        [
            (label, *shown, *(f"{b / a:.2f}" if a else "—" for a, b in zip(v, v[1:], strict=False)))
            for label, shown, v in rows
        ],
    )  # fmt: skip


def report(backend: str, results: list[SizeResult]) -> str:
    out = [f"## {backend}\n"]
    rows = []
    for r in results:
        rows.append(
            (
                f"{r.size:,}",
                f"{r.synced:,}",
                fmt_seconds(r.sync_seconds),
                f"**{fmt_rate(r.synced / r.sync_seconds if r.sync_seconds else 0)}**",
                fmt_rate(r.open_rate),
                (
                    f"{against_limit(r.synced / r.sync_seconds, r.open_rate, 'sync'):.3f}"
                    if r.sync_seconds
                    else "—"
                ),
                "yes" if r.synced == r.sync_expected and r.sync_seconds <= 30 else "no",
            )
        )
    out.append("### Sync\n")
    out.append(
        table(
            (
                "cases before",
                "new reports (read back)",
                "time",
                "items/s",
                "`open_document`/s",
                "÷ open",
                "≤ 30 s",
            ),
            rows,
        )
    )
    rows = [
        (
            f"{r.size:,}",
            fmt_seconds(r.unseal_seconds),
            f"**{fmt_seconds(r.ready_seconds)}**",
            fmt_seconds(r.build_seconds),
            f"{r.index_counts.get('words', 0):,}",
            f"{r.index_counts.get('postings', 0):,}",
            fmt_mib(r.index_bytes),
            fmt_mib(r.rss_sealed),
            fmt_mib(r.rss_ready),
            fmt_mib(r.rss_after),
            fmt_mib(r.hwm),
        )
        for r in results
    ]
    out.append("\n### Unseal and be ready; memory\n")
    out.append(
        table(
            ("cases", "POST /unseal", "until searchable", "index build here", "words",
             "postings", "index (estimate)", "RSS sealed", "RSS ready", "RSS after", "VmHWM"),
            rows,
        )
    )  # fmt: skip
    for title, attribute, goal in (
        ("Case list over HTTP", "pages", 0.050),
        ("Search over HTTP (page 1)", "searches", 0.200),
    ):
        rows = []
        for r in results:
            for timed in getattr(r, attribute):
                rows.append(
                    (
                        timed.label,
                        f"{r.cases:,}",
                        timed.detail,
                        fmt_ms(timed.p50),
                        timed.tail_text(),
                        fmt_ms(timed.limit),
                        # The request does the limit's work and more: below 1.0, the
                        # limit was measured in a slower moment than the requests.
                        fmt_ratio(1 / against_limit(timed.limit, timed.p50, timed.label)),
                        "yes" if timed.tail[1] <= goal else "**no**",
                    )
                )
        limit = "bare SELECT" if attribute == "pages" else "sets + SELECT"
        out.append(f"\n### {title}\n")
        out.append(
            table(
                ("request", "cases", "page" if attribute == "pages" else "matches", "p50",
                 "p99 (or max of N)", limit, "p50 ÷ limit",
                 f"p99 (or max) ≤ {goal * 1000:.0f} ms"),
                rows,
            )
        )  # fmt: skip
    floors = ", ".join(f"{fmt_ms(r.floor)} at {r.cases:,}" for r in results)
    out.append(f"\nRound trip (GET /static/console.css, kept alive, p50): {floors}.")
    if len(results) > 1:
        out.append("\n### Growth\n")
        out.append(growth(results))
    for r in results:
        for failure in r.failures:
            out.append(f"\n**Failure at {r.size:,}:** {failure}")
    return "\n".join(out)
