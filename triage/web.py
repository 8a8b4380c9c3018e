"""The console's pages. Every page checks the officer's role; every view, reveal,
download, reply, status change, routing and refusal is written to the audit log.

Here: unsealing, signing in, enrolling, the case list and dashboard, downloads, sync,
officers, the audit log and statistics, and `perform`, which every action runs through
(POST/redirect/GET, once per form). A case's own page is triage/case_pages.py; units
and routing, triage/unit_pages.py."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

import crypto
from foundation.categories import CATEGORIES
from foundation.csrf import Csrf
from foundation.errors import Forbidden, NotFound, WebError
from foundation.forms import small_form
from foundation.tokens import open_token, purpose_key, seal_token

from . import account_news, approvals, notices, once, refusals, signin, statistics, units
from .case_list import STAGES, Filters, list_cases, parse_page
from .client import PortalError as PortalUnreachable
from .console import Console
from .db import Case, Item, Officer, OfficerSession, Unit, get_state
from .keys import threshold, unseal
from .notices import Notice, see_other
from .officers import (
    ROLES,
    Enrolment,
    deactivate,
    enrolled_with,
    finish_enrolment,
    officers,
    start_enrolment,
)
from .replies import PUBLIC_STATES
from .settings import ConsoleError

SESSION_COOKIE = "lanthorn_console"
SESSION_SECONDS = 30 * 60
#: Where each role lands after signing in.
LANDING = {"auditor": "/audit", "admin": "/officers", "custodian": "/custody"}
log = logging.getLogger("lanthorn.console")


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


def _console(request: Request) -> Console:
    console: Console | None = request.app.state.console
    if console is None:
        raise Redirect("/unseal")
    return console


def _digest(session_id: str) -> bytes:
    return hashlib.blake2b(session_id.encode(), digest_size=32).digest()


async def officer(request: Request, *roles: str) -> tuple[Console, Officer]:
    """The signed-in officer, who must hold one of `roles`; else sign-in or 403."""
    console = _console(request)
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
            row = session.get(OfficerSession, _digest(session_id)) if session_id else None
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
        await run_in_threadpool(_audit, acting, "denied", None, request.url.path)
        refusals.audited(request)
        raise Forbidden("Your role does not allow this page. The attempt has been recorded.")
    return acting, found


def _audit(console: Console, action: str, case: str | None, path: str | None = None) -> None:
    with console.sessions() as session:
        if path is None:
            console.audit(session, action, case)
        else:
            console.audit(session, action, case, path=path)
        session.commit()


# -- unseal, sign in ---------------------------------------------------------------------


async def home(request: Request) -> Response:
    await officer(request)
    return RedirectResponse("/cases", status_code=303)


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
        _audit, console.acting_as("console:unseal"), "unseal refused: already unsealed", None
    )
    return see_other(request, "/login", ALREADY_UNSEALED)


async def login_page(request: Request) -> Response:
    _console(request)
    return render(request, "login.html")


async def login_submit(request: Request) -> Response:
    """Sign in (triage/signin.py): a locked account is refused before any password is
    checked; the check itself waits for a slot of the password gate, or is refused."""
    console = _console(request)
    form = await small_form(request, "login")
    username = form.get("username", "").strip().lower()[:40]
    state = request.app.state
    now = int(state.clock())

    def refuse(error: str, status: int, retry_after: int) -> Response:
        response = render(
            request, "login.html", {"error": error, "username": username}, status=status
        )
        response.headers["Retry-After"] = str(max(1, retry_after))
        return response

    def locked(until: int) -> Response:
        return refuse(signin.locked_message(until, now), 429, until - now)

    if await run_in_threadpool(signin.is_officer, console, username):
        until = await run_in_threadpool(signin.locked_until, console, username, now)
    else:
        until = state.remembered.locked_until(username, now)
    if until:
        return locked(until)
    try:
        outcome = await state.password_gate.run(
            request,
            signin.check,
            console,
            state.remembered,
            username,
            form.get("password", ""),
            form.get("code", ""),
            state.hasher,
            now,
            signin.browser_of(request),
        )
    except signin.Busy:
        return refuse(signin.BUSY, 503, signin.RETRY_AFTER)
    except signin.ClientGone:
        return Response(status_code=400)  # nobody is there to read it
    if outcome.locked_until:
        return locked(outcome.locked_until)
    found = outcome.officer
    if found is None:
        acting = console.acting_as(f"officer:{username}")

        def failed() -> None:
            with console.sessions() as session:
                acting.audit(session, "login failed", failures=outcome.failures)
                if outcome.newly_locked:
                    acting.audit(
                        session,
                        "sign-in locked",
                        officer=username,
                        failures=outcome.failures,
                        seconds=signin.lock_seconds(outcome.failures),
                    )
                session.commit()

        await run_in_threadpool(failed)
        return render(
            request,
            "login.html",
            {"error": "That username, password and code do not match.", "username": username},
            status=422,
        )
    session_id = secrets.token_urlsafe(32)
    expires = int(state.clock()) + SESSION_SECONDS

    def save() -> str:
        with console.sessions() as session:
            news = account_news.since_last_sign_in(session, found.username)
            session.add(
                OfficerSession(
                    id_digest=_digest(session_id), username=found.username, expires=expires
                )
            )
            console.acting_as(f"officer:{found.username}").audit(session, "login")
            session.commit()
        return account_news.summary(news)

    news = await run_in_threadpool(save)
    response = see_other(request, LANDING.get(found.role, "/cases"), news or None)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    console = _console(request)
    await small_form(request, "logout")  # the form carries only its CSRF token
    session_id = request.cookies.get(SESSION_COOKIE, "")

    def forget() -> None:
        with console.sessions() as session:
            row = session.get(OfficerSession, _digest(session_id))
            if row is not None:
                session.delete(row)
                session.commit()

    await run_in_threadpool(forget)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


def _enrol_key(request: Request) -> bytes:
    return purpose_key(request.app.state.csrf._secret, "enrolment")


async def enrol_page(request: Request) -> Response:
    _console(request)
    return render(request, "enrol.html")


async def enrol_submit(request: Request) -> Response:
    console = _console(request)
    form = await small_form(request, "enrol")
    token = open_token(_enrol_key(request), form.get("enrolment"))
    try:
        if not isinstance(token, dict):  # first step: username and setup code
            enrolment = await run_in_threadpool(
                start_enrolment, console, form.get("username", "").strip(), form.get("setup", "")
            )
        else:  # second step: password and the first code from the app
            enrolment = Enrolment(token["u"], token["s"], token["uri"])
            await run_in_threadpool(
                finish_enrolment,
                console,
                enrolment,
                token["c"],
                form.get("password", ""),
                form.get("code", ""),
                request.app.state.hasher,
            )
            return see_other(request, "/login", ENROLLED)
    except ConsoleError as exc:
        if isinstance(token, dict):
            enrolment = Enrolment(token["u"], token["s"], token["uri"])
            if await run_in_threadpool(enrolled_with, console, enrolment):
                return see_other(request, "/login", ALREADY_ENROLLED)  # the form, sent again
            return _enrol_qr(request, enrolment, token["c"], str(exc))
        return render(request, "enrol.html", {"error": str(exc)}, status=422)
    return _enrol_qr(request, enrolment, form.get("setup", ""), "")


ENROLLED = "You are enrolled. Sign in with your username, your password and a code from your app."
ALREADY_ENROLLED = (
    "You are already enrolled with that code from your app. Sign in with your username, "
    "your password and a code from your app."
)


def _enrol_qr(request: Request, enrolment: Enrolment, setup: str, error: str) -> Response:
    sealed = seal_token(
        _enrol_key(request),
        {"u": enrolment.username, "s": enrolment.secret, "uri": enrolment.uri, "c": setup},
    )
    return render(
        request,
        "enrol_qr.html",
        {"qr": enrolment.qr_svg(), "secret": enrolment.secret, "enrolment": sealed, "error": error},
        status=422 if error else 200,
    )


# -- cases -------------------------------------------------------------------------------


async def dashboard(request: Request) -> Response:
    """Every deadline not yet met, overdue first; investigators see their unit's."""
    console, me = await officer(request, "triage", "investigator")
    unit = me.unit if me.role == "investigator" else None
    rows = await run_in_threadpool(console.dashboard, unit)
    return render(
        request,
        "dashboard.html",
        {
            "rows": rows,
            "overdue": sum(1 for _, d in rows if d.state == "overdue"),
            "due": sum(1 for _, d in rows if d.state == "due"),
            "units": await run_in_threadpool(units.units, console, include_retired=True),
            "today": console._today(),
        },
    )


