"""`lanthorn triage …`: which command runs, on which console.

Every command that reads or changes cases first unseals the vault with k officers'
passphrases (prompted, or `LANTHORN_UNSEAL_PASSPHRASES` for automation), and records
what it did in the audit log. The commands themselves are in setup_commands.py (init,
rekey, officer, serve), case_commands.py (sync, cases, show, reply, status, purge,
referral, audit verify), unit_commands.py (units, routing) and maintenance.py (backup,
backup-verify, restore, rotate-key).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import case_commands, maintenance, setup_commands, unit_commands
from .client import PortalError
from .console import Console, default_officer
from .keys import unseal
from .passphrase_prompts import unseal_passphrases
from .settings import ConsoleError, TriageSettings
from .vault import threshold


def _unseal(settings: TriageSettings) -> Console:
    passphrases = unseal_passphrases(threshold(settings))
    return Console(settings, unseal(settings, passphrases), who=default_officer())


def main(args: Any) -> int:
    """Run one `lanthorn triage` command; returns the exit status."""
    try:
        if args.command == "backup-verify":  # needs the file and passphrases, no console
            return maintenance.verify_command(args.file, unseal_passphrases)
        settings = TriageSettings.from_env(getattr(args, "data", None))
        if args.command == "restore":
            return maintenance.restore_command(settings, args.source, unseal_passphrases)
        if args.command == "init":
            os.umask(0o077)
            return setup_commands.init(settings, args.officers, args.threshold)
        if args.command == "serve":
            return setup_commands.serve(
                settings, args.host, args.port, args.portal, args.sync_every
            )
        console = _unseal(settings)
        try:
            if args.command == "sync":
                return case_commands.sync(console, args.portal)
            if args.command == "cases":
                return case_commands.cases(console, args.json, getattr(args, "limit", None))
            if args.command == "show":
                return case_commands.show(console, args.case, args.json, args.reveal_identity)
            if args.command == "reply":
                return case_commands.reply(console, args.case, args.message)
            if args.command == "status":
                return case_commands.status(console, args.case, args.state)
            if args.command == "rekey":
                return setup_commands.rekey(console, args.officers, args.threshold)
            if args.command == "backup":
                return maintenance.backup_command(console, args.out)
            if args.command == "rotate-key":
                return maintenance.rotate_key_command(console)
            if args.command == "referral":
                return case_commands.referral_command(console, args)
            if args.command == "purge":
                return case_commands.purge(console, args.dry_run)
            if args.command == "officer":
                return setup_commands.add_officer_command(
                    console, args.username, args.role, args.unit
                )
            if args.command == "units":
                return unit_commands.units_command(console, args)
            if args.command == "routing":
                return unit_commands.routing_command(console, args)
            return case_commands.audit_verify(console)
        finally:
            console.close()
    except (ConsoleError, PortalError) as exc:
        print(f"lanthorn triage {args.command}: {exc}", file=sys.stderr)
        return 1
