"""Reports under 1, 8, 32 and 128 concurrent clients, against the goals issue 7 sets.

HTML form reports (the server derives keys with Argon2id) are driven by Python client
threads, as elsewhere in this benchmark: each report is a form GET and a POST, and the
client's share of the CPU is small beside Argon2id's. JSON API reports (sealed by the
client, as a kiosk does; the server runs no KDF) are driven by wrk when it is installed,
because at hundreds of requests a second a Python client would spend the server's cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from _load import LoadResult, run_steady
from _report import fmt_ms, fmt_rate, progress, table
from _server import Portal
from _timing import percentile
from _wrk import WrkResult, available, body_bytes, run_wrk

HTML_GOAL_RATIO = 0.85  # of the Argon2id bound
HTML_GOAL_P99 = 2.0  # seconds, at 32 clients
API_GOAL_RATE = 1000.0  # reports/s, at 32 clients, on PostgreSQL
API_GOAL_P99 = 0.100  # seconds
GOAL_CLIENTS = 32

Job = Callable[..., None]


def html_sweep(
    portal: Portal,
    clients: Sequence[int],
    seconds: int,
    bound: float,
    submit: Job,
    fresh: bool = False,
) -> tuple[str, dict[int, LoadResult]]:
    results: dict[int, LoadResult] = {}
    rows = []
    for count in clients:
        settle = max(3.0, 1.5 * count / bound)  # every client through the queue once
        progress(f"sweep, HTML: {count} concurrent clients, {settle:.0f} s + {seconds} s")
        result = run_steady(portal, count, settle, seconds, submit, fresh)
        results[count] = result
        failures = sum(result.failures.values())
        rows.append(
            [
                str(count),
                f"{result.ok} / {failures}",
                f"**{fmt_rate(result.rate)}**",
                f"{result.rate / bound:.2f}",
                fmt_ms(percentile(result.latencies, 50)),
                fmt_ms(percentile(result.latencies, 99)),
                fmt_ms(max(result.latencies, default=float("nan"))),
            ]
        )
    headers = ["clients", "counted / failed", "reports/s", "÷ Argon2id bound"]
    headers += ["POST p50", "POST p99", "POST max"]
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
        result = run_wrk(portal.url, bodies, count, seconds)
        results[count] = result
        expected_rate = max(expected_rate, result.rate)
        rows.append(
            [
                str(count),
                str(result.created),
                f"{result.other} / {result.errors}",
                f"**{fmt_rate(result.rate)}**",
                fmt_ms(result.p50),
                fmt_ms(result.p99),
                fmt_ms(result.max),
            ]
        )
    headers = ["connections", "201 Created", "other answers / socket errors", "reports/s"]
    headers += ["p50", "p99", "max"]
    return table(headers, rows), results


def verdicts(
    html: dict[int, LoadResult], api: dict[int, WrkResult], bound: float, database: str
) -> str:
    lines = []
    if GOAL_CLIENTS in html:
        result = html[GOAL_CLIENTS]
        ratio, p99 = result.rate / bound, percentile(result.latencies, 99)
        met = ratio >= HTML_GOAL_RATIO and p99 < HTML_GOAL_P99
        lines.append(
            f"- HTML reports at {GOAL_CLIENTS} clients: {ratio:.2f} of the Argon2id bound "
            f"(goal ≥ {HTML_GOAL_RATIO}), p99 {fmt_ms(p99)} (goal < {HTML_GOAL_P99:.0f} s): "
            + ("**met**" if met else "**not met**")
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