async def case_list(request: Request) -> Response:
    """A page of cases (triage/case_list.py): filters, search, and the urgent count."""
    console, me = await officer(request, "triage", "investigator")
    filters = Filters.from_params(request.query_params)
    asked = parse_page(request.query_params.get("page"))
    unit = me.unit if me.role == "investigator" else None
    page = await run_in_threadpool(lambda: list_cases(console, filters, asked, unit=unit))
    return render(
        request,
        "cases.html",
        {
            "page": page,
            "cases": page.cases,
            "filters": filters,
            "units": await run_in_threadpool(units.units, console, include_retired=True),
            "states": ("received", *PUBLIC_STATES),
            "stages": STAGES,
            "today": console._today(),
        },
    )


async def _case_for(request: Request, *roles: str) -> tuple[Console, Officer, Case]:
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
        await run_in_threadpool(_audit, console, "denied", case.id, request.url.path)
        refusals.audited(request)
        raise Forbidden("This case is not routed to your unit. The attempt has been recorded.")
    return console, me, case


def _files(console: Console, case_id: str) -> list[dict[str, Any]]:
    with console.sessions() as session:
        items = session.query(Item).filter(Item.case_id == case_id).order_by(Item.seq).all()
        contents = [console._open(item.content) for item in items]
    return [
        {**descriptor, "state": content["files"].get(descriptor["blob_id"], "")}
        for content in contents
        for descriptor in content.get("document", {}).get("attachments", [])
        if "files" in content
    ]


