"""`kill -9` the whole portal while reports and uploads are in flight, start it again: every
report whose receipt reached its reporter is whole and opens at the console, no row names
a missing or partial file, and `serve` deletes what the dead uploads left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from sqlalchemy import create_engine, select

import crypto
from portal.db import Blob
from triage.console import Console

from .console_check import check_intake
from .reporters import PortalKeys, Sent, evidence, open_case, run_prefix, send_api, send_form
from .served import ServedPortal

REPORTERS = 24


def blob_rows(url: str) -> list[tuple[str, int, int | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Blob.id, Blob.size, Blob.item_seq))
            return [(row[0], row[1], row[2]) for row in rows]
    finally:
        engine.dispose()


class Reporters:
    """`REPORTERS` threads sending until the portal dies under them: a third upload a
    300 kB file slowly (so the kill finds uploads halfway), a third send small API
    reports, a third fill in the HTML form with a file."""

    def __init__(self, url: str, keys: PortalKeys, prefix: str) -> None:
        self.sent: list[Sent] = []
        self.broken = 0  # requests the kill cut off
        self.dead = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(url, keys, f"{prefix}c{i:02d}", i % 3))
            for i in range(REPORTERS)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str, keys: PortalKeys, prefix: str, kind: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            n = 0
            while not self.dead.is_set():
                canary = f"{prefix}n{n:03d}"
                n += 1
                file = evidence(canary, 0, 300_000 if kind == 0 else 5_000)
                try:
                    if kind == 0:
                        sent = send_api(client, keys, canary, files=[file], upload_pause=0.05)
                    elif kind == 1:
                        sent = send_api(client, keys, canary, files=[file] if n % 2 else [])
                    else:
                        sent = send_form(client, canary, crypto.V1_KDF, files=[file])
                except httpx.TransportError:
                    sent = Sent(canary, "cut off", "staff", crypto.V1_KDF)
                    with self._lock:
                        self.broken += 1
                with self._lock:
                    self.sent.append(sent)

    def accepted(self) -> int:
        with self._lock:
            return sum(s.accepted for s in self.sent)

    def join(self) -> None:
        self.dead.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_a_portal_killed_mid_submission_keeps_every_report_it_gave_a_receipt_for(
    database_url: str,
    console: Console,
    serve_portal: Callable[[Console, str], ServedPortal],
) -> None:
    portal = serve_portal(console, database_url)
    with httpx.Client(base_url=portal.url, timeout=30) as client:
        keys = PortalKeys.fetch(client)
    reporters = Reporters(portal.url, keys, run_prefix())
    try:
        deadline = time.monotonic() + 120
        while reporters.accepted() < 15 or len(portal.temporary_files()) < 2:
            assert time.monotonic() < deadline, "the load never got going"
            time.sleep(0.02)
        reporters.dead.set()  # nobody starts another; those under way meet the kill
        killed = portal.kill()
    finally:
        reporters.join()
    assert len(killed) >= 3  # serve and both workers
    assert reporters.broken >= REPORTERS // 2  # most were cut off mid-request
    caught_halfway = portal.temporary_files()
    assert caught_halfway  # uploads the kill cut off
    planted = portal.data_dir / "blobs" / ".tmp-planted"
    planted.write_bytes(b"half an upload")

    portal.start()
    try:
        assert portal.temporary_files() == []
        assert f"Deleted {len(caught_halfway) + 1} unfinished upload(s)" in portal.log()
        # Nothing half-written is referenced: every row's file is there, whole.
        rows = blob_rows(database_url)
        assert rows
        for blob_id, size, _item in rows:
            path = portal.data_dir / "blobs" / blob_id
            assert path.is_file(), blob_id
            assert path.stat().st_size == size, blob_id

        report = console.sync(portal.url)
        assert report.set_aside == []
        assert report.bad_files == []
        intake = check_intake(console, reporters.sent)
        assert intake.problems == []
        accepted = [s for s in reporters.sent if s.accepted]
        assert intake.reports == len(accepted) + len(intake.unanswered)
        with httpx.Client(base_url=portal.url, timeout=30) as client:
            for sent in accepted:
                assert open_case(client, sent, keys) is None
    finally:
        portal.stop()
    assert "internal error" not in portal.log()
    assert "Traceback" not in portal.log()
