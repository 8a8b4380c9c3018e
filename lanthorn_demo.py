"""`lanthorn demo`: a portal and a console on one machine, demo passphrases and logins.

It sets up and runs both apps, so it sits beside `lanthorn_cli.py`, above them: neither
app imports the other.

The console is initialised with three demo officers' passphrases (any two unseal it) and
five demo sign-ins (two admins and a custodian, so that the two-person rules can be
tried); the portal gets the console's public keys. The portal runs as
`lanthorn portal serve` would; this process serves the console, unsealed, and syncs it
from the portal every few seconds, until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp
import uvicorn

from foundation.serving import UVICORN_OPTIONS, uvicorn_log_config
from portal.cli import initialise, read_oversight_keys, read_public_key, set_oversight_key
from portal.settings import CONFIG_FILE
from triage.app import create_app
from triage.console import Console, prepare_database
from triage.keys import OVERSIGHT_FILE, key_ceremony, unseal
from triage.officers import enrol_for_demo, officers
from triage.seed import seed_demo
from triage.settings import TriageSettings
from triage.vault import VAULT_FILE

DEMO_PASSPHRASES = (
    "demo officer one lantern",
    "demo officer two harbour",
    "demo officer three meadow",
)
DEMO_PASSWORD = "lanthorn demo password"  # noqa: S105 - the demo prints it on purpose
DEMO_TOTP = "LANTHORNDEMOCONSOLETOTPSECRET234"
DEMO_LOGINS = (
    ("demo-triage", "triage"),
    ("demo-custodian", "custodian"),  # approves demo-triage's requests to see an identity
    ("demo-admin", "admin"),
    ("demo-admin2", "admin"),  # the second admin who approves demo-admin's new officers
    ("demo-auditor", "auditor"),
)
SYNC_EVERY = 5


def demo_code() -> int:
    """`lanthorn demo --code`: the demo sign-in code right now (instead of an app)."""
    print(pyotp.TOTP(DEMO_TOTP).now())
    return 0


def _wait_for(url: str, seconds: float = 60) -> bool:
    """True once the portal answers, False if it has not after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/api/v1/config", timeout=2).raise_for_status()
            return True
        except httpx.HTTPError:
            time.sleep(0.3)
    return False


def _ports_in_use(*ports: int) -> list[int]:
    """Those of `ports` that something on this machine already listens on (or holds)."""
    taken = []
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(data: str | None, port: int) -> int:
    os.umask(0o077)  # the demo's keys and databases are for this user only
    taken = _ports_in_use(port, port + 1)
    if taken:
        ports, are, them = ("Ports", "are", "them") if len(taken) > 1 else ("Port", "is", "it")
        print(
            f"{ports} {' and '.join(map(str, taken))} on 127.0.0.1 {are} already in use: "
            f"the demo needs {port} for the portal and {port + 1} for the console.\n"
            f"Stop what uses {them} (an earlier demo still running?), or choose other ports:\n"
            f"  ./scripts/demo --port {port + 10}",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(data or "demo-data").resolve()
    settings = TriageSettings.from_env(str(data_dir / "console"))
    portal_dir = data_dir / "portal"
    fresh = not (settings.data_dir / VAULT_FILE).exists()
    if fresh:
        print("Setting up the demo console (key ceremony for three demo officers)…", flush=True)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        prepare_database(settings)
        key_ceremony(settings, DEMO_PASSPHRASES, 2)
    # Unsealed first: a demo console made before protocol v2 gets its signing key here.
    console = Console(settings, unseal(settings, DEMO_PASSPHRASES[:2]), who="demo:setup")
    oversight = read_oversight_keys(settings.public_dir / OVERSIGHT_FILE)
    if not (portal_dir / CONFIG_FILE).exists():
        initialise(
            portal_dir,
            oversight,
            read_public_key(settings.public_dir / "console.pub", "console verify key"),
        )
    else:
        set_oversight_key(portal_dir, oversight)  # the console's keys, whatever came before
    known = {o.username for o in officers(console)}
    for username, role in DEMO_LOGINS:  # a demo made before custodians gets the new ones
        if username not in known:
            enrol_for_demo(console, username, role, DEMO_PASSWORD, DEMO_TOTP)
    portal_url = f"http://127.0.0.1:{port}"
    console_url = f"http://127.0.0.1:{port + 1}"
    lanthorn = str(Path(shutil.which("lanthorn") or sys.argv[0]).resolve())
    logins = ", ".join(name for name, _ in DEMO_LOGINS)
    print(
        f"""
Lanthorn demo — SQLite, demo keys; never use it for real reports.

  Portal (reporters):  {portal_url}/
  Console (officers):  {console_url}/   (already unsealed; syncs every {SYNC_EVERY} s)
      sign in as {logins}
      password: {DEMO_PASSWORD!r}
      Two people, as for real: demo-triage asks to see who a reporter is and
      demo-custodian approves it; demo-admin asks for a new officer or role and
      demo-admin2 approves it (and is given the setup code).
      code:     run `{lanthorn} demo --code`, or add the key {DEMO_TOTP} to an
                authenticator app
  Demo officers' unseal passphrases (any two):
      {DEMO_PASSPHRASES[0]!r}, {DEMO_PASSPHRASES[1]!r}, {DEMO_PASSPHRASES[2]!r}
  The console's command line works too, e.g.
      export LANTHORN_UNSEAL_PASSPHRASES="{",".join(DEMO_PASSPHRASES[:2])}"
      {lanthorn} triage cases --data {settings.data_dir}

Ctrl-C stops both.
""",
        flush=True,
    )
    server = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [lanthorn, "portal", "serve", "--data", str(portal_dir), "--port", str(port)],
        # the demo kiosk stands in a fictional prison, so its reports name one
        env={
            **os.environ,
            "LANTHORN_KIOSK_FACILITY": os.environ.get("LANTHORN_KIOSK_FACILITY", "HMP Demo"),
        },
    )
    signal.signal(signal.SIGTERM, _stop)  # `kill` stops both parts, like Ctrl-C
    try:
        if fresh and _wait_for(portal_url):
            print("Adding fictional cases to the demo (first run only)…", flush=True)
            seed_demo(console, portal_url, lambda line: print(line, flush=True))
        app = create_app(settings, portal_url=portal_url, sync_every=SYNC_EVERY)
        app.state.console = console.acting_as("demo:console")
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port + 1,
            log_config=uvicorn_log_config(),
            **UVICORN_OPTIONS,  # type: ignore[arg-type]
        )
        uvicorn.Server(config).run()  # a port taken meanwhile: uvicorn says so, exits 3
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
    return 0
