"""Signed requests over real HTTP: forged, tampered, replayed, stale and wrong-key requests
are all the same 401, and none of them changes anything."""

from __future__ import annotations

import json

import httpx
import pytest

import crypto

from .clients import SignedAuth
from .conftest import Portal
from .forms import receipt_of, submit_report

ACK = "/api/v1/console/ack"


def signed_ack(
    portal: Portal, key: crypto.SigningKey, body: bytes, **kwargs: object
) -> dict[str, str]:
    return crypto.sign_request(
        key,
        "POST",
        ACK,
        body,
        timestamp=int(portal.clock()),
        **kwargs,  # type: ignore[arg-type]
    )


def post(client: httpx.Client, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json", **headers})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "The request's signature was missing, wrong, stale or replayed.",
    }


@pytest.fixture
def reported(portal: Portal) -> str:
    """A stored report the console has not acknowledged yet; returns its outbox cursor."""
    submit_report(portal.client())
    return str(portal.console().outbox()["next"])


def test_unsigned_console_requests_are_refused(portal: Portal, reported: str) -> None:
    client = portal.client()
    for method, path in (
        ("GET", "/api/v1/console/outbox"),
        ("GET", "/api/v1/console/blobs/" + "A" * 22),
        ("POST", ACK),
        ("POST", "/api/v1/console/items"),
        ("GET", "/api/v1/thread"),
        ("POST", "/api/v1/thread/messages"),
    ):
        assert_refused(client.request(method, path, content=b"{}"))


def test_a_tampered_body_is_refused_and_changes_nothing(portal: Portal, reported: str) -> None:
    client = portal.client()
    signed_body = json.dumps({"cursor": "0"}).encode()
    sent_body = json.dumps({"cursor": reported}).encode()
    assert_refused(
        post(client, ACK, sent_body, signed_ack(portal, portal.console_key, signed_body))
    )
    assert len(portal.console().outbox()["items"]) == 1  # nothing was acknowledged


def test_a_replayed_request_is_refused(portal: Portal, reported: str) -> None:
    client = portal.client()
    body = json.dumps({"cursor": "0"}).encode()
    headers = signed_ack(portal, portal.console_key, body)
    assert post(client, ACK, body, headers).status_code == 200
    assert_refused(post(client, ACK, body, headers))


@pytest.mark.parametrize("skew", [-125, 125, -3600])  # a margin: the clock ticks
def test_stale_and_future_requests_are_refused(portal: Portal, reported: str, skew: int) -> None:
    body = json.dumps({"cursor": reported}).encode()
    headers = crypto.sign_request(
        portal.console_key, "POST", ACK, body, timestamp=int(portal.clock()) + skew
    )
    assert_refused(post(portal.client(), ACK, body, headers))


def test_a_signature_by_any_other_key_is_refused(portal: Portal, reported: str) -> None:
    body = json.dumps({"cursor": reported}).encode()
    impostor = crypto.SigningKey.generate()
    for headers in (
        signed_ack(portal, impostor, body),  # its own key id: unknown to the portal
        signed_ack(portal, impostor, body, key_id=bytes(portal.console_key.verify_key)),
    ):
        assert_refused(post(portal.client(), ACK, body, headers))
    assert len(portal.console().outbox()["items"]) == 1


def test_the_signature_covers_the_exact_target(portal: Portal, reported: str) -> None:
    client = portal.client()
    headers = crypto.sign_request(
        portal.console_key,
        "GET",
        "/api/v1/console/outbox?limit=5&after=0",
        timestamp=int(portal.clock()),
    )
    response = client.get("/api/v1/console/outbox?after=0&limit=5", headers=headers)
    assert_refused(response)  # same query, reordered: not what was signed


def test_a_reporter_can_only_read_their_own_thread(portal: Portal) -> None:
    client = portal.client()
    mine = crypto.validate_receipt(receipt_of(submit_report(client)))
    theirs = crypto.validate_receipt(receipt_of(submit_report(client)))
    my_keys, their_keys = portal.derive(mine), portal.derive(theirs)
    ok = client.get("/api/v1/thread", auth=portal.reporter_auth(my_keys))
    assert ok.status_code == 200
    # My signature, but claiming their lookup id: refused.
    forged = SignedAuth(my_keys.sign, portal.clock, key_id=their_keys.lookup_id)
    assert_refused(client.get("/api/v1/thread", auth=forged))
    # A lookup id that belongs to no case: the same refusal, no hint that it is unknown.
    stranger = portal.derive(crypto.generate_receipt())
    assert_refused(client.get("/api/v1/thread", auth=portal.reporter_auth(stranger)))


def test_the_console_key_cannot_read_a_reporters_thread(portal: Portal) -> None:
    client = portal.client()
    receipt = crypto.validate_receipt(receipt_of(submit_report(client)))
    keys = portal.derive(receipt)
    console_as_reporter = SignedAuth(portal.console_key, portal.clock, key_id=keys.lookup_id)
    assert_refused(client.get("/api/v1/thread", auth=console_as_reporter))


def test_an_unsigned_malformed_body_is_refused_before_it_is_parsed(portal: Portal) -> None:
    client = portal.client()
    for path in (ACK, "/api/v1/console/items", "/api/v1/thread/messages"):
        assert_refused(post(client, path, b"{not json at all", {}))


def signed_v2_ack(
    portal: Portal, body: bytes, host: str, key_id: bytes | None = None
) -> dict[str, str]:
    return crypto.sign_request_v2(
        portal.console_key,
        "POST",
        host,
        ACK,
        body,
        timestamp=int(portal.clock()),
        key_id=key_id,
    )


def test_a_v2_request_names_a_host_this_portal_answers_to(portal: Portal, reported: str) -> None:
    """A v2 signature covers the Host (docs/protocol.md §18): a request signed for another
    portal, or sent to this one under another name, is refused; so is a v2 signature
    with its `Lanthorn-Protocol` header taken away. v1 is still taken (§18.4)."""
    client = portal.client()
    body = json.dumps({"cursor": "0"}).encode()
    [own] = portal.settings.hosts
    for host in ("other-portal.example", "127.0.0.1:1"):
        assert_refused(post(client, ACK, body, signed_v2_ack(portal, body, host)))
        headers = {**signed_v2_ack(portal, body, own), "host": host}
        assert_refused(post(client, ACK, body, headers))
    stripped = signed_v2_ack(portal, body, own)
    del stripped["Lanthorn-Protocol"]
    assert_refused(post(client, ACK, body, stripped))
    assert post(client, ACK, body, signed_v2_ack(portal, body, own.upper())).status_code == 200
    assert post(client, ACK, body, signed_ack(portal, portal.console_key, body)).status_code == 200


def test_v1_requests_are_refused_once_the_transition_ends(portal: Portal, reported: str) -> None:
    import dataclasses

    portal.app.state.settings = dataclasses.replace(portal.settings, accept_v1_requests=False)
    client = portal.client()
    body = json.dumps({"cursor": "0"}).encode()
    assert_refused(post(client, ACK, body, signed_ack(portal, portal.console_key, body)))
    [own] = portal.settings.hosts
    assert post(client, ACK, body, signed_v2_ack(portal, body, own)).status_code == 200
