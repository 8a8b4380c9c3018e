#!/usr/bin/env python3
"""Benchmark the triage console at 1,000, 10,000 and 100,000 cases, in one run.

For each database (SQLite, and PostgreSQL when one answers) the console grows through the
sizes. At each size: cases are generated into the console database, sealed by the console
itself (bench/_cases.py; not through the portal); a real `lanthorn triage serve` is
started sealed and unsealed through its page with the production Argon2id, and timed
until its search index is ready; a real portal's outbox is filled with a fixed batch of
new reports (1,000 by default, whatever the size) through its JSON API, the console syncs
them ("Sync now"), and the console's database is read to check that each arrived intact
(PostgreSQL is given `VACUUM (ANALYZE)` after every bulk load); then case-list
pages and searches are timed over HTTP as signed-in officers, each against a limit
measured in the same run: a bare SQL `SELECT` of the same page, a Python set intersection
over the same index, `crypto.open_document` in a loop. The console's memory is read from
/proc. docs/benchmarks.md explains each figure.

Run from the repository root:

    .venv/bin/python bench/console.py            # full run, 20–40 minutes on 2 cores
    .venv/bin/python bench/console.py --quick    # smoke run, about a minute

Exit status 1 if a request failed, a sync did not take in every item, a server logged
an error, or a ratio to a limit measured in the same run came out impossible (the run then
prints a `RUN FAILED:` line). A tail latency is a p99 from 1,000 samples or more (the
full run's case-list pages), else printed as "max of N".
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `python bench/console.py` puts bench/ first on sys.path, where crypto.py would shadow
# the `crypto` package: put the repository root before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from _cases import ABSENT, RARE, RARE_CASES, Generator, existing_cases, generate
from _console_list import bare_page, list_section
from _console_report import SizeResult, Timed, report
from _console_server import action_fields, enrol, running_console, sign_in, unseal
from _load import LoadResult, run_load
from _memory import reset_high_water_mark, rss_bytes
from _report import machine_header, progress
from _report import version as package_version
from _server import Portal, lanthorn_command, running_portal
from _timing import P99_SAMPLES, per_call, percentile
from _verdict import exit_status
from sqlalchemy import select

import crypto
from triage.case_filters import Cursor, Filters
from triage.console import Console, prepare_database
from triage.db import Case as ConsoleCase
from triage.db import Item as ConsoleItem
from triage.db import set_state
from triage.keys import KEYS_FILE, Unsealed, key_ceremony, seal_keys
from triage.officers import add_officer
from triage.search import SearchIndex
from triage.settings import TriageSettings

PASSPHRASES = ["amber lantern over the wing", "seven quiet keys on a ring", "the long shift ends"]
DEFAULT_POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"
BENCH_DATABASE = "lanthorn_bench_console"
TRIAGE, INVESTIGATOR, UNIT = "bench-triage", "bench-investigator", "counter_corruption"
SEARCHES = {  # label → query; _cases.py plants these words at known rates
    "common word (`laundry`)": "laundry",
    "two common words (`laundry night`)": "laundry night",
    f"rare word (`{RARE}`, {RARE_CASES} cases)": RARE,
    "prefix (`offic` → officer, office, official)": "offic",
    f"no match (`{ABSENT}`)": ABSENT,
}


@dataclass(frozen=True)
class Settings:
    quick: bool
    sizes: tuple[int, ...]
    backends: tuple[str, ...]
    postgres_url: str
    list_samples: int
    search_samples: int
    sync_reports: int  # new reports synced at every size (not tied to the size)


# --- set-up ------------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, postgres_url: str, data_dir: Path) -> Iterator[str]:
    """An empty console database: a file, or our own PostgreSQL database, dropped after."""
    if backend == "sqlite":
        yield f"sqlite+pysqlite:///{data_dir / 'console.db'}"
        return
    server = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
        conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{BENCH_DATABASE}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3
        ):
            return True
    except psycopg.Error:
        return False


def adopt_portal_keys(settings: TriageSettings, unsealed: Unsealed, portal: Portal) -> Unsealed:
    """The throwaway portal made its own oversight and console keys: the console takes
    them, sealed under its vault key exactly as `triage init` seals its own."""
    adopted = Unsealed(
        unsealed.vault_key, portal.oversight, portal.console, oversight_sign=portal.oversight_sign
    )
    (settings.data_dir / KEYS_FILE).write_bytes(seal_keys(adopted))
    return adopted


def new_reports(
    portal: Portal, generator: Generator, count: int
) -> tuple[list[bytes], dict[bytes, bytes]]:
    """`count` ready-to-send `POST /api/v1/reports` bodies, sealed to the portal's key, and
    for each its reply key → the SHA-256 of its document, to find in the console's
    database. Each report has a case key of its own, as reporters do: the console takes
    in one case per key (docs/protocol.md §16.4) and sets aside any other report that
    names the same one. (Before issue 20 the whole batch shared one key, and all but one
    report of each sync were set aside while the page counted them as synced.)"""
    bodies, sent = [], {}
    for _ in range(count):
        reply_pk = bytes(crypto.PrivateKey.generate().public_key)
        reply_key = crypto.b64u_encode(reply_pk)
        document = generator.report() | {"reply_box_pk": reply_key}
        sent[reply_pk] = document_digest(document)
        body = {
            "sealed": crypto.b64u_encode(crypto.seal_report(document, portal.oversight_pk)),
            "lookup_id": crypto.b64u_encode(secrets.token_bytes(32)),  # unique in each run
            "box_pk": reply_key,
            "sign_pk": crypto.b64u_encode(bytes(crypto.SigningKey.generate().verify_key)),
            "blob_ids": [],
        }
        bodies.append(json.dumps(body).encode())
    return bodies, sent


def document_digest(document: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).digest()


def synced_from_database(console: Console, sent: dict[bytes, bytes]) -> int:
    """How many of the sent reports the console's database holds as cases: found by their
    reply keys, each report item unsealed with the vault key and its document's SHA-256
    compared with the one sent. Read from the database, not from the page's text."""
    found = 0
    keys = list(sent)
    with console.sessions() as session:
        for start in range(0, len(keys), 500):
            rows = session.execute(
                select(ConsoleCase.reply_box_pk, ConsoleItem.content)
                .join(ConsoleItem, ConsoleItem.case_id == ConsoleCase.id)
                .where(
                    ConsoleCase.reply_box_pk.in_(keys[start : start + 500]),
                    ConsoleItem.kind == "report",
                )
            )
            for reply_pk, content in rows:
                document = console._open(content)["document"]
                if document_digest(document) == sent[bytes(reply_pk)]:
                    found += 1
    return found


