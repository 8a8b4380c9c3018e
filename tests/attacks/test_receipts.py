"""Receipt guessing and receipt timing, asserted on behaviour, never on the clock.

Guessing: every wrong receipt at /follow-up and at the kiosk costs the portal one
Argon2id and is then delayed by portal/throttle.py (per code, and globally for a
campaign); a right one is answered at once. The JSON API does no key derivation: a
guesser derives each guess's keys on their own hardware and gets a detail-free 401.
`simulate_guessing` turns the throttle's real schedule into guesses per hour for one
client and for many (used by bench/receipt_timing.py with the measured Argon2id time;
the figures are in SECURITY.md, "Receipt guessing").

Timing: a right and a wrong receipt run the same work up to the answer: one key
derivation and one case lookup each (counted here); bench/receipt_timing.py measures
the time distributions.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

import crypto
from portal import security
from portal.security import REFUSAL_PAUSE
from portal.throttle import ReceiptThrottle
from tests.portal.conftest import Portal
from tests.portal.forms import csrf_token, receipt_of, submit_report
from tests.triage.conftest import token


class Recording(ReceiptThrottle):
    """The real throttle, recording what it decides; the wait itself is skipped (the
    schedule is what is asserted, so the test need not sleep through it)."""

    def __init__(self, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.delays: list[float] = []
        self.successes = 0
        self.now = 0.0

    def failure(self, lookup_id: bytes) -> float:
        self.delays.append(super().failure(lookup_id))
        return 0.0

    def success(self, lookup_id: bytes) -> None:
        self.successes += 1
        super().success(lookup_id)


class Counting:
    """Counts Argon2id derivations through the portal's gate and SELECTs on its database."""

    def __init__(self, portal: Portal) -> None:
        self.derivations = 0
        self.selects = 0
        gate = portal.app.state.kdf_gate
        run = gate.run

        async def counted(fn: Callable[..., Any], *args: object, **kwargs: Any) -> Any:
            if fn is crypto.derive_reporter_keys:
                self.derivations += 1
            return await run(fn, *args, **kwargs)

        gate.run = counted

        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT") and " cases" in statement:
                self.selects += 1

        event.listen(portal.app.state.engine, "before_cursor_execute", before)

    def reset(self) -> tuple[int, int]:
        counts = self.derivations, self.selects
        self.derivations = self.selects = 0
        return counts


def wrong_receipt(seed: int) -> str:
    """A receipt with a right check digit that belongs to no case."""
    body = f"{seed:019d}"[-19:]
    return body + str(crypto.damm_check_digit(body))


def follow_up(portal: Portal, receipt: str) -> int:
    client = portal.client()
    answer = client.post(
        "/follow-up", data={"csrf": csrf_token(client, "/follow-up"), "receipt": receipt}
    )
    client.close()
    return answer.status_code


def kiosk_follow_up(portal: Portal, receipt: str) -> int:
    client = portal.client()
    page = client.get("/kiosk/follow-up").text
    answer = client.post(
        "/kiosk/follow-up", data={"csrf": token(page), "receipt": receipt, "lang": "en"}
    )
    client.close()
    return answer.status_code


@pytest.fixture
def guarded(portal: Portal) -> tuple[Portal, Recording, str]:
    """A portal whose throttle records (on a clock of its own that only the test moves,
    so that a slow machine cannot age a campaign), and the receipt of one real case."""
    throttle = Recording(lambda: throttle.now)
    throttle.now = 1000.0
    portal.app.state.throttle = throttle
    receipt = crypto.validate_receipt(receipt_of(submit_report(portal.client())))
    return portal, throttle, receipt


@pytest.mark.parametrize("door", [follow_up, kiosk_follow_up])
def test_one_code_tried_again_and_again_waits_longer_each_time(
    guarded: tuple[Portal, Recording, str], door: Callable[[Portal, str], int]
) -> None:
    portal, throttle, _ = guarded
    for _ in range(8):
        assert door(portal, wrong_receipt(42)) == 422
    assert throttle.delays == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_campaign_slows_every_failure_but_never_the_real_reporter(
    guarded: tuple[Portal, Recording, str],
) -> None:
    portal, throttle, receipt = guarded
    for seed in range(45):  # 45 different codes within one minute of the clock
        assert follow_up(portal, wrong_receipt(seed)) == 422
    assert throttle.delays[:30] == [0.5] * 30
    assert throttle.delays == sorted(throttle.delays)
    assert throttle.delays[-1] == 1.0
    assert follow_up(portal, receipt) == 303  # the right code: in at once
    assert throttle.successes == 1
    assert len(throttle.delays) == 45
    throttle.now += 61  # the campaign's minute is over
    follow_up(portal, wrong_receipt(1000))
    assert throttle.delays[-1] == 0.5


