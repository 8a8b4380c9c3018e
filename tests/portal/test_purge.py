"""Forgetting on schedule: ciphertext leaves once the console has it (plus retention),
abandoned uploads leave after a few hours, and nothing in use is ever purged."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator

import pytest

import crypto
from portal import multipart
from portal.db import Item, Nonce, ReporterSession
from portal.purge import Purger
from portal.store import utc_day

from .clients import OCTETS, stored_blob
from .conftest import Portal, PortalFactory
from .forms import open_thread, receipt_of, report_request, submit_report

DAY = 86400


def purge(portal: Portal) -> dict[str, int]:
    counts: dict[str, int] = portal.app.state.purger.run_once()
    return counts


def blob_files(portal: Portal) -> set[str]:
    return {p.name for p in portal.settings.blob_dir.iterdir()}


def test_acknowledged_reports_and_their_files_go_after_the_retention_period(
    portal: Portal,
) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client, files=[("a.jpg", b"photo", "image/jpeg")]))
    console = portal.console()
    page = console.outbox()
    [descriptor] = console.open(page["items"][0])["attachments"]
    assert purge(portal)["items"] == 0  # not acknowledged: kept however old
    console.ack(page["next"])
    portal.clock.advance((portal.settings.retention_days - 1) * DAY)
    assert purge(portal)["items"] == 0
    assert descriptor["blob_id"] in blob_files(portal)
    portal.clock.advance(2 * DAY)
    counts = purge(portal)
    assert counts["items"] == 1
    assert descriptor["blob_id"] not in blob_files(portal)
    with portal.app.state.sessions() as session:
        assert session.query(Item).one().sealed is None
    # The reporter can still come back: the case and its status remain.
    browser = portal.client()
    assert open_thread(browser, receipt).status_code == 303
    assert "Your report" in browser.get("/thread").text


def test_read_replies_go_after_retention_unread_ones_stay(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    console = portal.console()
    [item] = console.outbox()["items"]
    console.reply(item["case"], console.open(item), "first")
    portal.clock.advance(60 * DAY)
    assert purge(portal)["items"] == 0  # unread: kept
    browser = portal.client()
    open_thread(browser, receipt)
    assert "first" in browser.get("/thread").text  # now read, today
    portal.clock.advance((portal.settings.retention_days + 1) * DAY)
    assert purge(portal)["items"] == 1
    browser = portal.client()
    open_thread(browser, receipt)
    assert "removed from the portal after you read it" in browser.get("/thread").text
    with portal.app.state.sessions() as session:  # the chain outlives the text (§14.3)
        reply = session.query(Item).filter(Item.kind == "reply").one()
    assert reply.sealed is None
    assert reply.signed is not None
    assert reply.signature is not None


def test_unclaimed_uploads_go_after_a_few_hours_claimed_ones_stay(portal: Portal) -> None:
    client = portal.client()
    _, stored, _ = stored_blob(b"never used")
    abandoned = client.post("/api/v1/blobs", content=stored, headers=OCTETS).json()["blob_id"]
    submit_report(client, files=[("kept.txt", b"kept", "text/plain")])
    purge(portal)  # first sighting
    portal.clock.advance(portal.settings.unclaimed_blob_seconds - 60)
    purge(portal)
    assert abandoned in blob_files(portal)
    portal.clock.advance(120)
    assert purge(portal)["blobs"] == 1
    assert abandoned not in blob_files(portal)
    assert len(blob_files(portal)) == 1  # the report's file is still there
    response = client.post(
        "/api/v1/reports",
        json={
            "sealed": crypto.b64u_encode(bytes(1072)),
            "lookup_id": crypto.b64u_encode(bytes(32)),
            "box_pk": crypto.b64u_encode(bytes(32)),
            "sign_pk": crypto.b64u_encode(bytes(32)),
            "blob_ids": [abandoned],
        },
    )
    assert response.status_code == 422  # the purged id is gone for good


def test_a_crash_leaves_no_half_blob_behind(portal: Portal) -> None:
    blob_dir = portal.settings.blob_dir
    crashed = blob_dir / ".tmp-deadbeef"
    crashed.write_bytes(b"half written")  # a worker died mid-upload two hours ago
    two_hours_ago = time.time() - 7200
    os.utime(crashed, (two_hours_ago, two_hours_ago))
    receiving = blob_dir / ".tmp-cafef00d"
    receiving.write_bytes(b"another worker is writing this right now")
    orphan = "B" * 22
    (blob_dir / orphan).write_bytes(b"renamed, but no row")  # crashed before its row
    assert purge(portal)["temporary"] == 1
    assert not crashed.exists()
    assert receiving.exists()
    portal.clock.advance(portal.settings.unclaimed_blob_seconds + 1)
    purge(portal)
    assert not (blob_dir / orphan).exists()


def test_a_restart_does_not_give_an_unclaimed_upload_more_time(make_portal: PortalFactory) -> None:
    """The purge times unclaimed uploads in memory; a portal restarted (or restarted
    again and again by an attacker's crashes) must still delete one within the lifetime
    counted from when it was written, not from when this process first saw it."""
    portal = make_portal()
    client = portal.client()
    _, stored, _ = stored_blob(b"never used")
    abandoned = client.post("/api/v1/blobs", content=stored, headers=OCTETS).json()["blob_id"]
    portal.clock.advance(portal.settings.unclaimed_blob_seconds + 60)  # hours pass, then
    restarted = Purger(
        portal.settings, portal.app.state.sessions, portal.app.state.blobs, portal.clock
    )
    assert restarted.run_once()["blobs"] == 1  # a new process deletes it at its first pass
    assert abandoned not in blob_files(portal)


def test_stale_nonces_and_abandoned_sessions_are_purged(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    open_thread(portal.client(), receipt)
    portal.console().outbox()
    with portal.app.state.sessions() as session:
        assert session.query(Nonce).count() == 1
        assert session.query(ReporterSession).count() == 1
        nonce_day = session.query(Nonce).one().expires_on
    assert nonce_day in (utc_day(portal.clock()), utc_day(portal.clock() + 120))
    assert purge(portal)["nonces"] == 0  # still within its day
    portal.clock.advance(2 * DAY + 1)
    counts = purge(portal)
    assert counts["nonces"] == 1
    assert counts["sessions"] == 1
    assert isinstance(nonce_day, datetime.date)


def test_a_long_upload_keeps_its_finished_files_while_the_rest_streams_in(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purge removes temporary files nobody wrote to for an hour. A slow form with
    several files closes each file when its part ends; while later parts still arrive,
    the finished ones are marked as in use, so the purge never takes them from under it."""
    monkeypatch.setattr(multipart, "TOUCH_SECONDS", 0)  # mark them on every chunk
    client = portal.client()
    first, second = b"first file " * 100, b"second file " * 5000
    form = report_request(
        client, files=[("a.txt", first, "text/plain"), ("b.txt", second, "text/plain")]
    )
    body = form.content
    split = body.index(second) + 1000  # the first file is written, the second is not done
    blob_dir = portal.settings.blob_dir

    def slowly() -> Iterator[bytes]:
        yield body[:split]
        for _ in range(100):  # wait for the server to have written the first file
            written = [p for p in blob_dir.glob(".tmp-*") if p.stat().st_size > 0]
            if len(written) == 2:
                break
            time.sleep(0.05)
        an_hour_ago = time.time() - 7200
        for path in blob_dir.glob(".tmp-*"):
            os.utime(path, (an_hour_ago, an_hour_ago))  # as if the form had taken hours
        yield body[split : split + 10]  # the form goes on: the finished file is marked
        time.sleep(0.2)
        assert purge(portal)["temporary"] == 0
        yield body[split + 10 :]

    headers = {k: v for k, v in form.headers.items() if k.lower() != "content-length"}
    answer = client.post(form.url.path, content=slowly(), headers=headers)
    assert answer.status_code == 201, answer.text
    page = portal.console().outbox()
    attachments = portal.console().open(page["items"][0])["attachments"]
    assert [a["size"] for a in attachments] == [len(first), len(second)]
