"""Receipt guessing is slowed; the real reporter never is."""

from __future__ import annotations

from portal.throttle import ReceiptThrottle

LOOKUP = bytes(32)


def test_repeated_failures_on_one_code_wait_longer_and_longer() -> None:
    throttle = ReceiptThrottle(lambda: 1000.0)
    delays = [throttle.failure(LOOKUP) for _ in range(6)]
    assert delays == sorted(delays)
    assert delays[-1] > delays[0]
    assert max(delays) <= 10.0


def test_a_success_clears_the_count_for_that_code() -> None:
    throttle = ReceiptThrottle(lambda: 1000.0)
    for _ in range(5):
        throttle.failure(LOOKUP)
    throttle.success(LOOKUP)
    assert throttle.failure(LOOKUP) == 0.5


def test_a_guessing_campaign_slows_every_failure_not_successes() -> None:
    clock = [1000.0]
    throttle = ReceiptThrottle(lambda: clock[0], global_per_minute=10)
    quiet = throttle.failure(bytes([1]) * 32)
    for i in range(40):
        throttle.failure(i.to_bytes(32, "big"))
    busy = throttle.failure(bytes([2]) * 32)
    assert busy > quiet
    clock[0] += 61  # the campaign's minute has passed
    assert throttle.failure(bytes([3]) * 32) == quiet


def test_memory_stays_bounded_under_a_flood() -> None:
    throttle = ReceiptThrottle(lambda: 1000.0, global_per_minute=10**9)
    for i in range(100_500):
        throttle.failure(i.to_bytes(32, "big"))
    assert len(throttle._per_lookup) <= 100_001
