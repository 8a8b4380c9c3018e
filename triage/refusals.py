"""Every refusal (403) the console gives is in the audit log (issue 17, finding 9).

The console's error handler calls `audit_refusal` for every 403, whichever page raised
it: a role that may not see a page, an investigator asking for another unit's case, an
admin's reveal or reply, a form whose CSRF token is wrong. Pages that write a refusal
entry of their own (with the case it concerns) mark the request with `audited`, so that
a refusal is written once. While the console is sealed there is no audit key: such a
refusal goes to the log (the unseal page keeps its own, written at unsealing)."""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .console import Console
from .db import OfficerSession

#: The console's session cookie (triage/pages.py).
SESSION_COOKIE = "lanthorn_console"

log = logging.getLogger("lanthorn.console")


def audited(request: Request) -> None:
    """This request's refusal has its audit entry already."""
    request.state.refusal_audited = True


async def audit_refusal(request: Request, why: str) -> None:
    """A "denied" entry for this 403: who (the officer signed in, else "visitor"), the
    address and the kind of refusal; nothing a visitor typed."""
    if getattr(request.state, "refusal_audited", False):
        return
    console: Console | None = request.app.state.console
    if console is None:
        log.warning("refused while sealed: %s %s (%s)", request.method, request.url.path, why)
        return
    officer = getattr(request.state, "officer", None)
    path = request.url.path[:200]

    def write() -> None:
        with console.sessions() as session:
            username = officer.username if officer is not None else _signed_in(request, session)
            acting = console.acting_as(f"officer:{username}" if username else "visitor")
            acting.audit(session, "denied", None, path=path, method=request.method, why=why)
            session.commit()

    await run_in_threadpool(write)
    audited(request)


def _signed_in(request: Request, session: Session) -> str | None:
    """The officer whose session cookie came with a page that does not ask for one (sign
    in, enrol, unseal), if the session is current."""
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if not session_id:
        return None
    digest = hashlib.blake2b(session_id.encode(), digest_size=32).digest()  # as triage/pages.py
    row = session.get(OfficerSession, digest)
    if row is None or row.expires < int(request.app.state.clock()):
        return None
    return str(row.username)
