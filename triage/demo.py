"""`lanthorn demo`: a portal and a console on one machine, demo passphrases, SQLite.

The console is initialised with three demo officers (any two unseal it), the portal with
the console's public keys; the portal runs as `lanthorn portal serve` would, and this
process syncs the console from it every few seconds until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal.cli import initialise, read_public_key
from portal.settings import CONFIG_FILE

from .client import PortalError
from .console import Console, prepare_database
from .keys import VAULT_FILE, key_ceremony, unseal
from .settings import TriageSettings

DEMO_PASSPHRASES = (
    "demo officer one lantern",
    "demo officer two harbour",
    "demo officer three meadow",
)
SYNC_EVERY = 5.0


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_demo(data: str | None, port: int) -> int:
    os.umask(0o077)  # the demo's keys and databases are for this user only
    data_dir = Path(data or "demo-data").resolve()
    settings = TriageSettings.from_env(str(data_dir / "console"))
    portal_dir = data_dir / "portal"
    if not (settings.data_dir / VAULT_FILE).exists():
        print("Setting up the demo console (key ceremony for three demo officers)…")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        prepare_database(settings)
        key_ceremony(settings, DEMO_PASSPHRASES, 2)
    if not (portal_dir / CONFIG_FILE).exists():
        initialise(
            portal_dir,
            read_public_key(settings.public_dir / "oversight.pub", "oversight public key"),
            read_public_key(settings.public_dir / "console.pub", "console verify key"),
        )
    url = f"http://127.0.0.1:{port}"
    lanthorn = str(Path(shutil.which("lanthorn") or sys.argv[0]).resolve())
    phrases = ",".join(DEMO_PASSPHRASES[:2])
    print(
        f"""
Lanthorn demo — SQLite, demo keys; never use it for real reports.

  Portal (reporters):   {url}/
  Console:              web pages not built yet; use the command line, e.g.
      export LANTHORN_UNSEAL_PASSPHRASES="{phrases}"
      {lanthorn} triage cases --data {settings.data_dir}
      {lanthorn} triage show  --data {settings.data_dir} CASE
      {lanthorn} triage reply --data {settings.data_dir} CASE --message "Thank you."
  Demo officers' passphrases (any two unseal the console):
      {DEMO_PASSPHRASES[0]!r}, {DEMO_PASSPHRASES[1]!r}, {DEMO_PASSPHRASES[2]!r}

The console syncs from the portal every {SYNC_EVERY:.0f} seconds. Ctrl-C stops both.
""",
        flush=True,
    )
    server = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [lanthorn, "portal", "serve", "--data", str(portal_dir), "--port", str(port)]
    )
    console = Console(settings, unseal(settings, DEMO_PASSPHRASES[:2]), who="demo:console")
    signal.signal(signal.SIGTERM, _stop)  # `kill` stops both parts, like Ctrl-C
    try:
        while server.poll() is None:
            time.sleep(SYNC_EVERY)
            try:
                report = console.sync(url)
            except PortalError:
                continue  # still starting, or stopping
            if report.taken:
                print(f"Console: took in {report.taken} new item(s) from the portal.", flush=True)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        console.close()
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
    return 0
