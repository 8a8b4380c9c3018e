"""The `lanthorn` command: one entry point, with `portal` and `triage` families.

Every command and flag is listed in docs/cli.md, which `cli_reference()` writes from this
parser (`scripts/cli-reference`), so the page never drifts from the program.

Exit codes: 0 success, 1 the command could not do its job, 2 the command line was wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXAMPLES = """\
examples:
  lanthorn demo                                   # everything on one machine, demo keys
  lanthorn triage init --data /srv/console --officers 3 --threshold 2
  lanthorn triage sync --data /srv/console --portal https://portal.example
  lanthorn triage show --data /srv/console K7QM2XRT9P --json
  lanthorn portal init --data /srv/portal \\
      --oversight-key oversight.json --console-key console.pub
  lanthorn portal serve --data /srv/portal --port 8080

Configuration also comes from LANTHORN_* environment variables: LANTHORN_DATA for --data,
LANTHORN_DATABASE_URL for the database (default: SQLite in the data directory),
LANTHORN_HOSTS for the names the portal answers to.
"""

PURGE_DESCRIPTION = """\
Delete the content of every closed case kept longer than its retention rule allows:
report, messages, replies, closing summary, queued replies and attachment files.
The anonymous fields (category, prison, dates, outcome) stay for statistics; the
audit log is kept and records each purge. Running it again purges nothing more.

Retention after closure: sexual-abuse cases 1826 days (5 years, PREA 115.71),
others 730 days. Set LANTHORN_RETENTION_DAYS_SEXUAL_ABUSE and
LANTHORN_RETENTION_DAYS_OTHER to change them.
"""
PURGE_EXAMPLES = """\
examples:
  lanthorn triage purge --data /srv/console --dry-run   # list them, change nothing
  lanthorn triage purge --data /srv/console             # e.g. daily, from cron
