"""`lanthorn triage sync`, `cases`, `show`, `reply`, `status`, `purge`, `referral` and
`audit verify`: the work on cases from the command line, each on an unsealed console.
"""

from __future__ import annotations

import datetime
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crypto
from foundation.categories import CATEGORIES

from . import labels, notify, referral
from .console import Console
from .retention import purge_expired
from .settings import ConsoleError
from .workflow import OUTCOMES


def _progress() -> Callable[[str], None]:
    if not sys.stderr.isatty():
        return lambda _: None
    return lambda line: print(f"\r  {line}", end="", file=sys.stderr, flush=True)


def sync(console: Console, portal_url: str) -> int:
    print(f"Syncing with {portal_url} …", file=sys.stderr)
    report = console.sync(portal_url, _progress())
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"{report.taken} new items, {report.already} already here, {report.files} files; "
        f"{report.pushed} replies and status changes sent, {report.queued} still queued."
    )
    if report.held:
        print(f"  not sent: {report.held}.")
    for line in report.set_aside:
        print(f"  set aside: {line}")
    for line in report.bad_files:
        print(f"  file not kept: {line}")
    if report.files_to_fetch:
        print(
            f"  {len(report.files_to_fetch)} files could not be fetched this time; their "
            "items are stored but not acknowledged, and the next sync fetches them again:"
        )
        for line in report.files_to_fetch:
            print(f"    {line}")
    # The officers who asked are told (counts only), and the day's deadline digest goes
    # out when it is time: the unattended sync timer is then all a console needs.
    told = notify.tick(console)
    if told.sent or told.waiting:
        print(f"{told.sent} notifications sent, {told.waiting} waiting for the mail relay.")
    if told.failure:
        print(f"  not sent: {told.failure}; the next sync tries again.")
    return 0


def cases(console: Console, as_json: bool, limit: int | None = None) -> int:
    rows = console.cases(limit)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No cases yet. Run `lanthorn triage sync` to take in new reports.")
    for row in rows:
        flag = "URGENT " if row["urgent"] else "       "
        status = labels.word(labels.STATUSES, row["status"])
        print(f"{flag}{row['case']}  {row['received_on']}  {status:<31}  {row['facility']}")
        print(f"{' ' * 19}{CATEGORIES.get(row['category'], row['category'])}")
    return 0


def show(console: Console, case_id: str, as_json: bool, reveal: bool) -> int:
    case = console.show(case_id, reveal_identity=reveal)
    if as_json:
        print(json.dumps(case, indent=2, ensure_ascii=False))
        return 0
    status = labels.word(labels.STATUSES, case["status"])
    print(
        f"Case {case['case']}  ({status}; {'URGENT; ' if case['urgent'] else ''}"
        f"received {case['received_on']})"
    )
    about = CATEGORIES.get(case["category"], case["category"])
    when = labels.occurred(case, datetime.date.fromisoformat(case["reached_portal_on"]))
    print(f"About:    {about}\nPrison:   {case['facility']}, {case['location']}")
    print(f"When:     {when}\nWho:      {case['subjects']}")
    print(f"Witnesses: {case['witnesses']}")
    print(f"Channel:  {labels.word(labels.CHANNELS, case['channel'])}")
    print(f"Language: {labels.language(case['lang'])['text']}")
    print(f"Stage:    {labels.word(labels.STAGES, case['workflow'])}")
    if case["identity"] == "withheld":
        print(
            "Identity: the reporter disclosed who they are (--reveal-identity shows it, "
            "and the audit log records that you looked)"
        )
    elif case["identity"]:
        print(f"Identity: {case['identity']}")
    if case["purged_on"]:
        print(
            f"Purged:   {case['purged_on']}, after the retention period (closed "
            f"{case['closed_on']}, {labels.word(OUTCOMES, case['outcome'])}); only the "
            "anonymous fields remain."
        )
    if case["reply_key_mismatch"]:
        print("WARNING: the portal's copy of the reply key differs from the report's.")
    for message in case["messages"]:
        kind = labels.word(labels.ITEMS, message["kind"])
        print(f"\n--- {kind}, {message['on']} ---\n{message['text'] or ''}")
        for f in message["files"]:
            print(
                f"  [file] {f['name']} ({f['size']} bytes, SHA-256 starting "
                f"{f['sha256'][:8]}): {f['state']}"
            )
    return 0


def reply(console: Console, case_id: str, message: str) -> int:
    console.reply(case_id, message)
    return _push_and_say(console, "Reply")


def status(console: Console, case_id: str, state: str) -> int:
    console.set_public_status(case_id, state)
    return _push_and_say(console, f"Status “{labels.word(labels.STATUSES, state)}”")


def _push_and_say(console: Console, what: str) -> int:
    pushed, queued = console.push()
    if queued and console.held_because:
        print(f"{what} saved and queued, not sent: {console.held_because}.")
    elif queued:
        print(
            f"{what} saved; the portal could not be reached, so it is queued and will be "
            "sent at the next sync."
        )
    else:
        print(f"{what} sent to the portal.")
    return 0


def purge(console: Console, dry_run: bool) -> int:
    report = purge_expired(console, dry_run=dry_run)
    if not report.cases:
        print(f"Nothing to purge on {report.today}: no closed case is past its retention.")
        return 0
    verb = "Would purge" if dry_run else "Purged"
    print(f"{verb} {len(report.cases)} cases (today is {report.today}):")
    for expired in report.cases:
        print(f"  {expired.case}  closed {expired.closed_on}  {expired.rule}")
    if dry_run:
        print("Dry run: nothing was changed. Run without --dry-run to purge.")
    else:
        print(f"{report.files} attachment files deleted. Each purge is in the audit log.")
    return 0


def referral_command(console: Console, args: Any) -> int:
    passages = list(args.redact)
    if args.redact_file:
        try:
            passages += Path(args.redact_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConsoleError(f"cannot read {args.redact_file}: {exc}") from None
    today = console._today().isoformat()
    out = Path(args.out or f"referral-{args.case}-{args.unit}-{today}.zip")
    if out.exists():
        raise ConsoleError(f"{out} already exists: choose another --out")
    partial = out.with_name(out.name + ".part")
    # Built in memory (referral.ram_file), then written where the officer asked, in one go:
    # an export that fails or is killed while being built leaves nothing on any disk.
    with referral.ram_file("referral-package") as package:
        try:
            made = referral.export_referral(
                console,
                args.case,
                unit=args.unit,
                reason=args.reason,
                passages=passages,
                originals=args.originals,
                out=package,
            )
            package.seek(0)
            with partial.open("wb") as handle:
                shutil.copyfileobj(package, handle, 1 << 20)
            partial.rename(out)
        except referral.ReferralError as exc:
            raise ConsoleError(str(exc)) from None
        finally:
            partial.unlink(missing_ok=True)
    print(f"Wrote {out} ({made.size} bytes, SHA-256 {made.sha256}).")
    print(
        f"{made.redactions} places redacted; {made.stripped} of {made.files} attachments "
        "copied without metadata" + ("; originals included." if made.originals else ".")
    )
    print("The package is not encrypted: keep it on an encrypted drive. The export is audited.")
    return 0


def audit_verify(console: Console) -> int:
    try:
        count, head = console.verify_audit()
    except crypto.AuditChainBroken as exc:
        print(
            f"AUDIT LOG BROKEN at entry {exc.index + 1}: it, or the one before it, was "
            "altered, removed or reordered.",
            file=sys.stderr,
        )
        return 1
    print(f"Audit log intact: {count} entries; head {head.hex()[:16]}…")
    return 0