def already_vouched(console: Console) -> None:
    """Make the console one that has vouched for its history already, as every console
    does once, at its first sync after protocol v2 (`Console._vouch_for_history`).

    Otherwise the first sync queues a signed status item for every generated case
    (`bench/_cases.py` writes no signed headers), and the portal, which has never heard
    of those cases, refuses each; they stay queued and are sent again at every sync. The
    sync figures then timed the benchmark's own cases (4–5 ms each, every sync), not the
    intake of new reports."""
    with console.sessions() as session:
        set_state(session, "vouched_for_history", datetime.date.today().isoformat())
        session.commit()


def vacuum_analyze(console: Console, why: str) -> None:
    """On PostgreSQL, `VACUUM (ANALYZE)` the whole database after a bulk load: the planner's
    statistics and the visibility map (index-only scans) are then what autovacuum would
    leave within a minute or two, whether or not autovacuum runs on the server."""
    if console.engine.dialect.name != "postgresql":
        return
    progress(f"VACUUM (ANALYZE) {why}")
    with console.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE)")


def post_report(client: httpx.Client, body: bytes, result: LoadResult) -> None:
    start = time.perf_counter()
    response = client.post(
        "/api/v1/reports", content=body, headers={"Content-Type": "application/json"}
    )
    if response.status_code != 201:
        result.fail(f"HTTP {response.status_code}", response.text)
    else:
        result.succeed(time.perf_counter() - start)


# --- measuring -----------------------------------------------------------------------------


def sample(
    client: httpx.Client, path: str, count: int, check: Callable[[str], bool]
) -> list[float]:
    for _ in range(3):  # warm up
        client.get(path)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        if response.status_code != 200 or not check(response.text):
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}\n{response.text[:400]}")
    return times


def set_floor(index: SearchIndex, query: str) -> float:
    """Median time to intersect Python sets of case numbers for the query's words, built
    in advance from the same index: matching, with nothing else to do."""
    sets = index.word_sets(query)

    def intersect() -> int:
        found = sets[0]
        for other in sets[1:]:
            found = found & other
        return len(found)

    return per_call(intersect, 0.3, 5)


def search_section(
    result: SizeResult, console: Console, triage: httpx.Client, samples: int
) -> None:
    first_page = bare_page(console, Filters(), Cursor())
    for label, query in SEARCHES.items():
        found = console.search.find(query)
        progress(f"{result.size:,}: search {query!r} × {samples}")
        path = "/cases?" + str(httpx.QueryParams({"q": query}))
        times = sample(triage, path, samples, lambda page: "Search is being prepared" not in page)
        limit = set_floor(console.search, query) + first_page
        result.searches.append(Timed(label, times, limit, f"{len(found or ()):,} cases"))


