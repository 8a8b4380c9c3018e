"""A real portal on a loopback port for each test: settings → app → uvicorn → httpx."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

import crypto
from portal.app import create_app
from portal.cli import uvicorn_options
from portal.settings import Limits, PortalSettings, Secret
from tests.conftest import CHEAP_KDF
from tests.serving import host_of, serving

from .clients import ConsoleClient, SignedAuth


class Clock:
    """Real time, plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclasses.dataclass
class Portal:
    url: str
    settings: PortalSettings
    oversight: crypto.PrivateKey
    console_key: crypto.SigningKey
    clock: Clock
    app: Any
    stack: contextlib.ExitStack
    #: The oversight signing key the portal's settings name (protocol v2).
    oversight_sign: crypto.SigningKey

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client, closed when the test ends at the latest."""
        client = httpx.Client(base_url=self.url, timeout=30, **kwargs)
        self.stack.callback(client.close)
        return client

    def console(self) -> ConsoleClient:
        console = ConsoleClient(
            self.url, self.console_key, self.clock, self.oversight, self.oversight_sign
        )
        self.stack.callback(console.http.close)
        return console

    def reporter_auth(self, keys: crypto.ReporterKeys) -> SignedAuth:
        return SignedAuth(keys.sign, self.clock, key_id=keys.lookup_id)

    def derive(self, receipt: str) -> crypto.ReporterKeys:
        return crypto.derive_reporter_keys(receipt, self.settings.receipt_salt, CHEAP_KDF)

    def count_key_derivations(self) -> list[Any]:
        """Every Argon2id derivation the portal runs from now on (the gate they all pass)."""
        calls: list[Any] = []
        original = self.app.state.kdf_gate.run

        async def counting(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            calls.append(fn)
            return await original(fn, *args, **kwargs)

        self.app.state.kdf_gate.run = counting
        return calls


PortalFactory = Callable[..., Portal]


def answer_to(app: Any, settings: PortalSettings, url: str) -> PortalSettings:
    """The portal's settings, answering to the host of `url` (known once it serves):
    a v2 signed request must name one of the portal's hosts. Unless the test chose them."""
    if settings.hosts:
        return settings
    settings = dataclasses.replace(settings, hosts=(host_of(url),))
    app.state.settings = settings
    return settings


@pytest.fixture
def make_portal(tmp_path: Path, database_url: str) -> Iterator[PortalFactory]:
    """Start portals with test settings; keyword arguments override `PortalSettings`."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> Portal:
            oversight = crypto.PrivateKey.generate()
            oversight_sign = crypto.SigningKey.generate()
            console_key = crypto.SigningKey.generate()
            clock = Clock()
            data_dir = overrides.pop("data_dir", tmp_path / "portal")
            settings = PortalSettings(
                data_dir=data_dir,
                database_url=database_url,
                oversight_key=oversight.public_key,
                oversight_sign_key=oversight_sign.verify_key,
                console_key=console_key.verify_key,
                receipt_salt=bytes(range(16)),
                secret=Secret(bytes(range(32))),
                kdf=CHEAP_KDF,
                limits=overrides.pop("limits", Limits()),
                **overrides,
            )
            app = create_app(settings, clock=clock)
            url = stack.enter_context(serving(app, **uvicorn_options(settings)))
            settings = answer_to(app, settings, url)
            return Portal(url, settings, oversight, console_key, clock, app, stack, oversight_sign)

        yield start


@pytest.fixture
def portal(make_portal: PortalFactory) -> Portal:
    return make_portal()


@pytest.fixture
def kiosk_portal(make_portal: PortalFactory) -> Portal:
    """A portal that serves a prison's wing kiosks."""
    return make_portal(kiosk_facility="HMP Example")


@pytest.fixture
def scriptless_page(browser: Browser) -> Iterator[Page]:
    """A kiosk-sized browser with JavaScript off: the server's step-by-step pages."""
    context = browser.new_context(
        viewport={"width": 1080, "height": 1600}, java_script_enabled=False
    )
    yield context.new_page()
    context.close()
