"""Slowing down receipt guessing without ever locking out the real reporter.

Only *failed* receipt attempts are slowed: a receipt that opens a case is answered at
once, however busy the portal is. Failures are counted globally (a guessing campaign) and
per derived lookup id (one wrong code tried again and again), never per IP address —
the portal does not know addresses. The counts live in memory only.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable


class ReceiptThrottle:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        global_per_minute: int = 30,
        max_delay: float = 10.0,
        campaign_per_minute: int = 60,
    ) -> None:
        self._clock = clock
        self._global_per_minute = global_per_minute
        self._max_delay = max_delay
        self._campaign_per_minute = campaign_per_minute
        self._recent: collections.deque[float] = collections.deque()
        self._per_lookup: dict[bytes, int] = {}

    @staticmethod
    def _key(lookup_id: bytes) -> bytes:
        # Even in memory, keep no lookup id itself: a short hash is enough to count.
        return hashlib.blake2b(lookup_id, digest_size=8).digest()

    def _last_minute(self) -> int:
        now = self._clock()
        while self._recent and self._recent[0] < now - 60:
            self._recent.popleft()
        return len(self._recent)

    def campaign(self) -> bool:
        """Whether a guessing campaign is on: `campaign_per_minute` failures or more in
        the last minute. While it is, the portal derives no more keys for typed receipts
        (`security.derive` refuses them as busy), so a campaign gets at most about that
        many guesses a minute from each worker, and takes no more CPU from new reports."""
        return self._last_minute() >= self._campaign_per_minute

    def failure(self, lookup_id: bytes) -> float:
        """Record a failed attempt; return how many seconds to wait before answering it."""
        self._last_minute()
        now = self._clock()
        self._recent.append(now)
        key = self._key(lookup_id)
        if len(self._per_lookup) > 100_000:  # bounded memory under a flood
            self._per_lookup.clear()
        count = self._per_lookup[key] = self._per_lookup.get(key, 0) + 1
        per_lookup = 0.0 if count < 3 else 2.0 ** (count - 3)
        excess = len(self._recent) - self._global_per_minute
        global_delay = 0.0 if excess <= 0 else excess / self._global_per_minute * 2
        return min(self._max_delay, max(per_lookup, global_delay, 0.5))

    def success(self, lookup_id: bytes) -> None:
        self._per_lookup.pop(self._key(lookup_id), None)
