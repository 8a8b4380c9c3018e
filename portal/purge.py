"""Forgetting on schedule: what the portal no longer needs, it deletes.

- sealed reports and messages, and their attachment files, `retention_days` after the
  console acknowledged them;
- replies `retention_days` after the reporter read them;
- attachments no report or message claimed, `unclaimed_blob_seconds` after the file was
  written (its change time, which the file system keeps anyway), so no upload time is
  stored and a restart does not give them longer;
- stale nonces and expired reporter sessions;
- the record that a page's form was sent, `once.KEEP_DAYS` after the day it was sent;
- temporary upload files a crash left behind, once idle for an hour (by the file's own
  modification time, which the kernel keeps anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import sessionmaker

from foundation.blobstore import BlobStore

from .db import Blob, Item, Nonce, ReporterSession
from .once import KEEP_DAYS
from .settings import PortalSettings
from .store import OVERSIGHT_KINDS, forget_sent_forms, forget_unclaimed, rowcount, utc_day

log = logging.getLogger("lanthorn.portal")


class Purger:
    def __init__(
        self,
        settings: PortalSettings,
        sessions: sessionmaker[Any],
        blobs: BlobStore,
        clock: Callable[[], float],
        every_seconds: float = 300.0,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._blobs = blobs
        self._clock = clock
        self._every = every_seconds
        self._first_seen: dict[str, float] = {}

    def run_once(self) -> dict[str, int]:
        now = self._clock()
        today = utc_day(now)
        cutoff = today - datetime.timedelta(days=self._settings.retention_days)
        counts = {"nonces": 0, "sessions": 0, "forms": 0, "items": 0, "blobs": 0}
        counts["temporary"] = self._blobs.sweep_temporary(time.time())
        with self._sessions() as session:
            counts["nonces"] = rowcount(
                session.execute(delete(Nonce).where(Nonce.expires_on < today))
            )
            # A session idles out after minutes (the cookie says when); a row unused since
            # before yesterday belongs to a session nobody can resume.
            stale = today - datetime.timedelta(days=1)
            counts["sessions"] = rowcount(
                session.execute(delete(ReporterSession).where(ReporterSession.seen_on < stale))
            )
            # A page older than KEEP_DAYS is refused as too old (once.py), so a page sent
            # on day D cannot come back after D + KEEP_DAYS: its row is no longer needed.
            counts["forms"] = forget_sent_forms(session, today - datetime.timedelta(days=KEEP_DAYS))
            done = (Item.kind.in_(("report", "message")) & (Item.acked_on < cutoff)) | (
                Item.kind.in_(OVERSIGHT_KINDS) & (Item.read_on < cutoff)
            )
            seqs = list(session.scalars(select(Item.seq).where(done, Item.sealed.is_not(None))))
            files = list(session.scalars(select(Blob.id).where(Blob.item_seq.in_(seqs))))
            if seqs:
                session.execute(update(Item).where(Item.seq.in_(seqs)).values(sealed=None))
            unclaimed = set(session.scalars(select(Blob.id).where(Blob.item_seq.is_(None))))
            known = set(session.scalars(select(Blob.id)))
            session.commit()
        counts["items"] = len(seqs)
        for blob_id in files:
            self._blobs.delete(blob_id)
        counts["blobs"] = len(files) + self._purge_unclaimed(now, unclaimed, known)
        return counts

    def _purge_unclaimed(self, now: float, unclaimed: set[str], known: set[str]) -> int:
        # Files with no row at all are an upload that crashed between its rename and its
        # row (or a purge interrupted midway): treated like unclaimed uploads.
        candidates = unclaimed | (self._blobs.ids() - known)
        # First seen: now, or when the file was written if that was earlier (its change
        # time, which the file system keeps anyway): a restart must not give an upload
        # nobody claims another four hours, again and again.
        self._first_seen = {
            b: self._first_seen.get(b) or min(now, self._blobs.written_at(b, now))
            for b in candidates
        }
        purged = 0
        for blob_id, seen in list(self._first_seen.items()):
            if now - seen < self._settings.unclaimed_blob_seconds:
                continue
            if blob_id in unclaimed:
                with self._sessions() as session:
                    if not forget_unclaimed(session, blob_id):
                        continue  # claimed a moment ago
            self._blobs.delete(blob_id)
            del self._first_seen[blob_id]
            purged += 1
        return purged

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    await asyncio.to_thread(self.run_once)
                except Exception as exc:  # keep purging on later rounds
                    log.error("purge failed: %s", type(exc).__name__)
                await asyncio.sleep(self._every)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
