"""Reports under 1, 8, 32 and 128 concurrent clients, against the goals issue 7 sets.

HTML form reports (the server derives keys with Argon2id) are driven by Python client
threads, as elsewhere in this benchmark: each report is a form GET and a POST, and the
client's share of the CPU is small beside Argon2id's. JSON API reports (sealed by the
client, as a kiosk does; the server runs no KDF) are driven by wrk when it is installed,
because at hundreds of requests a second a Python client would spend the server's cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from _browser import FORM_FIELDS
from _kdf_bound import Bracketed, KdfBound
from _load import LoadResult, run_steady
from _memory import cpu_seconds, process_tree
from _postgres import BackendCpu
from _readback import ReadBack, last_item, read_back_opened, read_back_reports, sent_reports
from _report import fmt_ms, fmt_rate, progress, table
from _server import Portal
from _timing import fmt_tail, percentile, tail
from _verdict import fail
from _wrk import WrkResult, available, body_bytes, run_wrk

HTML_GOAL_RATIO = 0.85  # of the Argon2id bound
HTML_GOAL_P99 = 2.0  # seconds, at 32 clients
API_GOAL_RATE = 1000.0  # reports/s, at 32 clients, on PostgreSQL
API_GOAL_P99 = 0.100  # seconds
GOAL_CLIENTS = 32

Job = Callable[..., None]


#: The fields of the HTML form's report that a read-back compares (opened server-sealed).
READ_BACK_FIELDS = {"category": FORM_FIELDS["category"], "description": FORM_FIELDS["description"]}


def checked(read: ReadBack, what: str) -> str:
    """The read-back's line; a loss or a difference fails the run."""
    if not read.ok:
        fail(f"{what}: {read.line()}")
    return read.line()


def _kinds(result: LoadResult) -> str:
    """What the failures were, e.g. " (HTTP 503 ×14)": a refusal is not a crash."""
    if not result.failures:
        return ""
    return " (" + ", ".join(f"{k} ×{n:,}" for k, n in result.failures.most_common()) + ")"


def html_sweep(
    portal: Portal,
    clients: Sequence[int],
    seconds: int,
    bound: KdfBound,
    submit: Job,
    fresh: bool = False,
) -> tuple[str, dict[int, tuple[LoadResult, Bracketed]]]:
    results: dict[int, tuple[LoadResult, Bracketed]] = {}
    rows = []
    before = bound.measure()
    for count in clients:
        settle = max(3.0, 1.5 * count / before)  # every client through the queue once
        progress(f"sweep, HTML: {count} concurrent clients, {settle:.0f} s + {seconds} s")
        since = last_item(portal.database_url)
        result = run_steady(portal, count, settle, seconds, submit, fresh)
        window = Bracketed(before, bound.measure())
        before = window.after
        results[count] = result, window
        read = read_back_opened(
            portal.database_url, since, result.all_ok, portal.oversight, READ_BACK_FIELDS
        )
        failures = sum(result.failures.values())
        ratio = bound.ratio(result.rate, window, f"HTML reports at {count} clients")
        rows.append(
            [
                str(count),
                f"{result.ok} / {failures}" + _kinds(result),
                f"**{fmt_rate(result.rate)}**",
                window.text(),
                f"{ratio:.2f}",
                fmt_ms(percentile(result.latencies, 50)),
                fmt_tail(result.latencies),
                fmt_ms(max(result.latencies, default=float("nan"))),
                f"{read.lost:,}" if read.ok else checked(read, f"HTML sweep, {count} clients"),
            ]
        )
    headers = ["clients", "counted / failed", "reports/s", "Argon2id limit /s"]
    headers += ["÷ limit", "POST p50", "POST p99 (or max of N)", "POST max", "lost (read back)"]
    return table(headers, rows), results


