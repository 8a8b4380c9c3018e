"""The console's web application: unseal, sign in, cases, replies, audit.

Built by `create_app(settings)`; nothing is created at import time. Until k officers
unseal it, the console serves only the unseal page. The unsealed keys live in this
process's memory, so the console runs as one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from foundation.csrf import Csrf
from foundation.errors import ContainErrorsMiddleware, WebError
from foundation.headers import SecurityHeadersMiddleware
from foundation.templates import make_templates

from . import (
    audit_pages,
    case_pages,
    custody,
    downloads,
    labels,
    list_pages,
    login_pages,
    notify,
    notify_pages,
    officer_pages,
    pages,
    password_gate,
    queue_pages,
    refusals,
    signin_lockout,
    sync_pages,
    template_pages,
    unit_pages,
    unseal_pages,
)
from .notices import Notices
from .officers import PASSWORDS
from .settings import ConsoleError, TriageSettings

HERE = Path(__file__).parent
log = logging.getLogger("lanthorn.console")


def _render_error(request: Request, status: int, message: str) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


async def _console_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ConsoleError):
        return _render_error(request, 422, str(exc))
    if isinstance(exc, WebError):
        if exc.status == 403:  # every refusal is audited, whichever page refused
            await refusals.audit_refusal(request, exc.code)
        return _render_error(request, exc.status, exc.message)
    if isinstance(exc, HTTPException):
        return _render_error(request, exc.status_code, "There is no page here.")
    return _render_error(request, 500, "Something went wrong.")  # pragma: no cover


async def _server_error(request: Request, exc: Exception) -> Response:
    """What an unexpected exception is answered with (`ContainErrorsMiddleware`)."""
    return _render_error(
        request, 500, "Something went wrong on our side. Nothing you sent was kept."
    )


def create_app(
    settings: TriageSettings,
    *,
    clock: Callable[[], float] = time.time,
    portal_url: str | None = None,
    sync_every: float | None = None,
    hasher: PasswordHasher = PASSWORDS,
) -> Starlette:
    """Build the console for `settings`; everything it needs hangs off `app.state`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = []
        if sync_every and portal_url:
            tasks.append(asyncio.create_task(sync_pages.sync_loop(app)))
        if settings.mail.enabled:  # email notifications, sent from here (triage/notify.py)
            tasks.append(asyncio.create_task(notify.loop(app)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if app.state.console is not None:
                app.state.console.close()

    templates = make_templates(HERE / "templates")
    labels.register(templates.env)  # words for the console's values (triage/labels.py)
    app = Starlette(
        routes=[
            *login_pages.routes,
            *unseal_pages.routes,
            *list_pages.routes,
            *queue_pages.routes,
            *downloads.routes,
            *sync_pages.routes,
            *officer_pages.routes,
            *audit_pages.routes,
            *case_pages.routes,
            *custody.routes,
            *unit_pages.routes,
            *notify_pages.routes,
            *template_pages.routes,
            Mount("/static", StaticFiles(directory=HERE / "static")),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(ContainErrorsMiddleware, answer=_server_error, log=log),
        ],
        exception_handlers={
            pages.Redirect: pages.redirect_handler,
            WebError: _console_error,
            ConsoleError: _console_error,
            HTTPException: _console_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.templates = templates
    # CSRF tokens are needed before unsealing, so their key is per process, not in the vault.
    app.state.csrf = Csrf(secrets.token_bytes(32))
    app.state.console = None
    app.state.portal_url = portal_url
    app.state.sync_every = sync_every
    app.state.notify_every = notify.EVERY
    app.state.hasher = hasher
    app.state.password_gate = password_gate.PasswordGate()  # Argon2id checks at once, and waiting
    app.state.remembered = signin_lockout.Remembered()  # sign-in failures of names not officers
    app.state.unseal_lock = asyncio.Lock()
    app.state.unseal_failures = []  # refused unseal attempts, audited at unsealing
    app.state.notices = Notices()  # what an action did, shown by the page it redirects to
    return app
