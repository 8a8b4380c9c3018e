"""`lanthorn triage init`, `rekey`, `officer` and `serve`: setting a console up (the key
ceremony, new passphrases for its officers, its first officers) and running it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import crypto

from .console import Console, default_officer, prepare_database
from .keys import key_ceremony, rewrap, unseal
from .officers import add_officer
from .passphrase_prompts import (
    ENV_NEW_PASSPHRASES,
    ENV_PASSPHRASES,
    ask_new_passphrases,
    env_passphrases,
)
from .settings import ConsoleError, TriageSettings
from .vault import threshold


def init(settings: TriageSettings, officers: int, k: int) -> int:
    passphrases = env_passphrases()
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
    unsealed = key_ceremony(settings, passphrases or ask_new_passphrases(officers), k)
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
    rewrap(console.settings, console.keys, passphrases or ask_new_passphrases(officers), k)
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
    passphrases = env_passphrases()
    if passphrases is not None:  # automation: unseal at start instead of on the page
        unsealed = unseal(settings, passphrases[: threshold(settings)])
        app.state.console = Console(settings, unsealed, who="console:start")
        app.state.console.search.start()  # search is ready once every item has been read
    state = "unsealed" if passphrases is not None else "sealed: unseal it in the browser"
    print(f"Lanthorn console on http://{host}:{port}/ ({state}; Ctrl-C to stop)", flush=True)
    options: dict[str, Any] = dict(UVICORN_OPTIONS)
    uvicorn.run(app, host=host, port=port, log_config=uvicorn_log_config(), **options)
    return 0