def _push(console: Console) -> tuple[int, int]:
    try:
        return console.push()
    except PortalUnreachable:
        return 0, 1


async def download(request: Request) -> Response:
    """An attachment, decrypted as it streams, always as a download, never shown inline."""
    console, _, case = await _case_for(request, "triage", "investigator")
    blob_id = request.path_params["blob_id"]
    files = {f["blob_id"]: f for f in await run_in_threadpool(_files, console, case.id)}
    descriptor = files.get(blob_id)
    if descriptor is None or descriptor["state"] != "stored":
        raise NotFound("There is no such file in this case.")
    await run_in_threadpool(_audit, console, "download", case.id, descriptor["name"])
    path = console.blobs.path(blob_id)
    key = crypto.b64u_decode(descriptor["key"], length=32)

    async def plaintext() -> AsyncIterator[bytes]:
        reader = crypto.BlobReader(key)
        with path.open("rb") as handle:
            while block := handle.read(crypto.BLOB_STORED_CHUNK):
                yield reader.feed(block)
        reader.finish()

    return StreamingResponse(
        plaintext(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": attachment_disposition(descriptor["name"])},
    )


_DEVICE_NAME = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def attachment_disposition(name: str) -> str:
    """`attachment`, named so that no reporter-chosen name is read as a path, a hidden
    file or a device: letters and digits of any script, `.`, `_`, `-` and spaces, no
    leading dots, at most 100 characters; in ASCII (`filename`, others become `_`) and
    as written (`filename*`, RFC 6266; a header holds only Latin-1, so it is encoded)."""
    readable = "".join(c for c in name if c.isalnum() or c in "._- ").strip(" .")[:100]
    if not readable or _DEVICE_NAME.fullmatch(readable):
        readable = f"attachment {readable}".strip()
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in readable)
    disposition = f'attachment; filename="{plain}"'
    if readable != plain:
        disposition += f"; filename*=UTF-8''{quote(readable, safe='')}"
    return disposition


async def sync_now(request: Request) -> Response:
    console, _ = await officer(request, "triage")
    form = await small_form(request, "sync")  # its CSRF token and one-time value
    url = request.app.state.portal_url or await run_in_threadpool(_remembered_url, console)
    if not url:
        raise WebError("No portal address yet: run `lanthorn triage sync --portal URL` once.")

    async def work(acting: Console) -> Notice | str:
        try:
            report = await run_in_threadpool(acting.sync, url)
        except PortalUnreachable as exc:
            raise ConsoleError(f"the sync failed: {exc}") from None
        message = f"Synced: {report.taken} new items, {len(report.set_aside)} set aside."
        if report.held:
            message += f" {report.queued} replies and status changes not sent: {report.held}."
        if report.files_to_fetch:
            message += (
                f" {len(report.files_to_fetch)} files are still to fetch: the next sync "
                "tries again, and the portal keeps them until then."
            )
        return message

    async def refused(text: str, status: int) -> Response:
        return see_other(request, "/cases", Notice(text, error=True))

    return await perform(request, console, form, "sync", "/cases", work, refused)


