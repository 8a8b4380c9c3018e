"""Signed requests (docs/protocol.md §6 and §18): how the console and reporter clients
prove who asks.

The signer covers the method, the request target exactly as sent, a timestamp, a random
nonce and the SHA-256 of the body; from v2 on also the host the request was addressed to
and the key id, so a request cannot be sent again to another portal or under another key
id that resolves to the same key. The verifier takes its clock and its nonce store as
arguments, so the portal can keep nonces in its database (shared by every worker) and
tests can move time.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from nacl.signing import SigningKey, VerifyKey

from . import _sodium
from .encoding import b64u_decode, b64u_encode
from .errors import CryptoError

__all__ = [
    "REQUEST_WINDOW_SECONDS",
    "MemoryNonceStore",
    "NonceStore",
    "RequestRejected",
    "canonical_request",
    "canonical_request_v2",
    "sign_request",
    "sign_request_v2",
    "verify_any_request",
    "verify_request",
    "verify_request_v2",
]

REQUEST_WINDOW_SECONDS = 120
NONCE_BYTES = 16
KEY_ID_BYTES = 32

HEADER_KEY = "Lanthorn-Key"
HEADER_TIMESTAMP = "Lanthorn-Timestamp"
HEADER_NONCE = "Lanthorn-Nonce"
HEADER_SIGNATURE = "Lanthorn-Signature"
#: Present (as "2") on a v2 request; absent on a v1 one.
HEADER_PROTOCOL = "Lanthorn-Protocol"
_HEADERS = (HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
_HEADERS_V2 = (*_HEADERS, HEADER_PROTOCOL)

_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")
_METHOD = re.compile(r"[A-Z]+")
#: A host name or IPv4 address, or an IPv6 literal in brackets, then an optional port; in
#: lower case (the signer writes it so, the verifier lowers what it received).
_HOST = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
_MAX_HOST = 255


class RequestRejected(CryptoError):
    """A signed request failed: which check failed is deliberately not said (→ HTTP 401)."""

    def __init__(self) -> None:
        super().__init__("signed request")


class NonceStore(Protocol):
    """Remembers nonces per key until they expire; the portal backs it with its database."""

    def remember(self, key_id: bytes, nonce: bytes, expires: int) -> bool:
        """Record (key_id, nonce) until `expires` (Unix seconds).

        Return False if it was already recorded (a replay), True if it is new. Must be
        atomic across every worker that verifies requests.
        """
        ...


class MemoryNonceStore:
    """A `NonceStore` for one process (clients, tests). Forgets nonces once expired."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._seen: dict[tuple[bytes, bytes], int] = {}
        self._lock = threading.Lock()

    def remember(self, key_id: bytes, nonce: bytes, expires: int) -> bool:
        with self._lock:
            now = self._clock()
            for entry in [e for e, exp in self._seen.items() if exp < now]:
                del self._seen[entry]
            if (key_id, nonce) in self._seen:
                return False
            self._seen[(key_id, nonce)] = expires
            return True


