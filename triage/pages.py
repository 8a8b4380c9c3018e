"""What every console page is built with: `render` (CSRF tokens, one-time values, the
notice), `officer` (the signed-in officer, who must hold one of the page's roles; a
refusal is audited), and `perform`, which every action runs through (POST/redirect/GET,
once per form). Every view, reveal, download, reply, status change, routing and
refusal is written to the audit log. Each page module lists its own routes;
triage/app.py assembles them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from foundation.categories import CATEGORIES
from foundation.errors import Forbidden, NotFound, WebError

from . import notices, once, refusals
from .console import Console
from .db import Case, Officer, OfficerSession, Unit
from .notices import Notice, see_other
from .settings import ConsoleError

SESSION_COOKIE = "lanthorn_console"


SESSION_SECONDS = 30 * 60


class Redirect(WebError):
    status = 303

    def __init__(self, location: str) -> None:
        super().__init__("see other")
        self.location = location


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    csrf = request.app.state.csrf
    ctx = {
        "csrf": lambda purpose: csrf.token(request, purpose),
        "once": once.new_value,  # each action form's one-time value (triage/once.py)
        "officer": getattr(request.state, "officer", None),
        "unit_name": getattr(request.state, "unit_name", None),
        "categories": CATEGORIES,
        "notice": notices.current(request),
        **(context or {}),
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, ctx, status_code=status
    )
    csrf.set_cookie(request, response)
    notices.forget(request, response)
    return response


Work = Callable[[Console], Awaitable[Notice | str]]


Refused = Callable[[str, int], Awaitable[Response]]


async def perform(
    request: Request,
    console: Console,
    form: dict[str, str],
    name: str,
    location: str,
    work: Work,
    refused: Refused,
) -> Response:
    """Run one action of a posted form, once, and answer 303 to `location` with what it
    did (POST/redirect/GET).

    `work` acts through the console it is given, which spends the form's one-time value
    with the action's audit entry. The same form sent again redirects with "This was
    already done."; sent again with other words, `refused` shows them back (409). An
    action the console refuses (`ConsoleError`) spends nothing and `refused` says why
    (422), keeping what was typed."""
    ticket = once.ticket(console, form, name)
    try:
        await run_in_threadpool(once.check, console, ticket)
        spender = console.spending(ticket)
        notice = await work(spender)
        await run_in_threadpool(once.finish, spender)
    except once.AlreadyDone:
        return see_other(request, location, once.ALREADY_DONE)
    except once.Changed:
        return await refused(once.CHANGED, 409)
    except ConsoleError as exc:
        return await refused(f"Not done: {exc}", 422)
    return see_other(request, location, notice)


def console_of(request: Request) -> Console:
    console: Console | None = request.app.state.console
    if console is None:
        raise Redirect("/unseal")
    return console


def session_digest(session_id: str) -> bytes:
    return hashlib.blake2b(session_id.encode(), digest_size=32).digest()


async def officer(request: Request, *roles: str) -> tuple[Console, Officer]:
    """The signed-in officer, who must hold one of `roles`; else sign-in or 403."""
    console = console_of(request)
    # A NUL in the address (a case id, a filter) would reach a query, and PostgreSQL
    # answers one with an error (a 500): refuse it first.
    if "\x00" in request.scope["path"] or any(
        "\x00" in name + value for name, value in request.query_params.multi_items()
    ):
        raise WebError("This address cannot be read.")
    session_id = request.cookies.get(SESSION_COOKIE, "")
    now = int(request.app.state.clock())

    def load() -> Officer | None:
        with console.sessions() as session:
            row = session.get(OfficerSession, session_digest(session_id)) if session_id else None
            if row is None or row.expires < now:
                return None
            found: Officer | None = session.get(Officer, row.username)
            if found is None or not found.active:
                return None
            row.expires = now + SESSION_SECONDS
            unit = session.get(Unit, found.unit) if found.unit else None
            request.state.unit_name = unit.name if unit is not None else found.unit
            session.commit()
            return found

    found = await run_in_threadpool(load)
    if found is None:
        raise Redirect("/login")
    request.state.officer = found
    acting = console.acting_as(f"officer:{found.username}")
    if roles and found.role not in roles:
        await run_in_threadpool(audit, acting, "denied", None, request.url.path)
        refusals.audited(request)
        raise Forbidden("Your role does not allow this page. The attempt has been recorded.")
    return acting, found


def audit(console: Console, action: str, case: str | None, path: str | None = None) -> None:
    with console.sessions() as session:
        if path is None:
            console.audit(session, action, case)
        else:
            console.audit(session, action, case, path=path)
        session.commit()


async def case_for(request: Request, *roles: str) -> tuple[Console, Officer, Case]:
    console, me = await officer(request, *roles)
    case_id = request.path_params["case"]

    def load() -> Case | None:
        with console.sessions() as session:
            found: Case | None = session.get(Case, case_id)
            return found

    case = await run_in_threadpool(load)
    if case is None:
        raise NotFound("There is no such case.")
    if me.role == "investigator" and case.unit != me.unit:
        await run_in_threadpool(audit, console, "denied", case.id, request.url.path)
        refusals.audited(request)
        raise Forbidden("This case is not routed to your unit. The attempt has been recorded.")
    return console, me, case


async def redirect_handler(request: Request, exc: Exception) -> Response:
    return RedirectResponse(getattr(exc, "location", "/"), status_code=303)
