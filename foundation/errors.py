"""Errors that carry an HTTP status and a sentence for the person who caused them, and the
middleware that keeps an unexpected one from saying more than "something went wrong".

Each app has one renderer for these (the portal: JSON `{"error", "message"}` under
`/api/`, its `error.html` page elsewhere; the console: its own `error.html`). A 500 never
echoes internals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class WebError(Exception):
    """A request answered with `status` and `message`, a sentence for the person."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(WebError):
    """Malformed: bad JSON, bad base64, wrong types or key lengths."""


class Unauthorized(WebError):
    status = 401
    code = "unauthorized"


class Forbidden(WebError):
    status = 403
    code = "forbidden"


class NotFound(WebError):
    status = 404
    code = "not_found"


class Conflict(WebError):
    status = 409
    code = "conflict"


class TooSlow(WebError):
    """408: the body stopped arriving, or came too slowly (`foundation.bodies.BodyPace`).
    The answer closes the connection: what the client may still send is not read."""

    status = 408
    code = "too_slow"
    close_connection = True


class Disconnected(WebError):
    """The client went away before its body ended: nobody is left to answer."""

    status = 400
    code = "disconnected"


class TooLarge(WebError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(WebError):
    status = 415
    code = "unsupported_media_type"


class Unacceptable(WebError):
    """Well-formed but not acceptable: unknown or used blob ids, sizes over a limit."""

    status = 422
    code = "unacceptable"


class ContainErrorsMiddleware:
    """Answers an unexpected exception with the app's 500 page (`answer`) and lets it go
    no further.

    Starlette's outermost middleware re-raises after rendering a 500, so that the server
    logs the traceback; a traceback carries exception messages, and a message (a database
    error quoting its parameters, say) can carry what a reporter sent. Here only the
    exception's type is logged, to `log`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        answer: Callable[[Request, Exception], Awaitable[Response]],
        log: logging.Logger,
    ) -> None:
        self.app = app
        self.answer = answer
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            self.log.error("internal error: %s", type(exc).__name__)
            if not started:
                response = await self.answer(Request(scope), exc)
                await response(scope, receive, send)