def api_sweep(
    portal: Portal,
    clients: Sequence[int],
    seconds: int,
    make_body: Callable[[], bytes],
    expected_rate: float,
) -> tuple[str, dict[int, WrkResult]]:
    if not available():
        return "Not measured: wrk is not installed (Debian: `apt-get install wrk`).", {}
    results: dict[int, WrkResult] = {}
    rows = []
    for count in clients:
        needed = int(expected_rate * seconds * 2) + 200
        progress(f"sweep, API: building {needed} sealed reports (cheap client KDF)")
        bodies = [body_bytes(make_body()) for _ in range(needed)]
        progress(f"sweep, API: wrk, {count} connections for {seconds} s")
        pids = process_tree(portal.process.pid)
        cpu_before = cpu_seconds(pids)
        with BackendCpu(portal.database_url) as database:
            result = run_wrk(portal.url, bodies, count, seconds)
        server_cpu = cpu_seconds(pids) - cpu_before
        answered = max(result.created + result.other, 1)
        results[count] = result
        if result.other:  # a GET after the bodies ran out, or a refusal: not the steady state
            fail(
                f"API sweep at {count} connections: {result.other:,} answers were not 201 "
                "(wrk ran out of pre-built reports, or the portal refused some), so the rate "
                "and latencies mix in other requests"
            )
        expected_rate = max(expected_rate, result.rate)
        progress(f"sweep, API: reading back {result.created:,} reports from the database")
        read = read_back_reports(portal.database_url, sent_reports(bodies), result.created)
        rows.append(
            [
                str(count),
                str(result.created),
                f"{result.other} / {result.errors}",
                f"{result.seconds:.2f} s",
                f"**{fmt_rate(result.rate)}**",
                fmt_ms(result.p50),
                fmt_ms(result.p99),
                fmt_ms(result.max),
                fmt_ms(server_cpu / answered),
                "—" if database.seconds is None else fmt_ms(database.seconds / answered),
                f"{read.lost:,}" if read.ok else checked(read, f"API sweep, {count} connections"),
            ]
        )
    headers = ["connections", "201 Created", "other answers / socket errors", "measured time"]
    headers += ["reports/s", "p50", "p99", "max", "server CPU per request"]
    headers += ["database CPU per request", "lost (read back)"]
    return table(headers, rows), results


def verdicts(
    html: dict[int, tuple[LoadResult, Bracketed]], api: dict[int, WrkResult], database: str
) -> str:
    """One line per goal: the figure, the goal, met or not. A figure is only counted
    as meeting its goal when its read-back found nothing lost (else the run has failed)."""
    lines = []
    if GOAL_CLIENTS in html:
        result, window = html[GOAL_CLIENTS]
        ratio, p99 = result.rate / window.limit, tail(result.latencies)[1]
        met = ratio >= HTML_GOAL_RATIO and p99 < HTML_GOAL_P99
        lines.append(
            f"- HTML reports at {GOAL_CLIENTS} clients: {ratio:.2f} of the Argon2id limit "
            f"measured around it, {window.text()} "
            f"(goal ≥ {HTML_GOAL_RATIO}), p99 {fmt_tail(result.latencies)} "
            f"(goal < {HTML_GOAL_P99:.0f} s): " + ("**met**" if met else "**not met**")
        )
    if GOAL_CLIENTS in api:
        wrk = api[GOAL_CLIENTS]
        met = wrk.rate >= API_GOAL_RATE and wrk.p99 < API_GOAL_P99
        lines.append(
            f"- JSON API reports at {GOAL_CLIENTS} connections on {database}: "
            f"{fmt_rate(wrk.rate)}/s (goal ≥ {API_GOAL_RATE:,.0f}), p99 {fmt_ms(wrk.p99)} "
            f"(goal < {API_GOAL_P99 * 1000:.0f} ms): "
            + ("**met**" if met else "**not met**")
            + ("" if database == "PostgreSQL" else " (the goal is set for PostgreSQL)")
        )
    return "\n".join(lines)
