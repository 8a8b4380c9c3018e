"""Fixtures shared by every test: the v1 vectors, cheap KDF settings, Hypothesis profile."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import secrets
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, settings

import crypto

# No timed assertions anywhere: Hypothesis must not fail a slow example on a busy machine.
settings.register_profile(
    "lanthorn", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("LANTHORN_HYPOTHESIS_PROFILE", "lanthorn"))

ROOT = Path(__file__).resolve().parents[1]
#: The protocol's known-answer vectors, kept in the repository (docs/protocol.md names them).
VECTORS = ROOT / "tests" / "vectors"

#: Argon2id at libsodium's floor: fast enough for hundreds of derivations in a test run.
CHEAP_KDF = crypto.KdfParams(t=1, m_kib=8)
T = TypeVar("T")


def load_vectors() -> dict[str, Any]:
    """The protocol v1 vector file; tests fail (not skip) when it is missing."""
    path = VECTORS / "protocol-v1.json"
    if not path.is_file():
        raise FileNotFoundError(f"protocol v1 vectors not found at {path}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return load_vectors()


@pytest.fixture
def cheap_kdf() -> crypto.KdfParams:
    return CHEAP_KDF


POSTGRES_URL = os.environ.get("LANTHORN_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_backend(request: pytest.FixtureRequest) -> str:
    """Every database test runs twice: on SQLite, and on PostgreSQL when one is configured."""
    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip("LANTHORN_TEST_POSTGRES_URL is not set")
    return str(request.param)


#: For a module whose subject is what a browser shows or plays (layout, accessibility,
#: pictures, sound), not what is stored: the database engine cannot change a page's markup
#: or a clip, so such a module runs on SQLite alone. What those pages store is tested on both
#: engines by the journeys in tests/portal/test_kiosk.py, test_report_in_browser.py and
#: tests/attacks/.
ONE_ENGINE = pytest.mark.parametrize("database_backend", ["sqlite"], indirect=True)


@pytest.fixture
def new_database_url(database_backend: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make empty databases on the test's backend: a file for SQLite, a schema for PostgreSQL.

    Each PostgreSQL database is a schema of its own, dropped afterwards, so runs never see
    each other's rows, and a portal and a console in one test never share tables.
    """
    schemas: list[str] = []
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")

    def make() -> str:
        name = f"lanthorn_test_{secrets.token_hex(6)}"
        if database_backend == "sqlite":
            return f"sqlite+pysqlite:///{tmp_path / name}.db"
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        schemas.append(name)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"

    try:
        yield make
    finally:
        if schemas:
            with psycopg.connect(plain, autocommit=True) as conn:
                for name in schemas:
                    conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def database_url(new_database_url: Callable[[], str]) -> str:
    return new_database_url()


CHROMIUM = "/usr/bin/chromium"
#: Headless, and without Chromium's background network chatter (shared with bench/).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Browser tests use Debian's Chromium (scripts/test installs it), never a downloaded one.
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test does)"
)


#: The suite's portals serve CHEAP_KDF, which lanthorn-protocol.js refuses (docs/protocol.md
#: §19.5: a portal may not ask for less than the protocol fixes). The test browser, not the
#: portal, lowers the floor, as the protocol says test clients do: every page it opens gets
#: this global before any of the page's own scripts run.
TEST_KDF_FLOOR_SCRIPT = (
    f"globalThis.LanthornTestKdfFloor = {{t: {CHEAP_KDF.t}, m_kib: {CHEAP_KDF.m_kib}}};"
)


class FloorBrowser:
    """Playwright's Browser, whose every new context and page has the test KDF floor."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)

    def new_context(self, *args: Any, **kwargs: Any) -> Any:
        context = self._browser.new_context(*args, **kwargs)
        context.add_init_script(TEST_KDF_FLOOR_SCRIPT)
        return context

    def new_page(self, *args: Any, **kwargs: Any) -> Any:
        page = self._browser.new_page(*args, **kwargs)
        page.add_init_script(TEST_KDF_FLOOR_SCRIPT)
        return page


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright, without background network chatter."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield FloorBrowser(browser)
        browser.close()


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` in a thread of its own: once a browser test has run, Playwright's sync
    API keeps an event loop running in the test thread for the rest of the session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
