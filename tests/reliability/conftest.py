"""A console for the reliability tests: keys made in a ceremony, its database on the
test's backend.

The portals here are the real `lanthorn portal serve` (tests/reliability/served.py), so
that they can be killed and restarted; the console takes in what they hold and checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CHEAP_KDF
from triage.console import Console
from triage.keys import key_ceremony
from triage.settings import TriageSettings

from .served import ServedPortal, clean_environment

PASSPHRASES = ["first officer's passphrase", "second officer's passphrase"]


def make_console(data_dir: Path, database_url: str = "") -> Console:
    """`lanthorn triage init`'s key ceremony, 2 of 2 officers, then the unsealed console."""
    settings = TriageSettings(data_dir=data_dir, database_url=database_url, vault_kdf=CHEAP_KDF)
    data_dir.mkdir()
    return Console(settings, key_ceremony(settings, PASSPHRASES, 2), who="officer:reliability")


@pytest.fixture
def console(tmp_path: Path, new_database_url: Callable[[], str]) -> Iterator[Console]:
    """A console whose database is on the test's backend."""
    made = make_console(tmp_path / "console", new_database_url())
    yield made
    made.close()


@pytest.fixture
def serve_portal(tmp_path: Path) -> Iterator[Callable[[Console, str], ServedPortal]]:
    """`lanthorn portal init` with a console's keys, then `serve --workers 2` on a database;
    whatever is still running is stopped after the test."""
    running: list[ServedPortal] = []

    def start(console: Console, database_url: str) -> ServedPortal:
        env = clean_environment(LANTHORN_DATABASE_URL=database_url, LANTHORN_KDF_CONCURRENCY="2")
        portal = ServedPortal(tmp_path / "portal", env, workers=2)
        running.append(portal)
        portal.init(console.keys.public_keys(), console.keys.console.verify_key)
        portal.start()
        return portal

    yield start
    for portal in running:
        portal.stop()
