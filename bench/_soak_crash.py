"""Phase 2 of the soak: `kill -9` the whole portal (serve and both uvicorn workers) while
about a hundred reports and uploads are in flight, then start it again.

Every report whose receipt reached its reporter must be whole and open at the console;
no blob row may name a missing or partial file; `serve` must delete the temporary files
the dead uploads left. The portal runs on SQLite here (phase 1 ran on PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from _report import progress, table
from _soak_common import (
    HEADERS,
    Reporters,
    SoakConsole,
    Submission,
    Verdicts,
    fmt_counts,
    new_portal,
    run_pool,
)
from _soak_common import status_counts as count_statuses
from sqlalchemy import create_engine, select

import crypto
from portal.db import Blob
from portal.settings import sqlite_url
from tests.reliability.console_check import check_intake, stray_console_files
from tests.reliability.reporters import PortalKeys, Sent, evidence, open_case, send_api, send_form
from tests.reliability.served import ServedPortal, clean_environment


@dataclass
class CrashOutcome:
    portal: ServedPortal
    database_url: str
    console: SoakConsole
    sent: list[Sent]
    markdown: str


def job_maker(prefix: str, keys: PortalKeys) -> Callable[[int, int], Submission]:
    """Reporter i, in turn: a third upload a 1 MB file slowly (caught halfway by the kill),
    a third send API reports with small files or none, a third fill in the HTML form
    with a 200 kB file (server-side Argon2id and encryption)."""

    def job(i: int, n: int) -> Submission:
        canary = f"{prefix}C{i:03d}n{n:03d}"
        if i % 3 == 0:
            big = [evidence(canary, 0, 1_000_000)]
            return canary, lambda c: send_api(c, keys, canary, files=big, upload_pause=0.05)
        if i % 3 == 1:
            small = [evidence(canary, 0, 5_000)] if n % 2 else []
            return canary, lambda c: send_api(c, keys, canary, files=small)
        form = [evidence(canary, 0, 200_000)]
        return canary, lambda c: send_form(c, canary, crypto.V1_KDF, files=form)

    return job


def blob_rows(url: str) -> list[tuple[str, int, int | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                (r[0], r[1], r[2]) for r in conn.execute(select(Blob.id, Blob.size, Blob.item_seq))
            ]
    finally:
        engine.dispose()


def run(root: Path, prefix: str, reporters: int, verdicts: Verdicts) -> CrashOutcome:
    console = SoakConsole(root / "console-crash")
    portal = new_portal(root / "portal-crash", clean_environment())
    portal.init(*console.public_keys())
    portal.start()
    with httpx.Client(base_url=portal.url, headers=HEADERS) as client:
        keys = PortalKeys.fetch(client)
    progress(f"crash: {reporters} reporters sending; kill -9 once all are in flight")
    load = Reporters(portal.url, reporters, job_maker(prefix, keys))
    deadline = time.monotonic() + 300
    wanted_temporary = max(3, reporters // 10)
    while True:
        busy, temporary = load.busy(), len(portal.temporary_files())
        if (
            busy >= reporters * 9 // 10
            and temporary >= wanted_temporary
            and load.accepted() >= reporters
        ):
            break
        if time.monotonic() > deadline:
            load.stop()
            portal.kill()
            raise RuntimeError(
                f"crash: the load never got going ({busy} busy, {temporary} temporary)"
            )
        time.sleep(0.01)
    load.halt()  # no new submissions; those under way meet the kill
    in_flight = load.busy()
    killed = portal.kill()
    load.stop()
    cut_off = sum(1 for c in load.calls if c.sent is None)
    answered_before = load.accepted()
    left = portal.temporary_files()
    progress(f"crash: killed {len(killed)} processes with {in_flight} submissions in flight")
    portal.start()
    after_restart = portal.temporary_files()
    cleared = f"Deleted {len(left)} unfinished upload(s)" in portal.log() if left else True

    url = sqlite_url(portal.data_dir)
    rows = blob_rows(url)
    blob_dir = portal.data_dir / "blobs"
    bad_rows = [
        blob_id
        for blob_id, size, _item in rows
        if not (blob_dir / blob_id).is_file() or (blob_dir / blob_id).stat().st_size != size
    ]
    named = {row[0] for row in rows}
    unnamed = [p.name for p in blob_dir.iterdir() if p.name not in named]

    sent = load.sent()
    accepted = [s for s in sent if s.accepted]
    sync_seconds = console.sync(portal.url)
    with console.opened() as opened:
        intake = check_intake(opened, sent)
        strays = stray_console_files(opened)

    def follow_up(one: Sent) -> Callable[[httpx.Client], str | None]:
        return lambda client: open_case(client, one, keys)

    reopened = run_pool(portal.url, [follow_up(s) for s in accepted], 16, "crash receipts")
    problems = [p for p in reopened.results if p] + reopened.transport_errors
    portal.stop()
    log = portal.log()
    counts = count_statuses(sent)

    out = [
        ("reporters (threads)", f"{reporters}"),
        ("processes killed at once (serve + workers + helper)", f"{len(killed)}"),
        ("submissions in flight at the kill / cut off by it", f"{in_flight} / {cut_off}"),
        ("receipts issued before the kill", f"{answered_before:,}"),
        ("temporary upload files left by the kill", f"{len(left)}"),
        ("… after `serve` started again", f"{len(after_restart)}"),
        ("blob rows / rows naming a missing or partial file", f"{len(rows):,} / {len(bad_rows)}"),
        ("blob files no row names (purged after 4 h)", f"{len(unnamed)}"),
        ("HTTP answers before the kill", fmt_counts(counts)),
        (
            "console: reports / files verified / sync",
            f"{intake.reports:,} / {intake.files_verified:,} / {sync_seconds:.1f} s",
        ),
        ("stored, but the answer was lost to the kill", f"{len(intake.unanswered)}"),
        ("receipts that open their case after the restart", f"{len(accepted) - len(problems):,}"),
    ]
    errors = sum(n for status, n in counts.items() if status >= 500)
    verdicts.check(
        "crash: submissions were in flight at the kill",
        in_flight >= reporters * 9 // 10 and cut_off > 0,
        f"{in_flight} in flight, {cut_off} cut off",
    )
    verdicts.check("crash: 5xx answers before the kill", errors == 0, errors)
    verdicts.check(
        "crash: the kill left partial uploads, `serve` deleted them",
        bool(left) and not after_restart and cleared,
        f"{len(left)} → {len(after_restart)}",
    )
    verdicts.check(
        "crash: no row names a missing or partial file", not bad_rows, bad_rows[:3] or "none"
    )
    verdicts.check(
        "crash: every receipt's report is at the console, once, whole",
        not intake.problems and intake.reports >= len(accepted),
        intake.problems[:3] or intake.reports,
    )
    verdicts.check(
        "crash: every receipt opens its case", not problems, problems[:3] or len(accepted)
    )
    verdicts.check("crash: console keeps no stray file", not strays, strays[:3] or "none")
    verdicts.check(
        "crash: no internal error logged",
        "internal error" not in log and "Traceback" not in log,
        "none" if "internal error" not in log else "see log",
    )
    return CrashOutcome(portal, url, console, sent, table(("crash", ""), out))
