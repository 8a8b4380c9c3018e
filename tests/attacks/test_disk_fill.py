"""Anyone may upload encrypted attachments unsigned (a reporter's client sends files
before the report that names them), so an attacker can try to fill the portal's disk
with uploads nobody claims. Unclaimed bytes are bounded in total, per hour and by a disk
reserve: past a bound an upload is refused before it is stored (503, Retry-After), and
reports and messages still go in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import httpx

import crypto
from portal.upload_budget import UploadBudget
from tests.portal.clients import OCTETS, stored_blob
from tests.portal.conftest import Portal, PortalFactory
from tests.portal.test_api import file_report

ONE = crypto.stored_size(1000)  # the stored size of each upload below


def upload(client: httpx.Client) -> httpx.Response:
    return client.post("/api/v1/blobs", content=stored_blob(os.urandom(1000))[1], headers=OCTETS)


def blob_files(portal: Portal) -> int:
    return sum(1 for p in portal.settings.blob_dir.glob("*") if p.is_file())


def assert_paused(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "uploads_paused"
    assert "Nothing of this file was kept" in answer.json()["message"]
    assert int(answer.headers["retry-after"]) > 0


def test_unclaimed_uploads_are_bounded_in_total_and_reports_still_go_in(
    make_portal: PortalFactory,
) -> None:
    portal = make_portal(unclaimed_bytes=3 * ONE)
    with portal.client() as client:
        for _ in range(3):
            assert upload(client).status_code == 201
        assert_paused(upload(client))
        assert blob_files(portal) == 3
        file_report(portal, client, [])  # a report goes in while uploads are paused
        before = blob_files(portal)
        body = stored_blob(os.urandom(1000))[1]

        def chunked() -> Iterator[bytes]:  # declares no length: refused as it streams
            yield body

        assert_paused(client.post("/api/v1/blobs", content=chunked(), headers=OCTETS))
        assert blob_files(portal) == before


def test_a_report_claiming_its_files_makes_room_again(make_portal: PortalFactory) -> None:
    portal = make_portal(unclaimed_bytes=2 * ONE)
    with portal.client() as client:
        file_report(portal, client, [os.urandom(1000), os.urandom(1000)])
        assert upload(client).status_code == 201  # the two are claimed: room for more


def test_uploads_per_hour_are_bounded_in_memory(make_portal: PortalFactory) -> None:
    portal = make_portal(unclaimed_bytes_per_hour=2 * ONE)
    now = [1000.0]
    portal.app.state.upload_budget = UploadBudget(
        total=portal.settings.unclaimed_bytes,
        per_hour=portal.settings.unclaimed_bytes_per_hour,
        reserve=portal.settings.disk_reserve_bytes,
        directory=lambda: str(portal.settings.blob_dir),
        clock=lambda: now[0],
    )
    with portal.client() as client:
        assert upload(client).status_code == 201
        assert upload(client).status_code == 201
        assert_paused(upload(client))
        now[0] += 3601  # an hour later the window has moved on
        assert upload(client).status_code == 201


def test_below_the_disk_reserve_no_upload_is_taken_but_reports_are(
    make_portal: PortalFactory, tmp_path: os.PathLike[str]
) -> None:
    # More than the whole disk: free space is never above it, however much other tests
    # running beside this one delete meanwhile.
    portal = make_portal(disk_reserve_bytes=shutil.disk_usage(tmp_path).total + 1)
    with portal.client() as client:
        assert_paused(upload(client))
        assert blob_files(portal) == 0
        file_report(portal, client, [])
    assert len(portal.console().outbox()["items"]) == 1