def canonical_request(method: str, target: str, timestamp: int, nonce: bytes, body: bytes) -> bytes:
    """The exact bytes that are signed, lines joined with `\\n`.

    `target` is the raw path plus `?` and the raw query when there is one, exactly as on
    the wire: no percent-decoding, no reordering.
    """
    if not _METHOD.fullmatch(method):
        raise ValueError("method must be upper-case letters, e.g. GET or POST")
    _check_target(target)
    lines = (
        "lanthorn/v1/request",
        method,
        target,
        str(timestamp),
        b64u_encode(nonce),
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode("ascii")


def sign_request(
    key: SigningKey,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    timestamp: int,
    key_id: bytes | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """Return the four `Lanthorn-*` headers for a request.

    `key_id` is what the portal looks the signer up by: a reporter's `lookup_id`, or
    (the default) the signer's own verify key, as the console uses.
    """
    nonce = _sodium.random_bytes(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise ValueError("a request nonce is 16 bytes")
    key_id = bytes(key.verify_key) if key_id is None else key_id
    message = canonical_request(method, target, timestamp, nonce, body)
    signature = key.sign(message).signature
    return {
        HEADER_KEY: b64u_encode(key_id),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: b64u_encode(nonce),
        HEADER_SIGNATURE: b64u_encode(signature),
    }


def _single_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    names: tuple[str, ...] = _HEADERS,
) -> dict[str, str]:
    """Our headers, case-insensitively; a header sent twice is a rejection."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    wanted = {h.lower() for h in names}
    found: dict[str, str] = {}
    for name, value in items:
        lname = name.lower()
        if lname in wanted:
            if lname in found:
                raise RequestRejected()
            found[lname] = value
    if len(found) != len(wanted):
        raise RequestRejected()
    return found


def verify_request(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    method: str,
    target: str,
    body: bytes,
    *,
    now: int,
    resolve_key: Callable[[bytes], VerifyKey | None],
    nonces: NonceStore,
) -> bytes:
    """Check a signed request and return its key id (`Lanthorn-Key`, decoded).

    `headers` may be a mapping or a list of (name, value) pairs (pass the raw list to
    catch duplicates a mapping would hide). `resolve_key` maps a key id to the verify key
    it stands for, or None if unknown. The nonce is recorded only after the signature
    checks out, so forged requests cannot fill the store or burn a client's nonces.
    Raises `RequestRejected` for every failure, whichever it was.
    """
    try:
        h = _single_headers(headers)
        key_id = b64u_decode(h["lanthorn-key"], length=KEY_ID_BYTES)
        nonce = b64u_decode(h["lanthorn-nonce"], length=NONCE_BYTES)
        signature = b64u_decode(h["lanthorn-signature"], length=_sodium.SIGNATURE_BYTES)
        if not _TIMESTAMP.fullmatch(h["lanthorn-timestamp"]):
            raise RequestRejected()
        timestamp = int(h["lanthorn-timestamp"])
        if abs(now - timestamp) > REQUEST_WINDOW_SECONDS:
            raise RequestRejected()
        verify_key = resolve_key(key_id)
        if verify_key is None:
            raise RequestRejected()
        message = canonical_request(method, target, timestamp, nonce, body)
    except (CryptoError, ValueError):
        raise RequestRejected() from None
    if not _sodium.sign_verify_detached(signature, message, bytes(verify_key)):
        raise RequestRejected()
    if not nonces.remember(key_id, nonce, timestamp + REQUEST_WINDOW_SECONDS):
        raise RequestRejected()
    return key_id


def _check_target(target: str) -> None:
    if not target.startswith("/") or any(c in target for c in "\r\n ") or not target.isascii():
        raise ValueError("target must be the raw request target, e.g. /api/v1/thread")


def canonical_host(host: str) -> str:
    """`host` as v2 signs it: ASCII lower case, checked against the host grammar (§18.1)."""
    if not host.isascii():
        raise ValueError("host must be ASCII (an IDN host in its xn-- form)")
    lowered = host.lower()
    if len(lowered) > _MAX_HOST or not _HOST.fullmatch(lowered):
        raise ValueError("host must be the Host header as sent, e.g. portal.example:8443")
    return lowered


def canonical_request_v2(
    method: str,
    host: str,
    target: str,
    key_id: bytes,
    timestamp: int,
    nonce: bytes,
    body: bytes,
) -> bytes:
    """The exact bytes a v2 request signs: eight lines joined with `\\n`, no final newline.

    Adds to v1 the host the request is addressed to (its Host header, lower case) and the
    key id, and starts with its own label, so a signature made for one version never
    verifies as the other.
    """
    if not _METHOD.fullmatch(method):
        raise ValueError("method must be upper-case letters, e.g. GET or POST")
    _check_target(target)
    if len(key_id) != KEY_ID_BYTES:
        raise ValueError("a key id is 32 bytes")
    if len(nonce) != NONCE_BYTES:
        raise ValueError("a request nonce is 16 bytes")
    if not _TIMESTAMP.fullmatch(str(timestamp)):
        raise ValueError("timestamp must be Unix seconds, at most 12 digits")
    lines = (
        "lanthorn/v2/request",
        method,
        canonical_host(host),
        target,
        b64u_encode(key_id),
        str(timestamp),
        b64u_encode(nonce),
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode("ascii")


def sign_request_v2(
    key: SigningKey,
    method: str,
    host: str,
    target: str,
    body: bytes = b"",
    *,
    timestamp: int,
    key_id: bytes | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """Return the five headers of a v2 request: v1's four and `Lanthorn-Protocol: 2`.

    `host` is the Host header the request will carry (`portal.example`, or with its port
    when it is not the scheme's default, as HTTP clients write it).
    """
    nonce = _sodium.random_bytes(NONCE_BYTES) if nonce is None else nonce
    key_id = bytes(key.verify_key) if key_id is None else key_id
    message = canonical_request_v2(method, host, target, key_id, timestamp, nonce, body)
    signature = key.sign(message).signature
    return {
        HEADER_KEY: b64u_encode(key_id),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: b64u_encode(nonce),
        HEADER_SIGNATURE: b64u_encode(signature),
        HEADER_PROTOCOL: "2",
    }


def verify_request_v2(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    method: str,
    host: str,
    target: str,
    body: bytes,
    *,
    hosts: Collection[str],
    now: int,
    resolve_key: Callable[[bytes], VerifyKey | None],
    nonces: NonceStore,
) -> bytes:
    """Check a v2 signed request and return its key id.

    `host` is the Host header as received; `hosts` the names this portal answers to. The
    request is refused unless `host`, in lower case, is one of them: a signature is bound
    to the host it names, and only the verifier's own list makes that worth anything.
    Otherwise as `verify_request`, with `RequestRejected` for every failure.
    """
    try:
        h = _single_headers(headers, _HEADERS_V2)
        if h["lanthorn-protocol"] != "2":
            raise RequestRejected()
        received_host = canonical_host(host)
        if received_host not in {canonical_host(name) for name in hosts}:
            raise RequestRejected()
        key_id = b64u_decode(h["lanthorn-key"], length=KEY_ID_BYTES)
        nonce = b64u_decode(h["lanthorn-nonce"], length=NONCE_BYTES)
        signature = b64u_decode(h["lanthorn-signature"], length=_sodium.SIGNATURE_BYTES)
        if not _TIMESTAMP.fullmatch(h["lanthorn-timestamp"]):
            raise RequestRejected()
        timestamp = int(h["lanthorn-timestamp"])
        if abs(now - timestamp) > REQUEST_WINDOW_SECONDS:
            raise RequestRejected()
        verify_key = resolve_key(key_id)
        if verify_key is None:
            raise RequestRejected()
        message = canonical_request_v2(
            method, received_host, target, key_id, timestamp, nonce, body
        )
    except (CryptoError, ValueError):
        raise RequestRejected() from None
    if not _sodium.sign_verify_detached(signature, message, bytes(verify_key)):
        raise RequestRejected()
    if not nonces.remember(key_id, nonce, timestamp + REQUEST_WINDOW_SECONDS):
        raise RequestRejected()
    return key_id


def verify_any_request(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    method: str,
    host: str,
    target: str,
    body: bytes,
    *,
    hosts: Collection[str],
    now: int,
    resolve_key: Callable[[bytes], VerifyKey | None],
    nonces: NonceStore,
    accept_v1: bool,
) -> bytes:
    """Verify a v2 request, or a v1 request while `accept_v1` (the transition, §18.4).

    A request with `Lanthorn-Protocol` is verified as v2 and only as v2: taking the
    header away does not make its signature pass as v1, because the two canonical
    strings start with different labels. Without the header it is v1, refused once
    `accept_v1` is false.
    """
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    if any(name.lower() == HEADER_PROTOCOL.lower() for name, _ in pairs):
        return verify_request_v2(
            pairs,
            method,
            host,
            target,
            body,
            hosts=hosts,
            now=now,
            resolve_key=resolve_key,
            nonces=nonces,
        )
    if not accept_v1:
        raise RequestRejected()
    return verify_request(
        pairs, method, target, body, now=now, resolve_key=resolve_key, nonces=nonces
    )