"""

REFERRAL_DESCRIPTION = """\
Export one case as a referral package for the unit that must act on it: a zip with
referral.pdf and referral.json (the report, the conversation, the case history, each
attachment's SHA-256), a copy of each attachment with its metadata removed where the
format allows (JPEG, PNG, MP4/QuickTime), and SHA256SUMS.

The reporter's identity section is never included, and the names and numbers in it are
redacted wherever they appear. Each --redact passage is redacted too, matched whatever
its case and line breaks; a passage that does not appear in the case stops the export,
so that a misspelling cannot leave the real words in. The export is recorded in the
audit log (unit, reason, counts, the package's SHA-256, never the passages).
"""
REFERRAL_EXAMPLES = """\
examples:
  lanthorn triage referral --data /srv/console K7QM2XRT9P --unit police_liaison \\
      --reason "Police request under the information-sharing protocol" \\
      --redact "the laundry cupboard behind the servery" --out /media/secure/K7QM2XRT9P.zip
  lanthorn triage referral --data /srv/console K7QM2XRT9P --unit police_liaison \\
      --reason "Evidence requested" --redact-file passages.txt --originals
"""

UNITS_DESCRIPTION = """\
The units cases are routed to and investigators work for. A unit has a fixed id
(lower-case words joined by underscores) and a name that can change. A unit is
retired, never deleted: its cases and investigators stay as they are, but it is
offered for no new routing and no new investigator. A unit still in the routing
table cannot be retired. Every change is recorded in the audit log.
"""
UNITS_EXAMPLES = """\
examples:
  lanthorn triage units list --data /srv/console
  lanthorn triage units add --data /srv/console prison_inspectorate "Prison inspectorate"
  lanthorn triage units rename --data /srv/console governor "Governing governor"
  lanthorn triage units retire --data /srv/console equality_lead
  lanthorn triage units restore --data /srv/console equality_lead
"""
ROUTING_DESCRIPTION = """\
The routing table: for each report category, the units a case goes to, first one
first (at most 4). A case's page suggests them and preselects the first; the triage
officer still chooses. Only active units can be named. Every change is recorded in
the audit log.
"""
ROUTING_EXAMPLES = """\
examples:
  lanthorn triage routing show --data /srv/console
  lanthorn triage routing set --data /srv/console discrimination equality_lead ombudsman
  lanthorn triage routing clear --data /srv/console other   # suggest no unit
"""

BACKUP_DESCRIPTION = """\
Write one encrypted file holding the whole console: keys.sealed, every table of the
database (cases, items, replies, events, concerns, officers, units, routing, the audit
log, ...), every attachment file and the public keys. It is written to FILE.part and
renamed to FILE when complete; an existing FILE is never replaced. Unsealing needs k
officers' passphrases (prompted, or LANTHORN_UNSEAL_PASSPHRASES).

Everything but vault.json and the two public keys is inside a secretstream under a key
derived from the vault key: the file opens only with k passphrases of today's officers,
and every byte is authenticated. Attachments stream through; memory does not grow with
them. The backup is recorded in the audit log (its SHA-256 and counts), after the file
is complete, so the log inside the backup ends just before that entry.

Check a copy with `lanthorn triage backup-verify FILE`; rebuild a console from it with
`lanthorn triage restore`.
"""
BACKUP_EXAMPLES = """\
examples:
  lanthorn triage backup --data /srv/console --out /media/backup/console-2026-11-27.lbk
  lanthorn triage backup-verify /media/backup/console-2026-11-27.lbk
  lanthorn triage restore --data /srv/console-new --from /media/backup/console-2026-11-27.lbk
"""
BACKUP_VERIFY_DESCRIPTION = """\
Read a backup from end to end and check it, writing nothing: k officers unseal its
vault.json (prompted, or LANTHORN_UNSEAL_PASSPHRASES); then every byte is authenticated,
the end is checked to be the real end, every table's row count and SHA-256, every
attachment's SHA-256 and the audit chain are recomputed and compared with the manifest,
and keys.sealed must open. It needs no console: run it anywhere a copy is kept.

Exit status 0: the backup is whole and restorable by this version of Lanthorn. 1: it is
damaged, cut off, made by a newer Lanthorn, or the passphrases do not open it (the
message says which).
"""
RESTORE_DESCRIPTION = """\
Rebuild a console from a backup. NEWDIR must be missing or empty, and the database
(LANTHORN_DATABASE_URL, or SQLite in NEWDIR) must hold no tables: restore never mixes a
backup into an existing console. k officers of the backup's day unseal it (prompted, or
LANTHORN_UNSEAL_PASSPHRASES).

The database may be another engine than the one backed up (SQLite into PostgreSQL, or
back). A backup from an older Lanthorn is loaded at its schema and then upgraded; one
from a newer Lanthorn is refused. If anything fails, everything written is removed.
The restored audit log verifies and ends with a "restore" entry.
"""
RESTORE_EXAMPLES = """\
examples:
  lanthorn triage restore --data /srv/console-new --from console-2026-11-27.lbk
  LANTHORN_DATABASE_URL='postgresql+psycopg://console@/console?host=/run/postgresql' \\
      lanthorn triage restore --data /srv/console --from console-2026-11-27.lbk
"""
ROTATE_KEY_DESCRIPTION = """\
Make new oversight keys: the box key reports are sealed to and the signing key every
reply, status change and outcome notice is signed with. A rollover statement, signed by
the old and the new signing key, lets clients that pinned the old fingerprint follow.
The new keys, their fingerprint and the statements go to public/oversight.json. Every
earlier box key stays in keys.sealed, so reports sealed to them still open: a kiosk page
loaded before the rotation, or an API client that fetched the old key, may go on using
it for a while. The old signing key is not kept. The rotation is recorded in the audit
log with both fingerprints, and printed.

Then give the portal the new keys (lanthorn portal set-oversight-key) and restart it:
until then it refuses items signed with the new key, and they wait in the queue. Give
the new fingerprint to whoever prints posters and configures kiosks, and make a new
backup.
"""
ROTATE_KEY_EXAMPLES = """\
examples:
  lanthorn triage rotate-key --data /srv/console
  # then, on the portal host, with the new oversight.json copied there:
  lanthorn portal set-oversight-key --data /srv/lanthorn/portal --oversight-key oversight.json
  systemctl restart lanthorn-portal
"""
SET_OVERSIGHT_KEY_DESCRIPTION = """\
Replace the oversight keys in DIR/portal.json (the box key, the signing key and the
rollover statements) with those of the console's public/oversight.json, after
`lanthorn triage rotate-key` or the console's upgrade to protocol v2, and nothing else:
the receipt salt and the console key stay as they are. The file is replaced atomically.
It prints the old and the new fingerprint: the new one must be the one the console
printed. Restart the portal afterwards; until then it goes on serving the old keys.
"""
SET_OVERSIGHT_KEY_EXAMPLES = """\
examples:
  lanthorn portal set-oversight-key --data /srv/lanthorn/portal --oversight-key oversight.json
  systemctl restart lanthorn-portal
"""


def _positive(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number, 1 or more, not {value!r}")
    return int(value)


def _data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR", help="data directory (default: $LANTHORN_DATA)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lanthorn",
        description="Lanthorn: anonymous misconduct reporting for prisons.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    families = parser.add_subparsers(dest="family", metavar="COMMAND", required=True)

    demo = families.add_parser(
        "demo",
        help="run Lanthorn on this machine with demo keys",
        description="Run Lanthorn on one machine with demo keys and SQLite.",
    )
    demo.add_argument("--data", metavar="DIR", help="where demo data lives (default: demo-data)")
    demo.add_argument(
        "--port", type=int, default=8080, help="portal port; the console gets the next (8080)"
    )
    demo.add_argument("--code", action="store_true", help="print the demo sign-in code now")

    portal = families.add_parser("portal", help="the public portal (runs on the portal host)")
    portal_cmds = portal.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = portal_cmds.add_parser("init", help="create the portal's data directory and database")
    _data_arg(p)
    p.add_argument(
        "--oversight-key",
        metavar="FILE",
        required=True,
        help="the console's public/oversight.json (the oversight keys and fingerprint)",
    )
    p.add_argument(
        "--console-key",
        metavar="FILE",
        required=True,
        help="file holding the console's verify key (b64u text)",
    )
    p = portal_cmds.add_parser(
        "set-oversight-key",
        help="give the portal the console's new oversight keys (after triage rotate-key)",
        description=SET_OVERSIGHT_KEY_DESCRIPTION,
        epilog=SET_OVERSIGHT_KEY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arg(p)
    p.add_argument(
        "--oversight-key",
        metavar="FILE",
        required=True,
        help="the console's new public/oversight.json",
    )
    p = portal_cmds.add_parser("serve", help="serve the portal")
    _data_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, metavar="N")

    triage = families.add_parser("triage", help="the sealed triage console (oversight host)")
    t = triage.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = t.add_parser(
        "init", help="key ceremony: create keys, seal them to officers, print the fingerprint"
    )
    _data_arg(p)
    p.add_argument("--officers", type=int, default=3, metavar="N")
    p.add_argument("--threshold", type=int, default=2, metavar="K")
    p = t.add_parser("serve", help="serve the console")
    _data_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--portal", metavar="URL")
    p.add_argument("--sync-every", type=int, metavar="SECONDS")
    p = t.add_parser("sync", help="pull new reports from the portal")
    _data_arg(p)
    p.add_argument("--portal", metavar="URL", required=True)
    p = t.add_parser("cases", help="list cases, urgent first, then newest first")
    _data_arg(p)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="only the first N cases (default: all); the web console pages and searches",
    )
    p = t.add_parser("show", help="show one case")
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--reveal-identity",
        action="store_true",
        help="also show who the reporter said they are (recorded in the audit log; the "
        "k key holders who unseal for this command stand in for the custodian)",
    )
    p = t.add_parser("reply", help="send a reply to the reporter of a case")
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("--message", required=True, metavar="TEXT")
    p = t.add_parser("status", help="set the status the reporter sees")
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("state")
    p = t.add_parser(
        "rekey",
        help="new officers' passphrases: add or remove officers, replace a lost passphrase",
        description=(
            "Unseal with k current passphrases, then every officer of the new set chooses a "
            "passphrase (prompted, or LANTHORN_NEW_PASSPHRASES, comma-separated). The vault "
            "key stays the same; the old passphrases stop working."
        ),
    )
    _data_arg(p)
    p.add_argument("--officers", type=int, default=3, metavar="N")
    p.add_argument("--threshold", type=int, default=2, metavar="K")
    p = t.add_parser(
        "officer",
        help="add an officer at once, the k key holders who unseal agreeing (the first "
        "admins; in the web console a second admin approves); prints their setup code",
    )
    _data_arg(p)
    p.add_argument("username")
    p.add_argument(
        "--role",
        required=True,
        choices=["admin", "triage", "investigator", "auditor", "custodian"],
        help="custodian: approves or refuses triage officers' requests to see who a "
        "reporter is, and reads no case",
    )
    p.add_argument("--unit", help="the unit an investigator works for, e.g. counter_corruption")
    p = t.add_parser(
        "purge",
        help="delete the content of closed cases past their retention period",
        description=PURGE_DESCRIPTION,
        epilog=PURGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arg(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the cases that would be purged (id, closing day, rule); change nothing",
    )
    units = t.add_parser(
        "units",
        help="list, add, rename, retire and restore the units cases are routed to",
        description=UNITS_DESCRIPTION,
        epilog=UNITS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    units_cmds = units.add_subparsers(dest="units_command", metavar="COMMAND", required=True)
    p = units_cmds.add_parser("list", help="every unit: id, name, state, cases, investigators")
    _data_arg(p)
    p.add_argument("--json", action="store_true")
    p = units_cmds.add_parser("add", help="add a unit")
    _data_arg(p)
    p.add_argument("unit", metavar="ID", help="e.g. prison_inspectorate; it never changes")
    p.add_argument("name", metavar="NAME", help='e.g. "Prison inspectorate"')
    p = units_cmds.add_parser("rename", help="give a unit a new name (its id stays)")
    _data_arg(p)
    p.add_argument("unit", metavar="ID")
    p.add_argument("name", metavar="NAME")
    p = units_cmds.add_parser("retire", help="offer a unit for nothing new; keep its cases")
    _data_arg(p)
    p.add_argument("unit", metavar="ID")
    p = units_cmds.add_parser("restore", help="offer a retired unit again")
    _data_arg(p)
    p.add_argument("unit", metavar="ID")
    routing = t.add_parser(
        "routing",
        help="show or change which units each category of report is routed to",
        description=ROUTING_DESCRIPTION,
        epilog=ROUTING_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    routing_cmds = routing.add_subparsers(dest="routing_command", metavar="COMMAND", required=True)
    p = routing_cmds.add_parser("show", help="every category and its units, in order")
    _data_arg(p)
    p.add_argument("--json", action="store_true")
    p = routing_cmds.add_parser("set", help="a category's units, first one first (at most 4)")
    _data_arg(p)
    p.add_argument("category", metavar="CATEGORY", help="e.g. discrimination")
    p.add_argument("units", metavar="UNIT", nargs="+", help="unit ids, e.g. equality_lead")
    p = routing_cmds.add_parser("clear", help="a category suggests no unit")
    _data_arg(p)
    p.add_argument("category", metavar="CATEGORY")
    p = t.add_parser(
        "referral",
        help="export a case for a unit (e.g. the police) as a PDF and JSON package",
        description=REFERRAL_DESCRIPTION,
        epilog=REFERRAL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("--unit", required=True, help="the unit the package is for, e.g. police_liaison")
    p.add_argument(
        "--reason", required=True, metavar="TEXT", help="why it is referred (audit log, package)"
    )
    p.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="PASSAGE",
        help="a passage to redact wherever it appears (repeat for more); it must appear",
    )
    p.add_argument(
        "--redact-file",
        metavar="FILE",
        help="a file of passages to redact, one per line (keeps them out of shell history)",
    )
    p.add_argument(
        "--originals",
        action="store_true",
        help="also include the original files, metadata and all (only if needed as evidence)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="where to write the zip (default: referral-CASE-UNIT-DATE.zip here); "
        "it is not encrypted, so write it to an encrypted drive",
    )
    p = t.add_parser(
        "backup",
        help="write an encrypted backup of the whole console to a file",
        description=BACKUP_DESCRIPTION,
        epilog=BACKUP_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arg(p)
    p.add_argument("--out", metavar="FILE", required=True, help="the backup file to write")
    p = t.add_parser(
        "backup-verify",
        help="check a backup file from end to end, writing nothing",
        description=BACKUP_VERIFY_DESCRIPTION,
        epilog=BACKUP_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the backup file to check")
    p = t.add_parser(
        "restore",
        help="rebuild a console from a backup, into an empty directory and database",
        description=RESTORE_DESCRIPTION,
        epilog=RESTORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", metavar="NEWDIR", help="the new data directory (default: $LANTHORN_DATA)"
    )
    p.add_argument("--from", dest="source", metavar="FILE", required=True, help="the backup file")
    p = t.add_parser(
        "rotate-key",
        help="make new oversight keys; keep the old box keys so that old reports still open",
        description=ROTATE_KEY_DESCRIPTION,
        epilog=ROTATE_KEY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arg(p)
    audit = t.add_parser("audit", help="the audit log")
    audit_cmds = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    p = audit_cmds.add_parser("verify", help="check the audit log's hash chain")
    _data_arg(p)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    return [
        (name, sub)
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    ]


def cli_reference() -> str:
    """docs/cli.md: every command's `--help`, in order, as one Markdown page."""
    import os

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "96"  # argparse wraps to the terminal; the page must not vary
    try:
        sections: list[str] = []
        todo = [("lanthorn", build_parser())]
        while todo:
            path, parser = todo.pop(0)
            parser.prog = path
            sections.append(f"## `{path}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
            todo[0:0] = [(f"{path} {name}", sub) for name, sub in _subcommands(parser)]
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    head = (
        "# The `lanthorn` command\n\n"
        "Every command and flag, as `--help` prints them. This page is generated from the\n"
        "program (`./scripts/cli-reference`), and `tests/test_layout.py` fails when the two\n"
        "differ. Exit codes: 0 success, 1 the command could not do its job, 2 the command\n"
        "line was wrong.\n"
    )
    return "\n".join([head, *sections])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.family == "demo":
        from lanthorn_demo import demo_code, run_demo

        return demo_code() if args.code else run_demo(args.data, args.port)
    if args.family == "portal":
        from portal.cli import init_command, serve_command, set_oversight_key_command

        if args.command == "init":
            return init_command(args.data, args.oversight_key, args.console_key)
        if args.command == "set-oversight-key":
            return set_oversight_key_command(args.data, args.oversight_key)
        return serve_command(args.data, args.host, args.port, args.workers)
    from triage.cli import main as triage_main

    return triage_main(args)


if __name__ == "__main__":
    sys.exit(main())
