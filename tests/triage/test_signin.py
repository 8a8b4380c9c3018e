"""Signing in to the console cannot be ground down (issue 17, findings 3, 4 and 5).

- A TOTP code signs in once: the same code (or an earlier one) in another session is
  refused, however fast it is replayed.
- Failures are counted in the database, before any password is checked, and lock the
  account with a growing delay: parallel guesses with the right password cannot get past
  the count, and the officer and the admins see the lock.
- Password checks run under a small bound: a flood of abandoned sign-ins costs at most
  that many Argon2id runs at once, the excess is refused at once (503, Retry-After), and
  the work of a client that has gone is never started.
- Once unsealed, POST /unseal checks no passphrase at all, and every attempt is audited.

The password hasher here is Argon2id itself (cheap settings), watched: it records how
many checks run at once, and can hold them until the test lets them go, so what is
asserted is how many ran, never how long anything took.
"""

from __future__ import annotations

import contextlib
import http.client
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from foundation.serving import UVICORN_OPTIONS
from tests.portal.conftest import Portal
from tests.serving import serving
from triage import password_gate, signin_lockout
from triage.app import create_app
from triage.console import Console
from triage.officers import add_officer

from .conftest import PASSPHRASES, Site, token
from .officer_pages import PASSWORD, action_fields, enrol_through_pages

#: Each wait below ends by itself; none is asserted on.
PATIENCE = 5.0
LOCKED = "locked"


class Watched(PasswordHasher):
    """Argon2id (cheap), counting the checks that start and how many run at once; with
    `hold` set, each waits for `go` (never longer than `2 * PATIENCE`)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.lock = threading.Lock()
        self.started = 0
        self.running = 0
        self.most = 0
        self.hold = False
        self.go = threading.Event()
        #: When set, `hash` runs with these parameters (the production memory cost).
        self.heavy: PasswordHasher | None = None

    def _watch(self, work: Callable[[], Any]) -> Any:
        with self.lock:
            self.started += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.hold:
                self.go.wait(timeout=2 * PATIENCE)
            return work()
        finally:
            with self.lock:
                self.running -= 1

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        return bool(self._watch(lambda: super(Watched, self).verify(hash, password)))

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        hasher = self.heavy or super()
        return str(self._watch(lambda: hasher.hash(password, salt=salt)))


def until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + PATIENCE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.fixture
def watched() -> Iterator[Watched]:
    hasher = Watched()
    yield hasher
    hasher.go.set()


@pytest.fixture
def site(pair: tuple[Portal, Console], watched: Watched) -> Iterator[Site]:
    portal, console = pair
    app = create_app(console.settings, portal_url=portal.url, hasher=watched)
    app.state.console = console  # unsealed, as after the unseal page
    with serving(app, **UVICORN_OPTIONS) as url:
        yield Site(url, app, console, portal)


def enrolled(site: Site, username: str, role: str) -> str:
    """An officer enrolled through the pages, not signed in; their TOTP secret."""
    code = add_officer(site.console, username, role, None)
    return enrol_through_pages(site.client(), username, code)


def post_login(client: httpx.Client, username: str, password: str, code: str) -> httpx.Response:
    page = client.get("/login").text
    return client.post(
        "/login",
        data={"csrf": token(page), "username": username, "password": password, "code": code},
    )


def wrong_codes(secret: str, count: int) -> list[str]:
    """`count` codes that are none of those the officer's app shows around now."""
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // 30
    right = {totp.generate_otp(s) for s in range(step - 3, step + 4)}
    codes: list[str] = []
    while len(codes) < count:
        code = f"{secrets.randbelow(10**6):06d}"
        if code not in right and code not in codes:
            codes.append(code)
    return codes


# -- finding 3: a code works once ---------------------------------------------------------


