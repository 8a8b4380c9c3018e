"""What a benchmark run concludes, and when it must not publish a figure at all.

A ratio to a *limit* (a raw binding, the Argon2id rate the cores sustain, a bare SQL
query) cannot exceed 1.0: when one does, the limit was not measured in the same
conditions as what it divides, and the figure is an artefact of a noisy window, not a
result. `against_limit` records such a ratio; `exit_status` prints every one as a
`RUN FAILED:` line on stdout and stderr and makes the run exit 1, so that a figure like
that is rerun on a quieter machine instead of being copied into docs/benchmarks.md.
"""

from __future__ import annotations

import sys

_problems: list[str] = []


def against_limit(value: float, limit: float, what: str) -> float:
    """`value ÷ limit`; above 1.0, the run is marked failed with `what` as the reason."""
    ratio = value / limit if limit else float("inf")
    if ratio > 1.0:
        _problems.append(
            f"{what} is {ratio:.2f} × its limit, which cannot be: the limit was not measured "
            "in the same conditions (a busy or uneven window). Rerun on a quiet machine."
        )
    return ratio


def fail(reason: str) -> None:
    """Mark the run failed, e.g. when a read-back finds fewer rows than were accepted."""
    _problems.append(reason)


def problems() -> list[str]:
    return list(_problems)


def exit_status(ok: bool) -> int:
    """Print every recorded problem as a `RUN FAILED:` line; 1 if any, or if not `ok`."""
    for line in _problems:
        print(f"\nRUN FAILED: {line}", flush=True)
        print(f"RUN FAILED: {line}", file=sys.stderr, flush=True)
    return 0 if ok and not _problems else 1
