"""One sync at a time per console data directory, so that a sync may tidy up after one
that was killed.

A sync writes each attachment under a temporary name and renames it when verified. A sync
killed halfway (power cut, `kill -9`, the operator's Ctrl-C twice) leaves its temporary
file behind; the next sync, holding this lock, knows that no other sync is writing and
deletes every temporary file it finds. The lock also keeps `lanthorn triage sync` and the
console's own timer from taking the same items at once. The kernel releases it when its
holder dies, however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_FILE = "sync.lock"


@contextlib.contextmanager
def one_sync_at_a_time(
    data_dir: Path, waiting: Callable[[str], None] = lambda _: None
) -> Iterator[None]:
    """Hold the data directory's sync lock; wait (saying so through `waiting`) if taken."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting("another sync is running; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