def _remembered_url(console: Console) -> str | None:
    with console.sessions() as session:
        return get_state(session, "portal_url")


async def sync_loop(app: Starlette) -> None:
    """`serve --portal URL --sync-every SECONDS`: sync in the background once unsealed."""
    while True:
        await asyncio.sleep(app.state.sync_every)
        console: Console | None = app.state.console
        if console is None:
            continue
        try:
            report = await run_in_threadpool(
                console.acting_as("console:timer").sync, app.state.portal_url
            )
        except (PortalUnreachable, ConsoleError) as exc:
            log.warning("sync failed: %s", type(exc).__name__)
            continue
        if report.taken or report.set_aside:
            log.info("synced: %d new item(s), %d set aside", report.taken, len(report.set_aside))


# -- people and audit ----------------------------------------------------------------------


async def officers_page(
    request: Request, *, error: str = "", kept: dict[str, str] | None = None, status: int = 200
) -> Response:
    console, _ = await officer(request, "admin")
    return render(
        request,
        "officers.html",
        {
            "officers": await run_in_threadpool(officers, console),
            "locks": await run_in_threadpool(signin.locks, console, int(request.app.state.clock())),
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
            await run_in_threadpool(_audit, console, "denied", None, request.url.path)
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
    """Lift an officer's sign-in lock (triage/signin.py), audited with the failures."""
    console, _ = await officer(request, "admin")
    form = await small_form(request, "unlock")
    username = form.get("username", "")

    async def work(acting: Console) -> Notice | str:
        if not await run_in_threadpool(signin.unlock, acting, username):
            raise ConsoleError(f"{username or 'that officer'} is not locked")
        return f"{username} can sign in again."

    async def refused(text: str, status: int) -> Response:
        return await officers_page(request, error=text, status=status)

    return await perform(request, console, form, "unlock", "/officers", work, refused)


async def audit_page(request: Request) -> Response:
    console, _ = await officer(request, "auditor", "admin")
    try:
        count, head = await run_in_threadpool(console.verify_audit)
        verdict = f"The chain is intact: {count} entries, head {head.hex()[:16]}…"
        broken = False
    except crypto.AuditChainBroken as exc:
        verdict = f"The chain is BROKEN at entry {exc.index + 1}."
        broken = True
    entries = await run_in_threadpool(console.audit_entries)
    await run_in_threadpool(_audit, console, "view audit", None)
    return render(
        request,
        "audit.html",
        {
            "entries": list(reversed(entries))[:500],
            "verdict": verdict,
            "broken": broken,
            "unit_names": await run_in_threadpool(units.units, console, include_retired=True),
        },
    )


# -- statistics ----------------------------------------------------------------------------


def _statistics(console: Console, action: str) -> statistics.Figures:
    with console.sessions() as session:
        rows = statistics.read_rows(console, session)
        console.audit(session, action)
        session.commit()
    return statistics.compute(rows)


async def statistics_page(request: Request) -> Response:
    """Counts and medians with small cells suppressed, as tables and bar charts."""
    console, _ = await officer(request, "triage", "auditor")
    figures = await run_in_threadpool(_statistics, console, "statistics")
    return render(request, "statistics.html", {"figures": figures})


async def statistics_export(request: Request) -> Response:
    """The same suppressed figures as a CSV download."""
    console, _ = await officer(request, "triage", "auditor")
    figures = await run_in_threadpool(_statistics, console, "statistics export")
    return Response(
        statistics.to_csv(figures),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="lanthorn-statistics.csv"'},
    )


async def redirect_handler(request: Request, exc: Exception) -> Response:
    return RedirectResponse(getattr(exc, "location", "/"), status_code=303)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/unseal", unseal_page, methods=["GET"]),
    Route("/unseal", unseal_submit, methods=["POST"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/enrol", enrol_page, methods=["GET"]),
    Route("/enrol", enrol_submit, methods=["POST"]),
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/cases", case_list, methods=["GET"]),
    Route("/cases/{case}/files/{blob_id}", download, methods=["GET"]),
    Route("/sync", sync_now, methods=["POST"]),
    Route("/officers", officers_page, methods=["GET"]),
    Route("/officers", officers_submit, methods=["POST"]),
    Route("/officers/unlock", unlock_submit, methods=["POST"]),
    Route("/audit", audit_page, methods=["GET"]),
    Route("/statistics", statistics_page, methods=["GET"]),
    Route("/statistics.csv", statistics_export, methods=["GET"]),
]
