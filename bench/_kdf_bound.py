"""The Argon2id limit on HTML reports per second, measured in the window it is compared in.

Each HTML report costs the server one `derive_reporter_keys` at `V1_KDF`, so no rate of
HTML reports can beat the derivations per second the machine's cores sustain together.
That limit is *measured* (one thread per core deriving at once, enough derivations to
last a few seconds), never computed as cores ÷ one derivation's latency, which assumes
perfect scaling; and it is measured just before and just after each phase it divides,
with the server idle, since on a shared machine it moves by tens of per cent in minutes.
The ratio uses the larger of the two readings, and one above 1.0 fails the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from _report import fmt_rate, progress
from _timing import CORES, all_cores_rate, median_time
from _verdict import against_limit

import crypto

T = TypeVar("T")


@dataclass
class Bracketed:
    """A phase's result with the limit measured before and after it."""

    before: float
    after: float

    @property
    def limit(self) -> float:
        return max(self.before, self.after)

    def text(self) -> str:
        return f"{fmt_rate(self.before)} before / {fmt_rate(self.after)} after"


@dataclass
class KdfBound:
    """Measures the Argon2id limit in this process (the server idle) whenever asked."""

    salt: bytes
    rounds: int  # derivations per core in one reading
    latency: float = 0.0  # one derivation, median, for scale
    readings: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._receipt = crypto.generate_receipt()

    def _derive(self) -> object:
        return crypto.derive_reporter_keys(self._receipt, self.salt, crypto.V1_KDF)

    def measure_latency(self, runs: int) -> float:
        self._derive()  # warm up
        self.latency = median_time(self._derive, runs)
        return self.latency

    def measure(self) -> float:
        progress(f"Argon2id limit: {CORES * self.rounds} derivations on {CORES} threads")
        self.readings.append(all_cores_rate(self._derive, self.rounds))
        return self.readings[-1]

    def around(self, phase: Callable[[], T]) -> tuple[T, Bracketed]:
        """Run `phase` between two readings of the limit."""
        before = self.measure()
        result = phase()
        return result, Bracketed(before, self.measure())

    @staticmethod
    def ratio(rate: float, window: Bracketed, what: str) -> float:
        return against_limit(rate, window.limit, f"{what} ÷ the Argon2id limit")
