"""Following a table by its sequence numbers (`seq`), without missing a row that commits
late: on PostgreSQL a transaction may take its number before a later one and commit after
it, so a reader that only remembered the highest number it saw would skip it for ever.
`Tail` remembers, beside that high-water mark, the numbers below it that were missing when
it moved (`MAX_HOLES` at most), and asks for them again until they turn up or
`HOLE_SECONDS` have passed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

#: How long a missing sequence number may still turn up (a PostgreSQL transaction that
#: took its number before a later one but committed after it).
HOLE_SECONDS = 600.0
MAX_HOLES = 1000


class Tail:
    """Which rows of a table (by `seq`) have been read: a high-water mark, plus the
    numbers below it that were missing when it moved (they may still commit)."""

    def __init__(self) -> None:
        self.seq = 0
        self.holes: dict[int, float] = {}

    def condition(self, column: Any) -> Any:
        now = time.monotonic()
        self.holes = {s: t for s, t in self.holes.items() if now - t < HOLE_SECONDS}
        if self.holes:
            return (column > self.seq) | column.in_(sorted(self.holes))
        return column > self.seq

    def saw(self, seqs: Iterable[int]) -> None:
        now = time.monotonic()
        for seq in sorted(seqs):
            if seq in self.holes:
                del self.holes[seq]
            elif seq > self.seq:
                if seq - self.seq <= MAX_HOLES:  # a wider gap is not transactions in flight
                    self.holes.update((missing, now) for missing in range(self.seq + 1, seq))
                self.seq = seq
        while len(self.holes) > MAX_HOLES:  # the oldest go first (insertion order)
            del self.holes[next(iter(self.holes))]
