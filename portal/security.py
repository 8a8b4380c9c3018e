"""Browser-facing protections: security headers, CSRF tokens, and the gate on Argon2id.

Every response carries a strict CSP (no script, no inline style), no-store caching, no
referrer and no framing. Forms carry a CSRF token bound to a random, SameSite=Strict
cookie. Argon2id derivations run in worker threads, at most `kdf_concurrency` at once, so
a crowd of receipt attempts cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import TypeVar

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import Forbidden

T = TypeVar("T")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
}


#: The kiosk's pages run one script of our own (the idle warning): nothing else changes.
KIOSK_CSP = SECURITY_HEADERS["Content-Security-Policy"] + "; script-src 'self'"

#: Pages that run protocol v1 in the browser: our scripts and libsodium.js's WebAssembly
#: (compiled from bytes embedded in the script, hence 'wasm-unsafe-eval'; no eval of
#: JavaScript), and `fetch` to our own API.
BROWSER_CRYPTO_CSP = (
    SECURITY_HEADERS["Content-Security-Policy"]
    + "; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"
)


class SecurityHeadersMiddleware:
    """Adds `SECURITY_HEADERS` to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name == "Content-Security-Policy":
                        headers.setdefault(name, value)  # a page may set a stricter-fit one
                    else:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


CSRF_COOKIE = "lanthorn_csrf"


class Csrf:
    """Double-submit CSRF tokens: a signed copy of a random cookie, one salt per form."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _serializer(self, purpose: str) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret, salt=f"lanthorn/csrf/{purpose}")

    @staticmethod
    def cookie_value(request: Request) -> str:
        """The request's CSRF cookie, or a new one (set it with `set_cookie`)."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if len(value) == 32 and value.isalnum():
            return value
        request.state.new_csrf_cookie = value = secrets.token_hex(16)
        return value

    def token(self, request: Request, purpose: str) -> str:
        return str(self._serializer(purpose).dumps(self.cookie_value(request)))

    def check(self, request: Request, purpose: str, token: object) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        try:
            if not isinstance(token, str) or not cookie:
                raise BadSignature("missing")
            if not secrets.compare_digest(self._serializer(purpose).loads(token), cookie):
                raise BadSignature("mismatch")
        except BadSignature:
            raise Forbidden(
                "This form has expired or was not sent from this site. Go back, reload the "
                "page and send it again.",
                code="csrf",
            ) from None

    @staticmethod
    def set_cookie(request: Request, response: Response) -> None:
        value = getattr(request.state, "new_csrf_cookie", None)
        if value:
            response.set_cookie(
                CSRF_COOKIE, value, httponly=True, samesite="strict", secure=cookie_secure(request)
            )


def cookie_secure(request: Request) -> bool:
    """Mark cookies Secure on HTTPS, and always when the operator says TLS ends at a proxy."""
    settings = request.app.state.settings
    return bool(getattr(settings, "secure_cookies", False)) or request.url.scheme == "https"


class KdfGate:
    """Runs Argon2id in worker threads, at most `limit` at once in this process."""

    def __init__(self, limit: int) -> None:
        self._semaphore = asyncio.Semaphore(limit)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        async with self._semaphore:
            return await run_in_threadpool(fn, *args)

    async def close(self) -> None:
        """Nothing to give back (`portal.kdf_queue.SharedKdfGate` has a connection)."""
