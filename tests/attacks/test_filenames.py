"""Path traversal and odd file names: uploads are stored only under their blob id,
whatever they were called; a console download names the file in a Content-Disposition
that no name can break out of (quotes, line breaks, paths, direction overrides) and that
keeps a readable name in any script; and no spelling of `..` in a URL reaches a file
outside the static folders."""

from __future__ import annotations

import re
import socket
import urllib.parse
from pathlib import Path

import pytest

from foundation.blobstore import is_blob_id
from tests.portal.conftest import Portal
from tests.portal.forms import submit_report

from .conftest import Desk, case_ids
from .strategies import FILE_NAMES

#: No file system names a file with more than 255 bytes; longer header lines are a 400
#: (test_multipart.py), so they are not among these.
NAMES = [n for n in FILE_NAMES if n and len(n) < 1000] + [
    "zażółć gęślą jaźń.pdf",
    "تقرير.pdf",
    "отчёт.docx",
    "名前.png",
    "x" * 300 + ".exe",
    "résumé.txt",
    "a/b\\c.txt",
    "tab\tname.txt",
]
_SAFE_ASCII = re.compile(r'attachment; filename="([A-Za-z0-9._-]+)"(; filename\*=UTF-8\'\'(.+))?')


def test_uploads_are_stored_only_by_blob_id_and_downloads_are_named_safely(desk: Desk) -> None:
    site = desk.site
    client = site.portal.client()
    files = [(name.replace("\x00", "").replace("\r\n", " "), name.encode(), "text/plain")
             for name in NAMES]  # fmt: skip
    sent = submit_report(client, files=files, description="files with odd names")
    assert sent.status_code == 201, sent.text[:300]
    site.console.sync(site.portal.url)
    [case] = [c for c in case_ids(site.console) if c != desk.case]
    for root in (site.portal.settings.data_dir / "blobs", site.console.settings.blob_dir):
        stored = [p.name for p in root.iterdir()]
        assert stored
        assert all(is_blob_id(name) for name in stored), stored
    page = desk.triage.get(f"/cases/{case}").text
    blob_ids = re.findall(rf'/cases/{case}/files/([A-Za-z0-9_-]+)"', page)
    assert len(blob_ids) == len(NAMES)
    for blob_id in blob_ids:
        download = desk.triage.get(f"/cases/{case}/files/{blob_id}")
        assert download.status_code == 200, (blob_id, download.status_code)
        assert download.headers["content-type"] == "application/octet-stream"
        disposition = download.headers["content-disposition"]
        match = _SAFE_ASCII.fullmatch(disposition)
        assert match, disposition
        fallback = match.group(1)
        assert not fallback.startswith("."), fallback
        assert fallback not in ("CON", "AUX", "LPT1"), fallback
        assert len(fallback) <= 100
        if match.group(3):  # the readable name, percent-encoded: no path, no controls
            readable = urllib.parse.unquote(match.group(3), errors="strict")
            assert readable.isprintable()
            assert "/" not in readable
            assert "\\" not in readable
            assert "\u202e" not in readable
            assert not readable.startswith(".")
        assert download.content.decode() in {n.replace("\r\n", " ") for n in NAMES} | set(NAMES)
    for bad in ("..%2F..%2Fportal.db", "%2e%2e", "A" * 22, "..%5c..%5cx"):  # httpx keeps these
        assert desk.triage.get(f"/cases/{case}/files/{bad}").status_code == 404, bad


def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """GET `target` exactly as written (no client normalises its dots away)."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


TRAVERSALS = [
    "/static/../app.py",
    "/static/../../portal/app.py",
    "/static/%2e%2e/app.py",
    "/static/%2E%2E/%2E%2E/pyproject.toml",
    "/static/..%2fapp.py",
    "/static/..%2Fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/..%5capp.py",
    "/static/..\\app.py",
    "/static/%252e%252e/app.py",
    "/static/%c0%ae%c0%ae/app.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/vendor/libsodium/../../../app.py",
    "/static/./../settings.py",
    "/static/..;/app.py",
    "/static/%00../app.py",
    "/static/portal.css%00.py",
    "/static/../../../../../../etc/passwd",
    "/../app.py",
    "/api/v1/console/blobs/..%2f..%2fportal.db",
    "/api/v1/console/blobs/%2e%2e",
]


@pytest.mark.parametrize("app", ["portal", "console"])
def test_no_spelling_of_dot_dot_leaves_the_static_folder(desk: Desk, app: str) -> None:
    url = desk.site.portal.url if app == "portal" else desk.site.url
    secrets_on_disk = [b"def create_app", b"[project]", b"root:x:0:0", b"SQLite format"]
    for target in TRAVERSALS:
        status, body = raw_get(url, target)
        assert status in (400, 401, 404, 405), (target, status)
        assert not any(s in body for s in secrets_on_disk), target
    status, body = raw_get(url, "/static/portal.css" if app == "portal" else "/static/console.css")
    assert status == 200
    assert body


def test_the_portal_stores_no_name_it_was_given(portal: Portal) -> None:
    """Whatever a file was called, nothing but blob ids (and the database) is written."""
    client = portal.client()
    files = [(n.replace("\x00", ""), b"data", "text/plain") for n in NAMES if "\r" not in n]
    submit_report(client, files=files)
    written = sorted(
        str(p.relative_to(portal.settings.data_dir)) for p in portal.settings.data_dir.rglob("*")
    )
    for path in written:
        name = Path(path).name
        assert path.startswith("blobs") or name.endswith((".db", ".db-wal", ".db-shm")), path
        assert name == "blobs" or is_blob_id(name) or name.endswith((".db", "-wal", "-shm"))
