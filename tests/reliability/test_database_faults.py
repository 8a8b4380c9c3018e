"""The database goes away under load and comes back: clean 503s meanwhile, then recovery
without restarting the portal, and nothing lost that a reporter was told was kept.

The database is a private PostgreSQL cluster (tests/reliability/postgres.py), stopped
with `pg_ctl stop -m immediate` as a crash would stop it; the machine's own server is
never touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

import crypto
from foundation.serving import UVICORN_OPTIONS
from portal.app import create_app
from portal.settings import PortalSettings, Secret
from tests.conftest import CHEAP_KDF
from tests.portal.clients import SignedAuth
from tests.portal.conftest import answer_to
from tests.serving import serving
from triage.console import Console

from .conftest import make_console
from .console_check import check_intake
from .postgres import PrivatePostgres, private_postgres, why_unavailable
from .reporters import (
    PortalKeys,
    Sent,
    csrf_token_from,
    evidence,
    open_case,
    reporter_auth,
    run_prefix,
    send_api,
    send_form,
)
from .served import ServedPortal

UNAVAILABLE = "Reports cannot be sent or read just now. Please try again in a few minutes."
#: The longest any request may take while the database is down.
BOUND_SECONDS = 15.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    reason = why_unavailable()
    if reason is not None:
        pytest.skip(f"no private PostgreSQL server can be started: {reason}")
    with private_postgres() as server:
        yield server


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """The console on SQLite: here only the portal's database fails."""
    made = make_console(tmp_path / "console")
    yield made
    made.close()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "30"
    if response.headers["content-type"].startswith("application/json"):
        assert response.json() == {"error": "unavailable", "message": UNAVAILABLE}
    else:
        assert UNAVAILABLE in response.text


