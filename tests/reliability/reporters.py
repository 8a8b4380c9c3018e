"""Reporters for reliability runs, each report marked with a canary of its own.

The canary is in the report's text fields, its file names, the bytes of its files and
its follow-up messages, so that what the console takes in can be matched with what was
sent, and a leak scan can look for every report at once: all canaries of a run start
with the run's prefix.

Shared by tests/reliability/ and scripts/soak (bench/soak.py). Every request's status is
recorded on the `Sent` it belongs to, so that a run can count its 5xx answers.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

import crypto
from foundation.categories import CHANNEL_VALUES
from tests.portal.clients import SignedAuth, stored_blob
from tests.portal.forms import REPORT_FIELDS, open_thread, receipt_of, send_message

#: What API reporters derive their keys with: the portal never runs their KDF, so the
#: cost is the client's alone (the HTML forms use the portal's own, production setting).
CLIENT_KDF = crypto.KdfParams(t=1, m_kib=8)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def run_prefix() -> str:
    """A prefix no file on this machine can hold by chance: every canary of a run has it."""
    return f"CANARY{secrets.token_hex(6)}"


def evidence(canary: str, index: int, size: int) -> bytes:
    """`size` bytes of a file that carry its canary throughout, in every 64 KiB chunk."""
    unit = f"{canary} file {index} evidence, ".encode()
    return (unit * (size // len(unit) + 1))[:size]


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int
    sha256: str


@dataclass
class Sent:
    """One report as its reporter sent it, and what the portal answered."""

    canary: str
    via: str  # "html" or "api"
    channel: str  # staff | third_party (the value inside the sealed report)
    kdf: crypto.KdfParams  # how its keys come from its receipt
    attachments: list[Attachment] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # of every request made for it
    receipt: str = ""  # set when the portal answered the report with 201
    case: str = ""
    messages: list[str] = field(default_factory=list)  # texts the portal accepted
    message_files: int = 0  # files those messages carried

    @property
    def accepted(self) -> bool:
        return bool(self.receipt)

    def server_errors(self) -> list[int]:
        return [status for status in self.statuses if status >= 500]


@dataclass(frozen=True)
class PortalKeys:
    """What `/api/v1/config` gives a client: the receipt salt and the oversight key."""

    salt: bytes
    oversight: crypto.PublicKey

    @classmethod
    def fetch(cls, client: httpx.Client) -> PortalKeys:
        config = client.get("/api/v1/config").json()
        return cls(
            salt=crypto.b64u_decode(config["receipt_salt"]),
            oversight=crypto.PublicKey(crypto.b64u_decode(config["oversight_public_key"])),
        )


def _text_fields(canary: str, with_identity: bool) -> dict[str, str]:
    return {
        "location": f"{canary} location, B wing",
        "subjects": f"{canary} subject, the night officer",
        "witnesses": f"{canary} witness",
        "description": f"{canary} description: an officer takes a prisoner out at night.",
        "identity": f"{canary} my name" if with_identity else "",
    }


def send_form(
    client: httpx.Client,
    canary: str,
    kdf: crypto.KdfParams,
    *,
    channel: str = "staff",
    files: Sequence[bytes] = (),
    with_identity: bool = False,
) -> Sent:
    """Fill in the staff or third-party form with JavaScript off (the server seals)."""
    sent = Sent(canary, "html", CHANNEL_VALUES[channel], kdf)
    page = client.get(f"/report/{channel}")
    sent.statuses.append(page.status_code)
    if page.status_code != 200:
        return sent
    token = csrf_token_from(page.text)
    data = {**REPORT_FIELDS, **_text_fields(canary, with_identity), "csrf": token}
    upload = []
    for index, content in enumerate(files):
        name = f"{canary}-{index}.jpg"
        upload.append(("attachments", (name, content, "image/jpeg")))
        sent.attachments.append(Attachment(name, len(content), _sha256(content)))
    if not upload:  # a browser sends an empty file part when no file is chosen
        upload = [("attachments", ("", b"", "application/octet-stream"))]
    response = client.post(f"/report/{channel}", data=data, files=upload)
    sent.statuses.append(response.status_code)
    if response.status_code == 201:
        sent.receipt = crypto.validate_receipt(receipt_of(response))
    return sent


def csrf_token_from(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise RuntimeError("no CSRF token on the form")
    return html.unescape(found.group(1))


def upload_blob(
    client: httpx.Client, content: bytes, *, pause: float = 0.0, pieces: int = 8
) -> tuple[httpx.Response, dict[str, Any]]:
    """Encrypt `content` as a client does and POST its stored form to `/api/v1/blobs`.

    With `pause`, the body goes in `pieces` with a pause before each: an upload a test
    can catch halfway. Returns the response and the descriptor without its `blob_id`.
    """
    key, stored, summary = stored_blob(content)
    body: bytes | Iterator[bytes] = stored
    if pause:
        step = -(-len(stored) // pieces)

        def slowly() -> Iterator[bytes]:
            for start in range(0, len(stored), step):
                time.sleep(pause)
                yield stored[start : start + step]

        body = slowly()
    response = client.post(
        "/api/v1/blobs", content=body, headers={"Content-Type": "application/octet-stream"}
    )
    descriptor = {"key": crypto.b64u_encode(key), "size": summary.size, "sha256": summary.sha256}
    return response, descriptor


def send_api(
    client: httpx.Client,
    portal: PortalKeys,
    canary: str,
    *,
    files: Sequence[bytes] = (),
    kdf: crypto.KdfParams = CLIENT_KDF,
    upload_pause: float = 0.0,
    with_identity: bool = False,
) -> Sent:
    """A client that seals for itself: upload each file's stored form, then the report."""
    sent = Sent(canary, "api", "staff", kdf)
    receipt = crypto.generate_receipt()
    keys = crypto.derive_reporter_keys(receipt, portal.salt, kdf)
    descriptors = []
    for index, content in enumerate(files):
        response, descriptor = upload_blob(client, content, pause=upload_pause)
        sent.statuses.append(response.status_code)
        if response.status_code != 201:
            return sent
        name = f"{canary}-{index}.bin"
        blob_id = response.json()["blob_id"]
        descriptors.append(
            {"blob_id": blob_id, "name": name, "mime": "application/octet-stream", **descriptor}
        )
        sent.attachments.append(Attachment(name, len(content), descriptor["sha256"]))
    body = report_body(portal, keys, canary, descriptors, with_identity=with_identity)
    response = client.post("/api/v1/reports", json=body)
    sent.statuses.append(response.status_code)
    if response.status_code == 201:
        sent.receipt, sent.case = receipt, response.json()["case"]
    return sent