@pytest.mark.parametrize("door", [follow_up, kiosk_follow_up])
def test_during_a_campaign_typed_receipts_cost_no_argon2id_until_it_passes(
    guarded: tuple[Portal, Recording, str],
    door: Callable[[Portal, str], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sixty wrong codes in a minute make a campaign: until the minute has passed, a typed
    receipt, even a right one, is told to try again later (503) without any derivation,
    so the campaign takes no more CPU from new reports and gets no more guesses."""
    monkeypatch.setattr(security, "REFUSAL_PAUSE", 0.0)
    portal, throttle, receipt = guarded
    counting = Counting(portal)
    for n in range(60):
        throttle.failure(n.to_bytes(8, "big"))
    assert door(portal, receipt) == 503
    assert door(portal, wrong_receipt(7)) == 503
    assert counting.reset() == (0, 0)  # no derivation, no lookup
    assert submit_report(portal.client()).status_code == 201  # reports go on
    counting.reset()
    throttle.now += 61  # the minute passes with no more failures
    assert door(portal, receipt) in (200, 303)
    assert counting.reset()[0] == 1


def test_the_api_derives_nothing_and_answers_every_guess_with_the_same_401(
    guarded: tuple[Portal, Recording, str],
) -> None:
    """Through the API the guesser pays for each Argon2id; the portal only looks up the
    lookup id (the figure per hour is then the guesser's own hardware: SECURITY.md)."""
    portal, throttle, receipt = guarded
    counting = Counting(portal)
    client = portal.client()
    for seed in range(10):
        keys = portal.derive(wrong_receipt(seed))
        answer = client.get("/api/v1/thread", auth=portal.reporter_auth(keys))
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"
    derivations, selects = counting.reset()
    assert derivations == 0
    assert selects == 10
    assert throttle.delays == []
    right = client.get("/api/v1/thread", auth=portal.reporter_auth(portal.derive(receipt)))
    assert right.status_code == 200


@pytest.mark.parametrize("door", [follow_up, kiosk_follow_up])
def test_a_right_and_a_wrong_receipt_do_the_same_work(
    guarded: tuple[Portal, Recording, str], door: Callable[[Portal, str], int]
) -> None:
    """One Argon2id and one case lookup each, whether the code opens a case or not; the
    typo check (a public function of the digits) is the only earlier exit."""
    portal, _, receipt = guarded
    counting = Counting(portal)
    assert door(portal, receipt) in (200, 303)
    right = counting.reset()
    assert door(portal, wrong_receipt(7)) == 422
    wrong = counting.reset()
    assert right == wrong == (1, 1)
    typo = receipt[:-1] + str((int(receipt[-1]) + 1) % 10)
    assert door(portal, typo) == 422
    assert counting.reset() == (0, 0)


def simulate_guessing(
    seconds_per_guess: float,
    clients: int,
    derivations_at_once: int,
    hours: float = 1.0,
    throttle: ReceiptThrottle | None = None,
) -> int:
    """Wrong guesses `clients` get in `hours` against one portal worker, each client
    sending its next guess when the last is answered, with a fresh code each time.

    An event simulation over the real throttle on a simulated clock: a guess waits for
    one of `derivations_at_once` Argon2id slots (those follow-ups may hold: all but the
    one kept for new reports, portal/admission.py), takes `seconds_per_guess` there, then
    waits the delay the throttle gives it, while holding no slot. Guesses past the bound
    on waiting follow-ups, and every guess while a campaign is on (`campaign()`), are
    refused without a derivation after the refusal's pause, so they add none."""
    now = [0.0]
    throttle = throttle or ReceiptThrottle(lambda: now[0])
    end = hours * 3600
    free_at = [0.0] * derivations_at_once  # when each Argon2id slot is next free
    ready = [(0.0, c) for c in range(clients)]  # (when the client sends, client)
    heapq.heapify(ready)
    guesses = 0
    while ready:
        sent, client = heapq.heappop(ready)
        now[0] = sent
        if throttle.campaign():
            if sent + REFUSAL_PAUSE < end:
                heapq.heappush(ready, (sent + REFUSAL_PAUSE, client))
            continue
        slot = min(range(derivations_at_once), key=free_at.__getitem__)
        derived = max(sent, free_at[slot]) + seconds_per_guess
        free_at[slot] = derived
        now[0] = derived
        answered = derived + throttle.failure(guesses.to_bytes(8, "big"))
        if answered > end:
            continue
        guesses += 1
        heapq.heappush(ready, (answered, client))
    return guesses


#: Argon2id at v1 cost (t=3, 64 MiB) on one core of the machine in docs/benchmarks.md.
V1_SECONDS = 0.132


def test_guessing_rates_per_hour_follow_from_the_throttle_and_the_kdf(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Two cores, two slots: follow-ups may hold one, the other is kept for new reports.
    one = simulate_guessing(V1_SECONDS, clients=1, derivations_at_once=1)
    many = simulate_guessing(V1_SECONDS, clients=200, derivations_at_once=1)
    with capsys.disabled():
        print(f"\nreceipt guesses per hour per worker: one client {one}, 200 clients {many}")
    # One client: the global delay holds it near 30 a minute plus what its own waits allow.
    assert 1_500 < one < 4_000
    # Many clients: the campaign bound holds them to about 60 derivations a minute.
    assert many <= 61 * 60
    assert many > 0.9 * 60 * 60
