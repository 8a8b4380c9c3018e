"""Coming back with a receipt: read replies and status, send more, leave.

The session cookie holds the reporter's lookup id, box key and last-request time, sealed
under a random key that only the database row knows; the row is found by a hash of the
cookie's id. A stolen cookie alone, or a seized database alone, opens nothing. Sessions
end after `session_idle_seconds` without a request, or at once on "Leave".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto
from foundation.categories import STATUS_TEXT
from foundation.csrf import cookie_secure
from foundation.errors import BadRequest, Unacceptable
from foundation.forms import small_form
from foundation.languages import N_
from foundation.tokens import open_token, seal_token

from . import once, store, thread_view
from .admission import FOLLOW_UP
from .db import ReporterSession
from .errors import AlreadySent, Busy
from .pages import (
    CHOOSE_AGAIN,
    RECEIPT_PROBLEMS,
    TEXT_CHARS,
    TOO_LONG,
    in_session,
    receipt_problem,
    redirect,
    render,
    sealing_scripts,
    text_limit,
    today,
    too_long,
    with_database,
)
from .security import derive, retry_later
from .upload_budget import UploadsPaused
from .uploads import FILES_NOT_TAKEN, commit_uploads, forget_uploads, read_form

SESSION_COOKIE = "lanthorn_session"
NOT_FOUND = N_(
    "No report was found for this receipt code. Check every digit against what "
    "you wrote down. If it is right, the report may have been closed and removed."
)
#: What follow-up.js sends instead of the receipt: the keys it derived from it in the page.
DERIVED_FIELDS = ("lookup_id", "box_sk", "sign_sk")
#: Too many receipts are being turned into keys at once (`portal.admission`).
BUSY = N_(
    "Too many people are using the portal just now. Nothing is wrong with your code. "
    "Please try again in a minute."
)


@dataclass(frozen=True)
class Reporter:
    lookup_id: bytes
    box: crypto.PrivateKey
    #: Signs the reporter's messages (protocol v2), as their own client would.
    sign: crypto.SigningKey


def _digest(session_id: bytes) -> bytes:
    return hashlib.blake2b(b"lanthorn/portal/session" + session_id, digest_size=32).digest()


def _form_context() -> dict[str, Any]:
    """What the sign-in page needs besides its message: its script, and the messages the
    script shows in the page, the same as the server's."""
    return {
        "scripts": sealing_scripts("follow-up.js"),
        "problems": {**RECEIPT_PROBLEMS, "unknown": NOT_FOUND},
        # The state's words, for a thread follow-up.js checked and shows in the page.
        "status_text": STATUS_TEXT,
    }


async def follow_up_form(request: Request) -> Response:
    ended = request.query_params.get("ended") == "1"
    return render(request, "follow_up.html", {**_form_context(), "ended": ended})


def _login_page(request: Request, context: dict[str, Any]) -> Response:
    """The sign-in form again, with what was typed still in the field to correct: echoed
    in this answer only (no-store), never logged or kept."""
    return render(request, "follow_up.html", {**_form_context(), **context}, status=422)


async def follow_up_login(request: Request) -> Response:
    state = request.app.state
    form = await small_form(request, "follow-up")
    if not form.get("receipt") and any(name in form for name in DERIVED_FIELDS):
        return await _login_with_keys(request, form)
    typed = form.get("receipt", "")
    try:
        receipt = crypto.validate_receipt(typed)
    except crypto.InvalidReceipt as exc:
        return _login_page(request, {**receipt_problem(exc), "typed": typed})
    settings = state.settings
    try:
        keys = await derive(
            request,
            FOLLOW_UP,
            crypto.derive_reporter_keys,
            receipt,
            settings.receipt_salt,
            settings.kdf,
        )
    except Busy:
        context = {"error": BUSY, "typed": typed}
        return retry_later(
            render(request, "follow_up.html", {**_form_context(), **context}, status=503)
        )

    case = await in_session(request, store.find_case, keys.lookup_id)
    if case is None:
        await asyncio.sleep(state.throttle.failure(keys.lookup_id))
        return _login_page(request, {"error": NOT_FOUND, "typed": typed})
    state.throttle.success(keys.lookup_id)
    return await _signed_in(request, Reporter(keys.lookup_id, keys.box, keys.sign))


