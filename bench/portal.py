#!/usr/bin/env python3
"""Benchmark a real Lanthorn portal on this machine, in one run.

Sets up a throwaway portal as an operator would (`lanthorn portal init` and `serve`, with
production Argon2id, SQLite in a temporary directory), drives it over loopback HTTP and
prints Markdown tables: 1. the Argon2id bound on HTML reports per second; 2. the round-trip
floor; 3. HTML-form reports under concurrency; 4. JSON API reports (no server-side KDF);
5. large streamed uploads and a download, with MB/s against raw secretstream and the
server's RSS sampled throughout. docs/benchmarks.md explains each figure.

Run from the repository root:

    .venv/bin/python bench/portal.py            # full run, 3–5 minutes, ~3.2 GiB on disk
    .venv/bin/python bench/portal.py --quick    # smoke run, about 10 s

Exit status 1 if any request failed, a transfer did not verify, a read-back from the
database found an accepted report lost or changed, the server logged an error, the file
made a server process grow by 32 MiB or more, or a ratio to a limit came out above 1.0
(`RUN FAILED:` lines at the end say which). bench/README.md says how to rerun each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# `python bench/portal.py` puts bench/ first on sys.path, where this file and crypto.py
# would shadow the `portal` and `crypto` packages: put the repository root before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _browser import FORM_FIELDS, browser_form, form_token, receipt_in
from _kdf_bound import KdfBound
from _load import LoadResult, failure_notes, load_rows, run_load
from _memory import cpu_times
from _postgres import fresh_database
from _readback import last_item, read_back_opened, read_back_reports, sent_reports
from _report import MIB, fmt_ms, load_average, machine_header, progress, table, version
from _server import Portal, lanthorn_command, running_portal
from _sweep import READ_BACK_FIELDS, api_sweep, checked, html_sweep, verdicts
from _timing import CORES, percentile
from _transfers import transfers_section
from _verdict import exit_status

import crypto
from foundation.serving import UVICORN_OPTIONS

CHEAP_KDF = crypto.KdfParams(t=1, m_kib=8)  # client-side keys for the JSON API phase


@dataclass(frozen=True)
class Settings:
    """How hard to measure: the full run, or `--quick` for a smoke run."""

    quick: bool
    kdf_runs: int
    parallel_rounds: int  # derivations per thread in each reading of the Argon2id limit
    workers: int
    clients: int
    submissions: int  # HTML reports
    api_submissions: int  # JSON API reports
    upload_bytes: int  # size of each upload
    raw_bytes: int  # plaintext per raw secretstream run
    sweep: tuple[int, ...]  # concurrent clients for the sweep
    sweep_seconds: int  # wrk run per client count (API)
    sweep_html_seconds: int  # measured window per client count (HTML), after settling
    fresh_connections: bool  # HTML sweep: a new connection per request, as nginx makes
    transfers: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        quick = bool(args.quick)

        def pick(value: int | None, full: int, smoke: int) -> int:
            return value if value is not None else (smoke if quick else full)

        return cls(
            quick=quick,
            kdf_runs=2 if quick else 5,
            parallel_rounds=2 if quick else 12,
            workers=args.workers or CORES,
            clients=args.clients or 2 * CORES,
            submissions=pick(args.submissions, 200, 20),
            api_submissions=pick(args.api_submissions, 1000, 50),
            upload_bytes=pick(args.upload_mib, 1024, 64) * MIB,
            raw_bytes=(64 if quick else 256) * MIB,
            sweep=tuple(
                int(n) for n in (args.sweep or ("1,8" if quick else "1,8,32,128")).split(",")
            ),
            sweep_seconds=pick(args.sweep_seconds, 10, 3),
            sweep_html_seconds=pick(args.sweep_seconds, 15, 4),
            fresh_connections=bool(args.new_connections),
            transfers=not args.no_transfers,
        )


def header(settings: Settings, temp_root: Path, database: str, chosen: dict[str, str]) -> str:
    http = "httptools" if importlib.util.find_spec("httptools") else "h11 (pure Python)"
    loop = UVICORN_OPTIONS["loop"]
    packages = ("starlette", "uvicorn", "httpx", "python-multipart", "SQLAlchemy", "PyNaCl")
    return machine_header(
        [
            ("packages", ", ".join(f"{p} {version(p.lower())}" for p in packages)),
            (
                "server",
                f"`lanthorn portal serve --workers {settings.workers}` on 127.0.0.1, "
                + (
                    f"SQLite (WAL, synchronous=FULL) in a temporary directory under {temp_root}"
                    if database == "SQLite"
                    else f"{database}, a database of its own on the same machine"
                ),
            ),
            ("uvicorn HTTP / loop", f"{http} / {loop}"),
            ("settings", ", ".join(f"`{k}={v}`" for k, v in chosen.items()) or "defaults"),
            ("clients", f"{settings.clients} threads in this process, one `httpx.Client` each"),
            ("mode", "quick (smoke run: small sizes, few requests)" if settings.quick else "full"),
        ]
    )


# --- 1. Argon2id bound -----------------------------------------------------------------


def kdf_section(settings: Settings, bound: KdfBound) -> str:
    progress(f"Argon2id v1, {settings.kdf_runs} runs in this process")
    latency = bound.measure_latency(settings.kdf_runs)
    measured = bound.measure()
    v1 = crypto.V1_KDF
    headers = ["Argon2id", "t, m", "median latency", "per core /s"]
    headers += [f"{CORES} × one core, for scale", f"limit: {CORES} threads at once, /s"]
    row = ["`derive_reporter_keys` at `V1_KDF`", f"{v1.t}, {v1.m_kib // 1024} MiB"]
    row += [fmt_ms(latency), f"{1 / latency:.2f}", f"{CORES / latency:.2f}"]
    row += [f"**{measured:.2f}**"]
    notes = (
        f"Median of {settings.kdf_runs} runs in the benchmark process, with the server idle. "
        f"The limit is measured, not assumed: {CORES * settings.parallel_rounds} "
        "derivations on one thread per core at once (libsodium releases the GIL). It is "
        "measured again just before and just after every phase it divides (sections 3 and "
        "6), and each ratio uses the larger of those two readings; a ratio above 1.0 fails "
        "the run."
    )
    return table(headers, [row]) + "\n\n" + notes


# --- 2. round trip ---------------------------------------------------------------------


def round_trip_section(settings: Settings, portal: Portal) -> str:
    """Sequential GETs of /api/v1/config on an idle server: kept-alive vs new connections."""
    count = 20 if settings.quick else 100
    progress(f"round trip: {count} sequential GETs, kept-alive and on new connections")
    rows = []
    medians = []
    for label, limits in (
        ("one kept-alive connection", httpx.Limits()),
        ("a new connection per request", httpx.Limits(max_keepalive_connections=0)),
    ):
        with httpx.Client(base_url=portal.url, timeout=30, limits=limits) as client:
            client.get("/api/v1/config")  # connect (kept-alive) and warm up
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                response = client.get("/api/v1/config")
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
        medians.append(statistics.median(samples))
        rows.append((label, fmt_ms(medians[-1]), fmt_ms(percentile(samples, 99))))
    notes = (
        f"{count} sequential GET `/api/v1/config` from one client thread, server idle: "
        "the floor under every latency below."
    )
    if medians[0] - medians[1] > 0.02:
        notes += (
            " **A kept-alive connection is slower than a new one by about "
            f"{fmt_ms(medians[0] - medians[1])}**: the signature of Nagle's algorithm "
            "meeting delayed ACKs, i.e. TCP_NODELAY is not set on the server's accepted "
            "sockets (uvicorn with `--workers` > 1 binds the listening socket with `proto` "
            "0, and asyncio then skips TCP_NODELAY: uvicorn issue #3149)."
        )
    return table(("GET /api/v1/config over", "p50", "p99"), rows) + "\n\n" + notes


# --- 3. HTML reports -------------------------------------------------------------------


def html_submission(client: httpx.Client, _job: object, result: LoadResult) -> None:
    start = time.perf_counter()
    try:
        token = form_token(client)
    except RuntimeError as exc:
        result.fail("form GET", str(exc))
        return
    got_form = time.perf_counter()
    body, content_type = browser_form(token)
    sent = time.perf_counter()
    response = client.post("/report/staff", content=body, headers={"Content-Type": content_type})
    done = time.perf_counter()
    if response.status_code != 201:
        result.fail(f"HTTP {response.status_code}", response.text)
    elif receipt_in(response.text) is None:
        result.fail("no receipt", response.text)
    else:
        result.succeed(done - sent, got_form - start)


def html_section(
    settings: Settings, portal: Portal, bound: KdfBound, database: str
) -> tuple[str, bool]:
    progress(
        f"HTML reports: {settings.submissions} by {settings.clients} concurrent clients "
        "(each GETs the form, then POSTs it)"
    )
    warmups = [None] * settings.clients
    since = last_item(portal.database_url)
    result, window = bound.around(
        lambda: run_load(portal, range(settings.submissions), warmups, html_submission)
    )
    read = read_back_opened(
        portal.database_url, since, result.all_ok, portal.oversight, READ_BACK_FIELDS
    )
    rows = load_rows(result, "reports")
    rows[3:3] = [
        ("Argon2id limit, measured before / after", window.text()),
        ("÷ Argon2id limit", f"{bound.ratio(result.rate, window, 'HTML reports'):.2f}"),
    ]
    rows.append(("read back", checked(read, "HTML reports")))
    rows.insert(-1, ("form GET latency p50", fmt_ms(percentile(result.side_latencies, 50))))
    notes = (
        f"{settings.clients} client threads, {settings.workers} server workers. A report = "
        "GET `/report/staff` (CSRF token and cookie) + POST of the multipart form "
        "(category, urgency, prison, a 154-character description, empty optional fields, "
        "an empty file input), answered by a 201 page holding a valid receipt. The rate "
        "counts accepted reports over the wall time of the whole phase, GETs included; "
        f"latencies are of the POST alone, which derives the reporter's keys (Argon2id, "
        f"t = 3, m = 64 MiB), seals the report and commits it to {database}. One untimed "
        "report per client warms up connections first. Afterwards every report stored "
        "in the phase is read back from the database, opened with the oversight key and "
        "its category and description compared with what was sent."
    )
    text = table(("HTML form, POST /report/staff", ""), rows) + "\n\n" + notes
    return text + failure_notes(result), not result.failures and read.ok


# --- 4. JSON API reports ---------------------------------------------------------------


def api_body(portal: Portal) -> bytes:
    """A ready-to-send `/api/v1/reports` body for a new receipt (keys at CHEAP_KDF)."""
    keys = crypto.derive_reporter_keys(crypto.generate_receipt(), portal.salt, CHEAP_KDF)
    document = {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": FORM_FIELDS["category"],
        "facility": FORM_FIELDS["facility"],
        "location": "",
        "occurred": "",
        "description": FORM_FIELDS["description"],
        "subjects": "",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sent_on": datetime.datetime.now(datetime.UTC).date().isoformat(),
    }
    body = {
        "sealed": crypto.b64u_encode(crypto.seal_report(document, portal.oversight_pk)),
        "lookup_id": crypto.b64u_encode(keys.lookup_id),
        "box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
        "blob_ids": [],
    }
    return json.dumps(body).encode()


def api_submission(client: httpx.Client, body: bytes, result: LoadResult) -> None:
    start = time.perf_counter()
    headers = {"Content-Type": "application/json"}
    response = client.post("/api/v1/reports", content=body, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 201 or "case" not in response.json():
        result.fail(f"HTTP {response.status_code}", response.text)
    else:
        result.succeed(elapsed)


def api_section(
    settings: Settings, portal: Portal, bound: KdfBound, database: str
) -> tuple[str, bool]:
    count = settings.api_submissions
    progress(f"JSON API: preparing {count + settings.clients} sealed reports (cheap KDF)")
    bodies = [api_body(portal) for _ in range(count + settings.clients)]
    progress(f"JSON API: {count} reports by {settings.clients} concurrent clients")
    result = run_load(portal, bodies[:count], bodies[count:], api_submission)
    read = read_back_reports(portal.database_url, sent_reports(bodies), result.all_ok)
    rows = load_rows(result, "reports")
    rows.insert(3, ("÷ Argon2id limit (for scale)", f"{result.rate / bound.readings[-1]:.1f}"))
    rows.append(("read back", checked(read, "JSON API reports")))
    notes = (
        f"{settings.clients} client threads, {settings.workers} server workers. Each POST "
        "`/api/v1/reports` carries a sealed report (1 KiB bucket) for a new receipt, with "
        f"keys derived client-side at t = {CHEAP_KDF.t}, m = {CHEAP_KDF.m_kib} KiB (each "
        "report needs its own `lookup_id`); all bodies are built before the clock starts, "
        "so the phase times only HTTP and the server, which runs no KDF here: JSON and "
        f"field checks, one {database} transaction (durable before the 201), the "
        "response. Client and server share the machine's cores; the CPU rows show who "
        "spent what. Afterwards every report is looked up in the database by its "
        "`lookup_id` and the SHA-256 of its stored sealed bytes compared with what was sent."
    )
    text = table(("JSON API, POST /api/v1/reports", ""), rows) + "\n\n" + notes
    return text + failure_notes(result), not result.failures and read.ok


# --- 6. concurrency sweep ------------------------------------------------------------


def sweep_text(settings: Settings, portal: Portal, bound: KdfBound, database: str) -> str:
    html_table, html = html_sweep(
        portal,
        settings.sweep,
        settings.sweep_html_seconds,
        bound,
        html_submission,
        settings.fresh_connections,
    )
    api_table, api = api_sweep(
        # Bodies for 2 × this rate are built first; past it, wrk would run out of them.
        portal,
        settings.sweep,
        settings.sweep_seconds,
        lambda: api_body(portal),
        3000.0,
    )
    notes = (
        "HTML: each client thread GETs the form and POSTs it, back to back, server-side "
        "Argon2id at `V1_KDF`. After the queues have filled (1.5 × clients ÷ bound seconds, "
        f"at least 3 s), reports that finish in the next {settings.sweep_html_seconds} s are "
        "counted, and the latencies are theirs: the steady state. Connections: "
        + (
            "a new one for every request, as nginx makes them. "
            if settings.fresh_connections
            else "each client keeps its own alive. "
        )
        + "The ratio is to the Argon2id limit measured just before and just after each "
        "client count (section 1), the larger reading. JSON API: wrk with 2 threads and N "
        f"connections for {settings.sweep_seconds} s each, every request a different "
        "pre-sealed report (keys derived client-side at the cheap KDF, so the server runs "
        "none): what a flood of client-sealed reports, junk included, costs the portal. "
        "The rate is 201s ÷ the time wrk measured, not the nominal duration; "
        '"server CPU per request" = user + system time of every server process during the '
        "wrk run ÷ the requests answered, the figure to compare code paths by on a shared "
        'machine; "database CPU per request" the same for the PostgreSQL backends serving '
        "the portal's database (from /proc: a server on this machine; — on SQLite). "
        "Latencies "
        "are wrk's, from sending the request to the end of the answer. After each row, "
        "every report answered 201 is read back from the database (count, and the SHA-256 "
        'of its stored sealed bytes against what was sent): "lost" is printed only from '
        "that check, and a loss fails the run."
    )
    goals = verdicts(html, api, database)
    return "\n\n".join(
        ["### HTML form reports", html_table, "### JSON API reports", api_table, notes, goals]
    )


# --- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/portal.py",
        description=(
            "Benchmark a real Lanthorn portal on this machine: `lanthorn portal init` and "
            "`lanthorn portal serve` (production Argon2id) in a temporary directory, then "
            "HTML-form reports/s under concurrency against the Argon2id bound, JSON API "
            "reports/s, and large streamed uploads (HTML attachment, API blob) and a "
            "console download, with MB/s against raw secretstream and the server's RSS "
            "sampled throughout. Results are printed as Markdown tables on stdout; "
            "progress goes to stderr. The server is stopped and the directory deleted at "
            "the end, whatever happens."
        ),
        epilog=(
            "Exit status: 0, or 1 if a request failed, a transfer did not verify, a read "
            "back from the database found an accepted report lost or changed, the server "
            "logged an error, the file made a server process grow by 32 MiB or more, or a "
            "ratio to a limit measured in the same window came out above 1.0 (printed as "
            "a RUN FAILED: line). A full run takes 3–5 minutes on 2 cores and needs about "
            "3.2 GiB of free space in the temporary directory (two stored 1 GiB uploads "
            "and SecureDrop's pipeline's output)."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20 HTML and 50 API reports, 64 MiB uploads; about 10 s",
    )
    for flag, metavar, text in (
        ("--workers", "N", f"server worker processes (default: os.cpu_count() = {CORES})"),
        ("--clients", "N", f"concurrent client threads (default: 2 × cores = {2 * CORES})"),
        ("--submissions", "N", "HTML reports to time (default: 200; quick: 20)"),
        ("--api-submissions", "N", "JSON API reports to time (default: 1000; quick: 50)"),
        ("--upload-mib", "MIB", "size of each upload in MiB (default: 1024; quick: 64)"),
    ):
        parser.add_argument(flag, type=int, metavar=metavar, help=text)
    parser.add_argument(
        "--sweep",
        metavar="N,N,…",
        help="client counts for the concurrency sweep (default: 1,8,32,128; quick: 1,8)",
    )
    parser.add_argument(
        "--sweep-seconds",
        type=int,
        metavar="S",
        help="seconds of wrk load per client count, JSON API (default: 10; quick: 3)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the portal on PostgreSQL: a server URL such as "
        "postgresql://root@127.0.0.1:5432/test; the benchmark creates and drops its own "
        "database lanthorn_bench_portal there (default: SQLite)",
    )
    parser.add_argument(
        "--no-transfers", action="store_true", help="skip the 1 GiB uploads and download"
    )
    parser.add_argument(
        "--new-connections",
        action="store_true",
        help="HTML sweep: open a new connection for every request, as nginx does in front "
        "of the portal (default: each client keeps its connection alive)",
    )
    parser.add_argument("--port", type=int, help="server port (default: a free one)")
    parser.add_argument(
        "--set",
        metavar="LANTHORN_NAME=VALUE",
        action="append",
        default=[],
        help="a setting for the server (docs/operations.md), e.g. "
        "LANTHORN_KDF_CONCURRENCY=1; may be given more than once",
    )
    parser.add_argument(
        "--lanthorn",
        metavar="PATH",
        help="the `lanthorn` command (default: the one next to this Python)",
    )
    args = parser.parse_args(argv)
    chosen = {}
    for item in args.set:
        name, equals, value = item.partition("=")
        if not equals or not name.startswith("LANTHORN_"):
            parser.error(f"--set takes LANTHORN_NAME=VALUE, not {item!r}")
        chosen[name] = value
    args.set = chosen
    if args.sweep is not None:
        try:
            counts = [int(n) for n in args.sweep.split(",")]
        except ValueError:
            parser.error("--sweep takes client counts separated by commas, e.g. 1,8,32")
        if min(counts) < 1:
            parser.error("--sweep client counts must be at least 1")
    for name in ("workers", "clients", "submissions", "api_submissions", "upload_mib"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_args(args)
    lanthorn = lanthorn_command(args.lanthorn)
    began = time.perf_counter()
    steal_before, total_before = cpu_times()
    ok = True
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.postgres:
            database_url = stack.enter_context(
                fresh_database(args.postgres, "lanthorn_bench_portal")
            )
        database = "PostgreSQL" if database_url else "SQLite"
        portal = stack.enter_context(
            running_portal(lanthorn, settings.workers, args.port, database_url, args.set)
        )
        print("# Lanthorn portal benchmark\n", flush=True)
        print(
            header(settings, portal.data_dir.parent.parent, database, args.set) + "\n",
            flush=True,
        )

        bound = KdfBound(portal.salt, settings.parallel_rounds)
        print(f"## 1. Argon2id limit\n\n{kdf_section(settings, bound)}\n", flush=True)
        print(f"## 2. Round trip\n\n{round_trip_section(settings, portal)}\n", flush=True)
        for title, section in (
            ("3. HTML reports (server-side Argon2id)", html_section),
            ("4. JSON API reports (no server-side KDF)", api_section),
        ):
            text, passed = section(settings, portal, bound, database)
            ok = ok and passed
            print(f"## {title}\n\n{text}\n", flush=True)
        if settings.transfers:
            text, passed = transfers_section(portal, settings.upload_bytes, settings.raw_bytes)
            ok = ok and passed
            print(f"## 5. Uploads, download and server memory\n\n{text}\n", flush=True)
        print(f"## 6. Concurrency sweep\n\n{sweep_text(settings, portal, bound, database)}\n")

        errors = portal.server_errors()
        listed = "\n".join(f"    {line}" for line in errors[:10])
        print(
            f"Server log: {len(errors)} ERROR line(s)" + (f":\n\n{listed}\n" if errors else "."),
            flush=True,
        )
        ok = ok and not errors
        steal, total = (
            a - b for a, b in zip(cpu_times(), (steal_before, total_before), strict=True)
        )
        if total:
            print(
                f"CPU steal time during the run (time the hypervisor gave this machine's "
                f"CPUs to others): {100 * steal / total:.1f} % of all CPU time. "
                f"Load average at the end (1, 5, 15 min): {load_average()}.",
                flush=True,
            )
    progress(f"done in {time.perf_counter() - began:.0f} s")
    return exit_status(ok)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # the portal would not start, or a setup step failed
        print(f"bench/portal.py: {exc}", file=sys.stderr)
        sys.exit(1)
