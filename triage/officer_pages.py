"""The officers page: asking to add an officer or change a role (a second administrator
approves, triage/approvals.py), deactivating, and lifting a sign-in lock."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.errors import Forbidden
from foundation.forms import small_form

from . import approvals, refusals, signin_lockout, units
from .console import Console
from .notices import Notice
from .officers import (
    ROLES,
    deactivate,
    officers,
)
from .pages import (
    audit,
    officer,
    perform,
    render,
)
from .settings import ConsoleError


async def officers_page(
    request: Request, *, error: str = "", kept: dict[str, str] | None = None, status: int = 200
) -> Response:
    console, _ = await officer(request, "admin")
    return render(
        request,
        "officers.html",
        {
            "officers": await run_in_threadpool(officers, console),
            "locks": await run_in_threadpool(
                signin_lockout.locks, console, int(request.app.state.clock())
            ),
            "roles": ROLES,
            "units": await run_in_threadpool(units.units, console),  # new investigators' units
            "unit_names": await run_in_threadpool(units.units, console, include_retired=True),
            "typed": kept or {},
            "waiting": await run_in_threadpool(approvals.waiting, console),
            "decided": await run_in_threadpool(approvals.decided, console),
            **({"notice": Notice(error, error=True)} if error else {}),
        },
        status=status,
    )


async def officers_submit(request: Request) -> Response:
    """Ask to add an officer or to change one's role, approve or refuse such a request
    of another admin (the page then shows a new officer's setup code, once), or
    deactivate an officer (triage/approvals.py)."""
    console, me = await officer(request, "admin")
    form = await small_form(request, "officers")
    deciding = form.get("request", "")
    if deciding:
        if not deciding.isdigit():
            raise ConsoleError("choose a request from the list")
        if await run_in_threadpool(approvals.own, console, int(deciding), me.username):
            await run_in_threadpool(audit, console, "denied", None, request.url.path)
            refusals.audited(request)
            raise Forbidden(
                "You asked for this, or it is about your own account: another "
                "administrator decides it. The attempt has been recorded."
            )

    async def work(acting: Console) -> Notice | str:
        if deciding:
            approve = form.get("decision") == "approve"
            done = await run_in_threadpool(
                approvals.decide, acting, int(deciding), me.username, approve
            )
            asked = done.request
            if not approve:
                return f"Refused: {asked.requester}'s request about {asked.username}."
            if done.setup_code:
                return Notice(
                    f"{asked.username} added.", setup=f"{asked.username}: {done.setup_code}"
                )
            return f"{asked.username} now has the new role; they sign in again to use it."
        changing = form.get("change")
        if changing:
            await run_in_threadpool(
                approvals.ask_to_change,
                acting,
                me.username,
                changing,
                form.get("role", ""),
                form.get("unit") or None,
            )
            return (
                f"Asked: {changing}'s new role waits for a second administrator, who sees "
                "the request on this page. Until then they keep the role they have."
            )
        leaving = form.get("deactivate")
        if leaving:
            if leaving == me.username:
                raise ConsoleError(
                    "you cannot deactivate yourself: another administrator can, "
                    "so that the console is never left without one"
                )
            await run_in_threadpool(deactivate, acting, leaving)
            return f"{leaving} is deactivated: they can no longer sign in."
        username = form.get("username", "").strip().lower()
        await run_in_threadpool(
            approvals.ask_to_add,
            acting,
            me.username,
            username,
            form.get("role", ""),
            form.get("unit") or None,
        )
        return (
            f"Asked: {username} waits for a second administrator, who sees the request on "
            "this page. When they approve it, they are given the setup code to hand over."
        )

    async def refused(text: str, status: int) -> Response:
        return await officers_page(request, error=text, kept=form, status=status)

    return await perform(request, console, form, "officers", "/officers", work, refused)


async def unlock_submit(request: Request) -> Response:
    """Lift an officer's sign-in lock (triage/signin_lockout.py), audited with the failures."""
    console, _ = await officer(request, "admin")
    form = await small_form(request, "unlock")
    username = form.get("username", "")

    async def work(acting: Console) -> Notice | str:
        if not await run_in_threadpool(signin_lockout.unlock, acting, username):
            raise ConsoleError(f"{username or 'that officer'} is not locked")
        return f"{username} can sign in again."

    async def refused(text: str, status: int) -> Response:
        return await officers_page(request, error=text, status=status)

    return await perform(request, console, form, "unlock", "/officers", work, refused)


routes = [
    Route("/officers", officers_page, methods=["GET"]),
    Route("/officers", officers_submit, methods=["POST"]),
    Route("/officers/unlock", unlock_submit, methods=["POST"]),
]