def test_a_code_signs_in_once_not_in_three_sessions(site: Site) -> None:
    secret = enrolled(site, "tess", "triage")
    totp = pyotp.TOTP(secret)
    code = totp.now()
    answers = [post_login(site.client(), "tess", PASSWORD, code) for _ in range(3)]
    assert [a.status_code for a in answers] == [303, 422, 422]
    assert "do not match" in answers[1].text
    # An earlier code (still inside the app's window) is refused after a later one.
    step = int(time.time()) // 30
    later = post_login(site.client(), "tess", PASSWORD, totp.generate_otp(step + 1))
    assert later.status_code == 303
    earlier = post_login(site.client(), "tess", PASSWORD, totp.generate_otp(step))
    assert earlier.status_code == 422
    failed = [e for e in site.console.audit_entries() if e["action"] == "login failed"]
    assert len(failed) == 3


def test_a_sign_in_form_sent_twice_from_one_browser_still_signs_in(site: Site) -> None:
    """A double click is not a replay: the same browser (its CSRF cookie) sending the same
    code again, with the password checked again, signs in; another browser does not."""
    secret = enrolled(site, "tess", "triage")
    client = site.client()
    page = client.get("/login").text
    body = {
        "csrf": token(page),
        "username": "tess",
        "password": PASSWORD,
        "code": pyotp.TOTP(secret).now(),
    }
    assert [client.post("/login", data=body).status_code for _ in range(2)] == [303, 303]
    assert post_login(site.client(), "tess", PASSWORD, body["code"]).status_code == 422


# -- finding 3: parallel guesses lock the account -------------------------------------------


def test_parallel_guesses_with_the_right_password_are_stopped_by_the_lockout(
    site: Site, watched: Watched
) -> None:
    secret = enrolled(site, "tess", "triage")
    admin_secret = enrolled(site, "ada", "admin")
    before = watched.started
    guesses = wrong_codes(secret, 30)
    answers: list[httpx.Response] = []
    clients = [site.client() for _ in guesses]
    pages = [c.get("/login").text for c in clients]

    def guess(n: int) -> None:
        answers.append(
            clients[n].post(
                "/login",
                data={
                    "csrf": token(pages[n]),
                    "username": "tess",
                    "password": PASSWORD,
                    "code": guesses[n],
                },
            )
        )

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(len(guesses))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=4 * PATIENCE)
    assert len(answers) == len(guesses)
    assert {a.status_code for a in answers} <= {422, 429, 503}
    # However many came at once, no more passwords were checked than the count allows.
    assert watched.started - before <= signin_lockout.FREE_FAILURES
    assert any(a.status_code == 429 and LOCKED in a.text for a in answers)

    # The officer, with the right code now, is told the account is locked, and until when;
    # no password is checked for it.
    checked = watched.started
    honest = post_login(site.client(), "tess", PASSWORD, pyotp.TOTP(secret).now())
    assert honest.status_code == 429
    assert "locked" in honest.text
    assert "administrator" in honest.text
    assert honest.headers["Retry-After"].isdigit()
    assert watched.started == checked
    entries = site.console.audit_entries()
    assert [e for e in entries if e["action"] == "sign-in locked" and e["officer"] == "tess"]

    # An admin sees the lock on the officers page, and lifts it (audited).
    admin = site.client()
    assert post_login(admin, "ada", PASSWORD, pyotp.TOTP(admin_secret).now()).status_code == 303
    page = admin.get("/officers").text
    assert "locked until" in page
    unlocked = admin.post(
        "/officers/unlock",
        data={**action_fields(page, "/officers/unlock"), "username": "tess"},
        follow_redirects=True,
    )
    assert "tess can sign in again" in unlocked.text
    assert "locked until" not in admin.get("/officers").text
    assert [e for e in site.console.audit_entries() if e["action"] == "unlock officer"]
    step = int(time.time()) // 30
    code = pyotp.TOTP(secret).generate_otp(step + 1)  # not the one refused while locked
    assert post_login(site.client(), "tess", PASSWORD, code).status_code == 303


def test_the_lock_grows_with_each_failure_and_is_stored() -> None:
    assert [signin_lockout.lock_seconds(n) for n in range(1, signin_lockout.FREE_FAILURES)] == [
        0
    ] * (signin_lockout.FREE_FAILURES - 1)
    delays = [signin_lockout.lock_seconds(n) for n in range(signin_lockout.FREE_FAILURES, 20)]
    assert delays[0] == signin_lockout.FIRST_LOCK
    assert delays == sorted(delays)
    assert max(delays) == signin_lockout.LONGEST_LOCK


