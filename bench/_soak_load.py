"""Phase 1 of the soak: load without loss.

Concurrent reporters on every path (HTML staff and third-party forms sealed on the server
with production Argon2id, API clients that seal for themselves, files of many sizes,
follow-up messages) against `lanthorn portal serve --workers 2` on PostgreSQL. Then every
receipt must open its case, and a console made by `lanthorn triage init` must take in
exactly what was sent, every file whole, even when its sync is killed twice on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from _report import fmt_rate, fmt_seconds, progress, table
from _soak_common import (
    HEADERS,
    Job,
    SoakConsole,
    Verdicts,
    fmt_counts,
    new_portal,
    run_pool,
    status_counts,
)

import crypto
from tests.reliability.console_check import check_intake, stray_console_files
from tests.reliability.reporters import (
    PortalKeys,
    Sent,
    evidence,
    open_case,
    reporter_auth,
    send_api,
    send_api_message,
    send_form,
    send_form_message,
)
from tests.reliability.served import ServedPortal, clean_environment

#: API attachment sizes, in turn: around the 64 KiB chunk boundary, then larger.
API_SIZES = (1_000, 65_535, 65_536, 200_000, 1_000_000, 2_500_000)
#: Files the HTML forms carry (the server encrypts them as they stream in).
FORM_SIZES = (2_000, 100_000, 700_000)
HTML_EVERY = 7  # one report in 7 by HTML form: 14 %
MESSAGE_EVERY = 20  # one report in 20 gets a follow-up message


@dataclass
class LoadOutcome:
    portal: ServedPortal
    database_url: str
    console: SoakConsole
    sent: list[Sent]
    markdown: str


def report_job(prefix: str, n: int, keys: PortalKeys) -> Job:
    canary = f"{prefix}L{n:05d}"
    if n % HTML_EVERY == 0:
        k = n // HTML_EVERY
        channel = "third-party" if k % 3 == 2 else "staff"
        files = [evidence(canary, 0, FORM_SIZES[k % len(FORM_SIZES)])] if k % 3 == 0 else []
        return lambda client: send_form(
            client, canary, crypto.V1_KDF, channel=channel, files=files, with_identity=n % 4 == 0
        )
    count = {1: 1, 4: 1, 7: 2}.get(n % 10, 0)  # 30 % with files
    files = [evidence(canary, i, API_SIZES[(n // 10 + i) % len(API_SIZES)]) for i in range(count)]

    return lambda client: send_api(client, keys, canary, files=files, with_identity=n % 4 == 1)


def message_job(sent: Sent, keys: PortalKeys) -> Callable[[httpx.Client], int]:
    """A follow-up with a file: on the pages for an HTML report (the server derives the
    keys from the typed receipt), through the signed API for an API one."""
    if sent.via == "html":
        return lambda client: send_form_message(client, sent, evidence(sent.canary, 8, 3_000))
    files = [evidence(sent.canary, 9, 70_000)]
    return lambda client: send_api_message(client, sent, keys, reporter_auth(sent, keys), files)


def run(
    root: Path, database_url: str, prefix: str, reports: int, clients: int, verdicts: Verdicts
) -> LoadOutcome:
    console = SoakConsole(root / "console-load")
    env = clean_environment(LANTHORN_DATABASE_URL=database_url)
    portal = new_portal(root / "portal-load", env)
    portal.init(*console.public_keys())
    portal.start()
    with httpx.Client(base_url=portal.url, headers=HEADERS) as client:
        keys = PortalKeys.fetch(client)

    html = len(range(0, reports, HTML_EVERY))
    progress(f"load: {reports} reports ({html} by HTML form) from {clients} clients")
    jobs = [report_job(prefix, n, keys) for n in range(reports)]
    load = run_pool(portal.url, jobs, clients, "load")
    sent: list[Sent] = [s for s in load.results if s is not None]
    accepted = [s for s in sent if s.accepted]
    progress(f"load: {len(accepted)} accepted in {load.wall:.0f} s; follow-up messages")
    talkers = accepted[::MESSAGE_EVERY]
    messages = run_pool(portal.url, [message_job(s, keys) for s in talkers], clients, "messages")
    progress(f"load: opening {len(accepted)} cases with their receipts")

    def follow_up(one: Sent) -> Job:
        return lambda client: open_case(client, one, keys)

    opened = run_pool(portal.url, [follow_up(s) for s in accepted], clients, "receipts")
    problems = [p for p in opened.results if p]
    verified = len(accepted) - len(problems) - len(opened.transport_errors)
    counts = status_counts(sent)
    errors = sum(n for status, n in counts.items() if status >= 500)
    transport = load.transport_errors + messages.transport_errors + opened.transport_errors
    files_sent = sum(len(s.attachments) for s in accepted)
    message_files = sum(s.message_files for s in talkers)

    progress("load: console sync, killed twice on the way, then to the end")
    expected_files = files_sent + message_files
    kills = [console.sync_killed(portal.url, max(1, expected_files * k // 10)) for k in (2, 5)]
    sync_seconds = console.sync(portal.url)
    with console.opened() as opened_console:
        intake = check_intake(opened_console, sent)
        strays = stray_console_files(opened_console)
        opened_console.verify_audit()
    portal.stop()
    log_errors = [line for line in portal.log().splitlines() if line.startswith("ERROR")]

    accepted_messages = sum(len(s.messages) for s in talkers)
    rows = [
        ("reports sent / accepted (201 and a receipt)", f"{len(sent):,} / {len(accepted):,}"),
        ("… of which by HTML form / by API", f"{html:,} / {reports - html:,}"),
        ("attachments sent with reports", f"{files_sent:,}"),
        ("follow-up messages sent / accepted", f"{len(talkers):,} / {accepted_messages:,}"),
        ("wall time, reports", fmt_seconds(load.wall)),
        ("reports per second", fmt_rate(len(accepted) / load.wall)),
        ("HTTP answers, all requests of the phase", fmt_counts(counts)),
        ("transport errors", f"{len(transport)}"),
        ("receipts that open their case (signed thread API)", f"{verified:,}"),
        ("console sync killed at (files kept, partial file left)", f"{kills}"),
        ("console sync to the end", fmt_seconds(sync_seconds)),
        (
            "console: reports / messages / files verified",
            f"{intake.reports:,} / {intake.messages:,} / {intake.files_verified:,}",
        ),
    ]
    verdicts.check("load: 5xx answers", errors == 0, errors)
    verdicts.check("load: transport errors", not transport, transport[:3] or 0)
    verdicts.check("load: every report accepted", len(accepted) == reports, len(accepted))
    verdicts.check(
        "load: every receipt opens its case", verified == len(accepted), problems[:3] or verified
    )
    verdicts.check(
        "load: console holds exactly the reports sent", intake.reports == reports, intake.reports
    )
    verdicts.check(
        "load: console holds every message", intake.messages == accepted_messages, intake.messages
    )
    verdicts.check(
        "load: every file verifies at the console",
        intake.files_verified == expected_files,
        intake.files_verified,
    )
    verdicts.check(
        "load: nothing lost, duplicated or damaged",
        not intake.problems,
        intake.problems[:3] or "none",
    )
    verdicts.check(
        "load: killed syncs left partial files, the rerun none",
        all(k[1] for k in kills) and not strays,
        f"kills {kills}, strays {strays[:3]}",
    )
    verdicts.check("load: server log has no ERROR line", not log_errors, log_errors[:3] or "none")
    return LoadOutcome(portal, database_url, console, sent, table(("load without loss", ""), rows))