async def _login_with_keys(request: Request, form: dict[str, str]) -> Response:
    """The sign-in from the page's script (follow-up.js), which turned the receipt into
    keys in the browser: no Argon2id here, and the receipt never arrives. The box key must
    be the one the case was filed with; any other, like an unknown lookup id, is answered
    as an unknown receipt is, with the same wait."""
    state = request.app.state
    try:
        lookup_id = crypto.b64u_decode(form.get("lookup_id", ""), length=32)
        box = crypto.PrivateKey(crypto.b64u_decode(form.get("box_sk", ""), length=32))
        sign = crypto.SigningKey(crypto.b64u_decode(form.get("sign_sk", ""), length=32))
    except crypto.CryptoError:
        raise BadRequest(
            "The keys this page sent could not be read. Reload the page and try again."
        ) from None
    # Before the lookup: known or not, the same steps.
    public = bytes(box.public_key) + bytes(sign.verify_key)
    case = await in_session(request, store.find_case, lookup_id)
    filed = b"" if case is None else bytes(case.box_pk) + bytes(case.sign_pk)
    if case is None or not hmac.compare_digest(public, filed):
        await asyncio.sleep(state.throttle.failure(lookup_id))
        return _login_page(request, {"error": NOT_FOUND})
    state.throttle.success(lookup_id)
    return await _signed_in(request, Reporter(lookup_id, box, sign))


async def _signed_in(request: Request, reporter: Reporter) -> Response:
    """A new session for `reporter`, and the way to their thread."""
    state = request.app.state
    session_id, key = secrets.token_bytes(16), secrets.token_bytes(32)

    def save() -> None:
        with state.sessions() as session:
            row = ReporterSession(id_digest=_digest(session_id), key=key, seen_on=today(request))
            session.add(row)
            session.commit()

    await with_database(request, save)
    response = redirect("/thread")
    _set_cookie(request, response, _cookie_value(session_id, key, reporter, state.clock()))
    return response


def _cookie_value(session_id: bytes, key: bytes, reporter: Reporter, now: float) -> str:
    sealed = seal_token(
        key,
        {
            "l": crypto.b64u_encode(reporter.lookup_id),
            "b": crypto.b64u_encode(bytes(reporter.box)),
            "s": crypto.b64u_encode(bytes(reporter.sign)),
            "t": int(now),  # last request; lives only in the reporter's browser, sealed
        },
    )
    return f"{crypto.b64u_encode(session_id)}.{sealed}"


def _set_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
    )


def _cookie_parts(request: Request) -> tuple[bytes, str] | None:
    value = request.cookies.get(SESSION_COOKIE, "")
    head, _, sealed = value.partition(".")
    try:
        return crypto.b64u_decode(head, length=16), sealed
    except crypto.CryptoError:
        return None


async def current_reporter(request: Request) -> tuple[Reporter, str] | None:
    """The reporter of this browser session and the renewed cookie; None if it ended."""
    parts = _cookie_parts(request)
    if parts is None:
        return None
    session_id, sealed = parts
    state = request.app.state
    now = state.clock()
    day = today(request)

    def load() -> bytes | None:
        with state.sessions() as session:
            row = session.get(ReporterSession, _digest(session_id))
            if row is None:
                return None
            if row.seen_on != day:
                row.seen_on = day
                session.commit()
            return bytes(row.key)

    key = await with_database(request, load)
    if key is None:
        return None
    value = open_token(key, sealed)
    if not isinstance(value, dict) or not isinstance(value.get("t"), int):
        return None
    if now - value["t"] > state.settings.session_idle_seconds:
        await with_database(request, lambda: _forget_session(request, session_id))
        return None
    try:
        reporter = Reporter(
            lookup_id=crypto.b64u_decode(value["l"], length=32),
            box=crypto.PrivateKey(crypto.b64u_decode(value["b"], length=32)),
            sign=crypto.SigningKey(crypto.b64u_decode(value["s"], length=32)),
        )
    except (KeyError, crypto.CryptoError):
        return None
    return reporter, _cookie_value(session_id, key, reporter, now)


def _forget_session(request: Request, session_id: bytes) -> None:
    with request.app.state.sessions() as session:
        session.execute(
            delete(ReporterSession).where(ReporterSession.id_digest == _digest(session_id))
        )
        session.commit()


async def thread_page(
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    text: str = "",
    reattach: tuple[str, ...] = (),
) -> Response:
    current = await current_reporter(request)
    if current is None:
        return redirect("/follow-up?ended=1")
    reporter, cookie = current
    state = request.app.state

    def load() -> dict[str, Any]:
        with state.sessions() as session:
            case = store.find_case(session, reporter.lookup_id)
            if case is None:
                return {}
            items = store.thread_items(session, case, today(request))
            blobs = store.blob_ids_by_item(session, [i.seq for i in items])
        # Checked against the keys derived from the receipt, not the case's row (§19.4).
        checked = thread_view.check(
            state.settings,
            items,
            case_key=bytes(reporter.box.public_key),
            reporter_key=bytes(reporter.sign.verify_key),
            box=reporter.box,
            files=blobs,
        )
        return {"case": case, "checked": checked, "items": checked.entries}

    context = await with_database(request, load)
    if not context:
        return redirect("/follow-up?ended=1")
    context.update(
        sent=request.query_params.get("sent") == "1",
        error=error,
        error_params={"limit": text_limit(request), "names": ", ".join(reattach)},
        text=text,
        reattach=CHOOSE_AGAIN if reattach else "",
        text_chars=TEXT_CHARS,
        status_text=STATUS_TEXT,
        once=once.issue(request),
        hidden_warning=thread_view.HIDDEN,
    )
    response = render(request, "thread.html", context, status=status)
    _set_cookie(request, response, cookie)  # the idle clock starts again
    return response


