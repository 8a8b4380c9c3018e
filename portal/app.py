"""The portal's application factory. Nothing is created at import time."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from foundation.blobstore import BlobStore
from foundation.bodies import BodyPace
from foundation.csrf import Csrf
from foundation.database import DatabaseThreads, make_engine, make_sessionmaker
from foundation.errors import ContainErrorsMiddleware, WebError
from foundation.headers import SecurityHeadersMiddleware
from foundation.languages import N_
from foundation.serving import keep_freed_buffers
from foundation.templates import make_templates

from . import api, kiosk_audio, kiosk_error, kiosk_icons, thread_view, web
from .errors import ClientGone, Unavailable
from .i18n import current_language, load_catalogues
from .i18n import install as install_translations
from .kdf_queue import QUEUE_VARIABLE, SharedKdfGate
from .migrations import upgrade
from .pages import page_language
from .purge import Purger
from .security import KdfGate
from .settings import PortalSettings
from .signed import DatabaseNonceStore
from .sri import sri
from .throttle import ReceiptThrottle
from .upload_budget import UploadBudget
from .upload_gate import GateMiddleware, UploadGate

HERE = Path(__file__).parent
log = logging.getLogger("lanthorn.portal")

_HTTP_MESSAGES = {
    404: N_("There is no page at this address."),
    405: N_("This address does not accept that kind of request."),
}


def render_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    extra: dict[str, object] | None = None,
) -> Response:
    """One renderer for every error: JSON under /api/ (with any `extra` fields the error
    carries, such as the chain's `head`), the kiosk's own page under /kiosk, the error
    page elsewhere."""
    if request.url.path.startswith("/api/"):
        body = {"error": code, "message": message, **(extra or {})}
        return JSONResponse(body, status_code=status)
    if kiosk_error.is_kiosk(request):  # the kiosk's own page, in every language, heard
        return kiosk_error.error_page(request, status)
    templates: Jinja2Templates = request.app.state.templates
    language = current_language.set(page_language(request))
    try:
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status
        )
    finally:
        current_language.reset(language)


async def portal_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, WebError):  # pragma: no cover - registered for WebError
        return await server_error(request, exc)
    response = render_error(request, exc.status, exc.code, exc.message, getattr(exc, "extra", None))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if getattr(exc, "close_connection", False):  # uvicorn closes it after this answer
        response.headers["Connection"] = "close"
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException
        return await server_error(request, exc)
    message = _HTTP_MESSAGES.get(exc.status_code, N_("This request could not be handled."))
    response = render_error(request, exc.status_code, "http_error", message)
    if exc.status_code == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


def allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (a path served by a GET route and a
    POST route is one resource: its 405 must name both, as RFC 9110 asks)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


#: Seconds a client is asked to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 30
_UNAVAILABLE = N_("Reports cannot be sent or read just now. Please try again in a few minutes.")


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 with `Retry-After` when the database cannot be reached (down, restarting, or
    every pooled connection busy): a condition that passes, not a fault in the request.

    Nothing is half-stored: each change is one transaction, and uploads that were kept
    but never claimed are purged. Only the exception's type is logged.
    """
    log.warning("database unavailable: %s", type(exc).__name__)
    response = render_error(request, Unavailable.status, Unavailable.code, _UNAVAILABLE)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client went away while its request waited for a key derivation (`security.derive`):
    nothing was started, and nobody is there to read an answer. 408, with no body."""
    return Response(status_code=408)


async def server_error(request: Request, exc: Exception) -> Response:
    return render_error(
        request,
        500,
        "internal",
        N_("Something went wrong on our side. Nothing you sent was kept."),
    )


def portal_templates() -> Jinja2Templates:
    """The portal's templates, with `sri()` for the scripts of pages that seal in the browser."""
    templates = make_templates(HERE / "templates")
    templates.env.globals["sri"] = sri  # integrity="{{ sri('lanthorn-protocol.js') }}"
    return templates


def create_app(
    settings: PortalSettings, *, clock: Callable[[], float] = time.time, migrate: bool = True
) -> Starlette:
    """Build the portal for `settings`; everything it needs hangs off `app.state`.

    With `migrate`, bring the database schema up to date first. `portal serve` migrates
    once before it starts its workers and passes False, so workers never race.
    """
    # A connection for each request the gate lets through, and two for the purger.
    engine = make_engine(
        settings.database_url, pool_size=settings.db_concurrency + 2, max_overflow=2
    )
    if migrate:
        upgrade(engine)
    sessions = make_sessionmaker(engine)
    blobs = BlobStore(settings.blob_dir)
    purger = Purger(settings, sessions, blobs, clock)
    db_threads = DatabaseThreads(settings.db_concurrency)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with purger.running():
            yield
        await app.state.kdf_gate.close()
        db_threads.close()
        engine.dispose()

    templates = portal_templates()
    install_translations(templates.env, load_catalogues())
    # The oversight keys' fingerprint (§12.2), for people to compare with the posters: on
    # the about page and the receipt advice, left to right in every language.
    templates.env.globals["fingerprint"] = thread_view.display(thread_view.fingerprint(settings))
    kiosk_audio.install(templates.env)  # the kiosk's Listen controls (kiosk/_listen.html)
    kiosk_icons.install(templates.env)  # the kiosk's pictures, drawn in its pages
    app = Starlette(
        routes=[
            *api.routes,
            *web.all_routes(),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(ContainErrorsMiddleware, answer=server_error, log=log),
            Middleware(GateMiddleware),
        ],
        exception_handlers={
            WebError: portal_error,
            ClientGone: client_gone,
            HTTPException: http_error,
            OperationalError: database_unavailable,  # refused, dropped, shutting down
            InterfaceError: database_unavailable,  # a connection the server closed
            PoolTimeout: database_unavailable,  # no pooled connection came free in time
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.blobs = blobs
    app.state.upload_budget = UploadBudget(
        total=settings.unclaimed_bytes,
        per_hour=settings.unclaimed_bytes_per_hour,
        reserve=settings.disk_reserve_bytes,
        directory=lambda: str(settings.blob_dir),
    )
    app.state.upload_gate = UploadGate(settings.upload_concurrency, settings.body_buffer_bytes)
    app.state.body_pace = BodyPace(
        idle_seconds=settings.body_idle_seconds,
        min_rate=settings.body_min_rate,
        window_seconds=settings.body_rate_window,
    )
    app.state.purger = purger
    app.state.templates = templates
    app.state.nonces = DatabaseNonceStore(sessions, clock)
    app.state.csrf = Csrf(settings.secret.reveal())
    app.state.kdf_gate = kdf_gate(settings)
    app.state.db_threads = db_threads
    app.state.throttle = ReceiptThrottle(clock)
    return app


def kdf_gate(settings: PortalSettings) -> KdfGate | SharedKdfGate:
    """This worker's own queue for Argon2id, or its side of the queue `serve` shares
    between its workers (`portal.kdf_queue`)."""
    import os

    own = KdfGate(settings.kdf_concurrency, settings.kdf_waiting())
    address = os.environ.get(QUEUE_VARIABLE)
    return SharedKdfGate(address, own) if address else own


def app_from_environment() -> Starlette:
    """The factory `lanthorn portal serve` hands to uvicorn (one call per worker)."""
    import os

    keep_freed_buffers()
    return create_app(PortalSettings.load(Path(os.environ["LANTHORN_DATA"])), migrate=False)
