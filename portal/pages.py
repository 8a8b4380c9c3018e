"""Helpers shared by the HTML pages: rendering with CSRF, small urlencoded forms, dates,
and the limit on long text."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import crypto
from foundation.csrf import cookie_secure
from foundation.database import DatabaseThreads
from foundation.languages import LANGUAGES, N_

from .i18n import current_language
from .kiosk_icons import page_pictures
from .security import BROWSER_CRYPTO_CSP, KIOSK_CRYPTO_CSP, KIOSK_CSP
from .store import utc_day

#: What a page that seals in the browser loads, in order, each with Subresource Integrity.
_SEALING_LIBRARY = (
    "vendor/libsodium/libsodium-sumo.js",
    "vendor/libsodium/libsodium-wrappers.js",
    "lanthorn-protocol.js",
    "receipt-page.js",
)
#: The reader's choice of language for the staff and third-party pages: a session cookie,
#: so it goes when the browser closes. The kiosk carries its language in each form instead.
LANGUAGE_COOKIE = "lanthorn_lang"
RECEIPT_PROBLEMS = {
    "length": N_(
        "A receipt code has 20 digits, but %(count)s were entered. "
        "Please check the code and try again."
    ),
    "check": N_(
        "This receipt code has a typing mistake: one digit is wrong or two are swapped. "
        "Please check it and try again."
    ),
}
#: The most characters a report's description, or a follow-up message, may have: the same
#: number with JavaScript on or off, stated next to the field. Even at 4 bytes a character
#: it fills under half of a sealed document (1 MiB), leaving room for the other fields.
TEXT_CHARS = 100_000
TOO_LONG = N_(
    "This is too long. It can have at most %(limit)s characters. "
    "Make it shorter, or put the rest in a file and attach it."
)
#: The whole document over the largest sealed size: only when other long fields add up.
TOO_MUCH_TO_SEAL = N_(
    "Your report is too long to send in one go. Make the longest parts shorter, "
    "or put long text in a file and attach it."
)
#: Files a refused form did not keep (or kept, and lost to the purge while the form was
#: open), named so the reporter knows which to choose again.
CHOOSE_AGAIN = N_("These files were not kept. Please choose them again: %(names)s")
T = TypeVar("T")


async def with_database(request: Request, work: Callable[[], T]) -> T:
    """Run `work()`, which uses the database, in one of this worker's database threads
    once it is this request's turn: at most `db_concurrency` at once in this process
    (`foundation.database.DatabaseThreads`)."""
    threads: DatabaseThreads = request.app.state.db_threads
    return await threads.run(work)


async def in_session(request: Request, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `operation(session, *args, **kwargs)` with a fresh session (`with_database`)."""

    def call() -> T:
        with request.app.state.sessions() as session:
            return operation(session, *args, **kwargs)

    return await with_database(request, call)


def today(request: Request) -> datetime.date:
    """Today's date by the portal's clock: the only precision the portal keeps."""
    return utc_day(request.app.state.clock())


def sealing_scripts(page_script: str) -> tuple[str, ...]:
    """The scripts of a page that seals in the browser: libsodium.js, the protocol, the
    receipt screen, then the page's own. The base templates load them, each pinned by
    Subresource Integrity, and `render` gives such a page the policy that lets them run."""
    return (*_SEALING_LIBRARY, page_script)


def kiosk_sealing_scripts(page_script: str) -> dict[str, tuple[str, ...]]:
    """A kiosk page that seals in the browser: its own script runs as the page loads, and
    the sealing library (1.4 MB, its WebAssembly compiled as it runs) is loaded by the page
    only when the reporter moves towards the step that needs it (`LanthornKiosk.crypto` in
    kiosk.js), so no screen waits for it. kiosk/base.html names each file with its
    Subresource Integrity hash, which the page sets on the script it adds; `render` gives
    the page the same policy as any page that seals."""
    return {"scripts": (page_script,), "crypto": _SEALING_LIBRARY}


def page_language(request: Request) -> str:
    """The language the reader chose with the links at the foot of every page; English
    until they choose."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in LANGUAGES else "en"


def too_long(text: str) -> bool:
    """Over `TEXT_CHARS` characters (code points, as the page's script counts them)."""
    return len(text) > TEXT_CHARS


def text_limit(request: Request) -> str:
    """`TEXT_CHARS` written as the reader's language writes numbers ("100 000" in Polish)."""
    return str(format_decimal(TEXT_CHARS, locale=page_language(request)))


def receipt_problem(exc: crypto.InvalidReceipt) -> dict[str, Any]:
    """A typo in a receipt as a message id and its parameters, translated on the page."""
    return {"error": RECEIPT_PROBLEMS[exc.reason], "error_params": {"count": exc.digits}}


async def choose_language(request: Request) -> Response:
    """GET /language/{code}?next=/path: remember the choice for this browser session."""
    code = request.path_params["code"]
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    response = redirect(target)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )
    return response


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """Render `template`; `csrf(purpose)` in templates makes a token for that form."""
    csrf = request.app.state.csrf
    ctx = {"csrf": lambda purpose: csrf.token(request, purpose), **(context or {})}
    language = current_language.set(str(ctx.get("lang") or page_language(request)))
    try:  # TemplateResponse renders at once, in the language set here
        with page_pictures():  # the kiosk's pictures, drawn in the page (kiosk_icons)
            response: Response = request.app.state.templates.TemplateResponse(
                request, template, ctx, status_code=status
            )
    finally:
        current_language.reset(language)
    if ctx.get("scripts"):
        policy = KIOSK_CRYPTO_CSP if ctx.get("kiosk") else BROWSER_CRYPTO_CSP
        response.headers["Content-Security-Policy"] = policy
    elif ctx.get("kiosk"):
        response.headers["Content-Security-Policy"] = KIOSK_CSP
    csrf.set_cookie(request, response)
    return response


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)
