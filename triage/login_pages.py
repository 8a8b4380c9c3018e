"""Signing in (password and authenticator code; triage/signin.py), signing out, and
enrolling with a one-time setup code from an administrator."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from foundation.forms import small_form
from foundation.tokens import open_token, purpose_key, seal_token

from . import account_news, password_gate, signin, signin_codes, signin_lockout
from .db import OfficerSession
from .notices import see_other
from .officers import (
    Enrolment,
    enrolled_with,
    finish_enrolment,
    start_enrolment,
)
from .pages import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    console_of,
    officer,
    render,
    session_digest,
)
from .settings import ConsoleError

#: Where each role lands after signing in.
LANDING = {"auditor": "/audit", "admin": "/officers", "custodian": "/custody"}


async def home(request: Request) -> Response:
    await officer(request)
    return RedirectResponse("/cases", status_code=303)


async def login_page(request: Request) -> Response:
    console_of(request)
    return render(request, "login.html")


async def login_submit(request: Request) -> Response:
    """Sign in (triage/signin.py): a locked account is refused before any password is
    checked; the check itself waits for a slot of the password gate, or is refused."""
    console = console_of(request)
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
        return refuse(signin_lockout.locked_message(until, now), 429, until - now)

    if await run_in_threadpool(signin.is_officer, console, username):
        until = await run_in_threadpool(signin_lockout.locked_until, console, username, now)
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
            signin_codes.browser_of(request),
        )
    except password_gate.Busy:
        return refuse(password_gate.BUSY, 503, password_gate.RETRY_AFTER)
    except password_gate.ClientGone:
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
                        seconds=signin_lockout.lock_seconds(outcome.failures),
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
                    id_digest=session_digest(session_id), username=found.username, expires=expires
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
    console = console_of(request)
    await small_form(request, "logout")  # the form carries only its CSRF token
    session_id = request.cookies.get(SESSION_COOKIE, "")

    def forget() -> None:
        with console.sessions() as session:
            row = session.get(OfficerSession, session_digest(session_id))
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
    console_of(request)
    return render(request, "enrol.html")


async def enrol_submit(request: Request) -> Response:
    console = console_of(request)
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


routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/enrol", enrol_page, methods=["GET"]),
    Route("/enrol", enrol_submit, methods=["POST"]),
]
