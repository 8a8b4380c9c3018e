"""Test clients that speak to the portal the way the console and API reporters will."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

import crypto
from triage.client import SignedAuth

__all__ = ["ConsoleClient", "Reporter", "SignedAuth", "report_v2", "stored_blob"]

#: The one body type the blob endpoint takes (a cross-site page cannot send it unasked).
OCTETS = {"Content-Type": "application/octet-stream"}


class ConsoleClient:
    """What the triage console does over the sync API, with the oversight keys to open
    and sign. It signs each case's items after the last one it sent itself (it reads no
    reporter items into its chain: a test that mixes them keeps `heads` itself)."""

    def __init__(
        self,
        url: str,
        key: crypto.SigningKey,
        clock: Callable[[], float],
        oversight: Any,
        oversight_sign: crypto.SigningKey,
    ) -> None:
        self.http = httpx.Client(base_url=url, auth=SignedAuth(key, clock), timeout=30)
        self.oversight: crypto.PrivateKey = oversight
        self.oversight_sign = oversight_sign
        #: The head of each case's chain as this client knows it.
        self.heads: dict[str, crypto.Head | None] = {}

    def outbox(self, **params: Any) -> dict[str, Any]:
        response = self.http.get("/api/v1/console/outbox", params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def open(self, item: dict[str, Any]) -> dict[str, Any]:
        return crypto.open_document(
            crypto.b64u_decode(item["sealed"]), self.oversight, versions=(1, 2)
        )

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

    def item(
        self,
        case: str,
        report: dict[str, Any],
        kind: str,
        text: str = "",
        state: str | None = None,
        after: crypto.Head | None | str = "known",
    ) -> httpx.Response:
        """Send a signed reply, status change or outcome notice for `case`, whose report
        is `report`, after `after` (by default the last item this client sent)."""
        reporter_pk = crypto.b64u_decode(report["reply_box_pk"])
        document = {
            "v": 2,
            "type": kind,
            "case_key": report["reply_box_pk"],
            "text": text,
            "sent_on": "2026-11-27",
        }
        head = self.heads.get(case) if after == "known" else after
        assert not isinstance(head, str)
        for _ in range(2):
            sealed, signed = crypto.seal_item(
                document, crypto.PublicKey(reporter_pk), self.oversight_sign, after=head,
                state=state,
            )  # fmt: skip
            response = self.http.post(
                "/api/v1/console/items",
                json={"case": case, "sealed": crypto.b64u_encode(sealed), **signed.as_json()},
            )
            if response.status_code == 201:
                self.heads[case] = signed.head
            if response.status_code != 409 or after != "known":
                break
            # A test console that takes the portal's word for the head (a reporter's item
            # it has not read, say); the triage console never does (triage/chains.py).
            moved = response.json()["head"]
            head = crypto.Head(moved["seq"], bytes.fromhex(moved["hash"]))
        return response

    def reply(self, case: str, report: dict[str, Any], text: str) -> str:
        # The first reply says the report was read, as the triage console's does.
        state = None if case in self.heads else "acknowledged"
        response = self.item(case, report, "reply", text, state=state)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def status(self, case: str, report: dict[str, Any], state: str) -> httpx.Response:
        return self.item(case, report, "status", state=state)


def stored_blob(data: bytes) -> tuple[bytes, bytes, crypto.BlobSummary]:
    """(key, stored form, summary) for `data`, as an API client uploads it."""
    key = crypto.new_blob_key()
    out = io.BytesIO()
    summary = crypto.encrypt_file(io.BytesIO(data), out, key)
    return key, out.getvalue(), summary


def report_v2(keys: crypto.ReporterKeys, **fields: Any) -> dict[str, Any]:
    """A v2 report document for the reporter of `keys` (docs/protocol.md §13)."""
    return {
        "v": 2,
        "type": "report",
        "channel": "third_party",
        "lang": "en",
        "category": "use_of_force",
        "facility": "HMP Example",
        "location": "B wing",
        "occurred": "last night",
        "description": "An officer hit a man in the showers.",
        "subjects": "",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "reply_sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
        "sent_on": "2026-11-27",
        **fields,
    }


@dataclass
class Reporter:
    """An API client that speaks protocol v2 (docs/protocol.md §19.4): it signs its report
    and each message after the thread's head, and checks the thread it reads."""

    client: httpx.Client
    keys: crypto.ReporterKeys
    clock: Callable[[], float]
    case: str = ""

    @property
    def auth(self) -> SignedAuth:
        return SignedAuth(self.keys.sign, self.clock, key_id=self.keys.lookup_id)

    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get("/api/v1/config").json()
        return data

    def oversight(self) -> tuple[crypto.PublicKey, crypto.OversightKeys]:
        config = self.config()
        box = crypto.b64u_decode(config["oversight_public_key"], length=32)
        sign = crypto.b64u_decode(config["oversight_sign_key"], length=32)
        return crypto.PublicKey(box), crypto.OversightKeys.single(box, sign)

    def file(self, **fields: Any) -> httpx.Response:
        box, _ = self.oversight()
        document = report_v2(self.keys, **fields)
        sealed, item = crypto.seal_item(document, box, self.keys.sign, after=None)
        response = self.client.post(
            "/api/v1/reports",
            json={
                "sealed": crypto.b64u_encode(sealed),
                "lookup_id": crypto.b64u_encode(self.keys.lookup_id),
                "box_pk": crypto.b64u_encode(bytes(self.keys.box_pk)),
                "sign_pk": crypto.b64u_encode(bytes(self.keys.sign_pk)),
                "blob_ids": [],
                **item.as_json(),
            },
        )
        if response.status_code == 201:
            self.case = response.json()["case"]
        return response

    def thread(self) -> dict[str, Any]:
        response = self.client.get("/api/v1/thread", auth=self.auth)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def head(self) -> crypto.Head | None:
        head = self.thread()["head"]
        return None if head is None else crypto.Head(head["seq"], bytes.fromhex(head["hash"]))

    def message(
        self, text: str, *, after: crypto.Head | None | str = "head", **extra: Any
    ) -> httpx.Response:
        """Send a signed message after the thread's head (or after `after`)."""
        box, _ = self.oversight()
        head = self.head() if after == "head" else after
        assert not isinstance(head, str)
        document = {
            "v": 2,
            "type": "message",
            "case_key": crypto.b64u_encode(bytes(self.keys.box_pk)),
            "text": text,
            "sent_on": "2026-11-28",
            **extra,
        }
        sealed, item = crypto.seal_item(document, box, self.keys.sign, after=head)
        return self.client.post(
            "/api/v1/thread/messages",
            json={"sealed": crypto.b64u_encode(sealed), "blob_ids": [], **item.as_json()},
            auth=self.auth,
        )

    def check(self) -> crypto.ThreadCheck:
        """The thread as this reporter sees it (§16.2): verdicts and findings, with the
        history the oversight items it can open vouch for."""
        _, oversight = self.oversight()
        entries = [crypto.Entry.from_json(item) for item in self.thread()["items"]]
        case_key, reporter_key = bytes(self.keys.box_pk), bytes(self.keys.sign_pk)
        first = crypto.check_thread(
            entries, case_key=case_key, reporter_key=reporter_key, oversight=oversight
        )
        opened = [
            crypto.open_item(entry.sealed, self.keys.box, header)
            for entry, header in zip(entries, first.headers, strict=True)
            if header is not None and header.from_oversight and entry.sealed is not None
        ]
        return crypto.check_thread(
            entries,
            case_key=case_key,
            reporter_key=reporter_key,
            oversight=oversight,
            history=crypto.history_of(opened),
        )
