"""Flooding the Argon2id queue with receipts nobody waits for (issue 14, finding 1).

The attack: many connections post random receipts that pass the check digit to the
follow-up form, each abandoned after a moment. Every one used to cost the portal an
Argon2id in its turn, however long ago its client had gone, in one first-come,
first-served queue with no end, so a new report sent without JavaScript waited behind
all of them (176 s instead of half a second in the review).

Here the follow-ups' derivations are real, and those of the flood are held until the test
lets them go (`Held`): a slow machine on cue, so that what is asserted is who went first,
who was refused at once and how many derivations ran, never how long anything took.
"""

from __future__ import annotations

import contextlib
import http.client
import re
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
import pytest

import crypto
from portal import kiosk_audio, security
from portal.i18n import load_catalogues
from tests.portal.conftest import Portal, PortalFactory
from tests.portal.forms import (
    REPORT_FIELDS,
    csrf_token,
    hidden_fields,
    open_thread,
    receipt_of,
    submit_report,
)

#: Connections in the flood, and the Argon2id slots of the portal under attack.
FLOOD = 20
SLOTS = 2
#: Follow-ups that may wait for a slot by default (2 per slot; docs/operations.md).
FOLLOW_UPS_WAITING = 2 * SLOTS
#: What a follow-up refused for want of a slot says, and what a report sent back says.
FOLLOW_UP_BUSY = (
    "Too many people are using the portal just now. Nothing is wrong with your code. "
    "Please try again in a minute."
)
KIOSK_FOLLOW_UP_BUSY = (
    "Too many people are using this just now. Nothing is wrong with your code. "
    "Please try again in a minute."
)
REPORT_NOT_SENT = "Your report has NOT been sent yet"
KIOSK_REPORT_NOT_SENT = (
    "Your report was NOT sent yet. Too many people are using this just now. "
    "Wait a minute, then touch Send again."
)
#: Each wait below ends by itself; none is asserted on.
PATIENCE = 5.0


class Held:
    """`crypto.derive_reporter_keys` itself, recording every derivation that starts; those
    of the receipts in `held` (or all, with `hold_all`) start only when `go` is set."""

    def __init__(self, real: Callable[..., crypto.ReporterKeys]) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.held: set[str] = set()
        self.hold_all = False
        self.go = threading.Event()

    def __call__(self, receipt: str, *args: Any) -> crypto.ReporterKeys:
        with self.lock:
            self.started.append(receipt)
        if self.hold_all or receipt in self.held:
            self.go.wait(timeout=2 * PATIENCE)  # never longer, whatever the test does
        return self.real(receipt, *args)

    def count(self, receipts: set[str]) -> int:
        with self.lock:
            return sum(r in receipts for r in self.started)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    """Every derivation the portal runs from now on goes through a `Held`."""
    holding = Held(crypto.derive_reporter_keys)
    monkeypatch.setattr(crypto, "derive_reporter_keys", holding)
    yield holding
    holding.go.set()  # whatever happened, nothing stays held


def until(condition: Callable[[], bool]) -> bool:
    """Wait (at most `PATIENCE` seconds) for `condition`; return whether it holds."""
    deadline = time.monotonic() + PATIENCE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def random_receipt() -> str:
    """A receipt with a right check digit, belonging to no case."""
    body = "".join(secrets.choice("0123456789") for _ in range(19))
    return body + str(crypto.damm_check_digit(body))


def raw_post(portal: Portal, path: str, form: dict[str, str], cookies: httpx.Cookies) -> bytes:
    """A browser's form post, byte for byte, to send on a socket that may be dropped."""
    body = urlencode(form).encode()
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {urlsplit(portal.url).netloc}\r\n"
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
    """Connections that each sent one request and may be answered, or dropped unanswered."""

    def __init__(self, portal: Portal, requests: list[bytes]) -> None:
        address = urlsplit(portal.url)
        self.sockets = [
            socket.create_connection((address.hostname, address.port)) for _ in requests
        ]
        self.answers: dict[int, Answer] = {}
        for sock, request in zip(self.sockets, requests, strict=True):
            sock.sendall(request)

    def read(self) -> int:
        """Read the answers that have come; return how many there are so far."""
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
        """Every client still waiting goes away without a word, as a closed tab does."""
        for n, sock in enumerate(self.sockets):
            if n not in self.answers:
                sock.close()

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


