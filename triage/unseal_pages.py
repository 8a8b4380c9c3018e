"""Unsealing the console in the browser: k officers' passphrases, one attempt at a time.
Attempts refused while sealed are kept in memory and audited once it is unsealed."""

from __future__ import annotations

import datetime
import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from foundation.csrf import Csrf
from foundation.errors import Forbidden
from foundation.forms import small_form

from .console import Console
from .keys import unseal
from .notices import see_other
from .pages import (
    audit,
    render,
)
from .settings import ConsoleError
from .vault import threshold

log = logging.getLogger("lanthorn.console")


async def unseal_page(request: Request) -> Response:
    if request.app.state.console is not None:
        return RedirectResponse("/login", status_code=303)
    k = threshold(request.app.state.settings)
    return render(request, "unseal.html", {"k": k})


async def unseal_submit(request: Request) -> Response:
    """Unseal with k passphrases. Once unsealed, no passphrase is checked at all: every
    attempt has the same answer ("already unsealed"), whatever its form held, and is
    audited. Attempts refused while sealed are kept in memory (there is no audit key
    yet) and written to the audit log when the console is unsealed."""
    state = request.app.state
    if state.console is not None:  # sent twice, from a second tab, or a guess: done
        return await _already_unsealed(request, state.console)
    try:
        form = await small_form(request, "unseal")
    except Forbidden:
        _unseal_failed(request, "the form was refused (its CSRF token)")
        raise
    settings = state.settings
    k = threshold(settings)
    passphrases = [form.get(f"passphrase{i}", "") for i in range(k)]
    # One attempt at a time: each costs k Argon2id runs of 256 MiB, and a crowd of
    # attempts must not exhaust the console's memory.
    async with state.unseal_lock:
        if state.console is not None:  # unsealed while this one waited: checks nothing
            return await _already_unsealed(request, state.console)
        try:
            unsealed = await run_in_threadpool(unseal, settings, passphrases)
        except ConsoleError as exc:
            _unseal_failed(request, "wrong passphrases")
            return render(request, "unseal.html", {"k": k, "error": str(exc)}, status=422)
        console = Console(settings, unsealed, who="console:unseal")

        def opened() -> None:
            with console.sessions() as session:
                console.audit_many(
                    session,
                    [("unseal failed", None, failure) for failure in state.unseal_failures]
                    + [("unseal", None, {})],
                )
                session.commit()

        await run_in_threadpool(opened)
        state.unseal_failures.clear()
        console.search.start()  # search is ready once every item has been read
        # Forms fetched while sealed are worth nothing once unsealed.
        state.csrf = Csrf(secrets.token_bytes(32))
        state.console = console
    return RedirectResponse("/login", status_code=303)


#: Failed unseal attempts kept until unsealing, at most (then counted, not listed).
UNSEAL_FAILURES_KEPT = 1000


ALREADY_UNSEALED = "The console is already unsealed: sign in below."


def _unseal_failed(request: Request, why: str) -> None:
    failures: list[dict[str, str | int]] = request.app.state.unseal_failures
    at = datetime.datetime.fromtimestamp(request.app.state.clock(), datetime.UTC)
    if len(failures) < UNSEAL_FAILURES_KEPT:
        failures.append({"why": why, "attempted": at.isoformat(timespec="seconds")})
    else:  # bounded memory: the last entry counts the rest
        failures[-1]["and_after"] = int(failures[-1].get("and_after", 0)) + 1
    log.warning("unseal attempt refused: %s", why)


async def _already_unsealed(request: Request, console: Console) -> Response:
    """The one answer to POST /unseal once unsealed; the form is not even read."""
    await run_in_threadpool(
        audit, console.acting_as("console:unseal"), "unseal refused: already unsealed", None
    )
    return see_other(request, "/login", ALREADY_UNSEALED)


routes = [
    Route("/unseal", unseal_page, methods=["GET"]),
    Route("/unseal", unseal_submit, methods=["POST"]),
]
