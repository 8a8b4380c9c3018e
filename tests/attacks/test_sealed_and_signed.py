"""Malformed sealed documents, blobs that are not secretstream, and signed requests that
are wrong in any one part: every one is a 4xx at the portal that changes nothing, and
what the portal cannot check (it holds no key) the console sets aside at sync without
stopping for the items after it."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crypto
from tests.portal.clients import OCTETS, stored_blob
from tests.portal.conftest import Portal
from tests.portal.forms import receipt_of, submit_report

from .conftest import Desk
from .forms import portal_rows

ACK = "/api/v1/console/ack"
FUZZ = settings(max_examples=25, suppress_health_check=list(HealthCheck), deadline=None)


def b64(data: bytes) -> str:
    return crypto.b64u_encode(data)


def report_body(sealed: str, blob_ids: Any = (), key: bytes | None = None) -> dict[str, Any]:
    key = key or secrets.token_bytes(32)
    return {
        "sealed": sealed,
        "lookup_id": b64(key),
        "box_pk": b64(key),
        "sign_pk": b64(key),
        "blob_ids": list(blob_ids),
    }


def a_sealed_report(portal: Portal, **fields: Any) -> bytes:
    document = {
        "v": 1, "type": "report", "channel": "staff", "lang": "en", "category": "other",
        "facility": "HMP Example", "location": "", "occurred": "", "description": "words",
        "subjects": "", "witnesses": "", "urgent": False, "identity": None, "attachments": [],
        "reply_box_pk": b64(bytes(crypto.PrivateKey.generate().public_key)),
        "sent_on": "2026-11-27", **fields,
    }  # fmt: skip
    return crypto.seal_report(document, portal.settings.oversight_key)


def mangled_sealed(good: bytes) -> st.SearchStrategy[str]:
    text = b64(good)
    return st.one_of(
        st.integers(0, len(good) - 1).map(lambda n: b64(good[:n])),  # truncated
        st.integers(1, 1024).map(lambda n: b64(good + b"\0" * n)),  # extended
        st.just(text + "="),  # padded
        st.just(text.replace("-", "+").replace("_", "/")),  # standard alphabet
        st.just(text[:-1] + "!"),
        st.just(" " + text),
        st.just(text + "\n"),
        st.just("\x00" + text[1:]),
        st.just(""),
        st.text(max_size=50),
    )


@FUZZ
@given(data=st.data())
def test_malformed_sealed_documents_are_a_4xx_and_change_nothing(
    portal: Portal, data: st.DataObject
) -> None:
    good = a_sealed_report(portal)
    sealed = data.draw(mangled_sealed(good))
    before = portal_rows(portal)
    answer = portal.client().post("/api/v1/reports", json=report_body(sealed))
    if sealed == b64(good):  # the strategy may rebuild the original (a short text, say)
        return
    assert answer.status_code in (400, 422), (sealed[:40], answer.status_code)
    assert set(answer.json()) == {"error", "message"}
    assert portal_rows(portal) == before


@FUZZ
@given(
    value=st.one_of(
        st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(),
        st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=3),
        st.integers(), max_size=2), st.text(max_size=30),
    ),
    field=st.sampled_from(["sealed", "lookup_id", "box_pk", "sign_pk", "blob_ids"]),
)  # fmt: skip
def test_wrong_json_types_are_400_or_422(portal: Portal, value: Any, field: str) -> None:
    body = report_body(b64(a_sealed_report(portal)))
    body[field] = value
    answer = portal.client().post(
        "/api/v1/reports",
        content=json.dumps(body, allow_nan=True),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code in (201, 400, 422), answer.status_code  # [] blob_ids is fine


def test_ids_no_database_can_hold_are_refused_not_500(portal: Portal) -> None:
    """A NUL in an id is a PostgreSQL error if it reaches a query (it was a 500)."""
    body = report_body(b64(a_sealed_report(portal)), blob_ids=["\x00" * 22, "a\x00"])
    answer = portal.client().post("/api/v1/reports", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "blob_unavailable"
    console = portal.console()
    for case in ("\x00", "ABCDEFGH\x00J", "x" * 10_000, "../../etc"):
        item = console.http.post(
            "/api/v1/console/items",
            json={"case": case, "sealed": b64(bytes(1072)), "signed": "x", "signature": "A" * 86},
        )
        assert item.status_code in (400, 422), (case, item.status_code)
    for cursor in ("4611686018427387904", "2147483648", "9" * 19):
        outbox = console.http.get(f"/api/v1/console/outbox?after={cursor}")
        assert outbox.status_code in (200, 400), outbox.status_code
        ack = console.http.post(ACK, json={"cursor": cursor})
        assert ack.status_code in (200, 400), ack.status_code


def test_blobs_that_are_not_secretstream(desk: Desk) -> None:
    """The portal checks only a blob's size (it has no key): a wrong size is a 422, and a
    right-sized blob of noise reaches the console, which marks the file damaged, keeps
    the report, offers no download, and goes on with the next item."""
    portal = desk.site.portal
    client = portal.client()
    for size in (0, 1, 24, 65_553, 65_577 + 1, 2 * 65_553 + 23):
        answer = client.post("/api/v1/blobs", content=secrets.token_bytes(size), headers=OCTETS)
        assert answer.status_code == 422, size
        assert answer.json()["error"] == "bad_blob"
    noise = client.post("/api/v1/blobs", content=secrets.token_bytes(24 + 65_553), headers=OCTETS)
    assert noise.status_code == 201
    key, stored, summary = stored_blob(b"a real file")
    truncated = client.post(
        "/api/v1/blobs", content=stored[:-17] + secrets.token_bytes(17), headers=OCTETS
    )
    assert truncated.status_code == 201
    descriptors = [
        {"blob_id": blob_id, "name": name, "mime": "image/png", "size": summary.size,
         "key": b64(key), "sha256": summary.sha256}
        for blob_id, name in ((noise.json()["blob_id"], "noise.png"),
                              (truncated.json()["blob_id"], "tampered.png"))
    ]  # fmt: skip
    sealed = a_sealed_report(portal, attachments=descriptors, description="noise attached")
    keys = crypto.derive_reporter_keys(
        crypto.generate_receipt(), portal.settings.receipt_salt, portal.settings.kdf
    )
    body = {
        "sealed": b64(sealed), "lookup_id": b64(keys.lookup_id), "box_pk": b64(bytes(keys.box_pk)),
        "sign_pk": b64(bytes(keys.sign_pk)), "blob_ids": [d["blob_id"] for d in descriptors],
    }  # fmt: skip
    created = client.post("/api/v1/reports", json=body)
    assert created.status_code == 201, created.text
    submit_report(client, description="the next report, after the damaged one")
    sync = desk.site.console.sync(portal.url)
    assert sync.taken == 2
    assert len(sync.bad_files) == 2
    case = created.json()["case"]
    page = desk.triage.get(f"/cases/{case}").text
    assert "noise attached" in page
    assert "noise.png" in page
    for descriptor in descriptors:
        assert f"/files/{descriptor['blob_id']}" not in page
        download = desk.triage.get(f"/cases/{case}/files/{descriptor['blob_id']}")
        assert download.status_code == 404


def test_tampered_sealed_documents_are_set_aside_and_sync_goes_on(desk: Desk) -> None:
    """A right-sized document the oversight key cannot open (tampered, or sealed to
    another key) is set aside by the console; the reports after it arrive."""
    portal = desk.site.portal
    client = portal.client()
    good = a_sealed_report(portal)
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 1
    elsewhere = crypto.seal_report(
        {**json.loads('{"v":1}'), **_report_fields()}, crypto.PrivateKey.generate().public_key
    )
    for sealed in (bytes(flipped), elsewhere, bytes(len(good))):
        answer = client.post("/api/v1/reports", json=report_body(b64(sealed)))
        assert answer.status_code == 201  # the portal cannot tell: it holds no key
    submit_report(client, description="after the tampered ones")
    sync = desk.site.console.sync(portal.url)
    assert len(sync.set_aside) == 3
    assert sync.taken == 1
    assert desk.triage.get("/cases").status_code == 200


def _report_fields() -> dict[str, Any]:
    return {
        "type": "report", "channel": "staff", "lang": "en", "category": "other",
        "facility": "HMP Example", "location": "", "occurred": "", "description": "elsewhere",
        "subjects": "", "witnesses": "", "urgent": False, "identity": None, "attachments": [],
        "reply_box_pk": b64(bytes(32)), "sent_on": "2026-11-27",
    }  # fmt: skip


def test_a_nul_in_a_report_does_not_stop_the_console(desk: Desk) -> None:
    """Text a reporter writes may hold a NUL (multipart carries one); the console keeps
    some fields unsealed, where PostgreSQL refuses a NUL: it must not stop the sync."""
    client = desk.site.portal.client()
    submit_report(client, facility="HMP\x00Example", category="other", description="a\x00b")
    submit_report(client, description="the report after it")
    sync = desk.site.console.sync(desk.site.portal.url)
    assert sync.taken == 2
    assert not sync.set_aside
    listing = desk.triage.get("/cases")
    assert listing.status_code == 200
    assert "HMPExample" in listing.text
    for path in ("/cases/%00", "/cases?facility=%00", "/cases?status=%00", "/cases/%00/files/x"):
        assert desk.triage.get(path).status_code == 400, path


def test_a_number_no_client_could_mean_is_set_aside_not_a_500(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attacker's own client seals a report whose attachment claims 10^400 bytes (or a
    size past any JSON number a browser can hold): the console sets it aside, and its
    pages go on answering."""
    from crypto import documents

    portal = desk.site.portal
    client = portal.client()
    attachment = {
        "blob_id": "b" * 22, "name": "x.bin", "mime": "application/octet-stream",
        "key": b64(bytes(32)), "sha256": "0" * 64,
    }  # fmt: skip
    monkeypatch.setattr(documents, "check_document", lambda *_args, **_kw: None)
    for size in (10**400, 2**53, 2**64):
        sealed = crypto.seal_document(
            {"v": 1, **_report_fields(), "attachments": [{**attachment, "size": size}]},
            portal.oversight.public_key,
        )
        answer = client.post("/api/v1/reports", json=report_body(b64(sealed)))
        assert answer.status_code == 201  # the portal cannot tell: it holds no key
    monkeypatch.undo()
    submit_report(client, description="the report after them")
    sync = desk.site.console.sync(portal.url)
    assert (sync.taken, len(sync.set_aside)) == (1, 3)
    assert desk.triage.get("/cases").status_code == 200
    for row in desk.site.console.cases():
        assert desk.triage.get(f"/cases/{row['case']}").status_code == 200