@dataclass(frozen=True)
class Door:
    """One way in without JavaScript: its follow-up form, and its report form."""

    name: str
    follow_up_posts: Callable[[Portal, list[str]], list[bytes]]
    report: Callable[[Portal], httpx.Response]
    opens: Callable[[Portal, str], bool]


def web_follow_up_posts(portal: Portal, receipts: list[str]) -> list[bytes]:
    client = portal.client()
    client.get("/language/cy?next=/follow-up")  # the reader chose Welsh
    token = csrf_token(client, "/follow-up")
    return [
        raw_post(portal, "/follow-up", {"csrf": token, "receipt": r}, client.cookies)
        for r in receipts
    ]


def kiosk_follow_up_posts(portal: Portal, receipts: list[str]) -> list[bytes]:
    client = portal.client()
    token = csrf_token(client, "/kiosk/follow-up")
    return [
        raw_post(
            portal,
            "/kiosk/follow-up",
            {"csrf": token, "receipt": r, "lang": "cy"},
            client.cookies,
        )
        for r in receipts
    ]


def kiosk_check_screen(client: httpx.Client, lang: str = "cy") -> str:
    """The kiosk's last screen ("Is this right?"), every question answered, no JavaScript."""
    page = client.post("/kiosk/answer", data={"csrf": csrf_token(client, "/kiosk"), "lang": lang})
    for step, answer in (
        ("category", "corruption"),
        ("place", "wing"),
        ("when", "week"),
        ("urgent", "no"),
    ):
        fields = hidden_fields(page.text, "/kiosk/answer")
        page = client.post("/kiosk/answer", data={**fields, "step": step, "answer": answer})
    fields = hidden_fields(page.text, "/kiosk/answer")
    page = client.post("/kiosk/answer", data={**fields, "step": "describe", "text": "Spice"})
    return page.text


def kiosk_send(client: httpx.Client, screen: str) -> httpx.Response:
    """Touch "Send" on the kiosk's last screen."""
    return client.post(
        "/kiosk/answer", data={**hidden_fields(screen, "/kiosk/answer"), "step": "check"}
    )


def kiosk_report(portal: Portal) -> httpx.Response:
    client = portal.client()
    return kiosk_send(client, kiosk_check_screen(client))


def kiosk_receipt(response: httpx.Response) -> str:
    return "".join(re.findall(r'<span class="group">([0-9]+)</span>', response.text))


def web_opens(portal: Portal, receipt: str) -> bool:
    return open_thread(portal.client(), receipt).status_code == 303


def kiosk_opens(portal: Portal, receipt: str) -> bool:
    client = portal.client()
    token = csrf_token(client, "/kiosk/follow-up")
    answer = client.post("/kiosk/follow-up", data={"csrf": token, "receipt": receipt, "lang": "en"})
    return answer.status_code == 200 and "No answer yet" in answer.text


WEB = Door("web", web_follow_up_posts, lambda p: submit_report(p.client()), web_opens)
KIOSK = Door("kiosk", kiosk_follow_up_posts, kiosk_report, kiosk_opens)


