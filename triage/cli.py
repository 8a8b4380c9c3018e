"""`lanthorn triage …`: the key ceremony and the console's command-line work.

Every command that reads or changes cases first unseals the vault with k officers'
passphrases (prompted, or `LANTHORN_UNSEAL_PASSPHRASES` for automation), and records
what it did in the audit log.
"""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crypto
from foundation.categories import CATEGORIES

from . import labels, maintenance, notify, referral, units
from .client import PortalError
from .console import Console, default_officer, prepare_database
from .keys import (
    key_ceremony,
    passphrase_problem,
    rewrap,
    threshold,
    unseal,
)
from .officers import add_officer
from .retention import purge_expired
from .settings import ConsoleError, TriageSettings
from .workflow import OUTCOMES

ENV_PASSPHRASES = "LANTHORN_UNSEAL_PASSPHRASES"
ENV_NEW_PASSPHRASES = "LANTHORN_NEW_PASSPHRASES"


def _env_passphrases() -> list[str] | None:
    value = os.environ.get(ENV_PASSPHRASES)
    return None if value is None else [p.strip() for p in value.split(",") if p.strip()]


def _ask_new_passphrases(officers: int) -> list[str]:
    chosen: list[str] = []
    print(f"Key ceremony: {officers} officers each choose a passphrase, typed unseen.")
    while len(chosen) < officers:
        n = len(chosen) + 1
        first = getpass.getpass(f"Officer {n} of {officers}, choose a passphrase: ")
        problem = passphrase_problem(first, chosen)
        if problem:
            print(f"  Not accepted: {problem}.")
            continue
        if getpass.getpass(f"Officer {n}, type it again: ") != first:
            print("  The two did not match; try again.")
            continue
        chosen.append(first)
    return chosen


def _passphrases(k: int) -> list[str]:
    """k officers' passphrases: prompted, or from LANTHORN_UNSEAL_PASSPHRASES."""
    passphrases = _env_passphrases()
    if passphrases is None:
        print(f"Unsealing needs {k} officers' passphrases.", file=sys.stderr)
        passphrases = [getpass.getpass(f"Passphrase {i + 1} of {k}: ") for i in range(k)]
    # Automation may hold more than k (all n officers'); the first k are used.
    return passphrases[:k]


def _unseal(settings: TriageSettings) -> Console:
    passphrases = _passphrases(threshold(settings))
    return Console(settings, unseal(settings, passphrases), who=default_officer())


def init(settings: TriageSettings, officers: int, k: int) -> int:
    passphrases = _env_passphrases()
    if passphrases is not None and len(passphrases) != officers:
        raise ConsoleError(
            f"{ENV_PASSPHRASES} holds {len(passphrases)} passphrases for {officers} officers"
        )
    if not 1 <= k <= officers:
        raise ConsoleError(f"--threshold must be between 1 and --officers ({officers})")
    if settings.vault_kdf != crypto.VAULT_KDF:
        print(
            f"Note: passphrases are stretched with Argon2id t={settings.vault_kdf.t}, "
            f"m={settings.vault_kdf.m_kib} KiB (LANTHORN_VAULT_KDF), not the default "
            f"t={crypto.VAULT_KDF.t}, m={crypto.VAULT_KDF.m_kib} KiB.",
            file=sys.stderr,
        )
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    prepare_database(settings)  # before the ceremony: a failure here leaves no vault behind
    unsealed = key_ceremony(settings, passphrases or _ask_new_passphrases(officers), k)
    console = Console(settings, unsealed, who=default_officer())
    with console.sessions() as session:
        console.audit(
            session,
            "key ceremony",
            officers=officers,
            threshold=k,
            fingerprint=unsealed.fingerprint,
        )
        session.commit()
    console.close()
    public = settings.public_dir
    print(f"Console initialised in {settings.data_dir}: any {k} of {officers} officers unseal it.")
    print(f"Oversight keys' fingerprint: {unsealed.fingerprint}")
    print(
        "Print it on posters and staff notices, give it to whoever configures the kiosks "
        "and API clients, and compare it with what the portal shows."
    )
    print("Copy the two public files to the portal host and run there:")
    print(
        f"  lanthorn portal init --data DIR --oversight-key {public / 'oversight.json'} "
        f"--console-key {public / 'console.pub'}"
    )
    return 0


def rekey(console: Console, officers: int, k: int) -> int:
    """New officers' passphrases for the same vault key (add, remove, replace a lost one)."""
    value = os.environ.get(ENV_NEW_PASSPHRASES)
    passphrases = None if value is None else [p.strip() for p in value.split(",") if p.strip()]
    if passphrases is not None and len(passphrases) != officers:
        raise ConsoleError(
            f"{ENV_NEW_PASSPHRASES} holds {len(passphrases)} passphrases for {officers} officers"
        )
    if not 1 <= k <= officers <= crypto.MAX_OFFICERS:  # before anyone types a passphrase
        raise ConsoleError(f"need 1 <= --threshold <= --officers <= {crypto.MAX_OFFICERS}")
    rewrap(console.settings, console.keys, passphrases or _ask_new_passphrases(officers), k)
    with console.sessions() as session:
        console.audit(session, "rekey", officers=officers, threshold=k)
        session.commit()
    print(
        f"The console now unseals with any {k} of {officers} new passphrases; the old "
        "passphrases no longer open it. Back up vault.json again."
    )
    return 0


