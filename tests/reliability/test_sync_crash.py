"""`kill -9` the console's `lanthorn triage sync` halfway through many items and files, run
it again: every item exactly once, every file whole, no partial file left behind. And
two syncs never run at once on one console."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foundation.serving import UVICORN_OPTIONS
from portal.app import create_app
from portal.settings import PortalSettings, Secret
from tests.conftest import CHEAP_KDF
from tests.portal.clients import ConsoleClient
from tests.portal.conftest import answer_to
from tests.serving import serving
from triage.console import Console
from triage.db import Item
from triage.sync_lock import one_sync_at_a_time

from .conftest import PASSPHRASES
from .console_check import check_intake, stray_console_files
from .reporters import (
    PortalKeys,
    Sent,
    evidence,
    reporter_auth,
    run_prefix,
    send_api,
    send_api_message,
)
from .served import LANTHORN, clean_environment

REPORTS = 30


class SlowDownloads:
    """The portal, with each piece of an attachment download held back a little: a sync
    spends most of its time with a file half written, where a kill is meant to find it."""

    def __init__(self, app: ASGIApp, pause: float = 0.03) -> None:
        self.app, self.pause = app, pause

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/v1/console/blobs/"):
            await self.app(scope, receive, send)
            return

        async def slow_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                await asyncio.sleep(self.pause)
            await send(message)

        await self.app(scope, receive, slow_send)


@pytest.fixture
def portal_url(tmp_path: Path, database_url: str, console: Console) -> Iterator[str]:
    settings = PortalSettings(
        data_dir=tmp_path / "portal",
        database_url=database_url,
        oversight_key=console.keys.oversight.public_key,
        oversight_sign_key=console.keys.signing_key.verify_key,
        console_key=console.keys.console.verify_key,
        receipt_salt=bytes(range(16)),
        secret=Secret(bytes(range(32))),
        kdf=CHEAP_KDF,
    )
    app = create_app(settings)
    with serving(SlowDownloads(app), **UVICORN_OPTIONS) as url:
        answer_to(app, settings, url)
        yield url


def fill(url: str) -> list[Sent]:
    """`REPORTS` reports with two files each (one of several chunks), and some messages."""
    prefix = run_prefix()
    sent = []
    with httpx.Client(base_url=url, timeout=30) as client:
        keys = PortalKeys.fetch(client)
        for n in range(REPORTS):
            canary = f"{prefix}n{n:03d}"
            files = [evidence(canary, 0, 150_000), evidence(canary, 1, 3_000)]
            sent.append(send_api(client, keys, canary, files=files))
        for one in sent[::6]:
            auth = reporter_auth(one, keys)
            assert send_api_message(client, one, keys, auth, [evidence(one.canary, 9, 70_000)])
    assert all(s.accepted for s in sent)
    return sent


def sync_command(console: Console, url: str) -> tuple[list[str], dict[str, str]]:
    command = [str(LANTHORN), "triage", "sync", "--data", str(console.settings.data_dir)]
    env = clean_environment(
        LANTHORN_UNSEAL_PASSPHRASES=",".join(PASSPHRASES),
        LANTHORN_DATABASE_URL=console.settings.database_url,
    )
    return [*command, "--portal", url], env


def test_a_sync_killed_midway_and_run_again_takes_every_item_once_and_leaves_no_partial_file(
    portal_url: str, console: Console
) -> None:
    sent = fill(portal_url)
    blobs = console.settings.blob_dir
    command, env = sync_command(console, portal_url)
    sync = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    try:
        while True:  # wait for files kept, and one being written
            assert sync.poll() is None, "the sync finished before it could be killed"
            assert time.monotonic() < deadline
            names = [p.name for p in blobs.glob("*")] if blobs.is_dir() else []
            if sum(not n.startswith(".") for n in names) >= 6 and any(
                n.startswith(".tmp-") for n in names
            ):
                break
            time.sleep(0.005)
    finally:
        os.killpg(sync.pid, signal.SIGKILL)
        sync.wait(timeout=30)
    assert sync.returncode == -signal.SIGKILL
    assert list(blobs.glob(".tmp-*"))  # a file caught halfway
    kept_before = {p.name: p.stat().st_ino for p in blobs.glob("*") if not p.name[0] == "."}
    with console.sessions() as session:
        taken_before = session.query(Item).count()
    # The page being taken is stored in one transaction, so nothing of it was stored;
    # the files verified before the kill stay and are used again, not downloaded again.
    assert taken_before == 0
    assert len(kept_before) >= 6

    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert list(blobs.glob(".tmp-*")) == []
    assert {name: (blobs / name).stat().st_ino for name in kept_before} == kept_before
    assert stray_console_files(console) == []
    intake = check_intake(console, sent)
    assert intake.problems == []
    assert intake.reports == REPORTS
    assert intake.messages == len(sent[::6])
    assert intake.files_verified == 2 * REPORTS + len(sent[::6])
    console.verify_audit()
    portal = ConsoleClient(
        portal_url,
        console.keys.console,
        time.time,
        console.keys.oversight,
        console.keys.signing_key,
    )
    try:
        assert portal.outbox()["items"] == []  # everything acknowledged
    finally:
        portal.http.close()


def test_a_second_sync_waits_for_the_first_and_a_dead_syncs_leftovers_go(
    portal_url: str, console: Console
) -> None:
    with httpx.Client(base_url=portal_url, timeout=30) as client:
        keys = PortalKeys.fetch(client)
        sent = [send_api(client, keys, f"{run_prefix()}n0", files=[b"one file"])]
    console.blobs.root.mkdir(parents=True, exist_ok=True)
    leftover = console.blobs.root / ".tmp-left-by-a-killed-sync"
    leftover.write_bytes(b"half a file")
    said: list[str] = []
    with one_sync_at_a_time(console.settings.data_dir):  # another sync is running
        second = threading.Thread(target=console.sync, args=(portal_url, said.append))
        second.start()
        time.sleep(0.5)
        assert second.is_alive()
        assert said == ["another sync is running; waiting for it to finish"]
        assert leftover.exists()  # the running sync may be writing it
    second.join(timeout=60)
    assert not second.is_alive()
    assert not leftover.exists()
    assert check_intake(console, sent).reports == 1