@pytest.mark.parametrize("door", [WEB, KIOSK], ids=lambda d: d.name)
def test_a_flood_of_abandoned_follow_ups_neither_delays_a_report_nor_costs_an_argon2id(
    make_portal: PortalFactory, held: Held, door: Door
) -> None:
    portal = make_portal(kdf_concurrency=SLOTS, kiosk_facility="HMP Example")
    flood_receipts = [random_receipt() for _ in range(FLOOD)]
    held.held.update(flood_receipts)
    flood = Flood(portal, door.follow_up_posts(portal, flood_receipts))
    try:
        # One follow-up takes the slot follow-ups may have, a few wait their turn, and
        # all the rest are refused at once: the queue of follow-ups has an end.
        refused = FLOOD - 1 - FOLLOW_UPS_WAITING
        until(lambda: flood.read() >= refused and held.count(set(flood_receipts)) == 1)
        answers = list(flood.answers.values())
        assert [a.status for a in answers] == [503] * refused
        assert {a.retry_after for a in answers} == {"60"}
        welsh = load_catalogues()["cy"]
        busy = KIOSK_FOLLOW_UP_BUSY if door is KIOSK else FOLLOW_UP_BUSY
        assert welsh.gettext(busy) != busy  # translated, and shown in the reader's language
        assert all(welsh.gettext(busy) in a.text for a in answers)
        if door is KIOSK:  # and at the kiosk it can be heard, in Welsh (issue 19)
            heard = f'src="{kiosk_audio.clip_url("cy", busy)}"'
            assert all(heard in a.text for a in answers)
        assert held.count(set(flood_receipts)) == 1

        # A report sent now, without JavaScript, goes ahead of every waiting follow-up.
        sent = door.report(portal)
        assert sent.status_code == 201, sent.text
        receipt = receipt_of(sent) if door is WEB else kiosk_receipt(sent)
        gate = portal.app.state.kdf_gate
        assert gate.admission.waiting("follow-up") == FOLLOW_UPS_WAITING  # still waiting
        assert held.count(set(flood_receipts)) == 1

        # The flood's clients go away: their waits are given up as they go, so when the
        # slot comes free, nothing is derived for anyone who has left.
        flood.abandon()
        assert until(lambda: gate.admission.waiting("follow-up") == 0)
        held.go.set()
        assert until(lambda: gate.admission.holding() == 0)
        assert held.count(set(flood_receipts)) == 1
        assert gate.derived["follow-up"] == 1
        assert gate.admission.refused["follow-up"] == refused
        assert gate.admission.withdrawn["follow-up"] == FOLLOW_UPS_WAITING
        assert gate.derived["report"] == 1
        # The reporter can come back with their receipt once the flood has passed.
        assert door.opens(portal, crypto.validate_receipt(receipt))
    finally:
        held.go.set()
        flood.close()


