"""The `lanthorn` command: one entry point, with `portal` and `triage` families.

The flags are the contract in DESIGN.md section 4. Commands whose part is not built yet
say so and exit with status 1; `lanthorn demo` shows protocol v1 working end to end.

Exit codes: 0 success, 1 the command could not do its job, 2 the command line was wrong.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Sequence

EXAMPLES = """\
examples:
  lanthorn demo                                   # everything on one machine, demo keys
  lanthorn triage init --data /srv/console --officers 3 --threshold 2
  lanthorn portal init --data /srv/portal \\
      --oversight-key oversight.pub --console-key console.pub
  lanthorn portal serve --data /srv/portal --port 8080

Configuration also comes from LANTHORN_* environment variables: LANTHORN_DATA for --data,
LANTHORN_DATABASE_URL for the database (default: SQLite in the data directory).
"""

NOT_BUILT = {
    "portal": "the portal is not built yet (issue 3)",
    "triage": "the triage console is not built yet (issue 4)",
}


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

    families.add_parser(
        "demo",
        help="run protocol v1 end to end on this machine with demo keys",
        description="Run Lanthorn on one machine with demo keys and SQLite.",
    )

    portal = families.add_parser("portal", help="the public portal (runs on the portal host)")
    portal_cmds = portal.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = portal_cmds.add_parser("init", help="create the portal's data directory and database")
    _data_arg(p)
    p.add_argument(
        "--oversight-key",
        metavar="FILE",
        required=True,
        help="file holding the oversight public key (b64u text)",
    )
    p.add_argument(
        "--console-key",
        metavar="FILE",
        required=True,
        help="file holding the console's verify key (b64u text)",
    )
    p = portal_cmds.add_parser("serve", help="serve the portal")
    _data_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, metavar="N")

    triage = families.add_parser("triage", help="the sealed triage console (oversight host)")
    t = triage.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = t.add_parser("init", help="key ceremony: create keys and seal them to officers")
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
    p = t.add_parser("cases", help="list cases")
    _data_arg(p)
    p.add_argument("--json", action="store_true")
    p = t.add_parser("show", help="show one case")
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p = t.add_parser("reply", help="send a reply to the reporter of a case")
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("--message", required=True, metavar="TEXT")
    p = t.add_parser("status", help="set the status the reporter sees")
    _data_arg(p)
    p.add_argument("case")
    p.add_argument("state")
    audit = t.add_parser("audit", help="the audit log")
    audit_cmds = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    p = audit_cmds.add_parser("verify", help="check the audit log's hash chain")
    _data_arg(p)
    return parser


def run_demo() -> int:
    """Show protocol v1 working in-process until the portal and console exist."""
    import crypto

    print("Lanthorn demo — protocol v1 in one process (portal and console not built yet)\n")
    oversight = crypto.PrivateKey.generate()
    salt = crypto.new_vault_key()[: crypto.RECEIPT_SALT_BYTES]
    receipt = crypto.generate_receipt()
    print(f"  receipt code        {crypto.format_receipt(receipt)}")
    started = time.perf_counter()
    keys = crypto.derive_reporter_keys(receipt, salt)
    took = time.perf_counter() - started
    print(f"  key derivation      Argon2id t=3 m=64 MiB, {took * 1000:.0f} ms")
    print(f"  lookup id           {crypto.b64u_encode(keys.lookup_id)}")
    report = {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "staff_sexual_misconduct",
        "facility": "HMP Example",
        "location": "B wing",
        "occurred": "last week",
        "description": "Demo report: nothing real.",
        "subjects": "",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sent_on": datetime.date.today().isoformat(),
    }
    sealed = crypto.seal_report(report, oversight.public_key)
    print(f"  sealed report       {len(sealed)} bytes (bucket {len(sealed) - 48})")
    opened = crypto.open_document(sealed, oversight, expect="report")
    print(f"  opened by console   {opened['description']!r}")
    print("\nThe portal (issue 3) and the triage console (issue 4) will run here next.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.family == "demo":
        return run_demo()
    print(f"lanthorn {args.family} {args.command}: {NOT_BUILT[args.family]}.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
