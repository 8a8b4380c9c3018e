"""The JSON API end to end over real HTTP: a client that derives its own keys reports,
the console fetches and opens it, and the conversation goes both ways."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto
from foundation import blobstore
from tests.conftest import CHEAP_KDF

from .clients import OCTETS, Reporter, SignedAuth, report_v2, stored_blob
from .conftest import Portal

CANARY = "CANARY-9d1e"


def report_document(keys: crypto.ReporterKeys, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "corruption",
        "facility": "HMP Example",
        "location": "Reception",
        "occurred": "2026-11-20",
        "description": "An officer sells phones on C wing.",
        "subjects": "Night officer",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": attachments,
        "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sent_on": "2026-11-27",
    }


def upload(client: httpx.Client, data: bytes, name: str = "evidence.bin") -> dict[str, Any]:
    key, stored, summary = stored_blob(data)
    response = client.post("/api/v1/blobs", content=stored, headers=OCTETS)
    assert response.status_code == 201, response.text
    return {
        "blob_id": response.json()["blob_id"],
        "name": name,
        "mime": "application/octet-stream",
        "size": summary.size,
        "key": crypto.b64u_encode(key),
        "sha256": summary.sha256,
    }


def submission(keys: crypto.ReporterKeys, sealed: bytes, blob_ids: list[str]) -> dict[str, Any]:
    return {
        "sealed": crypto.b64u_encode(sealed),
        "lookup_id": crypto.b64u_encode(keys.lookup_id),
        "box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
        "blob_ids": blob_ids,
    }


def file_report(
    portal: Portal, client: httpx.Client, files: list[bytes]
) -> tuple[crypto.ReporterKeys, str, dict[str, Any]]:
    config = client.get("/api/v1/config").json()
    oversight = crypto.PublicKey(crypto.b64u_decode(config["oversight_public_key"]))
    keys = portal.derive(crypto.generate_receipt())
    attachments = [upload(client, data) for data in files]
    document = report_document(keys, attachments)
    sealed = crypto.seal_report(document, oversight)
    response = client.post(
        "/api/v1/reports", json=submission(keys, sealed, [a["blob_id"] for a in attachments])
    )
    assert response.status_code == 201, response.text
    return keys, response.json()["case"], document


def test_config_tells_a_client_everything_it_needs(portal: Portal) -> None:
    with portal.client() as client:
        config = client.get("/api/v1/config").json()
    assert config["protocol"] == 2
    box, sign = bytes(portal.oversight.public_key), bytes(portal.oversight_sign.verify_key)
    assert crypto.b64u_decode(config["oversight_public_key"]) == box
    assert crypto.b64u_decode(config["oversight_sign_key"]) == sign
    assert config["oversight_fingerprint"] == crypto.fingerprint(box, sign)
    assert config["oversight_rollovers"] == []
    assert crypto.b64u_decode(config["receipt_salt"]) == portal.settings.receipt_salt
    assert config["kdf"] == {"alg": "argon2id13", "t": 1, "m_kib": 8, "p": 1}
    assert set(config["limits"]) == {"document_bytes", "blob_bytes", "submission_bytes"}


def test_report_with_attachments_reaches_the_console_byte_for_byte(portal: Portal) -> None:
    files = [os.urandom(200_000), b"", os.urandom(65536)]
    with portal.client() as client:
        keys, case, document = file_report(portal, client, files)
    console = portal.console()
    page = console.outbox()
    assert [item["case"] for item in page["items"]] == [case]
    item = page["items"][0]
    assert item["kind"] == "report"
    assert item["box_pk"] == crypto.b64u_encode(bytes(keys.box_pk))
    opened = console.open(item)
    assert opened == document
    assert item["blob_ids"] == [a["blob_id"] for a in opened["attachments"]]
    assert [console.attachment(a) for a in opened["attachments"]] == files


def test_an_attachment_written_back_to_disk_while_it_streams_arrives_whole(
    portal: Portal,
) -> None:
    """The portal asks the kernel to start writing every few MiB of an upload (so the
    fsync before the answer has little left): what the console gets is still exact."""
    files = [os.urandom(blobstore.WRITEBACK_BYTES * 2 + 123_457)]
    with portal.client() as client:
        _keys, _case, _document = file_report(portal, client, files)
    console = portal.console()
    opened = console.open(console.outbox()["items"][0])
    assert [console.attachment(a) for a in opened["attachments"]] == files


def test_the_conversation_goes_both_ways(portal: Portal) -> None:
    console = portal.console()
    with portal.client() as client:
        keys, case, document = file_report(portal, client, [])
        auth = portal.reporter_auth(keys)
        first = console.outbox()
        assert console.ack(first["next"]) == 1
        assert console.outbox()["items"] == []

        reply_id = console.reply(case, document, "Thank you. We have opened an investigation.")
        assert console.status(case, document, "in_review").status_code == 201

        thread = client.get("/api/v1/thread", auth=auth).json()
        assert thread["case"] == case
        assert thread["status"]["state"] == "in_review"
        assert [i["from"] for i in thread["items"]] == ["reporter", "oversight", "oversight"]
        assert "sealed" not in thread["items"][0]  # acknowledged: the portal may drop it
        assert "signed" not in thread["items"][0]  # a v1 report: no header
        reply = crypto.open_document(
            crypto.b64u_decode(thread["items"][1]["sealed"]), keys.box, versions=(2,)
        )
        assert thread["items"][1]["id"] == reply_id
        assert reply["text"] == "Thank you. We have opened an investigation."
        assert thread["head"]["seq"] == 1  # the reply at 0 and the status change at 1

        config = client.get("/api/v1/config").json()
        oversight = crypto.PublicKey(crypto.b64u_decode(config["oversight_public_key"]))
        attachment = upload(client, b"a second photo")
        message = {
            "v": 1,
            "type": "message",
            "text": "More: he was there again.",
            "attachments": [attachment],
            "sent_on": "2026-11-28",
        }
        sealed = crypto.seal_document(message, oversight)
        response = client.post(
            "/api/v1/thread/messages",
            json={"sealed": crypto.b64u_encode(sealed), "blob_ids": [attachment["blob_id"]]},
            auth=auth,
        )
        assert response.status_code == 201, response.text
    page = console.outbox()
    assert [(i["case"], i["kind"]) for i in page["items"]] == [(case, "message")]
    assert console.open(page["items"][0]) == message
    assert console.attachment(attachment) == b"a second photo"


def test_outbox_pages_in_arrival_order_with_a_cursor(portal: Portal) -> None:
    with portal.client() as client:
        cases = [file_report(portal, client, [])[1] for _ in range(5)]
    console = portal.console()
    first = console.outbox(limit=2)
    assert [i["case"] for i in first["items"]] == cases[:2]
    second = console.outbox(after=first["next"], limit=2)
    assert [i["case"] for i in second["items"]] == cases[2:4]
    assert console.ack(second["next"]) == 4  # everything up to and including the cursor
    rest = console.outbox()
    assert [i["case"] for i in rest["items"]] == cases[4:]
    assert console.outbox(after=rest["next"]) == {"items": [], "next": None}


def test_a_lookup_id_in_use_is_a_409_and_the_refused_request_changes_nothing(
    portal: Portal,
) -> None:
    with portal.client() as client:
        keys, _, document = file_report(portal, client, [])
        attachment = upload(client, b"x")
        sealed = crypto.seal_report(document, portal.oversight.public_key)
        response = client.post(
            "/api/v1/reports", json=submission(keys, sealed, [attachment["blob_id"]])
        )
        assert response.status_code == 409
        assert response.json()["error"] == "lookup_in_use"
        # The blob the refused request named is still unused: a new report can take it.
        other = portal.derive(crypto.generate_receipt())
        response = client.post(
            "/api/v1/reports", json=submission(other, sealed, [attachment["blob_id"]])
        )
        assert response.status_code == 201


def test_blob_ids_are_single_use(portal: Portal) -> None:
    with portal.client() as client:
        attachment = upload(client, b"only once")
        sealed = crypto.seal_report(
            report_document(portal.derive(crypto.generate_receipt()), []),
            portal.oversight.public_key,
        )
        for expected in (201, 422):
            keys = portal.derive(crypto.generate_receipt())
            response = client.post(
                "/api/v1/reports", json=submission(keys, sealed, [attachment["blob_id"]])
            )
            assert response.status_code == expected
        assert response.json()["error"] == "blob_unavailable"
        assert "already used" in response.json()["message"]


def test_validation_comes_before_the_lookup_check(portal: Portal) -> None:
    """A duplicate lookup with an unknown blob id is a 422, not a 409 (§2.6 order)."""
    with portal.client() as client:
        keys, _, document = file_report(portal, client, [])
        sealed = crypto.seal_report(document, portal.oversight.public_key)
        response = client.post("/api/v1/reports", json=submission(keys, sealed, ["A" * 22]))
    assert response.status_code == 422


def _valid_body(portal: Portal) -> dict[str, Any]:
    keys = portal.derive(crypto.generate_receipt())
    sealed = crypto.seal_report(report_document(keys, []), portal.oversight.public_key)
    return submission(keys, sealed, [])


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        pytest.param(lambda b: b"{not json", 400, "bad_json", id="not-json"),
        pytest.param(lambda b: b"[1, 2]", 400, "bad_json", id="not-an-object"),
        pytest.param(lambda b: b"\xff\xfe", 400, "bad_json", id="not-utf8"),
        pytest.param(lambda b: {**b, "sealed": "@@@"}, 400, "bad_base64", id="bad-base64"),
        pytest.param(
            lambda b: {**b, "sealed": b["sealed"] + "=="}, 400, "bad_base64", id="padded-base64"
        ),
        pytest.param(lambda b: {**b, "lookup_id": "AAAA"}, 400, "bad_base64", id="short-lookup"),
        pytest.param(lambda b: {**b, "box_pk": 7}, 400, "bad_field", id="wrong-type"),
        pytest.param(
            lambda b: {k: v for k, v in b.items() if k != "sign_pk"},
            400,
            "bad_field",
            id="missing-field",
        ),
        pytest.param(lambda b: {**b, "blob_ids": "abc"}, 400, "bad_field", id="blob-ids-string"),
        pytest.param(
            lambda b: {**b, "sealed": crypto.b64u_encode(b"x" * 100)},
            422,
            "bad_sealed_document",
            id="impossible-sealed-length",
        ),
        pytest.param(
            lambda b: {**b, "blob_ids": ["nope"]}, 422, "blob_unavailable", id="unknown-blob"
        ),
        pytest.param(
            lambda b: {**b, "blob_ids": ["A" * 22, "A" * 22]},
            422,
            "blob_repeated",
            id="repeated-blob",
        ),
    ],
)
def test_bad_submissions_get_a_clear_4xx(
    portal: Portal, mutate: Any, status: int, code: str
) -> None:
    body = mutate(_valid_body(portal))
    with portal.client() as client:
        if isinstance(body, bytes):
            response = client.post(
                "/api/v1/reports", content=body, headers={"content-type": "application/json"}
            )
        else:
            response = client.post("/api/v1/reports", json=body)
        assert response.status_code == status, response.text
        error = response.json()
        assert error["error"] == code
        assert len(error["message"]) > 10
        assert client.get("/api/v1/console/outbox").status_code == 401


def test_a_blob_that_cannot_be_a_stored_blob_is_refused(portal: Portal) -> None:
    with portal.client() as client:
        for content in (b"", b"x" * 100, b"x" * (24 + 65553 + 1)):
            response = client.post("/api/v1/blobs", content=content, headers=OCTETS)
            assert response.status_code == 422
            assert response.json()["error"] == "bad_blob"
    assert not [p for p in portal.settings.blob_dir.iterdir()]


def test_items_for_unknown_cases_are_refused_and_v1_replies_are_gone(portal: Portal) -> None:
    console = portal.console()
    with portal.client() as client:
        _, case, document = file_report(portal, client, [])
    response = console.item("NOSUCHCASE", document, "reply", "hi")
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_case"
    # v2 takes the place of the v1 endpoints: an unsigned reply has nowhere to go.
    sealed = crypto.seal_document(
        {"v": 1, "type": "reply", "text": "hi", "sent_on": "2026-11-27"},
        crypto.PrivateKey.generate().public_key,
    )
    for path, body in (
        ("/api/v1/console/replies", {"case": case, "sealed": crypto.b64u_encode(sealed)}),
        ("/api/v1/console/status", {"case": case, "state": "closed"}),
    ):
        assert console.http.post(path, json=body).status_code == 404


def test_openapi_document_describes_every_endpoint(portal: Portal) -> None:
    with portal.client() as client:
        doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/config",
        "/api/v1/blobs",
        "/api/v1/reports",
        "/api/v1/thread",
        "/api/v1/thread/messages",
        "/api/v1/console/outbox",
        "/api/v1/console/blobs/{blob_id}",
        "/api/v1/console/ack",
        "/api/v1/console/items",
    ):
        assert path in doc["paths"], path
    assert "/api/v1/console/replies" not in doc["paths"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=²",
        "limit=٣",
        "after=-1",
        "after=1.5",
        "limit=0",
        "limit=501",
        "after=" + "9" * 25,
        "after=",
        "limit=",
    ],
)
def test_bad_outbox_parameters_are_400_not_500(portal: Portal, query: str) -> None:
    response = portal.console().http.get(f"/api/v1/console/outbox?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_field"


@pytest.mark.parametrize("cursor", ["²", "٣", "-1", "", "1e3", "9" * 40, 5])
def test_bad_ack_cursors_are_400_not_500(portal: Portal, cursor: object) -> None:
    response = portal.console().http.post("/api/v1/console/ack", json={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_field"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


def test_an_internal_error_is_a_plain_500_and_logs_no_content(portal: Portal) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError(f"database said: value {CANARY!r} violates a constraint")

    portal.app.router.routes.append(Route("/api/v1/boom", boom))
    portal.app.router.routes.append(Route("/boom", boom))
    records = _Records()
    loggers = [logging.getLogger(name) for name in ("lanthorn", "uvicorn.error", "uvicorn")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        api = portal.client().get("/api/v1/boom")
        page = portal.client().get("/boom")
    finally:
        for logger in loggers:
            logger.removeHandler(records)
    assert api.status_code == 500
    assert api.json() == {
        "error": "internal",
        "message": "Something went wrong on our side. Nothing you sent was kept.",
    }
    assert page.status_code == 500
    assert "Something went wrong on our side" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert CANARY not in api.text + page.text
    assert records.messages == ["internal error: RuntimeError"] * 2  # no traceback, no message


def test_openapi_document_states_the_size_rules_the_portal_enforces(portal: Portal) -> None:
    """A client written from the document alone knows how long `sealed` may be: the
    bounds are those of the v1 buckets, and the portal refuses a value outside them."""
    with portal.client() as client:
        sealed = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["Sealed"]
        smallest = len(crypto.b64u_encode(bytes(1024 + 48)))
        largest = len(crypto.b64u_encode(bytes(crypto.MAX_SEALED_BYTES)))
        assert (sealed["minLength"], sealed["maxLength"]) == (smallest, largest)
        keys = crypto.derive_reporter_keys(crypto.generate_receipt(), bytes(16), CHEAP_KDF)
        for length in (smallest - 4, largest + 4):
            body = {
                "sealed": "A" * length,
                "lookup_id": crypto.b64u_encode(keys.lookup_id),
                "box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
                "sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
            }
            answer = client.post("/api/v1/reports", json=body)
            assert answer.status_code in (400, 413, 422), (length, answer.status_code)
            assert answer.json()["message"]


# -- protocol v2: signed items (docs/protocol.md §19) ------------------------------------


def v2_reporter(portal: Portal) -> Reporter:
    who = Reporter(portal.client(), portal.derive(crypto.generate_receipt()), portal.clock)
    answer = who.file()
    assert answer.status_code == 201, answer.text
    return who


def test_a_signed_conversation_goes_both_ways_and_every_header_stays(portal: Portal) -> None:
    alice = v2_reporter(portal)
    console = portal.console()
    [item] = console.outbox()["items"]
    header = crypto.parse_item(item["signed"].encode())
    assert (header.kind, header.seq, header.signer) == ("report", 0, bytes(alice.keys.sign_pk))
    assert item["sign_pk"] == crypto.b64u_encode(bytes(alice.keys.sign_pk))
    console.heads[alice.case] = crypto.Head(0, hashlib.sha256(item["signed"].encode()).digest())
    report = console.open(item)
    console.ack(console.outbox()["next"])
    reply = console.item(alice.case, report, "reply", "Thank you.", state="acknowledged")
    assert reply.status_code == 201, reply.text
    assert alice.message("The same officer is on my wing again.").status_code == 201
    thread = alice.thread()
    assert thread["status"]["state"] == "acknowledged"  # the reply's STATE
    assert [i["from"] for i in thread["items"]] == ["reporter", "oversight", "reporter"]
    assert "sealed" not in thread["items"][0]  # acknowledged: purged at once
    assert "signed" in thread["items"][0]  # its header stays
    assert thread["head"]["seq"] == 2
    check = alice.check()
    assert check.ok
    assert (check.verdicts, check.state) == (("ok", "ok", "ok"), "acknowledged")
    [message] = console.outbox()["items"]
    assert crypto.parse_item(message["signed"].encode()).seq == 2


def test_an_item_that_does_not_follow_the_head_is_a_409_with_the_head(portal: Portal) -> None:
    alice = v2_reporter(portal)
    console = portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    first = alice.head()
    assert first is not None
    assert alice.message("One.").status_code == 201
    # Signed after the report, when the thread has moved on to the message:
    for stale in (
        alice.message("Two, after the report.", after=first),
        console.item(alice.case, report, "reply", "Late.", after=first),
        console.item(alice.case, report, "status", state="in_review", after=None),
    ):
        assert stale.status_code == 409, stale.text
        body = stale.json()
        assert body["error"] == "thread_moved_on"
        assert body["head"]["seq"] == 1
        assert body["head"]["hash"] == alice.head().hash.hex()  # type: ignore[union-attr]
    assert [i["from"] for i in alice.thread()["items"]] == ["reporter", "reporter"]
    assert alice.message("Two, after the first.").status_code == 201
    assert alice.check().ok


def _sealed_reply(case_key: bytes, recipient: crypto.PublicKey, key: crypto.SigningKey,
                  after: crypto.Head | None, **header: Any) -> dict[str, Any]:  # fmt: skip
    document = {
        "v": 2,
        "type": "reply",
        "case_key": crypto.b64u_encode(case_key),
        "text": "Reply.",
        "sent_on": "2026-11-28",
    }
    sealed, item = crypto.seal_item(document, recipient, key, after=after, **header)
    return {"sealed": crypto.b64u_encode(sealed), **item.as_json()}


def test_items_that_are_not_what_they_claim_are_422_bad_item(portal: Portal) -> None:
    alice, bob = v2_reporter(portal), v2_reporter(portal)
    console = portal.console()
    head = alice.head()
    box = alice.keys.box_pk
    good = _sealed_reply(bytes(box), box, portal.oversight_sign, head)
    other = _sealed_reply(bytes(box), box, portal.oversight_sign, head)
    forger = crypto.SigningKey.generate()
    bad: dict[str, dict[str, Any]] = {
        "forger's key": _sealed_reply(bytes(box), box, forger, head),
        "another case": _sealed_reply(bytes(bob.keys.box_pk), box, portal.oversight_sign, head),
        "another body": {**good, "sealed": other["sealed"]},
        "bad signature": {**good, "signature": other["signature"]},
        "not a header": {**good, "signed": good["signed"] + "\n"},
        "a message": {**good, "signed": good["signed"].replace("\nreply\n", "\nmessage\n")},
    }
    for name, body in bad.items():
        answer = console.http.post("/api/v1/console/items", json={"case": alice.case, **body})
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["error"] == "bad_item", name
    for body, status, code in (
        ({"case": alice.case, "sealed": good["sealed"]}, 400, "bad_field"),
        ({"case": alice.case, **good, "signature": "AAAA"}, 400, "bad_base64"),
        ({"case": alice.case, **good, "signed": 5}, 400, "bad_field"),
        ({"case": "NOSUCHCASE", **good}, 422, "unknown_case"),
    ):
        answer = console.http.post("/api/v1/console/items", json=body)
        assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert [i["from"] for i in alice.thread()["items"]] == ["reporter"]  # nothing stored
    ok = console.http.post("/api/v1/console/items", json={"case": alice.case, **good})
    assert ok.status_code == 201, ok.text


def test_a_report_or_message_with_a_header_that_does_not_fit_is_422(portal: Portal) -> None:
    keys = portal.derive(crypto.generate_receipt())
    oversight = portal.oversight.public_key
    document = report_v2(keys)
    sealed, item = crypto.seal_item(document, oversight, keys.sign, after=None)
    body = {
        "sealed": crypto.b64u_encode(sealed),
        "lookup_id": crypto.b64u_encode(keys.lookup_id),
        "box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
        "sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
        **item.as_json(),
    }
    other = portal.derive(crypto.generate_receipt())
    client = portal.client()
    for name, changed in (
        ("another box key", {"box_pk": crypto.b64u_encode(bytes(other.box_pk))}),
        ("another signer", {"sign_pk": crypto.b64u_encode(bytes(other.sign_pk))}),
        ("no signature", {"signature": None}),
    ):
        answer = client.post("/api/v1/reports", json={**body, **changed})
        assert answer.status_code in (400, 422), (name, answer.text)
        assert answer.json()["error"] in ("bad_item", "bad_field", "bad_base64"), name
    assert client.post("/api/v1/reports", json=body).status_code == 201
    # A message signed by another key than the case's: refused, even by its own reporter.
    bob = Reporter(client, keys, portal.clock, case="")
    stranger = Reporter(client, other, portal.clock)
    head = bob.head()
    document = {
        "v": 2,
        "type": "message",
        "case_key": crypto.b64u_encode(bytes(keys.box_pk)),
        "text": "Hello.",
        "sent_on": "2026-11-28",
    }
    sealed, item = crypto.seal_item(document, oversight, stranger.keys.sign, after=head)
    answer = client.post(
        "/api/v1/thread/messages",
        json={"sealed": crypto.b64u_encode(sealed), **item.as_json()},
        auth=bob.auth,
    )
    assert (answer.status_code, answer.json()["error"]) == (422, "bad_item")


def test_v1_reports_and_messages_are_still_taken_outside_the_chain(portal: Portal) -> None:
    """Browsers sign nothing yet (§18.4): a v1 message takes no place in the chain."""
    with portal.client() as client:
        keys, case, document = file_report(portal, client, [])
        sealed = crypto.seal_document(
            {"v": 1, "type": "message", "text": "v1", "sent_on": "2026-11-28"},
            portal.oversight.public_key,
        )
        auth = SignedAuth(keys.sign, portal.clock, key_id=keys.lookup_id, protocol=1)
        sent = client.post(
            "/api/v1/thread/messages", json={"sealed": crypto.b64u_encode(sealed)}, auth=auth
        )
        assert sent.status_code == 201, sent.text
        thread = client.get("/api/v1/thread", auth=auth).json()
    assert thread["head"] is None
    assert all("signed" not in item for item in thread["items"])
    console = portal.console()
    assert console.reply(case, document, "A v2 reply in a case filed under v1.")
    assert [("signed" in i) for i in Reporter(portal.client(), keys, portal.clock).thread()[
        "items"]] == [False, False, True]  # fmt: skip


def test_of_two_writers_after_the_same_head_one_is_told_to_sign_again(portal: Portal) -> None:
    """The unique place in the chain settles a race the head check alone cannot: both
    requests may read the same head, and only one insert can take its place."""
    alice = v2_reporter(portal)
    console = portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    head = alice.head()
    answers: list[int] = []

    def write(n: int) -> None:
        if n % 2:
            answers.append(alice.message(f"Message {n}.", after=head).status_code)
        else:
            answers.append(console.item(alice.case, report, "reply", "Reply.", after=head)
                           .status_code)  # fmt: skip

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201, 409, 409, 409]
    assert alice.check().ok
