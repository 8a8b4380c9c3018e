"""Verifying signed requests against the portal's database: protocol v2 (docs/protocol.md
§18, bound to the host and the key id) and, during the transition of §18.4, v1 (§6).

Nonces are shared by every worker and node through the `nonces` table; each is stored
only as a hash with its expiry, so the table cannot say which case made a request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from starlette.requests import Request

import crypto
from foundation.errors import Unauthorized

from .db import Case, Nonce
from .errors import SIGNATURE_REFUSED
from .pages import with_database
from .store import find_case, utc_day


class DatabaseNonceStore:
    def __init__(self, sessions: sessionmaker[Any], clock: Callable[[], float]) -> None:
        self._sessions = sessions
        self._clock = clock

    def remember(self, key_id: bytes, nonce: bytes, expires: int) -> bool:
        digest = _nonce_digest(key_id, nonce)
        with self._sessions() as session:
            session.add(Nonce(digest=digest, expires_on=utc_day(expires)))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True


def _nonce_digest(key_id: bytes, nonce: bytes) -> bytes:
    return hashlib.blake2b(b"lanthorn/portal/nonce" + key_id + nonce, digest_size=32).digest()


def request_target(request: Request) -> str:
    """The request target as sent: raw path, and `?` raw query when there is one."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    target = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"")
    return f"{target}?{query.decode('latin-1')}" if query else target


async def verify(
    request: Request, body: bytes, resolve: Callable[[bytes], crypto.VerifyKey | None]
) -> bytes:
    """Check the request's signature; return its key id, or raise a detail-free 401."""
    state = request.app.state
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]

    settings = state.settings

    def check() -> bytes:
        return crypto.verify_any_request(
            headers,
            request.method,
            request.headers.get("host", ""),
            request_target(request),
            body,
            hosts=settings.hosts,
            now=int(state.clock()),
            resolve_key=resolve,
            nonces=state.nonces,
            accept_v1=settings.accept_v1_requests,
        )

    try:
        return await with_database(request, check)  # nonces and keys are in the database
    except crypto.RequestRejected:
        raise Unauthorized(SIGNATURE_REFUSED) from None


async def verify_console(request: Request, body: bytes) -> None:
    console_key: crypto.VerifyKey = request.app.state.settings.console_key

    def resolve(key_id: bytes) -> crypto.VerifyKey | None:
        return console_key if key_id == bytes(console_key) else None

    await verify(request, body, resolve)


async def verify_reporter(request: Request, body: bytes) -> Case:
    """Check a reporter-signed request; return the case whose `lookup_id` signed it."""
    found: dict[str, Case] = {}

    def resolve(lookup_id: bytes) -> crypto.VerifyKey | None:
        with request.app.state.sessions() as session:
            case = find_case(session, lookup_id)
        if case is None:
            return None
        found["case"] = case
        return crypto.VerifyKey(case.sign_pk)

    await verify(request, body, resolve)
    return found["case"]
