"""Load without loss, in small: concurrent reporters on every path against the real
`lanthorn portal serve --workers 2`; no 5xx, every receipt opens its case, the console
takes in exactly what was sent with every file whole; then nothing a reporter sent is
found in the portal's database, data directory, /tmp or log, and the log names no
address. scripts/soak runs the same at full size (docs/reliability.md)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

import crypto
from triage.console import Console

from .console_check import check_intake, stray_console_files
from .leaks import Findings, addresses_in, files_written_since, own_address_lines
from .reporters import (
    PortalKeys,
    Sent,
    evidence,
    open_case,
    reporter_auth,
    run_prefix,
    send_api,
    send_api_message,
    send_form,
    send_form_message,
)
from .served import ServedPortal, kdf_queue_clients

REPORTS = 80
CLIENTS = 10
#: Sizes around the 64 KiB chunk boundary, and a few chunks.
SIZES = (1_000, 65_535, 65_536, 200_000)
AGENT = "CanaryAgent/reliability"
FORWARDED = "203.0.113.77"


def job(prefix: str, n: int) -> Callable[[httpx.Client, PortalKeys], Sent]:
    """Report `n` of the mix: 1 in 8 by HTML form (staff or third party), the rest by the
    API; every third one with files of the sizes above; some with the reporter's name."""
    canary = f"{prefix}n{n:04d}"
    files = [evidence(canary, i, SIZES[(n + i) % len(SIZES)]) for i in range(n % 3 == 0)]
    files += [evidence(canary, 1, SIZES[n % len(SIZES)])] if n % 9 == 0 else []
    if n % 8 == 0:
        channel = "third-party" if n % 16 else "staff"
        return lambda client, _keys: send_form(
            client, canary, crypto.V1_KDF, channel=channel, files=files, with_identity=n % 4 == 0
        )
    return lambda client, keys: send_api(
        client, keys, canary, files=files, with_identity=n % 4 == 1
    )


def test_concurrent_reporters_lose_nothing_and_leak_nothing(
    database_url: str,
    console: Console,
    serve_portal: Callable[[Console, str], ServedPortal],
    tmp_path: Path,
) -> None:
    started = time.time() - 1
    portal = serve_portal(console, database_url)
    headers = {"User-Agent": AGENT, "X-Forwarded-For": FORWARDED, "X-Real-IP": FORWARDED}
    prefix = run_prefix()
    sent: list[Sent] = []
    try:
        with httpx.Client(base_url=portal.url, timeout=60) as client:
            keys = PortalKeys.fetch(client)
        jobs: queue.SimpleQueue[Callable[[httpx.Client, PortalKeys], Sent]] = queue.SimpleQueue()
        for n in range(REPORTS):
            jobs.put(job(prefix, n))

        def reporter() -> None:
            with httpx.Client(base_url=portal.url, timeout=60, headers=headers) as client:
                while True:
                    try:
                        one = jobs.get_nowait()
                    except queue.Empty:
                        return
                    sent.append(one(client, keys))

        threads = [threading.Thread(target=reporter) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert len(sent) == REPORTS
        assert all(s.accepted for s in sent), [s.statuses for s in sent if not s.accepted]
        # The form reports' Argon2id went through the queue the workers share.
        assert kdf_queue_clients(portal.process.pid) >= 1
        assert "Argon2id queue unavailable" not in portal.log()

        with httpx.Client(base_url=portal.url, timeout=60, headers=headers) as client:
            for one in sent[:10]:  # follow-up messages: by the API, and on the pages
                if one.via == "api":
                    files = [evidence(one.canary, 7, 70_000)] if len(one.canary) % 2 else []
                    assert send_api_message(client, one, keys, reporter_auth(one, keys), files)
                else:
                    assert send_form_message(client, one, evidence(one.canary, 8, 2_000)) == 303
            problems = [open_case(client, one, keys) for one in sent]
        assert [p for p in problems if p] == []
        assert [s.server_errors() for s in sent if s.server_errors()] == []

        assert console.sync(portal.url).set_aside == []
        intake = check_intake(console, sent)
        assert intake.problems == []
        assert intake.reports == REPORTS
        assert intake.messages == 10
        sent_files = sum(len(s.attachments) for s in sent)
        assert intake.files_verified >= sent_files
        assert stray_console_files(console) == []
    finally:
        portal.stop()

    findings = Findings(prefix, frozenset(s.receipt for s in sent), (AGENT, FORWARDED))
    findings.search_database("portal database", database_url)
    findings.search_files("portal data directory", files_written_since(portal.data_dir, started))
    findings.search_files("console data directory", files_written_since(tmp_path / "console", 0))
    findings.search_files("/tmp", files_written_since(Path("/tmp"), started))  # noqa: S108
    log = portal.log()
    findings.search(log.encode(), "the portal's log")
    assert findings.found == []
    assert findings.searched["portal database"] > REPORTS
    assert findings.searched["portal data directory"] >= 2
    assert addresses_in(log, allowed=own_address_lines(portal.url)) == []


def test_the_leak_scan_finds_each_kind_of_needle_and_every_address() -> None:
    """The scan above passes only because nothing is there, not because it is blind."""
    prefix = run_prefix()
    receipt = crypto.generate_receipt()
    planted = {
        "canary": f"x {prefix}n0001 description y".encode(),
        "canary, UTF-16": f"{prefix}n0001".encode("utf-16-le"),
        "receipt": f"a{receipt}b".encode(),
        "grouped receipt": crypto.format_receipt(receipt).encode(),
        "grouped receipt, UTF-16": crypto.format_receipt(receipt).encode("utf-16-le"),
        "user agent": AGENT.encode(),
    }
    for where, data in planted.items():
        findings = Findings(prefix, frozenset({receipt}), (AGENT,))
        findings.search(b"\x00\xff" * 1000 + data + b"\x01" * 1000, where)
        assert len(findings.found) == 1, where
    clean = Findings(prefix, frozenset({receipt}), (AGENT,))
    clean.search(crypto.generate_receipt().encode() + prefix[:-1].encode(), "clean")
    assert clean.found == []
    banner = "Lanthorn portal on http://127.0.0.1:8080/ (Ctrl-C to stop)"
    log = "\n".join([banner, "client 10.1.2.3 said", "from [::1]:5000", "WARNING x: fine 1.2.3"])
    assert addresses_in(log, allowed=[banner]) == ["client 10.1.2.3 said", "from [::1]:5000"]
