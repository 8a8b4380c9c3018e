"""CSRF tokens for every form of either app, and whether cookies are marked Secure.

A form carries a token bound to a random, SameSite=Strict cookie: a signed copy of the
cookie, one salt per form, so a token minted for one form is refused by another.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from .errors import Forbidden

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
