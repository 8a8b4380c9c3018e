"""A portal on a loopback port and a console that syncs from it, both on the test backend."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import crypto
from portal.app import create_app
from portal.cli import UVICORN_OPTIONS
from portal.settings import PortalSettings, Secret
from tests.conftest import CHEAP_KDF
from tests.portal.conftest import Clock, Portal
from tests.serving import serving
from triage.console import Console
from triage.keys import key_ceremony
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
        console_key=unsealed.console.verify_key,
        receipt_salt=bytes(range(16)),
        secret=Secret(bytes(range(32))),
        kdf=CHEAP_KDF,
    )
    app = create_app(settings, clock=clock)
    with contextlib.ExitStack() as stack, serving(app, **UVICORN_OPTIONS) as url:
        portal = Portal(url, settings, unsealed.oversight, unsealed.console, clock, app, stack)
        yield portal, console
        console.close()


def case_ids(console: Console) -> list[str]:
    return [row["case"] for row in console.cases()]


def any_key() -> Any:
    return crypto.PrivateKey.generate()
