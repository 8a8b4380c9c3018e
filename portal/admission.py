"""Who may start an Argon2id derivation next: the rules both gates share, and nothing else.

A derivation is asked for in one of two classes. A `REPORT` is a new report sent without
JavaScript (the web form and the kiosk's screens): someone who has written their account
and pressed "Send". A `FOLLOW_UP` is everything else that derives on the server: a
receipt typed to come back to a report, on the web or at the kiosk. Receipts can be typed
by anyone, as fast as they like; reports are what the portal is for. So:

- a waiting report is always granted before any waiting follow-up;
- with two slots or more, follow-ups hold at most `slots - 1` at once: one slot is kept
  for reports, so a report never waits behind follow-ups at all (with one slot, it waits
  for at most the derivation already running);
- at most `waiting[class]` requests of each class wait. One more is refused at once,
  rather than queued behind work that may take longer than anyone waits (the client can
  try again in a minute); it costs nothing.

Within a class, requests are granted in the order they were asked. This structure does
no I/O and keeps no time: `security.KdfGate` (one worker) and `kdf_queue.KdfQueue` (all of
`serve`'s workers) drive it, so both behave exactly alike. Keys are whatever the caller
uses to tell requests apart. The counts are totals since the start, in memory only (the
tests and an operator's debugger read them); nothing about any client is counted.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

REPORT = "report"
FOLLOW_UP = "follow-up"
CLASSES = (REPORT, FOLLOW_UP)

#: Default bounds on waiting requests, per Argon2id slot (docs/operations.md says why).
REPORTS_WAITING_PER_SLOT = 16
FOLLOW_UPS_WAITING_PER_SLOT = 2

K = TypeVar("K", bound=Hashable)


class Admission(Generic[K]):
    def __init__(self, slots: int, waiting: Mapping[str, int] | None = None) -> None:
        self.slots = max(1, slots)
        bounds = dict(waiting or {})
        self.bounds = {
            REPORT: max(1, bounds.get(REPORT, REPORTS_WAITING_PER_SLOT * self.slots)),
            FOLLOW_UP: max(1, bounds.get(FOLLOW_UP, FOLLOW_UPS_WAITING_PER_SLOT * self.slots)),
        }
        # Insertion-ordered: the oldest first, and any one removed without a search.
        self._waiting: dict[str, dict[K, None]] = {klass: {} for klass in CLASSES}
        self._holding: dict[K, str] = {}
        self.asked: collections.Counter[str] = collections.Counter()
        self.refused: collections.Counter[str] = collections.Counter()
        self.granted: collections.Counter[str] = collections.Counter()
        self.withdrawn: collections.Counter[str] = collections.Counter()  # gave up waiting

    def waiting(self, klass: str | None = None) -> int:
        if klass is None:
            return sum(len(queue) for queue in self._waiting.values())
        return len(self._waiting[klass])

    def holding(self, klass: str | None = None) -> int:
        if klass is None:
            return len(self._holding)
        return sum(held == klass for held in self._holding.values())

    def holds(self, key: K) -> bool:
        """Whether `key` holds a slot (granted, not yet left)."""
        return key in self._holding

    def __contains__(self, key: object) -> bool:
        return key in self._holding or any(key in queue for queue in self._waiting.values())

    def ask(self, key: K, klass: str) -> bool:
        """Put `key` in line; False if its class has as many waiting as it may (refused:
        nothing is kept). Call `take` next: the line may be short enough to start."""
        if klass not in self._waiting:
            raise ValueError(f"no such class: {klass!r}")
        if key in self:
            raise ValueError("this key is already asked for")
        self.asked[klass] += 1
        if len(self._waiting[klass]) >= self.bounds[klass]:
            self.refused[klass] += 1
            return False
        self._waiting[klass][key] = None
        return True

    def take(self) -> list[K]:
        """Grant every slot the rules allow now; the keys granted, in the order granted."""
        granted = []
        while len(self._holding) < self.slots:
            if self._waiting[REPORT]:
                klass = REPORT
            elif self._waiting[FOLLOW_UP] and (
                self.slots == 1 or self.holding(FOLLOW_UP) < self.slots - 1
            ):
                klass = FOLLOW_UP
            else:
                break
            key = next(iter(self._waiting[klass]))
            del self._waiting[klass][key]
            self._holding[key] = klass
            self.granted[klass] += 1
            granted.append(key)
        return granted

    def leave(self, key: K) -> bool:
        """`key` is done (its slot freed) or gave up waiting; True if it held a slot.
        Unknown keys are ignored. Call `take` next: a slot may have come free."""
        if self._holding.pop(key, None) is not None:
            return True
        for klass, queue in self._waiting.items():
            if key in queue:
                del queue[key]
                self.withdrawn[klass] += 1
        return False
