"""Decompression bombs: a gzip bomb sent with `Content-Encoding: gzip` to every POST
route of both apps is never inflated (a 4xx, memory flat), and a zip bomb or a gzip bomb
attached to a report is stored as it came, encrypted, and handed to the console byte for
byte: nothing on either side opens an archive."""

from __future__ import annotations

import gzip
import io
import re
import resource
import zipfile
import zlib

import pytest

from foundation.blobstore import is_stored_form_size
from tests.portal.forms import submit_report

from .conftest import Desk, case_ids
from .forms import post_routes

INFLATED = 1024 * 1024 * 1024  # what each bomb would grow to: 1 GiB


def gzip_bomb() -> bytes:
    """1 GiB of zeros as 64 gzip members of 16 MiB each (a gzip reader inflates them all)."""
    member = gzip.compress(bytes(16 * 1024 * 1024), compresslevel=9)
    return member * (INFLATED // (16 * 1024 * 1024))


def zip_bomb() -> bytes:
    """A zip archive holding one 256 MiB file of zeros, deflated (about 250 KiB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as entry:
            block = bytes(16 * 1024 * 1024)
            for _ in range(16):
                entry.write(block)
    return out.getvalue()


def peak_rss_mib() -> float:
    """The highest resident memory this process (tests and servers) has reached."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"gzip": gzip_bomb(), "zip": zip_bomb()}


def test_the_bombs_are_bombs(bombs: dict[str, bytes]) -> None:
    assert len(bombs["gzip"]) < 2 * 1024 * 1024
    reader = zlib.decompressobj(wbits=31)
    assert len(reader.decompress(bombs["gzip"][: 64 * 1024], 1024 * 1024)) == 1024 * 1024
    with zipfile.ZipFile(io.BytesIO(bombs["zip"])) as zf:
        assert zf.getinfo("zeros.bin").file_size == 256 * 1024 * 1024
    assert len(bombs["zip"]) < 1024 * 1024


CONTENT_TYPES = {
    "/api/v1/blobs": "application/octet-stream",
    "/report/{channel}": "multipart/form-data; boundary=b0undary",
    "/thread": "multipart/form-data; boundary=b0undary",
}


def test_content_encoding_gzip_is_never_inflated(desk: Desk, bombs: dict[str, bytes]) -> None:
    site = desk.site
    body = bombs["gzip"]
    before = peak_rss_mib()
    targets = [
        (site.portal, path, site.portal.client()) for path in post_routes(site.portal.app.routes)
    ] + [(site, path, desk.triage) for path in post_routes(site.app.routes)]
    assert len(targets) > 20
    for app, path, client in targets:
        target = path.replace("{channel}", "staff").replace("{case}", desk.case)
        target = target.replace("{action}", "reply")
        content_type = CONTENT_TYPES.get(path, "application/json")
        if app is site:
            content_type = "application/x-www-form-urlencoded"
        answer = client.post(
            target,
            content=body,
            headers={"content-type": content_type, "content-encoding": "gzip"},
        )
        if target == "/unseal":  # unsealed: it reads no form at all, and says so
            assert (answer.status_code, answer.headers["location"]) == (303, "/login")
            continue
        assert 400 <= answer.status_code < 500, (target, answer.status_code)
        if target == "/api/v1/blobs":  # taken as it came: its length is no stored blob's
            assert answer.json()["error"] == "bad_blob"
    assert peak_rss_mib() - before < 256, "a bomb was inflated"
    assert list(site.portal.settings.blob_dir.glob(".tmp-*")) == []


def test_archives_are_stored_encrypted_as_they_came(desk: Desk, bombs: dict[str, bytes]) -> None:
    site = desk.site
    before = peak_rss_mib()
    files = [
        ("bomb.zip", bombs["zip"], "application/zip"),
        ("bomb.gz", bombs["gzip"], "application/gzip"),
    ]
    sent = submit_report(site.portal.client(), files=files, description="two archives")
    assert sent.status_code == 201
    stored = sorted(p.stat().st_size for p in site.portal.settings.blob_dir.iterdir())
    assert all(is_stored_form_size(size) for size in stored)
    assert max(stored) < 3 * 1024 * 1024  # the compressed sizes, padded: nothing inflated
    site.console.sync(site.portal.url)
    [case] = [c for c in case_ids(site.console) if c != desk.case]
    page = desk.triage.get(f"/cases/{case}").text
    for name, content, _ in files:
        blob_id = re.search(rf'/files/([A-Za-z0-9_-]+)">{re.escape(name)}<', page)
        assert blob_id, name
        download = desk.triage.get(f"/cases/{case}/files/{blob_id.group(1)}")
        assert download.status_code == 200
        assert download.headers.get("content-encoding") is None  # no browser inflates it
        assert download.content == content
    assert peak_rss_mib() - before < 256, "an archive was opened"