def test_a_refused_follow_up_is_answered_after_a_pause_so_a_flood_costs_little(
    make_portal: PortalFactory, held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refusing is cheap, but not free: a flood that is refused at once simply asks again,
    as fast as the portal answers (over a thousand times a second in `bench/attack.py`).
    A refused follow-up is therefore told only after a pause, during which its connection
    can ask nothing else; a client that leaves meanwhile is not answered at all."""
    monkeypatch.setattr(security, "REFUSAL_PAUSE", 60.0)  # longer than this test
    portal = make_portal(kdf_concurrency=SLOTS)
    flood_receipts = [random_receipt() for _ in range(FLOOD)]
    held.held.update(flood_receipts)
    flood = Flood(portal, web_follow_up_posts(portal, flood_receipts))
    try:
        gate = portal.app.state.kdf_gate
        refused = FLOOD - 1 - FOLLOW_UPS_WAITING
        assert until(lambda: gate.admission.refused["follow-up"] == refused)
        time.sleep(0.5)  # answers already sent would be readable by now
        assert flood.read() == 0  # refused, and still not told: the pause holds them
        sent = submit_report(portal.client())  # a report is not paused behind them
        assert sent.status_code == 201, sent.text
        flood.abandon()
        assert until(lambda: gate.admission.waiting("follow-up") == 0)
        assert held.count(set(flood_receipts)) == 1
    finally:
        held.go.set()
        flood.close()


def test_reports_past_their_bound_come_back_filled_in_not_sent(
    make_portal: PortalFactory, held: Held
) -> None:
    """More reports at once than may wait: the one past the bound is not kept waiting
    (nor lost): its form comes back at once, everything written still in it and its file
    kept, saying it was not sent. Sent again a minute later, it goes in whole."""
    portal = make_portal(kdf_concurrency=1, kdf_reports_waiting=1)
    gate = portal.app.state.kdf_gate
    held.hold_all = True
    done: list[httpx.Response] = []

    def send() -> None:
        done.append(submit_report(portal.client()))

    first = threading.Thread(target=send)
    first.start()
    assert until(lambda: len(held.started) == 1)  # the only slot, held
    second = threading.Thread(target=send)
    second.start()
    assert until(lambda: gate.admission.waiting("report") == 1)  # the only place to wait

    client = portal.client()
    client.get("/language/pl?next=/")
    evidence = b"%PDF the evidence"
    third = submit_report(
        client,
        files=[("evidence.pdf", evidence, "application/pdf")],
        description="Written with care, not to be lost.",
    )
    assert third.status_code == 503
    assert third.headers["Retry-After"] == "60"
    polish = load_catalogues()["pl"]
    assert polish.gettext(REPORT_NOT_SENT) != REPORT_NOT_SENT
    assert polish.gettext(REPORT_NOT_SENT) in third.text
    assert "Written with care, not to be lost." in third.text
    assert "evidence.pdf" in third.text
    assert hidden_fields(third.text, "/report/staff")["pending"]
    assert len(held.started) == 1  # the refused one cost nothing

    held.go.set()
    first.join(timeout=PATIENCE)
    second.join(timeout=PATIENCE)
    assert sorted(r.status_code for r in done) == [201, 201]
    again = client.post(
        "/report/staff",
        data={
            **hidden_fields(third.text, "/report/staff"),
            **REPORT_FIELDS,
            "description": "Written with care, not to be lost.",
        },
        files=[("attachments", ("", b"", "application/octet-stream"))],
    )
    assert again.status_code == 201, again.text
    console = portal.console()
    items = console.outbox()["items"]
    assert len(items) == 3
    last = console.open(items[-1])
    assert last["description"] == "Written with care, not to be lost."
    assert [console.attachment(a) for a in last["attachments"]] == [evidence]


def test_a_kiosk_report_past_the_bound_comes_back_to_send_again(
    make_portal: PortalFactory, held: Held
) -> None:
    portal = make_portal(kdf_concurrency=1, kdf_reports_waiting=1, kiosk_facility="HMP Example")
    gate = portal.app.state.kdf_gate
    held.hold_all = True
    done: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: done.append(kiosk_report(portal))) for _ in "ab"]
    threads[0].start()
    assert until(lambda: len(held.started) == 1)
    threads[1].start()
    assert until(lambda: gate.admission.waiting("report") == 1)

    client = portal.client()
    screen = kiosk_check_screen(client, lang="pl")
    refused = kiosk_send(client, screen)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "60"
    polish = load_catalogues()["pl"]
    assert polish.gettext(KIOSK_REPORT_NOT_SENT) != KIOSK_REPORT_NOT_SENT
    assert polish.gettext(KIOSK_REPORT_NOT_SENT) in refused.text
    # It can be heard: the busy sentence's own clip, in Polish, beside it (issue 19).
    assert f'src="{kiosk_audio.clip_url("pl", KIOSK_REPORT_NOT_SENT)}"' in refused.text
    assert 'class="quick-exit"' in refused.text  # still the kiosk's screen, with Exit now
    assert "Spice" in refused.text  # the answers are all there, to send again

    held.go.set()
    for thread in threads:
        thread.join(timeout=PATIENCE)
    assert sorted(r.status_code for r in done) == [201, 201]
    again = kiosk_send(client, refused.text)
    assert again.status_code == 201
    assert len(kiosk_receipt(again)) == 20
    assert len(portal.console().outbox()["items"]) == 3