def wait_until_searchable(client: httpx.Client) -> None:
    path = "/cases?" + str(httpx.QueryParams({"q": ABSENT}))
    while "Search is being prepared" in client.get(path).text:
        time.sleep(0.05)


def peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def one_size(
    settings: Settings,
    size: int,
    console: Console,
    generator: Generator,
    portal: Portal,
    lanthorn: str,
    totp: dict[str, str],
) -> SizeResult:
    result = SizeResult(size)
    need = size - existing_cases(console)
    start = time.perf_counter()
    generate(console, generator, need, progress)
    result.generate_seconds = time.perf_counter() - start
    vacuum_analyze(console, f"at {size:,}, after generating {need:,} cases")

    progress(f"{size:,}: building the search index in this process")
    console.search.close()
    console.search = SearchIndex(console.sessions, console._open)
    start = time.perf_counter()
    console.search.build()
    result.build_seconds = time.perf_counter() - start

    url = console.settings.database_url
    with running_console(lanthorn, console.settings.data_dir, url, portal.url) as server:
        pid = server.process.pid
        result.rss_sealed = rss_bytes(pid) or 0
        reset_high_water_mark(pid)
        triage, investigator = server.client(), server.client()
        try:
            progress(f"{size:,}: unsealing (production Argon2id), then waiting for search")
            start = time.perf_counter()
            unseal(triage, PASSPHRASES[:2])
            result.unseal_seconds = time.perf_counter() - start
            signing_in = time.perf_counter()
            for name, client in ((TRIAGE, triage), (INVESTIGATOR, investigator)):
                if name not in totp:
                    totp[name] = enrol(client, name, totp.pop(f"setup:{name}"))
                sign_in(client, name, totp[name])
            signed_in = time.perf_counter() - signing_in
            wait_until_searchable(triage)
            result.ready_seconds = time.perf_counter() - start - signed_in
            result.rss_ready = rss_bytes(pid) or 0

            count = settings.sync_reports
            progress(f"{size:,}: sending {count:,} new reports to the portal (JSON API)")
            bodies, sent_keys = new_reports(portal, generator, count)
            sent = run_load(portal, bodies[4:], bodies[:4], post_report)
            if sent.failures:
                result.failures.append(f"portal refused reports: {dict(sent.failures)}")
            progress(f"{size:,}: Sync now ({count:,} items)")
            page = triage.get("/cases").text
            start = time.perf_counter()
            fields = action_fields(page, "/sync")
            synced = triage.post("/sync", data=fields, follow_redirects=True)
            result.sync_seconds = time.perf_counter() - start
            result.sync_expected = count
            result.synced = synced_from_database(console, sent_keys)
            if synced.status_code != 200 or result.synced != count:
                result.failures.append(
                    f"sync: HTTP {synced.status_code}; the console's database holds "
                    f"{result.synced:,} of the {count:,} reports sent, content checked"
                )
            vacuum_analyze(console, f"at {size:,}, after the sync")
            console.search.refresh()  # this process's copy follows, for the limits below
            result.cases = existing_cases(console)
            result.index_bytes = console.search.memory()
            result.index_counts = console.search.counts()
            sealed = crypto.b64u_decode(json.loads(bodies[0])["sealed"])
            result.open_rate = 1 / per_call(
                lambda: crypto.open_document(sealed, portal.oversight), 0.5, 5
            )

            floor = sample(triage, "/static/console.css", settings.list_samples, bool)
            result.floor = percentile(floor, 50)  # the round trip, for scale
            list_section(result, console, triage, investigator, settings.list_samples, sample)
            search_section(result, console, triage, settings.search_samples)
            result.rss_after = rss_bytes(pid) or 0
            result.hwm = peak_rss(pid)
        finally:
            triage.close()
            investigator.close()
        errors = server.server_errors()
        if errors:
            result.failures.append(f"console log: {errors[:3]}")
    return result


