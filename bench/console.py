#!/usr/bin/env python3
"""Benchmark the triage console at 1,000, 10,000 and 100,000 cases, in one run.

For each database (SQLite, and PostgreSQL when one answers) the console grows through the
sizes. At each size: cases are generated into the console database, sealed by the console
itself (bench/_cases.py; not through the portal); a real `lanthorn triage serve` is
started sealed and unsealed through its page with the production Argon2id, and timed
until its search index is ready; a real portal's outbox is filled with a tenth as many
new reports through its JSON API, and the console syncs them ("Sync now"); then case-list
pages and searches are timed over HTTP as signed-in officers, each against a limit
measured in the same run: a bare SQL `SELECT` of the same page, a Python set intersection
over the same index, `crypto.open_document` in a loop. The console's memory is read from
/proc. docs/benchmarks.md explains each figure.

Run from the repository root:

    .venv/bin/python bench/console.py            # full run, 6–12 minutes on 2 cores
    .venv/bin/python bench/console.py --quick    # smoke run, about a minute

Exit status 1 if a request failed, a sync did not take in every item, or a server logged
an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

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
from _timing import per_call, percentile

import crypto
from triage.case_filters import Cursor, Filters
from triage.console import Console, prepare_database
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


def new_reports(portal: Portal, generator: Generator, count: int) -> list[bytes]:
    """`count` ready-to-send `POST /api/v1/reports` bodies, sealed to the portal's key."""
    reply_key = crypto.b64u_encode(bytes(crypto.PrivateKey.generate().public_key))
    bodies = []
    for _ in range(count):
        document = generator.report() | {"reply_box_pk": reply_key}
        body = {
            "sealed": crypto.b64u_encode(crypto.seal_report(document, portal.oversight_pk)),
            "lookup_id": crypto.b64u_encode(secrets.token_bytes(32)),  # unique in each run
            "box_pk": reply_key,
            "sign_pk": crypto.b64u_encode(bytes(crypto.SigningKey.generate().verify_key)),
            "blob_ids": [],
        }
        bodies.append(json.dumps(body).encode())
    return bodies


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
    if console.engine.dialect.name == "postgresql":
        # What autovacuum does within a minute or two of a bulk load on a real server:
        # statistics for the planner, and the visibility map that index-only scans need.
        progress(f"{size:,}: VACUUM ANALYZE (as autovacuum would after a bulk load)")
        with console.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE cases, items"
            )

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

            count = max(1, size // 10)
            progress(f"{size:,}: sending {count:,} new reports to the portal (JSON API)")
            bodies = new_reports(portal, generator, count)
            sent = run_load(portal, bodies[4:], bodies[:4], post_report)
            if sent.failures:
                result.failures.append(f"portal refused reports: {dict(sent.failures)}")
            progress(f"{size:,}: Sync now ({count:,} items)")
            page = triage.get("/cases").text
            start = time.perf_counter()
            # Answered by a redirect to the case list, which says what the sync took in.
            fields = action_fields(page, "/sync")
            synced = triage.post("/sync", data=fields, follow_redirects=True)
            result.sync_seconds = time.perf_counter() - start
            taken = synced.text.split("Synced: ", 1)[-1].split(" new items", 1)[0]
            result.synced = int(taken) if taken.isdigit() else 0
            if result.synced != count:
                result.failures.append(f"sync took in {taken[:80]!r} of {count} items")
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
            "Exit status: 0, or 1 if a request failed, a sync missed items or a server "
            "logged an error. Creates and drops the PostgreSQL database "
            f"{BENCH_DATABASE} (never another)."
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
        list_samples=20 if args.quick else 100,
        search_samples=10 if args.quick else 60,
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
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:
        print(f"bench/console.py: {exc}", file=sys.stderr)
        sys.exit(1)