def test_a_lock_outlives_a_restart(site: Site, watched: Watched) -> None:
    secret = enrolled(site, "tess", "triage")
    for code in wrong_codes(secret, signin_lockout.FREE_FAILURES):
        assert post_login(site.client(), "tess", PASSWORD, code).status_code == 422
    again = create_app(site.console.settings, hasher=watched)  # a new process, or worker
    again.state.console = site.console
    checked = watched.started
    with serving(again, **UVICORN_OPTIONS) as url, httpx.Client(base_url=url) as client:
        refused = post_login(client, "tess", PASSWORD, pyotp.TOTP(secret).now())
    assert refused.status_code == 429
    assert watched.started == checked


def test_an_unknown_name_locks_like_a_real_one(site: Site) -> None:
    """Whether a name exists is not told by the lock either."""
    answers = [
        post_login(site.client(), "nobody", PASSWORD, "123456").status_code
        for _ in range(signin_lockout.FREE_FAILURES + 1)
    ]
    assert answers == [422] * signin_lockout.FREE_FAILURES + [429]


# -- finding 4: password checks are bounded --------------------------------------------------


def raw_login(site: Site, form: dict[str, str], cookies: httpx.Cookies) -> bytes:
    body = urlencode(form).encode()
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    head = (
        f"POST /login HTTP/1.1\r\nHost: {urlsplit(site.url).netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nCookie: {cookie}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Answer:
    status: int
    retry_after: str | None
    text: str


class Flood:
    """Connections that each sent one request, answered or dropped unanswered."""

    def __init__(self, url: str, requests: list[bytes]) -> None:
        address = urlsplit(url)
        self.sockets = [
            socket.create_connection((address.hostname, address.port)) for _ in requests
        ]
        self.answers: dict[int, Answer] = {}
        for sock, request in zip(self.sockets, requests, strict=True):
            sock.sendall(request)

    def read(self) -> int:
        waiting = [s for n, s in enumerate(self.sockets) if n not in self.answers]
        if waiting:
            ready, _, _ = select.select(waiting, [], [], 0.05)
            for sock in ready:
                response = http.client.HTTPResponse(sock)
                response.begin()
                body = response.read().decode()
                response.close()
                answer = Answer(response.status, response.getheader("Retry-After"), body)
                self.answers[self.sockets.index(sock)] = answer
        return len(self.answers)

    def abandon(self) -> None:
        for n, sock in enumerate(self.sockets):
            if n not in self.answers:
                sock.close()

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


FLOOD = 30
#: Argon2id's memory for officers' passwords in production (triage/officers.py).
ARGON2_KIB = 65536


def memory(field: str) -> int:
    """This process's resident memory (`VmRSS`) or its peak (`VmHWM`), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def forget_peak_memory() -> None:
    """Start `VmHWM` again from the current resident memory (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def test_a_flood_of_abandoned_sign_ins_leaves_an_honest_officer_able_to_sign_in(
    site: Site, watched: Watched
) -> None:
    secret = enrolled(site, "tess", "triage")
    client = site.client()
    page = client.get("/login").text
    names = [f"guess{n}" for n in range(FLOOD)]  # every name a new one: no lock stops them
    requests = [
        raw_login(
            site,
            {"csrf": token(page), "username": name, "password": "x" * 20, "code": "123456"},
            client.cookies,
        )
        for name in names
    ]
    before = watched.started
    watched.hold = True
    watched.heavy = PasswordHasher(time_cost=1, memory_cost=ARGON2_KIB, parallelism=1)
    flood = Flood(site.url, requests)
    try:
        refused = FLOOD - password_gate.SLOTS - password_gate.WAITING
        until(lambda: flood.read() >= refused and watched.started - before == password_gate.SLOTS)
        answers = list(flood.answers.values())
        assert [a.status for a in answers] == [503] * refused
        assert {a.retry_after for a in answers} == {str(password_gate.RETRY_AFTER)}
        assert all("Too many sign-ins" in a.text for a in answers)
        assert watched.started - before == password_gate.SLOTS  # the rest wait, or were refused
        gate = site.app.state.password_gate  # type: ignore[attr-defined]

        # Every client goes away: the waiting ones give up their places, and nothing is
        # checked for anyone who has left.
        flood.abandon()
        assert until(lambda: gate.waiting() == 0)
        resting = memory("VmRSS")
        forget_peak_memory()
        watched.go.set()
        assert until(lambda: gate.running == 0)
        assert watched.started - before == gate.slots
        assert watched.most <= gate.slots  # at most `slots` Argon2id at once
        # The process's memory grew by what those took (64 MiB each), not 30 times that.
        grew = memory("VmHWM") - resting
        assert grew < (gate.slots + 1) * ARGON2_KIB * 1024, grew
        assert gate.withdrawn == gate.waiting_bound
    finally:
        watched.go.set()
        flood.close()
    watched.hold = False
    signed_in = post_login(site.client(), "tess", PASSWORD, pyotp.TOTP(secret).now())
    assert signed_in.status_code == 303


# -- finding 5: /unseal once unsealed --------------------------------------------------------


def unseal_form(page: str, first: str, second: str) -> dict[str, str]:
    return {"csrf": token(page), "passphrase0": first, "passphrase1": second}


def test_once_unsealed_the_unseal_form_checks_no_passphrase(
    pair: tuple[Portal, Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, console = pair
    from triage import unseal_pages

    real = unseal_pages.unseal
    tried: list[list[str]] = []
    holding = threading.Event()
    go = threading.Event()

    def watched_unseal(settings: Any, passphrases: list[str]) -> Any:
        tried.append(passphrases)
        if passphrases == PASSPHRASES[:2]:  # the right ones: held until the test says
            holding.set()
            go.wait(timeout=2 * PATIENCE)
        return real(settings, passphrases)

    monkeypatch.setattr(unseal_pages, "unseal", watched_unseal)
    app = create_app(console.settings, hasher=Watched())
    with serving(app, **UVICORN_OPTIONS) as url, httpx.Client(base_url=url) as client:
        page = client.get("/unseal").text
        wrong = client.post("/unseal", data=unseal_form(page, PASSPHRASES[0], "not it"))
        assert wrong.status_code == 422
        answers: list[httpx.Response] = []

        def send(first: str, second: str) -> None:
            with httpx.Client(base_url=url, cookies=client.cookies) as other:
                answers.append(other.post("/unseal", data=unseal_form(page, first, second)))

        right = threading.Thread(target=send, args=(PASSPHRASES[0], PASSPHRASES[1]))
        right.start()
        assert until(holding.is_set)  # the right passphrases are being checked
        # A wrong guess that arrives meanwhile waits its turn; by then it is unsealed.
        late = threading.Thread(target=send, args=(PASSPHRASES[0], "a guess"))
        late.start()
        time.sleep(0.2)  # let it reach the wait (not asserted on)
        go.set()
        right.join(timeout=PATIENCE)
        late.join(timeout=PATIENCE)
        assert [a.status_code for a in answers] == [303, 303]
        # Once unsealed: right, wrong, with the sealed page's token or none at all, the
        # same answer, and no passphrase is checked.
        bodies = [
            unseal_form(page, PASSPHRASES[1], PASSPHRASES[2]),
            unseal_form(page, "wrong", "wrong"),
            {"passphrase0": "no token", "passphrase1": "at all"},
        ]
        after = [client.post("/unseal", data=body) for body in bodies]
        assert {(a.status_code, a.headers.get("location")) for a in after} == {(303, "/login")}
        assert "already unsealed" in client.get("/login").text
    assert len(tried) == 2  # the wrong one before, and the right one: nothing after
    assert app.state.console is not None
    entries = app.state.console.audit_entries()
    actions = [e["action"] for e in entries]
    assert actions.count("unseal failed") == 1  # made while sealed, written at unsealing
    assert actions.count("unseal") == 1
    assert actions.count("unseal refused: already unsealed") == 4
    app.state.console.close()
