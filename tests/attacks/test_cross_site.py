"""Any web page can make its visitors' browsers POST to the portal, without asking, in
three body types (text/plain, a form, multipart): a "simple" request, sent with no CORS
preflight. The unsigned intake endpoints take none of them, so no other site can use its
visitors to fill the portal's disk or file reports."""

from __future__ import annotations

import json

import pytest

import crypto
from tests.portal.conftest import Portal
from tests.portal.test_api import report_document, submission

#: What a cross-site page can send without a preflight, and a request with no type.
SIMPLE_TYPES = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    None,
]


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
def test_a_blob_only_as_octets(portal: Portal, content_type: str | None) -> None:
    stored = crypto.stored_size(10)
    headers = {"Content-Type": content_type} if content_type else {}
    with portal.client() as client:
        answer = client.post("/api/v1/blobs", content=bytes(stored), headers=headers)
    assert answer.status_code == 415, answer.text
    assert answer.json()["error"] == "unsupported_media_type"
    assert "application/octet-stream" in answer.json()["message"]
    assert not any(p.is_file() for p in portal.settings.data_dir.rglob("*") if "blob" in str(p))


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
def test_a_report_only_as_json(portal: Portal, content_type: str | None) -> None:
    keys = portal.derive(crypto.generate_receipt())
    sealed = crypto.seal_report(report_document(keys, []), portal.oversight.public_key)
    body = json.dumps(submission(keys, sealed, [])).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    with portal.client() as client:
        answer = client.post("/api/v1/reports", content=body, headers=headers)
        assert answer.status_code == 415, answer.text
        assert portal.console().outbox()["items"] == []
        sent = client.post(
            "/api/v1/reports", content=body, headers={"Content-Type": "application/json"}
        )
    assert sent.status_code == 201
