"""A portal on a loopback port and a console that syncs from it, both on the test backend."""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

import crypto
from foundation.serving import UVICORN_OPTIONS
from portal.app import create_app
from portal.settings import PortalSettings, Secret
from tests.conftest import CHEAP_KDF
from tests.portal.conftest import Clock, Portal, answer_to
from tests.portal.test_api import report_document, submission, upload
from tests.serving import serving
from tests.triage.officer_pages import enrol_through_pages, sign_in
from tests.triage.officer_pages import token as token  # the tests import it from here
from triage.app import create_app as create_console_app
from triage.console import Console
from triage.keys import key_ceremony
from triage.officers import add_officer
from triage.settings import TriageSettings

PASSPHRASES = [
    "amber lantern over the wing",
    "seven quiet keys on a ring",
    "the long shift ends at dawn",
]


@pytest.fixture
def console_settings(tmp_path: Path, new_database_url: Callable[[], str]) -> TriageSettings:
    return TriageSettings(
        data_dir=tmp_path / "console", database_url=new_database_url(), vault_kdf=CHEAP_KDF
    )


@pytest.fixture
def pair(
    tmp_path: Path, console_settings: TriageSettings, new_database_url: Callable[[], str]
) -> Iterator[tuple[Portal, Console]]:
    """An initialised console (2 of 3) and a portal set up with its public keys."""
    console_settings.data_dir.mkdir()
    unsealed = key_ceremony(console_settings, PASSPHRASES, 2)
    console = Console(console_settings, unsealed, who="officer:test")
    clock = Clock()
    settings = PortalSettings(
        data_dir=tmp_path / "portal",
        database_url=new_database_url(),
        oversight_key=unsealed.oversight.public_key,
        oversight_sign_key=unsealed.signing_key.verify_key,
        console_key=unsealed.console.verify_key,
        receipt_salt=bytes(range(16)),
        secret=Secret(bytes(range(32))),
        kdf=CHEAP_KDF,
    )
    app = create_app(settings, clock=clock)
    with contextlib.ExitStack() as stack, serving(app, **UVICORN_OPTIONS) as url:
        settings = answer_to(app, settings, url)
        portal = Portal(
            url,
            settings,
            unsealed.oversight,
            unsealed.console,
            clock,
            app,
            stack,
            unsealed.signing_key,
        )
        yield portal, console
        console.close()


def case_ids(console: Console) -> list[str]:
    return [row["case"] for row in console.cases()]


def any_key() -> Any:
    return crypto.PrivateKey.generate()


LANTHORN = Path(sys.executable).with_name("lanthorn")


def run_lanthorn(args: tuple[object, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`lanthorn ARGS` with exactly `env`, never waiting on a prompt (stdin is empty)."""
    return subprocess.run(  # noqa: S603 - our own command, absolute path, no shell
        [LANTHORN, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )


CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Site:
    url: str
    app: object
    console: Console
    portal: Portal

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30)
        self.portal.stack.callback(client.close)
        return client


@pytest.fixture
def site(pair: tuple[Portal, Console]) -> Iterator[Site]:
    portal, console = pair
    app = create_console_app(console.settings, portal_url=portal.url, hasher=CHEAP)
    app.state.console = console  # unsealed, as after the unseal page
    with serving(app, **UVICORN_OPTIONS) as url:
        yield Site(url, app, console, portal)


def enrol(
    site: Site, username: str, role: str, unit: str | None = None
) -> tuple[httpx.Client, str]:
    """Add an officer, enrol them through the pages, sign in; returns (client, TOTP secret)."""
    code = add_officer(site.console, username, role, unit)
    client = site.client()
    secret = enrol_through_pages(client, username, code)
    sign_in(client, username, secret)
    return client, secret


def grant_identity(site: Site, requester: str, case_id: str) -> None:
    """A custodian approves `requester`'s request to see who reported `case_id`
    (triage/custody.py): after it, the case page offers them Reveal."""
    from triage import custody
    from triage.db import Officer

    with site.console.sessions() as session:
        if session.get(Officer, "keeper") is None:
            add_officer(site.console, "keeper", "custodian", None)
    asked = custody.ask(site.console, case_id, requester, "a test needs it")
    custody.decide(site.console, asked, "keeper", approve=True, answer="")


def set_clocks(site: Site, when: datetime.datetime) -> None:
    """Both sides' calendars at `when`; together, so their signed requests stay fresh."""
    offset = when.timestamp() - time.time()
    site.portal.clock.offset = offset
    site.console.clock = lambda: time.time() + offset


def api_report(site: Site, files: Sequence[tuple[str, bytes]] = (), **fields: object) -> None:
    """A report sealed by a client of the API (as the kiosk's page does)."""
    client = site.portal.client()
    keys = site.portal.derive(crypto.generate_receipt())
    attachments = [upload(client, data, name) for name, data in files]
    document = {**report_document(keys, attachments), **fields}
    sealed = crypto.seal_report(document, site.portal.oversight.public_key)
    body = submission(keys, sealed, [a["blob_id"] for a in attachments])
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.text
