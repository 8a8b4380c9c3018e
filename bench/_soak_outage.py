"""Phase 3 of the soak: the portal's PostgreSQL stops in the middle of the load and
starts again.

The database is a private cluster (tests/reliability/postgres.py), never the machine's
own server, stopped with `pg_ctl stop -m immediate` (a crash, as far as the portal can
tell). While it is down the portal must answer every request that needs it with a 503,
a `Retry-After` header and a sentence, within a bound; once it is back, the portal must
take reports again without being restarted, and nothing it accepted may be lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _report import fmt_seconds, progress, table
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

import crypto
from tests.portal.clients import SignedAuth
from tests.reliability.console_check import check_intake
from tests.reliability.postgres import PrivatePostgres
from tests.reliability.reporters import (
    CLIENT_KDF,
    PortalKeys,
    Sent,
    csrf_token_from,
    evidence,
    open_case,
    report_body,
    reporter_auth,
    send_api,
    send_form,
)
from tests.reliability.served import ServedPortal, clean_environment

UNAVAILABLE = "Reports cannot be sent or read just now. Please try again in a few minutes."
BOUND_SECONDS = 15.0  # the longest any request may take while the database is down


@dataclass
class OutageOutcome:
    portal: ServedPortal
    console: SoakConsole
    sent: list[Sent]
    markdown: str


@dataclass
class Probe:
    what: str
    status: int
    seconds: float
    retry_after: str | None
    message_ok: bool

    @property
    def proper(self) -> bool:
        return self.status == 503 and self.retry_after == "30" and self.message_ok


def probe(client: httpx.Client, what: str, method: str, path: str, **kwargs: Any) -> Probe:
    """One request that needs the database, and whether its answer is a proper 503."""
    began = time.monotonic()
    response = client.request(method, path, **kwargs)
    seconds = time.monotonic() - began
    if response.headers.get("content-type", "").startswith("application/json"):
        message_ok = response.json().get("message") == UNAVAILABLE
    else:
        message_ok = UNAVAILABLE in response.text
    retry_after = response.headers.get("retry-after")
    return Probe(what, response.status_code, seconds, retry_after, message_ok)


def job_maker(prefix: str, keys: PortalKeys) -> Callable[[int, int], Submission]:
    """Reporter i's n-th: API reports (a file with every third); every fifth reporter
    fills in the HTML form instead."""

    def job(i: int, n: int) -> Submission:
        canary = f"{prefix}D{i:03d}n{n:04d}"
        if i % 5 == 4:
            return canary, lambda client: send_form(client, canary, crypto.V1_KDF)
        files = [evidence(canary, 0, 70_000)] if n % 3 == 0 else []
        return canary, lambda client: send_api(client, keys, canary, files=files)

    return job


def probe_round(
    client: httpx.Client, keys: PortalKeys, canary: str, thread: SignedAuth, console: SignedAuth
) -> tuple[Sent, list[Probe]]:
    """Four kinds of request that need the database: an API report, a signed thread
    read, the HTML follow-up sign-in (server-side Argon2id first), the console outbox."""
    reporter = crypto.derive_reporter_keys(crypto.generate_receipt(), keys.salt, CLIENT_KDF)
    token = csrf_token_from(client.get("/follow-up").text)
    receipt = crypto.format_receipt(crypto.generate_receipt())
    form = {"csrf": token, "receipt": receipt}
    probes = [
        probe(
            client,
            "API report",
            "POST",
            "/api/v1/reports",
            json=report_body(keys, reporter, canary),
        ),
        probe(client, "thread (reporter-signed)", "GET", "/api/v1/thread", auth=thread),
        probe(client, "HTML follow-up", "POST", "/follow-up", data=form),
        probe(client, "outbox (console-signed)", "GET", "/api/v1/console/outbox", auth=console),
    ]
    # Accounted for like any report: if the portal stored it after all, the console finds it.
    sent = Sent(canary, "api", "staff", CLIENT_KDF, statuses=[probes[0].status])
    return sent, probes


def run(
    root: Path,
    postgres: PrivatePostgres,
    prefix: str,
    clients: int,
    seconds: tuple[float, float, float],
    verdicts: Verdicts,
) -> OutageOutcome:
    before, down_for, after = seconds
    console = SoakConsole(root / "console-outage")
    env = clean_environment(LANTHORN_DATABASE_URL=postgres.url)
    portal = new_portal(root / "portal-outage", env)
    portal.init(*console.public_keys())
    portal.start()
    assert portal.process is not None
    pid = portal.process.pid
    client = httpx.Client(base_url=portal.url, timeout=60, headers=HEADERS)
    keys = PortalKeys.fetch(client)
    first = send_api(client, keys, f"{prefix}Dfirst")
    thread_auth = reporter_auth(first, keys)
    with console.opened() as opened:  # the console's own signing key, as a sync uses
        console_auth = SignedAuth(opened.keys.console, time.time)

    progress(f"outage: {clients} reporters for {before:.0f} s, then PostgreSQL stops")
    load = Reporters(portal.url, clients, job_maker(prefix, keys))
    time.sleep(before)
    postgres.stop("immediate")
    went_down = time.monotonic()
    probed: list[Sent] = []
    probes: list[Probe] = []
    while time.monotonic() - went_down < down_for:
        canary = f"{prefix}Dprobe{len(probed):03d}"
        one, answers = probe_round(client, keys, canary, thread_auth, console_auth)
        probed.append(one)
        probes += answers
        time.sleep(0.5)
    progress(f"outage: PostgreSQL starts again after {time.monotonic() - went_down:.0f} s")
    postgres.start()
    came_back = time.monotonic()
    recovered_after = None
    while recovered_after is None and time.monotonic() - came_back < 60:
        ok = [c for c in load.calls if c.began > came_back and c.sent and c.sent.accepted]
        if ok:
            recovered_after = min(c.began + c.seconds for c in ok) - came_back
        time.sleep(0.05)
    time.sleep(after)
    load.stop()
    process = portal.process
    still_up = process is not None and process.pid == pid and process.poll() is None

    sent = [first, *probed, *load.sent()]
    accepted = [s for s in sent if s.accepted]
    counts = count_statuses(sent)
    during = [c.as_sent() for c in load.calls if went_down <= c.began <= came_back]
    slowest = max((c.seconds for c in load.calls), default=0.0)
    slowest_probe = max((p.seconds for p in probes), default=0.0)
    cut = [c.error for c in load.calls if c.error]
    bad_probes = [(p.what, p.status, p.retry_after) for p in probes if not p.proper]

    sync_seconds = console.sync(portal.url)
    with console.opened() as opened:
        intake = check_intake(opened, sent)

    def follow_up(one: Sent) -> Callable[[httpx.Client], str | None]:
        return lambda c: open_case(c, one, keys)

    reopened = run_pool(portal.url, [follow_up(s) for s in accepted], 16, "outage receipts")
    problems = [p for p in reopened.results if p] + reopened.transport_errors
    client.close()
    portal.stop()
    log = portal.log()

    recovery = "never" if recovered_after is None else fmt_seconds(recovered_after)
    rows = [
        ("reporters (threads)", f"{clients}"),
        ("database down for", fmt_seconds(came_back - went_down)),
        ("submissions begun during the outage", f"{len(during):,}"),
        ("… their HTTP answers", fmt_counts(count_statuses(during))),
        ("HTTP answers, whole phase", fmt_counts(counts)),
        (
            "probes during the outage / proper 503s",
            f"{len(probes)} / {sum(p.proper for p in probes)}",
        ),
        (
            "slowest probe / slowest submission",
            f"{fmt_seconds(slowest_probe)} / {fmt_seconds(slowest)}",
        ),
        ("first report accepted after PostgreSQL started", recovery),
        ("portal restarted", "no" if still_up else "yes"),
        ("reports accepted / at the console", f"{len(accepted):,} / {intake.reports:,}"),
        ("console sync", fmt_seconds(sync_seconds)),
        (
            "stored, but answered 503 (committed as the connection broke)",
            f"{len(intake.unanswered)}",
        ),
    ]
    others = {s: n for s, n in counts.items() if s >= 500 and s != 503}
    log_clean = "internal error" not in log and "Traceback" not in log
    check = verdicts.check
    check("outage: no 5xx other than 503", not others, others or "none")
    check("outage: the load met the outage (503s)", counts.get(503, 0) > 0, counts.get(503, 0))
    check(
        "outage: each probe a 503 with Retry-After and a sentence",
        not bad_probes,
        bad_probes[:3] or len(probes),
    )
    check(
        f"outage: no request slower than {BOUND_SECONDS:.0f} s",
        max(slowest, slowest_probe) < BOUND_SECONDS,
        fmt_seconds(max(slowest, slowest_probe)),
    )
    check("outage: no connection dropped", not cut, cut[:3] or "none")
    check("outage: recovered without a restart", still_up and recovered_after is not None, recovery)
    check(
        "outage: every accepted report at the console, once, whole",
        not intake.problems,
        intake.problems[:3] or intake.reports,
    )
    check("outage: every receipt opens its case", not problems, problems[:3] or len(accepted))
    check("outage: no internal error logged", log_clean, "none" if log_clean else "see the log")
    return OutageOutcome(portal, console, sent, table(("database outage", ""), rows))
