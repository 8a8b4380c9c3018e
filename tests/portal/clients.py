"""Test clients that speak to the portal the way the console and API reporters will."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx

import crypto
from triage.client import SignedAuth

__all__ = ["ConsoleClient", "SignedAuth", "stored_blob"]

#: The one body type the blob endpoint takes (a cross-site page cannot send it unasked).
OCTETS = {"Content-Type": "application/octet-stream"}


class ConsoleClient:
    """What the triage console does over the sync API, with the oversight key to open."""

    def __init__(
        self, url: str, key: crypto.SigningKey, clock: Callable[[], float], oversight: Any
    ) -> None:
        self.http = httpx.Client(base_url=url, auth=SignedAuth(key, clock), timeout=30)
        self.oversight: crypto.PrivateKey = oversight

    def outbox(self, **params: Any) -> dict[str, Any]:
        response = self.http.get("/api/v1/console/outbox", params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def open(self, item: dict[str, Any]) -> dict[str, Any]:
        return crypto.open_document(crypto.b64u_decode(item["sealed"]), self.oversight)

    def attachment(self, descriptor: dict[str, Any]) -> bytes:
        response = self.http.get(f"/api/v1/console/blobs/{descriptor['blob_id']}")
        assert response.status_code == 200, response.text
        out = io.BytesIO()
        summary = crypto.decrypt_file(
            io.BytesIO(response.content), out, crypto.b64u_decode(descriptor["key"])
        )
        assert summary.sha256 == descriptor["sha256"]
        assert summary.size == descriptor["size"]
        return out.getvalue()

    def ack(self, cursor: str) -> int:
        response = self.http.post("/api/v1/console/ack", json={"cursor": cursor})
        assert response.status_code == 200, response.text
        return int(response.json()["acked"])

    def reply(self, case: str, report: dict[str, Any], text: str) -> str:
        reporter_pk = crypto.PublicKey(crypto.b64u_decode(report["reply_box_pk"]))
        sealed = crypto.seal_document(
            {"v": 1, "type": "reply", "text": text, "sent_on": "2026-11-27"}, reporter_pk
        )
        response = self.http.post(
            "/api/v1/console/replies", json={"case": case, "sealed": crypto.b64u_encode(sealed)}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def status(self, case: str, state: str) -> httpx.Response:
        return self.http.post("/api/v1/console/status", json={"case": case, "state": state})


def stored_blob(data: bytes) -> tuple[bytes, bytes, crypto.BlobSummary]:
    """(key, stored form, summary) for `data`, as an API client uploads it."""
    key = crypto.new_blob_key()
    out = io.BytesIO()
    summary = crypto.encrypt_file(io.BytesIO(data), out, key)
    return key, out.getvalue(), summary