def report_body(
    portal: PortalKeys,
    keys: crypto.ReporterKeys,
    canary: str,
    descriptors: Sequence[dict[str, Any]] = (),
    *,
    with_identity: bool = False,
) -> dict[str, Any]:
    """The JSON of `POST /api/v1/reports` for a report sealed by its reporter."""
    document = {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "corruption",
        "facility": "HMP Example",
        "occurred": "last week",
        **_text_fields(canary, with_identity),
        "urgent": False,
        "identity": f"{canary} my name" if with_identity else None,
        "attachments": list(descriptors),
        "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sent_on": _today(),
    }
    return {
        "sealed": crypto.b64u_encode(crypto.seal_report(document, portal.oversight)),
        "lookup_id": crypto.b64u_encode(keys.lookup_id),
        "box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
        "blob_ids": [d["blob_id"] for d in descriptors],
    }


def reporter_auth(sent: Sent, portal: PortalKeys) -> SignedAuth:
    keys = crypto.derive_reporter_keys(sent.receipt, portal.salt, sent.kdf)
    return SignedAuth(keys.sign, time.time, key_id=keys.lookup_id)


def send_api_message(
    client: httpx.Client,
    sent: Sent,
    portal: PortalKeys,
    auth: SignedAuth,
    files: Sequence[bytes] = (),
) -> int:
    """A follow-up message through the reporter API, signed with the receipt's keys."""
    number = len(sent.messages) + 1
    text = f"{sent.canary} message {number}"
    descriptors = []
    for index, content in enumerate(files):
        response, descriptor = upload_blob(client, content)
        sent.statuses.append(response.status_code)
        if response.status_code != 201:
            return response.status_code
        name = f"{sent.canary}-m{number}-{index}.bin"
        blob_id = response.json()["blob_id"]
        descriptors.append(
            {"blob_id": blob_id, "name": name, "mime": "application/octet-stream", **descriptor}
        )
    document = {
        "v": 1,
        "type": "message",
        "text": text,
        "attachments": descriptors,
        "sent_on": _today(),
    }
    sealed = crypto.seal_document(document, portal.oversight)
    body = {"sealed": crypto.b64u_encode(sealed), "blob_ids": [d["blob_id"] for d in descriptors]}
    response = client.post("/api/v1/thread/messages", json=body, auth=auth)
    sent.statuses.append(response.status_code)
    if response.status_code == 201:
        sent.messages.append(text)
        sent.message_files += len(descriptors)
    return response.status_code


def send_form_message(client: httpx.Client, sent: Sent, file: bytes = b"") -> int:
    """Follow up with the receipt on the HTML pages (the server derives the keys)."""
    login = open_thread(client, crypto.format_receipt(sent.receipt))
    sent.statuses.append(login.status_code)
    if login.status_code != 303:
        return login.status_code
    number = len(sent.messages) + 1
    text = f"{sent.canary} message {number}"
    name = f"{sent.canary}-m{number}.txt" if file else ""
    response = send_message(client, text, (name, file, "text/plain"))
    sent.statuses.append(response.status_code)
    if response.status_code == 303:
        sent.messages.append(text)
        sent.message_files += bool(file)
    return response.status_code


def open_case(client: httpx.Client, sent: Sent, portal: PortalKeys) -> str | None:
    """Follow the case up with the receipt (reporter API); the problem, or None if it opens.

    The thread must answer 200, name the case the report was given (API), and begin with
    the reporter's report, followed by every message the portal accepted.
    """
    response = client.get("/api/v1/thread", auth=reporter_auth(sent, portal))
    sent.statuses.append(response.status_code)
    if response.status_code != 200:
        return f"{sent.canary}: the thread answered {response.status_code}"
    thread = response.json()
    if sent.case and thread["case"] != sent.case:
        return f"{sent.canary}: the receipt opened case {thread['case']}, not {sent.case}"
    sent.case = thread["case"]
    mine = [item for item in thread["items"] if item["from"] == "reporter"]
    if len(mine) != 1 + len(sent.messages):
        return f"{sent.canary}: {len(mine)} reporter items, expected {1 + len(sent.messages)}"
    return None


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
