#!/usr/bin/env python3
"""Receipt timing and receipt guessing, measured on this machine.

1. Timing: many follow-up attempts with a right and a wrong receipt (cheap Argon2id, the
   throttle's wait switched off so that only the work shows), against a real portal on
   loopback; the same for the API's 401s (a known lookup id with a bad signature, an
   unknown one). Prints medians, the 10th and 90th percentiles, the Mann-Whitney U test
   (as z and a two-sided p) and the Kolmogorov-Smirnov distance between the two samples.
2. Guessing: Argon2id at v1 cost timed here, then guesses per hour for one client and for
   many, from the real throttle's schedule (tests/attacks/test_receipts.py,
   `simulate_guessing`).

The test suite asserts none of these times (tests/attacks/test_receipts.py asserts that
both receipts do the same work); SECURITY.md, "Receipt guessing", summarises a run.

    .venv/bin/python bench/receipt_timing.py            # 300 attempts each, ~1 minute
    .venv/bin/python bench/receipt_timing.py --quick    # 40 each
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

import crypto  # noqa: E402
from foundation.serving import UVICORN_OPTIONS  # noqa: E402
from portal.app import create_app  # noqa: E402
from portal.settings import PortalSettings, Secret  # noqa: E402
from portal.throttle import ReceiptThrottle  # noqa: E402
from tests.attacks.test_receipts import simulate_guessing, wrong_receipt  # noqa: E402
from tests.conftest import CHEAP_KDF  # noqa: E402
from tests.portal.forms import csrf_token, receipt_of, submit_report  # noqa: E402
from tests.serving import serving  # noqa: E402


def mann_whitney(a: list[float], b: list[float]) -> tuple[float, float]:
    """(z, two-sided p) of the Mann-Whitney U test, normal approximation, tie-corrected."""
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    i = 0
    ties = 0.0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        ties += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2) / sigma if sigma else 0.0
    return z, math.erfc(abs(z) / math.sqrt(2))


def ks_distance(a: list[float], b: list[float]) -> float:
    """The largest gap between the two empirical distribution functions."""
    points = sorted(set(a) | set(b))
    sa, sb = sorted(a), sorted(b)

    def cdf(sample: list[float], x: float) -> float:
        lo, hi = 0, len(sample)
        while lo < hi:
            mid = (lo + hi) // 2
            if sample[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        return lo / len(sample)

    return max(abs(cdf(sa, x) - cdf(sb, x)) for x in points)


def describe(name: str, a: list[float], b: list[float]) -> str:
    def ms(values: list[float], q: float) -> str:
        ordered = sorted(values)
        return f"{ordered[int(q * (len(ordered) - 1))] * 1000:.2f}"

    z, p = mann_whitney(a, b)
    return (
        f"| {name} | {statistics.median(a) * 1000:.2f} ({ms(a, 0.1)}–{ms(a, 0.9)}) "
        f"| {statistics.median(b) * 1000:.2f} ({ms(b, 0.1)}–{ms(b, 0.9)}) "
        f"| {z:+.2f} | {p:.3f} | {ks_distance(a, b):.3f} |"
    )


def timed(call: Callable[[], int], expect: int) -> float:
    started = time.perf_counter()
    status = call()
    elapsed = time.perf_counter() - started
    assert status == expect, (status, expect)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 attempts each, not 300")
    args = parser.parse_args()
    rounds = 40 if args.quick else 300
    oversight = crypto.PrivateKey.generate()
    console = crypto.SigningKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        settings = PortalSettings(
            data_dir=Path(tmp),
            database_url=f"sqlite+pysqlite:///{tmp}/portal.db",
            oversight_key=oversight.public_key,
            oversight_sign_key=crypto.SigningKey.generate().verify_key,
            console_key=console.verify_key,
            receipt_salt=secrets.token_bytes(16),
            secret=Secret(secrets.token_bytes(32)),
            kdf=CHEAP_KDF,
        )
        app = create_app(settings)
        # Only the work shows: the throttle still counts, but never waits.
        app.state.throttle = ReceiptThrottle(time.time, max_delay=0.0)
        with serving(app, **UVICORN_OPTIONS) as url, httpx.Client(base_url=url) as client:
            right = crypto.validate_receipt(receipt_of(submit_report(client)))
            keys = crypto.derive_reporter_keys(right, settings.receipt_salt, CHEAP_KDF)

            def follow_up(receipt: str) -> Callable[[], int]:
                with httpx.Client(base_url=url) as browser:
                    token = csrf_token(browser, "/follow-up")
                    cookies = dict(browser.cookies)

                def send() -> int:
                    answer = client.post(
                        "/follow-up",
                        data={"csrf": token, "receipt": receipt},
                        cookies=cookies,
                    )
                    return answer.status_code

                return send

            def api(key_id: bytes, signer: crypto.SigningKey) -> Callable[[], int]:
                def send() -> int:
                    headers = crypto.sign_request(
                        signer, "GET", "/api/v1/thread", timestamp=int(time.time()),
                        key_id=key_id,
                    )  # fmt: skip
                    return client.get("/api/v1/thread", headers=headers).status_code

                return send

            for _ in range(10):  # warm up both paths
                follow_up(right)()
                follow_up(wrong_receipt(1))()
            samples: dict[str, tuple[list[float], list[float]]] = {
                "follow-up": ([], []),
                "api 401": ([], []),
            }
            impostor = crypto.SigningKey.generate()
            for n in range(rounds):
                pairs = [
                    ("follow-up", follow_up(right), 303, follow_up(wrong_receipt(n)), 422),
                    ("api 401", api(keys.lookup_id, impostor), 401,
                     api(secrets.token_bytes(32), impostor), 401),
                ]  # fmt: skip
                for name, first, first_status, second, second_status in pairs:
                    order = [(0, first, first_status), (1, second, second_status)]
                    if n % 2:
                        order.reverse()
                    for which, call, status in order:
                        samples[name][which].append(timed(call, status))
    print(f"## Receipt timing ({rounds} attempts each, cheap Argon2id, no throttle wait)\n")
    print("| request | A: median ms (p10–p90) | B: median ms (p10–p90) | "
          "Mann-Whitney z | p | KS D |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    print(describe("follow-up: A right receipt, B wrong receipt", *samples["follow-up"]))
    print(describe("API: A known id, bad signature, B unknown id", *samples["api 401"]))

    runs = []
    for _ in range(3 if args.quick else 7):
        started = time.perf_counter()
        crypto.derive_reporter_keys(crypto.generate_receipt(), bytes(16), crypto.V1_KDF)
        runs.append(time.perf_counter() - started)
    seconds = statistics.median(runs)
    cores = os.cpu_count() or 1
    follow_up_slots = max(1, cores - 1)  # one slot kept for new reports (portal/admission.py)
    one = simulate_guessing(seconds, clients=1, derivations_at_once=follow_up_slots)
    many = simulate_guessing(seconds, clients=500, derivations_at_once=follow_up_slots)
    print(f"\n## Receipt guessing (Argon2id at v1 cost: {seconds * 1000:.0f} ms, {cores} cores)\n")
    print("| attacker | wrong guesses per hour, one portal worker |")
    print("|---|---|")
    print(f"| one client, one guess at a time | {one:,} |")
    print(f"| 500 clients at once | {many:,} (≈ (cores − 1) / Argon2id time) |")
    print(f"| API, keys derived by the attacker | their own Argon2id rate: {3600 / seconds:,.0f}"
          " per core of theirs; the portal adds no wait |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