# -- signed requests -------------------------------------------------------------------

COMPONENTS = ["method", "target", "body", "timestamp", "nonce", "key", "signature", "header"]


@pytest.fixture
def reported(portal: Portal) -> Portal:
    submit_report(portal.client())
    return portal


def _signed_ack(portal: Portal, body: bytes, **overrides: Any) -> dict[str, str]:
    return crypto.sign_request(
        overrides.get("key", portal.console_key),
        overrides.get("method", "POST"),
        overrides.get("target", ACK),
        overrides.get("signed_body", body),
        timestamp=overrides.get("timestamp", int(portal.clock())),
        key_id=overrides.get("key_id"),
    )


@FUZZ
@given(component=st.sampled_from(COMPONENTS), data=st.data())
def test_a_signature_wrong_in_any_one_part_is_a_401_that_changes_nothing(
    reported: Portal, component: str, data: st.DataObject
) -> None:
    portal = reported
    cursor = portal.console().outbox()["next"]
    body = json.dumps({"cursor": cursor}).encode()
    overrides: dict[str, Any] = {}
    if component == "method":
        overrides["method"] = data.draw(st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]))
    elif component == "target":
        overrides["target"] = data.draw(
            st.sampled_from([ACK + "?", ACK + "/", ACK + "?x=1", "/api/v1/%63onsole/ack",
                             "/API/v1/console/ack", "/api/v1/console/replies"])
        )  # fmt: skip
    elif component == "body":
        overrides["signed_body"] = data.draw(st.binary(max_size=40).filter(lambda b: b != body))
    elif component == "timestamp":
        overrides["timestamp"] = int(portal.clock()) + data.draw(
            st.sampled_from([-(10**6), -3600, -125, 125, 3600, 10**9])
        )
    elif component == "key":
        overrides["key"] = crypto.SigningKey.generate()
        overrides["key_id"] = data.draw(
            st.sampled_from([None, bytes(portal.console_key.verify_key)])
        )
    headers = _signed_ack(portal, body, **overrides)
    if component == "nonce":
        nonce = data.draw(st.sampled_from(["", "AAAA", b64(bytes(15)), b64(bytes(17)), "!" * 22]))
        headers["Lanthorn-Nonce"] = nonce
    elif component == "signature":
        raw = bytearray(crypto.b64u_decode(headers["Lanthorn-Signature"]))
        raw[data.draw(st.integers(0, 63))] ^= 1 << data.draw(st.integers(0, 7))
        headers["Lanthorn-Signature"] = b64(bytes(raw))
    elif component == "header":
        name = data.draw(st.sampled_from(sorted(headers)))
        how = data.draw(st.sampled_from(["drop", "garbage", "huge", "padded"]))
        if how == "drop":
            del headers[name]
        elif how == "garbage":
            headers[name] = data.draw(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                              max_size=30))  # fmt: skip
        elif how == "huge":
            headers[name] = "A" * 8000
        else:
            headers[name] += "="
    before = portal_rows(portal)
    answer = portal.client().post(
        ACK, content=body, headers={"content-type": "application/json", **headers}
    )
    assert answer.status_code == 401, (component, overrides, answer.status_code, answer.text)
    assert answer.json()["error"] == "unauthorized"
    assert portal_rows(portal) == before


