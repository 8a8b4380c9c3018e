"""`lanthorn triage backup`, `backup-verify`, `restore` and `rotate-key`: the commands that
keep a console's records and keys through a lost disk or an exposed key
(docs/operations.md, "Console backups" and "Rotating the oversight key")."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .backup import Contents, Passphrases, make_backup
from .backup_reading import verify_backup
from .console import Console, default_officer
from .keys import OVERSIGHT_FILE, reload_keys, rotate_oversight_key
from .migrations import revisions
from .restore import restore_backup
from .settings import TriageSettings
from .sync_lock import one_sync_at_a_time


class _Progress:
    """One line on stderr, rewritten in place, when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()
        self.used = False

    def __call__(self, line: str) -> None:
        if self.shown:
            self.used = True
            print(f"\r  {line:<72}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.used:
            print(file=sys.stderr)


def _holding(contents: Contents) -> str:
    return (
        f"{contents.tables.get('cases', 0):,} cases, {contents.tables.get('items', 0):,} "
        f"items, {contents.files:,} attachment files ({contents.file_bytes:,} bytes) and "
        f"{contents.audit_entries:,} audit entries"
    )


def backup_command(console: Console, out: str) -> int:
    progress = _Progress()
    print(f"Backing up {console.settings.data_dir} to {out} …", file=sys.stderr)
    try:
        contents = make_backup(console, Path(out), progress)
    finally:
        progress.done()
    print(f"Wrote {out}: {contents.size:,} bytes, SHA-256 {contents.sha256}.")
    print(f"It holds {_holding(contents)} (audit head {contents.audit_head[:16]}…).")
    print(
        "It opens only with the passphrases of k officers as they are today (its own "
        "vault.json).\nCheck each copy with `lanthorn triage backup-verify FILE`, and keep "
        "copies away from this host. The backup is recorded in the audit log."
    )
    return 0


def verify_command(path: str, passphrases: Passphrases) -> int:
    progress = _Progress()
    try:
        contents = verify_backup(Path(path), passphrases, progress)
    finally:
        progress.done()
    print(f"{path} is whole and authentic: {contents.size:,} bytes, SHA-256 {contents.sha256}.")
    print(
        f"Made {contents.made_at} by {contents.made_by}; database schema {contents.revision} "
        "(this version of Lanthorn can restore it)."
    )
    print(f"It holds {_holding(contents)}.")
    if contents.audit_broken_at is not None:
        print(
            f"WARNING: the audit log inside was already broken at entry "
            f"{contents.audit_broken_at + 1} on the console it was made from.",
            file=sys.stderr,
        )
        return 1
    print(f"The audit log inside is intact; head {contents.audit_head[:16]}…")
    return 0


def restore_command(settings: TriageSettings, source: str, passphrases: Passphrases) -> int:
    os.umask(0o077)  # keys, database and files are for the console's user alone
    progress = _Progress()
    try:
        contents = restore_backup(
            settings, Path(source), passphrases, progress, who=default_officer()
        )
    finally:
        progress.done()
    print(f"Restored the console backed up {contents.made_at} into {settings.data_dir}.")
    print(f"It holds {_holding(contents)}.")
    if contents.revision != revisions()[-1]:
        print(f"Its database was brought from schema {contents.revision} to the newest.")
    if contents.audit_broken_at is None:
        print("The audit log verifies, and ends with an entry for this restore.")
    else:
        print(
            f"WARNING: the audit log was already broken at entry "
            f"{contents.audit_broken_at + 1} when the backup was made.",
            file=sys.stderr,
        )
    print(
        "It unseals with the passphrases of the officers of the backup's day, and officers "
        "sign in as they did then.\nReports and messages the old console took in after "
        f"the backup are not in it. Start it with:\n  lanthorn triage serve --data "
        f"{settings.data_dir}"
    )
    return 0


def rotate_key_command(console: Console) -> int:
    settings = console.settings
    # Under the sync lock: no sync is half-way, and two rotations cannot race to write
    # keys.sealed (the second would drop the key the first made).
    with one_sync_at_a_time(settings.data_dir, lambda line: print(line, file=sys.stderr)):
        current = reload_keys(settings, console.keys) or console.keys
        rotated = rotate_oversight_key(settings, current, console._today())
        console.keys = rotated
        old, new = current.fingerprint, rotated.fingerprint
        with console.sessions() as session:
            console.audit(
                session,
                "rotate oversight key",
                old_fingerprint=old,
                new_fingerprint=new,
                previous_keys=len(rotated.previous),
            )
            session.commit()
    public = settings.public_dir / OVERSIGHT_FILE
    print(
        "New oversight keys made, and a rollover statement signed by the old and the new "
        "signing key. Reports sealed to an earlier key still open: "
        f"{len(rotated.previous)} earlier key(s) are kept in keys.sealed."
    )
    print(f"  old fingerprint: {old}\n  new fingerprint: {new}")
    print(
        f"Next:\n  1. Copy {public} to the portal host and run there:\n"
        "       lanthorn portal set-oversight-key --data DIR --oversight-key oversight.json\n"
        "     check that it prints the new fingerprint above, then restart the portal.\n"
        "  2. Give the new fingerprint to whoever prints posters and staff notices, and to\n"
        "     whoever configures the kiosks and API clients that pin it.\n"
        "  3. Make a new backup here (lanthorn triage backup): older ones lack the new keys.\n"
        "A running `lanthorn triage serve` finds the new keys in keys.sealed by itself."
    )
    return 0