def run_backend(
    settings: Settings, backend: str, portal: Portal, lanthorn: str
) -> list[SizeResult]:
    with tempfile.TemporaryDirectory(prefix="lanthorn-bench-console-") as tmp:
        data = Path(tmp) / "console"
        data.mkdir()
        with database(backend, settings.postgres_url, data) as url:
            console_settings = TriageSettings(data_dir=data, database_url=url)
            prepare_database(console_settings)
            progress(f"{backend}: key ceremony (production Argon2id, 2 of 3)")
            unsealed = key_ceremony(console_settings, PASSPHRASES, 2)
            unsealed = adopt_portal_keys(console_settings, unsealed, portal)
            console = Console(console_settings, unsealed, who="bench:generate")
            already_vouched(console)
            totp = {
                f"setup:{TRIAGE}": add_officer(console, TRIAGE, "triage", None),
                f"setup:{INVESTIGATOR}": add_officer(console, INVESTIGATOR, "investigator", UNIT),
            }
            generator = Generator()
            try:
                return [
                    one_size(settings, size, console, generator, portal, lanthorn, totp)
                    for size in settings.sizes
                ]
            finally:
                console.close()


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(
        prog="bench/console.py",
        description=(
            "Benchmark the triage console at growing sizes: sync from a real portal, "
            "unsealing until search is ready, case-list pages and full-text search over "
            "HTTP, memory; on SQLite and PostgreSQL. Markdown on stdout, progress on stderr."
        ),
        epilog=(
            "Exit status: 0, or 1 if a request failed, the console's database did not "
            "hold every report sent, a server logged an error, or a ratio to a limit came "
            "out impossible (printed as a RUN FAILED: line). Creates and drops the "
            f"PostgreSQL database {BENCH_DATABASE} (never another)."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 and 1,000 cases")
    parser.add_argument("--sizes", help="comma-separated case counts (default 1000,10000,100000)")
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="sqlite, postgresql or both (default)"
    )
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES,
        help=f"a PostgreSQL server to create {BENCH_DATABASE} on (default: {DEFAULT_POSTGRES})",
    )  # fmt: skip
    parser.add_argument(
        "--sync-reports",
        type=int,
        metavar="N",
        help="new reports the console syncs at every size (default 1000; quick 50); "
        "e.g. --sizes 100000 --sync-reports 10000 for the sync of 10,000 reports",
    )
    parser.add_argument("--lanthorn", metavar="PATH", help="the `lanthorn` command")
    args = parser.parse_args(argv)
    sizes = args.sizes or ("300,1000" if args.quick else "1000,10000,100000")
    try:
        parsed = tuple(int(s) for s in sizes.split(","))
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas")
    if sorted(parsed) != list(parsed) or parsed[0] < 50:
        parser.error("--sizes must grow, from at least 50")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if not set(backends) <= {"sqlite", "postgresql"}:
        parser.error("--backends: sqlite, postgresql or both")
    return args, Settings(
        quick=args.quick,
        sizes=parsed,
        backends=backends,
        postgres_url=args.postgres_url,
        list_samples=20 if args.quick else P99_SAMPLES,
        search_samples=10 if args.quick else 100,
        sync_reports=args.sync_reports or (50 if args.quick else 1000),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args, settings = parse_args(argv)
    lanthorn = lanthorn_command(args.lanthorn)
    began = time.perf_counter()
    backends = list(settings.backends)
    if "postgresql" in backends and not postgres_answers(settings.postgres_url):
        progress(f"no PostgreSQL at {settings.postgres_url}: SQLite only")
        backends.remove("postgresql")
    ok = True
    with running_portal(lanthorn, 1, None) as portal:
        print("# Lanthorn console benchmark\n", flush=True)
        packages = ("starlette", "uvicorn", "SQLAlchemy", "psycopg", "PyNaCl")
        print(
            machine_header(
                [
                    ("packages", ", ".join(f"{p} {package_version(p.lower())}" for p in packages)),
                    ("console", "`lanthorn triage serve` (one process) on 127.0.0.1"),
                    ("portal", "`lanthorn portal serve --workers 1`, SQLite"),
                    ("sizes", ", ".join(f"{s:,}" for s in settings.sizes)),
                    ("mode", "quick (smoke run)" if settings.quick else "full"),
                ]
            )
            + "\n",
            flush=True,
        )
        for backend in backends:
            results = run_backend(settings, backend, portal, lanthorn)
            print(report("SQLite" if backend == "sqlite" else "PostgreSQL", results) + "\n")
            ok = ok and not any(r.failures for r in results)
        errors = portal.server_errors()
        if errors:
            print(f"Portal log: {len(errors)} ERROR line(s): {errors[:3]}")
            ok = False
    progress(f"done in {time.perf_counter() - began:.0f} s")
    print(f"Whole run: {time.perf_counter() - began:.0f} s.")
    return exit_status(ok)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:
        print(f"bench/console.py: {exc}", file=sys.stderr)
        sys.exit(1)