def add_officer_command(console: Console, username: str, role: str, unit: str | None) -> int:
    code = add_officer(console, username, role, unit)
    print(
        f"Officer {username!r} ({role}) added, with the agreement of the key holders who "
        "unsealed for this command (in the web console a second admin approves instead). "
        "Give them this one-time setup code in person:"
    )
    print(f"  {code}")
    print("They enrol at /enrol on the console: password, then their authenticator app.")
    return 0


def serve(
    settings: TriageSettings, host: str, port: int, portal: str | None, every: int | None
) -> int:
    import uvicorn

    from foundation.serving import UVICORN_OPTIONS, uvicorn_log_config

    from .app import create_app

    threshold(settings)  # an uninitialised or damaged data directory stops here, clearly
    prepare_database(settings)
    app = create_app(settings, portal_url=portal, sync_every=every)
    passphrases = _env_passphrases()
    if passphrases is not None:  # automation: unseal at start instead of on the page
        unsealed = unseal(settings, passphrases[: threshold(settings)])
        app.state.console = Console(settings, unsealed, who="console:start")
        app.state.console.search.start()  # search is ready once every item has been read
    state = "unsealed" if passphrases is not None else "sealed: unseal it in the browser"
    print(f"Lanthorn console on http://{host}:{port}/ ({state}; Ctrl-C to stop)", flush=True)
    options: dict[str, Any] = dict(UVICORN_OPTIONS)
    uvicorn.run(app, host=host, port=port, log_config=uvicorn_log_config(), **options)
    return 0


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


def units_command(console: Console, args: Any) -> int:
    """`units list`, `add ID NAME`, `rename ID NAME`, `retire ID`, `restore ID`."""
    which, name = args.units_command, " ".join(getattr(args, "name", "").split())
    if which == "list":
        rows = units.summaries(console)
        if args.json:
            print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
            return 0
        for row in rows:
            print(
                f"{row.id:<24}{row.name:<28}{'active' if row.active else 'retired':<9}"
                f"{row.cases:>5} cases {row.investigators:>3} investigators"
            )
        return 0
    if which == "add":
        units.add_unit(console, args.unit, args.name)
        print(f"Unit {args.unit.strip()!r} added as {name!r}.")
        print("Send cases to it with `lanthorn triage routing set CATEGORY UNIT …`.")
    elif which == "rename":
        units.rename_unit(console, args.unit, args.name)
        print(f"Unit {args.unit!r} is now called {name!r}.")
    elif which == "retire":
        units.retire_unit(console, args.unit)
        print(
            f"Unit {args.unit!r} retired: its cases and investigators stay as they are; "
            "it is offered for nothing new."
        )
    else:
        units.restore_unit(console, args.unit)
        print(f"Unit {args.unit!r} restored.")
    return 0


def routing_command(console: Console, args: Any) -> int:
    """`routing show`, `set CATEGORY UNIT [UNIT …]`, `clear CATEGORY`."""
    if args.routing_command == "show":
        table = units.routing(console)
        if args.json:
            print(json.dumps({c: list(table.get(c, ())) for c in CATEGORIES}, indent=2))
            return 0
        for category in CATEGORIES:
            chain = table.get(category, ())
            print(f"{category:<26}{' then '.join(chain) if chain else '(no unit suggested)'}")
        return 0
    chosen = args.units if args.routing_command == "set" else []
    if not units.set_routing(console, args.category, chosen):
        print(f"Routing for {args.category} unchanged.")
    elif chosen:
        print(f"Cases about {args.category} now go to {' then '.join(chosen)}.")
    else:
        print(f"Cases about {args.category} now suggest no unit.")
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


def main(args: Any) -> int:
    """Run one `lanthorn triage` command; returns the exit status."""
    try:
        if args.command == "backup-verify":  # needs the file and passphrases, no console
            return maintenance.verify_command(args.file, _passphrases)
        settings = TriageSettings.from_env(getattr(args, "data", None))
        if args.command == "restore":
            return maintenance.restore_command(settings, args.source, _passphrases)
        if args.command == "init":
            os.umask(0o077)
            return init(settings, args.officers, args.threshold)
        if args.command == "serve":
            return serve(settings, args.host, args.port, args.portal, args.sync_every)
        console = _unseal(settings)
        try:
            if args.command == "sync":
                return sync(console, args.portal)
            if args.command == "cases":
                return cases(console, args.json, getattr(args, "limit", None))
            if args.command == "show":
                return show(console, args.case, args.json, args.reveal_identity)
            if args.command == "reply":
                return reply(console, args.case, args.message)
            if args.command == "status":
                return status(console, args.case, args.state)
            if args.command == "rekey":
                return rekey(console, args.officers, args.threshold)
            if args.command == "backup":
                return maintenance.backup_command(console, args.out)
            if args.command == "rotate-key":
                return maintenance.rotate_key_command(console)
            if args.command == "referral":
                return referral_command(console, args)
            if args.command == "purge":
                return purge(console, args.dry_run)
            if args.command == "officer":
                return add_officer_command(console, args.username, args.role, args.unit)
            if args.command == "units":
                return units_command(console, args)
            if args.command == "routing":
                return routing_command(console, args)
            return audit_verify(console)
        finally:
            console.close()
    except (ConsoleError, PortalError) as exc:
        print(f"lanthorn triage {args.command}: {exc}", file=sys.stderr)
        return 1
