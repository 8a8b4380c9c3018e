"""Size limits hold while streaming: an oversize body is refused with 413 before it is
read, nothing half-written stays behind, and what was accepted before is not lost."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

import crypto
from portal.settings import Limits

from .clients import OCTETS, stored_blob
from .conftest import Portal, PortalFactory
from .forms import REPORT_FIELDS, csrf_token
from .test_api import submission

SMALL = Limits(
    document_bytes=crypto.MAX_SEALED_BYTES,
    blob_bytes=crypto.stored_size(256 * 1024),
    submission_bytes=crypto.stored_size(512 * 1024),
)


@pytest.fixture
def small(make_portal: PortalFactory) -> Portal:
    return make_portal(limits=SMALL)


def announce_only(portal: Portal, path: str, length: int, content_type: str) -> bytes:
    """Send headers announcing `length` bytes, send none of them, and read the answer."""
    parts = urlsplit(portal.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/blobs", "application/octet-stream"),
        ("/api/v1/reports", "application/json"),
        ("/report/staff", "multipart/form-data; boundary=x"),
        ("/follow-up", "application/x-www-form-urlencoded"),
    ],
)
def test_a_declared_oversize_body_is_refused_before_it_is_sent(
    small: Portal, path: str, content_type: str
) -> None:
    answer = announce_only(small, path, 10 * 1024**3, content_type)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert b"accepts at most" in answer


def test_a_streamed_oversize_blob_is_refused_and_leaves_no_file(small: Portal) -> None:
    def body() -> Iterator[bytes]:  # no Content-Length: chunked, so only streaming can tell
        for _ in range(64):
            yield b"\0" * 65536

    try:
        response = small.client().post("/api/v1/blobs", content=body(), headers=OCTETS)
        assert response.status_code == 413
        assert response.json()["error"] == "too_large"
    except httpx.TransportError:
        pass  # the server may close the connection before the client finishes sending
    assert list(small.settings.blob_dir.iterdir()) == []


def test_an_oversize_form_upload_is_refused_and_leaves_no_file(small: Portal) -> None:
    client = small.client()
    token = csrf_token(client, "/report/staff")
    response = client.post(
        "/report/staff",
        data={**REPORT_FIELDS, "csrf": token},
        files=[("attachments", ("big.bin", b"\0" * (3 * 1024 * 1024), "application/octet-stream"))],
    )
    assert response.status_code == 413
    assert "this portal accepts at most" in response.text
    assert list(small.settings.blob_dir.iterdir()) == []


def test_more_text_than_any_form_holds_is_refused_while_streaming(small: Portal) -> None:
    """Text over a form's limits comes back in the form (test_long_text.py); text far
    beyond anything a report can carry is not read into memory at all."""
    client = small.client()
    token = csrf_token(client, "/report/staff")
    response = client.post(
        "/report/staff",
        data={**REPORT_FIELDS, "csrf": token, "description": "x" * (2 * 1024 * 1024)},
        files=[("attachments", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 413
    assert "far more text than the portal can take" in response.text


def test_a_submission_over_the_total_is_422_and_its_blobs_stay_usable(small: Portal) -> None:
    client = small.client()
    ids = []
    for _ in range(3):  # each blob fits; three together exceed the submission limit
        _, stored, _ = stored_blob(b"\1" * (200 * 1024))
        ids.append(client.post("/api/v1/blobs", content=stored, headers=OCTETS).json()["blob_id"])
    keys = small.derive(crypto.generate_receipt())
    sealed = crypto.seal_document(
        {"v": 1, "type": "message", "text": "", "sent_on": "2026-11-27"},
        small.oversight.public_key,
    )
    body = submission(keys, sealed, ids)
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "submission_too_large"
    response = client.post("/api/v1/reports", json={**body, "blob_ids": ids[:2]})
    assert response.status_code == 201


def test_a_sealed_document_over_the_portal_limit_is_422(make_portal: PortalFactory) -> None:
    portal = make_portal(limits=Limits(document_bytes=4096 + 48))
    keys = portal.derive(crypto.generate_receipt())
    big = crypto.seal_document(
        {"v": 1, "type": "message", "text": "x" * 5000, "sent_on": "2026-11-27"},
        portal.oversight.public_key,
    )
    response = portal.client().post("/api/v1/reports", json=submission(keys, big, []))
    assert response.status_code == 422
    assert response.json()["error"] == "document_too_large"
