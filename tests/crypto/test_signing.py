"""Signed requests: a request is accepted once, from the key that signed it, within two
minutes, exactly as signed — and every refusal looks the same."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto

NOW = 1_764_201_600
CONSOLE = crypto.SigningKey(bytes([9]) * 32)
REPORTER = crypto.SigningKey(bytes([5]) * 32)
LOOKUP_ID = bytes([7]) * 32
KEYS = {bytes(CONSOLE.verify_key): CONSOLE.verify_key, LOOKUP_ID: REPORTER.verify_key}


def resolve(key_id: bytes) -> crypto.VerifyKey | None:
    return KEYS.get(key_id)


def verifier(now: int = NOW, store: crypto.NonceStore | None = None) -> Callable[..., bytes]:
    nonces = store if store is not None else crypto.MemoryNonceStore(lambda: now)

    def verify(
        headers: object,
        method: str = "POST",
        target: str = "/api/v1/console/ack",
        body: bytes = b'{"cursor":"5"}',
    ) -> bytes:
        return crypto.verify_request(
            headers,
            method,
            target,
            body,
            now=now,
            resolve_key=resolve,
            nonces=nonces,  # type: ignore[arg-type]
        )

    return verify


def signed(
    method: str = "POST",
    target: str = "/api/v1/console/ack",
    body: bytes = b'{"cursor":"5"}',
    timestamp: int = NOW,
) -> dict[str, str]:
    return crypto.sign_request(CONSOLE, method, target, body, timestamp=timestamp)


targets = st.from_regex(r"/[A-Za-z0-9/_.~%-]{0,40}(\?[A-Za-z0-9=&%._~-]{0,30})?", fullmatch=True)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    target=targets,
    body=st.binary(max_size=500),
    skew=st.integers(-120, 120),
)
def test_signed_requests_verify(method: str, target: str, body: bytes, skew: int) -> None:
    headers = crypto.sign_request(
        REPORTER, method, target, body, timestamp=NOW + skew, key_id=LOOKUP_ID
    )
    assert verifier()(headers, method, target, body) == LOOKUP_ID


def test_console_key_id_defaults_to_its_verify_key() -> None:
    assert verifier()(signed()) == bytes(CONSOLE.verify_key)


def test_header_names_are_case_insensitive_and_pairs_work() -> None:
    headers = signed()
    lowered = [(name.lower(), value) for name, value in headers.items()]
    assert verifier()(lowered) == bytes(CONSOLE.verify_key)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "GET"),
        ("target", "/api/v1/console/ack?x=1"),
        ("target", "/api/v1/console/%61ck"),  # same path percent-encoded: not the same target
        ("target", "/api/v1/console/replies"),
        ("body", b'{"cursor":"6"}'),
        ("body", b""),
    ],
)
def test_any_change_to_what_was_signed_is_refused(field: str, value: object) -> None:
    request = {"method": "POST", "target": "/api/v1/console/ack", "body": b'{"cursor":"5"}'}
    headers = signed(**request)  # type: ignore[arg-type]
    request[field] = value  # type: ignore[assignment]
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers, **request)


@pytest.mark.parametrize("skew", [121, -121, 10_000, -NOW])
def test_stale_or_future_timestamps_are_refused(skew: int) -> None:
    with pytest.raises(crypto.RequestRejected):
        verifier(now=NOW + skew)(signed())


def test_a_replayed_request_is_refused() -> None:
    verify = verifier()
    headers = signed()
    verify(headers)
    with pytest.raises(crypto.RequestRejected):
        verify(headers)


def test_a_replay_after_the_window_is_stale_even_once_the_nonce_is_forgotten() -> None:
    clock = [NOW]
    store = crypto.MemoryNonceStore(lambda: clock[0])
    headers = signed()
    verifier(NOW, store)(headers)
    clock[0] = NOW + 121
    with pytest.raises(crypto.RequestRejected):
        verifier(NOW + 121, store)(headers)


def test_the_same_nonce_under_another_key_is_a_different_request() -> None:
    nonce = bytes(16)
    store = crypto.MemoryNonceStore(lambda: NOW)
    verify = verifier(store=store)
    target, body = "/api/v1/thread", b""
    console = crypto.sign_request(CONSOLE, "GET", target, body, timestamp=NOW, nonce=nonce)
    reporter = crypto.sign_request(
        REPORTER, "GET", target, body, timestamp=NOW, nonce=nonce, key_id=LOOKUP_ID
    )
    assert verify(console, "GET", target, body) == bytes(CONSOLE.verify_key)
    assert verify(reporter, "GET", target, body) == LOOKUP_ID


def test_a_forged_request_does_not_burn_the_real_clients_nonce() -> None:
    store = crypto.MemoryNonceStore(lambda: NOW)
    verify = verifier(store=store)
    genuine = signed()
    forged = dict(genuine, **{"Lanthorn-Signature": crypto.b64u_encode(bytes(64))})
    with pytest.raises(crypto.RequestRejected):
        verify(forged)
    assert verify(genuine) == bytes(CONSOLE.verify_key)


def test_a_signature_by_another_key_is_refused() -> None:
    intruder = crypto.SigningKey(bytes([1]) * 32)
    headers = crypto.sign_request(
        intruder,
        "POST",
        "/api/v1/console/ack",
        b'{"cursor":"5"}',
        timestamp=NOW,
        key_id=bytes(CONSOLE.verify_key),
    )
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers)


def test_an_unknown_key_is_refused() -> None:
    stranger = crypto.SigningKey(bytes([2]) * 32)
    headers = crypto.sign_request(
        stranger, "POST", "/api/v1/console/ack", b'{"cursor":"5"}', timestamp=NOW
    )
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers)


@pytest.mark.parametrize(
    "header", ["Lanthorn-Key", "Lanthorn-Timestamp", "Lanthorn-Nonce", "Lanthorn-Signature"]
)
def test_missing_headers_are_refused(header: str) -> None:
    headers = signed()
    del headers[header]
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Lanthorn-Timestamp", f"0{NOW}"),  # leading zero: a second spelling
        ("Lanthorn-Timestamp", f"{NOW}.0"),
        ("Lanthorn-Timestamp", f" {NOW}"),
        ("Lanthorn-Timestamp", "-5"),
        ("Lanthorn-Timestamp", "9" * 40),
        ("Lanthorn-Nonce", crypto.b64u_encode(bytes(15))),
        ("Lanthorn-Nonce", "AAECAwQFBgcICQoLDA0ODw=="),
        ("Lanthorn-Key", "not base64!"),
        ("Lanthorn-Key", crypto.b64u_encode(bytes(31))),
        ("Lanthorn-Signature", crypto.b64u_encode(bytes(63))),
        ("Lanthorn-Signature", ""),
    ],
)
def test_malformed_headers_are_refused(header: str, value: str) -> None:
    headers = signed()
    headers[header] = value
    with pytest.raises(crypto.RequestRejected):
        verifier()(headers)


def test_a_header_sent_twice_is_refused() -> None:
    pairs = list(signed().items())
    pairs.append(("lanthorn-timestamp", str(NOW)))
    with pytest.raises(crypto.RequestRejected):
        verifier()(pairs)


def test_every_refusal_reads_the_same() -> None:
    headers = signed()
    messages = set()
    for attempt in (
        {},
        dict(headers, **{"Lanthorn-Signature": crypto.b64u_encode(bytes(64))}),
        dict(headers, **{"Lanthorn-Timestamp": str(NOW - 500)}),
    ):
        with pytest.raises(crypto.RequestRejected) as caught:
            verifier()(attempt)
        messages.add(str(caught.value))
    assert messages == {"could not open or verify signed request"}


@pytest.mark.parametrize(
    ("method", "target"),
    [("get", "/x"), ("GET", "x"), ("GET", "/a b"), ("GET", "/a\nb"), ("GET", "/é")],
)
def test_signing_refuses_targets_that_are_not_raw_request_targets(method: str, target: str) -> None:
    with pytest.raises(ValueError, match="method|target"):
        crypto.sign_request(CONSOLE, method, target, timestamp=NOW)


def test_nonces_are_random_and_16_bytes() -> None:
    nonces = {signed()["Lanthorn-Nonce"] for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(crypto.b64u_decode(n)) == 16 for n in nonces)
    with pytest.raises(ValueError, match="16 bytes"):
        crypto.sign_request(CONSOLE, "GET", "/x", timestamp=NOW, nonce=bytes(8))