async def thread_get(request: Request) -> Response:
    return await thread_page(request)


async def thread_post(request: Request) -> Response:
    """A follow-up message, with attachments, sealed to the oversight body."""
    state = request.app.state
    current = await current_reporter(request)

    async def sent_before(fields: dict[str, str]) -> None:  # before its files are stored
        await once.refuse_if_sent(request, once.read(request, fields.get(once.FIELD)))

    try:
        form = await read_form(request, "message", before_files=sent_before)
    except AlreadySent:
        return _already_sent(request)
    if current is None:
        form.abort()
        return redirect("/follow-up?ended=1")
    reporter, cookie = current
    text = form.fields.get("text", "").strip()
    if form.refused:  # the upload budget took none of its files: nothing is sent yet
        refused = await thread_page(
            request,
            status=UploadsPaused.status,
            error=FILES_NOT_TAKEN["message"],
            text=text,
            reattach=tuple(form.refused),
        )
        refused.headers["Retry-After"] = str(UploadsPaused.retry_after)
        return refused
    if not text and not form.files:
        form.abort()
        return await thread_page(request, status=422, error=N_("Write a message or attach a file."))
    problem = ""
    try:
        ticket = once.read(request, form.fields.get(once.FIELD))
        await once.check(request, ticket)
    except once.FormTooOld:
        problem = once.FORM_TOO_OLD
    except AlreadySent:  # a copy whose fields came after its files (no browser does that)
        form.abort()
        return _already_sent(request)
    except BaseException:
        form.abort()
        raise
    if too_long(text):
        problem = TOO_LONG
    if problem:
        # Nothing is sent: the words come back to shorten, and the page names the files
        # to choose again (this form keeps none).
        form.abort()
        names = tuple(upload.name for upload in form.files)
        return await thread_page(request, status=422, error=problem, text=text, reattach=names)
    attachments = await commit_uploads(request, form)
    settings = state.settings

    def add() -> None:
        with state.sessions() as session:
            case = store.find_case(session, reporter.lookup_id)
            if case is None:
                raise Unacceptable(N_("This report is no longer on the portal."))
            thread_view.add_message(  # a v2 message, after the last item that verified
                session,
                settings,
                case,
                box_pk=bytes(reporter.box.public_key),
                sign=reporter.sign,
                proof=reporter.box,
                text=text,
                attachments=attachments,
                today=today(request),
                sent_form=ticket.digest if ticket else None,
            )

    try:
        await with_database(request, add)
    except AlreadySent:  # the same page, sent twice at once: this one came second
        await forget_uploads(request, attachments)
        return _already_sent(request)
    except crypto.DocumentTooLarge:  # not reached: TEXT_CHARS fits with room to spare
        await forget_uploads(request, attachments)
        return await thread_page(request, status=422, error=TOO_LONG, text=text)
    except (thread_view.KeysRefused, store.ThreadMovedOn) as exc:
        # Not signed after an item that did not verify, nor sealed to keys refused: the
        # page says why, with the words kept.
        await forget_uploads(request, attachments)
        names = tuple(str(a["name"]) for a in attachments)
        why = (
            thread_view.KEYS_REFUSED
            if isinstance(exc, thread_view.KeysRefused)
            else thread_view.TAMPERED
        )
        return await thread_page(request, status=409, error=why, text=text, reattach=names)
    response = redirect("/thread?sent=1")
    _set_cookie(request, response, cookie)
    return response


def _already_sent(request: Request) -> Response:
    return once.already_sent_page(request, {"what": "message"})


async def leave(request: Request) -> Response:
    await small_form(request, "leave")  # the form carries only its CSRF token
    parts = _cookie_parts(request)
    if parts is not None:
        await with_database(request, lambda: _forget_session(request, parts[0]))
    response = render(request, "left.html")
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


routes = [
    Route("/follow-up", follow_up_form, methods=["GET"]),
    Route("/follow-up", follow_up_login, methods=["POST"]),
    Route("/thread", thread_get, methods=["GET"]),
    Route("/thread", thread_post, methods=["POST"]),
    Route("/leave", leave, methods=["POST"]),
]
