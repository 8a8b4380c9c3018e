"""Signed requests, v2: what v1 guarantees, and a request is also bound to the host it was
sent to and to the key id it names; a portal in transition accepts v1 only while told to,
and a v2 signature never passes as v1 or the other way round."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto

NOW = 1_764_201_600
HOST = "portal.example"
CONSOLE = crypto.SigningKey(bytes([9]) * 32)
REPORTER = crypto.SigningKey(bytes([5]) * 32)
LOOKUP_ID = bytes([7]) * 32
OTHER_LOOKUP_ID = bytes([8]) * 32
#: Two cases whose signing key is the same: the key id decides which one a request is for.
KEYS = {
    bytes(CONSOLE.verify_key): CONSOLE.verify_key,
    LOOKUP_ID: REPORTER.verify_key,
    OTHER_LOOKUP_ID: REPORTER.verify_key,
}


def verifier(
    now: int = NOW,
    hosts: tuple[str, ...] = (HOST, "lanthornxyz.onion"),
    accept_v1: bool = True,
) -> Callable[..., bytes]:
    nonces = crypto.MemoryNonceStore(lambda: now)

    def verify(
        headers: object,
        method: str = "POST",
        host: str = HOST,
        target: str = "/api/v1/console/ack",
        body: bytes = b'{"cursor":"5"}',
    ) -> bytes:
        return crypto.verify_any_request(
            headers,  # type: ignore[arg-type]
            method,
            host,
            target,
            body,
            hosts=hosts,
            now=now,
            resolve_key=KEYS.get,
            nonces=nonces,
            accept_v1=accept_v1,
        )

    return verify


def signed(
    method: str = "POST",
    host: str = HOST,
    target: str = "/api/v1/console/ack",
    body: bytes = b'{"cursor":"5"}',
    key: crypto.SigningKey = CONSOLE,
    key_id: bytes | None = None,
) -> dict[str, str]:
    return crypto.sign_request_v2(key, method, host, target, body, timestamp=NOW, key_id=key_id)


@given(
    method=st.sampled_from(["GET", "POST"]),
    host=st.sampled_from([HOST, "Portal.Example", "lanthornxyz.onion"]),
    body=st.binary(max_size=300),
)
def test_v2_requests_verify(method: str, host: str, body: bytes) -> None:
    headers = signed(method, host, "/api/v1/thread", body, key=REPORTER, key_id=LOOKUP_ID)
    assert headers["Lanthorn-Protocol"] == "2"
    assert verifier()(headers, method, host.upper(), "/api/v1/thread", body) == LOOKUP_ID


def test_a_request_sent_to_another_portal_is_refused() -> None:
    """Signed for a staging portal, replayed at the production one within two minutes."""
    headers = signed(host="staging.portal.example")
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers, host=HOST)
    with pytest.raises(crypto.RequestRejected):  # nor by claiming the host it was signed for
        verifier()(headers, host="staging.portal.example")


def test_a_request_cannot_be_moved_to_another_key_id_with_the_same_key() -> None:
    """Under v1 the key id is not signed: a request for one case passes for another case
    registered with the same signing key. Under v2 it does not."""
    v1 = crypto.sign_request(REPORTER, "GET", "/api/v1/thread", timestamp=NOW, key_id=LOOKUP_ID)
    moved_v1 = dict(v1, **{"Lanthorn-Key": crypto.b64u_encode(OTHER_LOOKUP_ID)})
    assert verifier()(moved_v1, "GET", HOST, "/api/v1/thread", b"") == OTHER_LOOKUP_ID
    v2 = signed("GET", HOST, "/api/v1/thread", b"", key=REPORTER, key_id=LOOKUP_ID)
    moved_v2 = dict(v2, **{"Lanthorn-Key": crypto.b64u_encode(OTHER_LOOKUP_ID)})
    with pytest.raises(crypto.RequestRejected):
        verifier()(moved_v2, "GET", HOST, "/api/v1/thread", b"")


def test_taking_the_protocol_header_away_does_not_make_v2_pass_as_v1() -> None:
    headers = signed()
    del headers["Lanthorn-Protocol"]
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers)


def test_adding_the_protocol_header_does_not_make_v1_pass_as_v2() -> None:
    headers = crypto.sign_request(
        CONSOLE, "POST", "/api/v1/console/ack", b'{"cursor":"5"}', timestamp=NOW
    )
    with pytest.raises(crypto.RequestRejected):
        verifier()(dict(headers, **{"Lanthorn-Protocol": "2"}))


def test_v1_is_accepted_only_during_the_transition() -> None:
    headers = crypto.sign_request(
        CONSOLE, "POST", "/api/v1/console/ack", b'{"cursor":"5"}', timestamp=NOW
    )
    assert verifier(accept_v1=True)(headers) == bytes(CONSOLE.verify_key)
    with pytest.raises(crypto.RequestRejected):
        verifier(accept_v1=False)(headers)
    assert verifier(accept_v1=False)(signed()) == bytes(CONSOLE.verify_key)


@pytest.mark.parametrize("version", ["1", "3", "02", "2 ", ""])
def test_a_protocol_header_other_than_2_is_refused(version: str) -> None:
    with pytest.raises(crypto.RequestRejected):
        verifier()(dict(signed(), **{"Lanthorn-Protocol": version}))


def test_the_protocol_header_twice_is_refused() -> None:
    pairs = [*signed().items(), ("lanthorn-protocol", "2")]
    with pytest.raises(crypto.RequestRejected):
        verifier()(pairs)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "GET"),
        ("target", "/api/v1/console/ack?x=1"),
        ("body", b""),
        ("host", "lanthornxyz.onion"),  # a name this portal has, but not the one signed
    ],
)
def test_any_change_to_what_was_signed_is_refused(field: str, value: object) -> None:
    request = {"method": "POST", "host": HOST, "target": "/api/v1/console/ack", "body": b"{}"}
    headers = signed(**request)  # type: ignore[arg-type]
    request[field] = value  # type: ignore[assignment]
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers, **request)


def test_a_replay_is_refused_whichever_version() -> None:
    verify = verifier()
    headers = signed()
    verify(headers)
    with pytest.raises(crypto.RequestRejected):
        verify(headers)


@pytest.mark.parametrize(
    "host", ["", "portal example", "portal.example:", "portal.example:123456", "pörtal.example"]
)
def test_signing_refuses_a_host_that_is_not_a_host_header(host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        crypto.sign_request_v2(CONSOLE, "GET", host, "/x", timestamp=NOW)


def test_a_malformed_received_host_is_a_plain_refusal() -> None:
    with pytest.raises(crypto.RequestRejected):
        verifier()(signed(), host="portal example")


def test_canonical_string_has_eight_lines_with_host_and_key_id() -> None:
    canonical = crypto.canonical_request_v2(
        "GET", "Portal.Example:8443", "/api/v1/thread", LOOKUP_ID, NOW, bytes(16), b""
    )
    assert canonical.decode().split("\n") == [
        "lanthorn/v2/request",
        "GET",
        "portal.example:8443",
        "/api/v1/thread",
        crypto.b64u_encode(LOOKUP_ID),
        str(NOW),
        crypto.b64u_encode(bytes(16)),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]
