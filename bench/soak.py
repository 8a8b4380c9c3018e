#!/usr/bin/env python3
"""Reliability soak: load without loss, crash, database faults, then a leak scan.

Run by `scripts/soak` (which makes .venv first); docs/reliability.md records a run and
explains each figure. Four phases, each against the real `lanthorn portal serve
--workers 2`, each with its own console made by `lanthorn triage init`:

1. load without loss (PostgreSQL, a database of its own): 5,000 reports from 50
   concurrent clients, HTML forms and API clients, files of many sizes, follow-up
   messages; no 5xx, every receipt opens its case, the console takes in exactly 5,000
   reports with every file whole, although its sync is killed twice on the way;
2. crash (SQLite): `kill -9` the portal while 100 reporters are mid-request, restart it;
3. database faults (a private PostgreSQL cluster): stop it mid-load, start it again;
4. leak scan of everything the run wrote.

    scripts/soak            # full run: under 20 minutes on 2 cores
    scripts/soak --quick    # smoke run: 1 to 3 minutes

Exit status 1 if anything checked fails (the tables on stdout say what).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# `python bench/soak.py` puts bench/ first on sys.path: put the repository root before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _soak_crash
import _soak_leaks
import _soak_load
import _soak_outage
import psycopg
from _report import machine_header, progress, version
from _soak_common import CONSOLES, PORTALS, Verdicts

from tests.reliability.postgres import PrivatePostgres, private_postgres, why_unavailable
from tests.reliability.reporters import Sent, run_prefix

SOAK_DATABASE = "lanthorn_soak"  # the only database this script creates or drops


@dataclass(frozen=True)
class Size:
    reports: int
    clients: int
    crash_reporters: int
    outage_clients: int
    outage_seconds: tuple[float, float, float]  # load before, database down, load after


FULL = Size(5000, 50, 100, 20, (10.0, 20.0, 10.0))
QUICK = Size(300, 16, 30, 8, (3.0, 6.0, 4.0))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    user = os.environ.get("PGUSER") or getpass.getuser()
    parser = argparse.ArgumentParser(
        prog="scripts/soak",
        description=(
            "Reliability soak of a real Lanthorn portal and console: load without loss, "
            "kill -9 mid-flight, a PostgreSQL outage, and a leak scan. Results as Markdown "
            "tables on stdout, progress on stderr."
        ),
        epilog="Exit status: 0 if every check passed, 1 otherwise.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 reports, 1 to 3 min")
    parser.add_argument("--reports", type=int, help="phase 1 reports (default 5000; quick 300)")
    parser.add_argument("--clients", type=int, help="phase 1 clients (default 50; quick 16)")
    parser.add_argument(
        "--postgres",
        default=f"postgresql://{user}@127.0.0.1:5432/postgres",
        metavar="URL",
        help=f"a PostgreSQL server where phase 1 may create and drop {SOAK_DATABASE!r} "
        "(default: %(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    return parser.parse_args(argv)


@contextlib.contextmanager
def soak_database(admin_url: str) -> Iterator[str]:
    """A fresh `lanthorn_soak` database on the given server; dropped afterwards."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SOAK_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SOAK_DATABASE}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{SOAK_DATABASE}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{SOAK_DATABASE}" WITH (FORCE)')


def stop_portals() -> None:
    for portal in PORTALS:
        portal.stop()


def phase(title: str, verdicts: Verdicts, run: Callable[[], str]) -> None:
    """Run one phase and print its table; a phase that breaks is a failed check."""
    began = time.perf_counter()
    progress(title)
    try:
        text = run()
    except Exception as exc:  # noqa: BLE001 - reported as a failure; the next phase runs
        traceback.print_exc()
        verdicts.check(f"{title}: ran to the end", False, f"{type(exc).__name__}: {exc}")
        text = "The phase stopped with an error (see stderr)."
    print(f"## {title}\n\n{text}\n\n({time.perf_counter() - began:.0f} s)\n", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    size = QUICK if args.quick else FULL
    reports = args.reports or size.reports
    clients = args.clients or size.clients
    began = time.perf_counter()
    started = time.time() - 1
    prefix = run_prefix()
    verdicts = Verdicts()
    root = Path(tempfile.mkdtemp(prefix="lanthorn-soak-"))
    databases: list[tuple[str, str]] = []
    sent: list[Sent] = []

    print("# Lanthorn reliability soak\n", flush=True)
    extra = [
        ("command", f"`scripts/soak{' --quick' if args.quick else ''}`"),
        ("packages", ", ".join(f"{p} {version(p)}" for p in ("uvicorn", "sqlalchemy", "psycopg"))),
        ("portal", "`lanthorn portal serve --workers 2` on 127.0.0.1, production Argon2id"),
        ("work directory", str(root)),
    ]
    print(machine_header(extra) + "\n", flush=True)
    with contextlib.ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, root, True)
        else:
            stack.callback(progress, f"kept {root}")

        def load() -> str:
            url = stack.enter_context(soak_database(args.postgres))
            stack.callback(stop_portals)
            out = _soak_load.run(root, url, prefix, reports, clients, verdicts)
            databases.append(("phase 1, PostgreSQL", url))
            sent.extend(out.sent)
            return out.markdown

        def crash() -> str:
            out = _soak_crash.run(root, prefix, size.crash_reporters, verdicts)
            databases.append(("phase 2, SQLite", out.database_url))
            sent.extend(out.sent)
            return out.markdown

        postgres: list[PrivatePostgres] = []

        def outage() -> str:
            reason = why_unavailable()
            if reason is not None:
                raise RuntimeError(f"no private PostgreSQL cluster can be started: {reason}")
            server = stack.enter_context(private_postgres())
            stack.callback(stop_portals)  # before the database they use goes away
            postgres.append(server)
            out = _soak_outage.run(
                root, server, prefix, size.outage_clients, size.outage_seconds, verdicts
            )
            databases.append(("phase 3, private PostgreSQL", server.url))
            sent.extend(out.sent)
            return out.markdown

        def leaks() -> str:
            receipts = [s.receipt for s in sent if s.accepted]
            return _soak_leaks.run(
                started,
                prefix,
                receipts,
                PORTALS,
                databases,
                CONSOLES,
                postgres[0] if postgres else None,
                verdicts,
            )

        stack.callback(stop_portals)
        phase(f"1. Load without loss: {reports:,} reports, {clients} clients", verdicts, load)
        phase(f"2. Crash: kill -9 with {size.crash_reporters} reporters in flight", verdicts, crash)
        phase("3. Database faults: PostgreSQL stopped mid-load", verdicts, outage)
        phase("4. Leak scan", verdicts, leaks)
        print(f"## Verdict\n\n{verdicts.markdown()}\n", flush=True)
    total = time.perf_counter() - began
    print(f"Whole run: {total / 60:.1f} min. Result: {'PASS' if verdicts.passed else 'FAIL'}.")
    return 0 if verdicts.passed else 1


if __name__ == "__main__":
    sys.exit(main())
