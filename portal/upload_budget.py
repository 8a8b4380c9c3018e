"""How much anyone may make the portal keep before a report or message claims it.

`POST /api/v1/blobs` takes an encrypted attachment from anyone, unsigned: that is how a
reporter's own client sends files before the report that names them. Unclaimed uploads
are therefore bounded three ways, and an upload past a bound is refused before any of
its body is stored, with a 503 and `Retry-After` (the next person may be honest):

- in total: the bytes of unclaimed uploads stored now (read from the database, so every
  worker sees the same figure);
- per hour: the bytes this worker took in during the last hour, counted in this
  process's memory only and never written anywhere (no time of day reaches the disk);
- a disk reserve: while the data directory's free space is below it, no upload is
  taken at all, so that reports and messages, which are small, still go in.

The purge deletes unclaimed uploads after `unclaimed_blob_seconds`, which frees the total.
"""

from __future__ import annotations

import collections
import shutil
import time
from collections.abc import Callable

from foundation.errors import WebError

HOUR = 3600.0
PAUSED = (
    "Attachments cannot be taken just now. Nothing of this file was kept. Send your report "
    "without it, or try again in a few minutes."
)


class UploadsPaused(WebError):
    """503: an upload bound is reached; `Retry-After` says when to try again."""

    status = 503
    code = "uploads_paused"
    retry_after = 300


class UploadBudget:
    def __init__(
        self,
        *,
        total: int,
        per_hour: int,
        reserve: int,
        directory: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.per_hour, self.reserve = total, per_hour, reserve
        self._directory = directory
        self._clock = clock
        self._taken: collections.deque[tuple[float, int]] = collections.deque()
        self._taken_bytes = 0

    def _last_hour(self) -> int:
        cutoff = self._clock() - HOUR
        while self._taken and self._taken[0][0] < cutoff:
            self._taken_bytes -= self._taken.popleft()[1]
        return self._taken_bytes

    def admit(self, declared: int, unclaimed_now: int) -> int:
        """The bytes one more upload may bring; `UploadsPaused` if that is none, or less
        than the `declared` length. The caller refuses the upload as soon as it brings
        more (a chunked body declares nothing)."""
        free = shutil.disk_usage(self._directory()).free
        allowance = min(
            free - self.reserve,
            self.total - unclaimed_now,
            self.per_hour - self._last_hour(),
        )
        if allowance <= 0 or declared > allowance:
            raise UploadsPaused(PAUSED)
        return allowance

    def spend(self, size: int) -> None:
        """Count `size` bytes taken in now (after the upload was stored)."""
        self._taken.append((self._clock(), size))
        self._taken_bytes += size