class Load:
    """API reporters sending reports with a file, one after another, in a thread."""

    def __init__(self, url: str, keys: PortalKeys, prefix: str) -> None:
        self.sent: list[Sent] = []
        self.slowest = 0.0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, keys, prefix))
        self._thread.start()

    def _run(self, url: str, keys: PortalKeys, prefix: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not self._stop.is_set():
                canary = f"{prefix}L{len(self.sent):04d}"
                started = time.monotonic()
                try:
                    files = [evidence(canary, 0, 70_000)]
                    self.sent.append(send_api(client, keys, canary, files=files))
                except httpx.HTTPError as exc:  # never expected: the portal stays up
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.slowest = max(self.slowest, time.monotonic() - started)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def test_postgres_stopped_mid_load_gives_503_with_retry_after_then_recovers(
    postgres: PrivatePostgres,
    console: Console,
    serve_portal: Callable[[Console, str], ServedPortal],
) -> None:
    portal = serve_portal(console, postgres.url)
    client = httpx.Client(base_url=portal.url, timeout=60)
    try:
        keys = PortalKeys.fetch(client)
        prefix = run_prefix()
        before = send_form(client, f"{prefix}H0", crypto.V1_KDF, files=[b"a photo"])
        assert before.accepted
        load = Load(portal.url, keys, prefix)
        time.sleep(1.0)
        postgres.stop("immediate")
        time.sleep(1.0)  # the load meets the outage

        down = timed(lambda: send_api(client, keys, f"{prefix}D0", files=[b"sent while down"]))
        assert down.statuses == [503]  # the upload: its file is kept unclaimed, then purged
        for path, auth in [
            ("/api/v1/console/outbox", SignedAuth(console.keys.console, time.time)),
            ("/api/v1/thread", reporter_auth(before, keys)),  # 503, not a 401
        ]:
            assert_unavailable(timed(lambda: client.get(path, auth=auth)))  # noqa: B023
        form = send_form(client, f"{prefix}H1", crypto.V1_KDF)
        assert form.statuses == [200, 503]
        assert client.get("/api/v1/config").status_code == 200  # needs no database
        assert client.get("/report/staff").status_code == 200

        postgres.start()
        recovered = None
        deadline = time.monotonic() + 60
        while recovered is None and time.monotonic() < deadline:
            attempt = send_api(client, keys, f"{prefix}R{len(load.sent)}x{time.monotonic_ns()}")
            if attempt.accepted:
                recovered = attempt
            else:
                assert attempt.statuses == [503]
                time.sleep(0.2)
        assert recovered is not None, "the portal did not recover within 60 s"
        time.sleep(1.0)  # the load goes on after the database came back
        load.stop()
    finally:
        client.close()
    assert load.failures == []
    assert load.slowest < BOUND_SECONDS
    statuses = [s for sent in load.sent for s in sent.statuses]
    assert 503 in statuses  # the load did meet the outage
    assert set(statuses) <= {201, 503}
    assert load.sent[-1].accepted  # and went on after it
    assert portal.process is not None
    assert portal.process.poll() is None
    assert portal.starts == 1  # recovered without a restart

    everything = [before, down, form, recovered, *load.sent]
    assert console.sync(portal.url).set_aside == []
    intake = check_intake(console, everything)
    assert intake.problems == []
    # A report whose COMMIT reached PostgreSQL as it stopped can be stored while its
    # answer is a 503: the connection died before the server's "committed" came back,
    # and the portal cannot tell (an in-doubt commit). At most the load's one request in
    # flight at the stop, and never one the reporter was told was kept (seen under load).
    assert len(intake.unanswered) <= 1
    for canary in intake.unanswered:
        [sent] = [s for s in load.sent if s.canary == canary]
        assert sent.statuses[-1] == 503, sent.statuses
    assert intake.reports == sum(s.accepted for s in everything) + len(intake.unanswered)
    with httpx.Client(base_url=portal.url, timeout=60) as follow_up:
        for sent in everything:
            if sent.accepted:
                assert open_case(follow_up, sent, keys) is None
    portal.stop()
    log = portal.log()
    assert "database unavailable: OperationalError" in log
    assert "internal error" not in log
    assert "Traceback" not in log


def test_after_a_database_restart_the_first_requests_are_served_not_refused(
    postgres: PrivatePostgres,
    console: Console,
    serve_portal: Callable[[Console, str], ServedPortal],
) -> None:
    """Every pooled connection dies with the database; none of them may reach a request.
    Each worker sees that the server closed them as it hands them out (no round trip:
    foundation.database.replace_if_closed) and connects again, so the first reports
    after the restart, with a file and without, are stored (201), and the thread of one
    sent before can be read: no 503 once the database is back."""
    portal = serve_portal(console, postgres.url)
    with httpx.Client(base_url=portal.url, timeout=60) as client:
        keys = PortalKeys.fetch(client)
        prefix = run_prefix()

        def one(n: int) -> Sent:
            with httpx.Client(base_url=portal.url, timeout=60) as own:
                return send_api(own, keys, f"{prefix}B{n}")

        with ThreadPoolExecutor(16) as pool:  # fill both workers' pools
            before = list(pool.map(one, range(32)))
        assert all(sent.accepted for sent in before)
        postgres.stop("immediate")
        postgres.start()
        after = [
            send_api(client, keys, f"{prefix}A{n}", files=[b"a file"] * (n % 2)) for n in range(12)
        ]
        assert [sent.statuses[-1] for sent in after] == [201] * 12
        thread = client.get("/api/v1/thread", auth=reporter_auth(before[0], keys))
        assert thread.status_code == 200
    assert portal.starts == 1
    assert "database unavailable" not in portal.log()


T = TypeVar("T")


def timed(call: Callable[[], T]) -> T:
    """`call()`, which must come back within the bound even with the database down."""
    started = time.monotonic()
    result = call()
    assert time.monotonic() - started < BOUND_SECONDS
    return result


def test_an_unreachable_database_is_a_503_on_every_page_never_a_500(tmp_path: Path) -> None:
    """Without any server: nothing listens where the database should be."""
    oversight, console_key = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    settings = PortalSettings(
        data_dir=tmp_path / "portal",
        database_url="postgresql+psycopg://lanthorn@127.0.0.1:9/lanthorn",  # discard port
        oversight_key=oversight.public_key,
        oversight_sign_key=crypto.SigningKey.generate().verify_key,
        console_key=console_key.verify_key,
        receipt_salt=bytes(16),
        secret=Secret(bytes(32)),
        kdf=CHEAP_KDF,
    )
    app = create_app(settings, migrate=False)
    with serving(app, **UVICORN_OPTIONS) as url, httpx.Client(base_url=url, timeout=30) as client:
        answer_to(app, settings, url)
        keys = PortalKeys.fetch(client)
        api = timed(lambda: send_api(client, keys, "CANARYnone", files=[b"x"]))
        assert api.statuses == [503]
        form = timed(lambda: send_form(client, "CANARYnone", CHEAP_KDF))
        assert form.statuses == [200, 503]
        token = csrf_token_from(client.get("/follow-up").text)
        receipt = crypto.format_receipt(crypto.generate_receipt())
        login = client.post("/follow-up", data={"csrf": token, "receipt": receipt})
        assert_unavailable(login)
        signed = SignedAuth(console_key, time.time)
        assert_unavailable(client.get("/api/v1/console/outbox", auth=signed))
        client.get("/language/pl")  # the page says it in the reader's language
        token = csrf_token_from(client.get("/follow-up").text)
        login = client.post("/follow-up", data={"csrf": token, "receipt": receipt})
        assert login.status_code == 503
        assert login.headers["retry-after"] == "30"
        assert "W tej chwili nie można wysyłać ani czytać zgłoszeń." in login.text