def test_a_header_sent_twice_or_a_reply_replayed_elsewhere_is_a_401(reported: Portal) -> None:
    portal = reported
    body = json.dumps({"cursor": "0"}).encode()
    headers = _signed_ack(portal, body)
    doubled = [("content-type", "application/json"), *headers.items(),
               ("Lanthorn-Nonce", b64(bytes(16)))]  # fmt: skip
    assert portal.client().post(ACK, content=body, headers=doubled).status_code == 401
    # A reporter's signed read, replayed as a message post: a different target and body.
    receipt = crypto.validate_receipt(receipt_of(submit_report(portal.client())))
    keys = portal.derive(receipt)
    read = crypto.sign_request(
        keys.sign, "GET", "/api/v1/thread", timestamp=int(portal.clock()), key_id=keys.lookup_id
    )
    for method, path in (("POST", "/api/v1/thread/messages"), ("GET", "/api/v1/thread?x")):
        answer = portal.client().request(method, path, content=b"{}", headers=read)
        assert answer.status_code == 401, (method, path)
    assert portal.client().get("/api/v1/thread", headers=read).status_code == 200
    assert portal.client().get("/api/v1/thread", headers=read).status_code == 401  # replayed


@pytest.mark.parametrize("size", [16 * 1024, 256 * 1024])
def test_oversized_headers_are_refused_before_anything_runs(portal: Portal, size: int) -> None:
    """One huge header, or very many: the HTTP server refuses them (4xx or a closed
    connection), never a 5xx, and the portal stays up."""
    many = {f"X-{i}": "v" * 64 for i in range(min(size // 80, 1000))}
    for headers in ({"Lanthorn-Signature": "A" * size}, many):
        try:
            answer = portal.client().get("/api/v1/thread", headers=headers)
            assert 400 <= answer.status_code < 500, answer.status_code
        except httpx.TransportError:
            pass  # closed by the server before an answer: refused too
    assert portal.client().get("/api/v1/config").status_code == 200
