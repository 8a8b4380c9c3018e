"""Who a reporter is opens only with a second person (issue 17, finding 1).

A reporter may write who they are into the report; the console withholds it. A triage
officer who needs it asks, on the case page, saying why. A custodian — an officer whose
only role is this, who reads no case — sees the request and the reason at /custody, and
approves or refuses it. Only then, and only for the officer who asked and only on that
case, does the case page offer to show the identity; each showing is its own audit
entry, as are the request, the approval and the refusal. Nobody decides their own
request, and a request is decided once: a second approval (a double click, a second tab,
another custodian at the same moment) changes nothing.

Modelled on GlobaLeaks' custodians and identity-access requests. Reasons and answers
are vault-sealed, like every other word an officer writes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.errors import Forbidden
from foundation.forms import small_form

from . import refusals
from .console import Console
from .db import IdentityRequest, Officer
from .notices import Notice
from .pages import audit, officer, perform, render
from .settings import ConsoleError

MAX_REASON = 1000
#: How many decided requests the custodians' page lists (newest first).
HISTORY = 50


@dataclass(frozen=True)
class Asked:
    """An identity request as a page shows it, reasons opened."""

    id: int
    case_id: str
    requester: str
    reason: str
    on: datetime.date
    state: str  # pending | approved | refused
    decided_by: str | None
    decided_on: datetime.date | None
    answer: str


class OwnRequest(ConsoleError):
    """A custodian tried to decide a request they made themselves."""


def _asked(console: Console, row: IdentityRequest) -> Asked:
    return Asked(
        id=row.id,
        case_id=row.case_id,
        requester=row.requester,
        reason=str(console._open(row.reason)),
        on=row.on,
        state=row.state,
        decided_by=row.decided_by,
        decided_on=row.decided_on,
        answer=str(console._open(row.answer)) if row.answer is not None else "",
    )


def ask(console: Console, case_id: str, requester: str, reason: str) -> int:
    """Record `requester`'s request to see the identity in `case_id`; its id."""
    reason = reason.strip()
    if not reason:
        raise ConsoleError("say why you need to know who the reporter is: the custodian reads it")
    if len(reason) > MAX_REASON:
        raise ConsoleError(f"keep the reason under {MAX_REASON} characters")
    with console.sessions() as session:
        open_ = session.scalar(
            select(IdentityRequest).where(
                IdentityRequest.case_id == case_id,
                IdentityRequest.requester == requester,
                IdentityRequest.state.in_(("pending", "approved")),
            )
        )
        if open_ is not None:
            raise ConsoleError(
                "you have already asked on this case"
                + (": a custodian has approved it" if open_.state == "approved" else "")
            )
        row = IdentityRequest(
            case_id=case_id,
            requester=requester,
            reason=console._seal(reason),
            on=console._today(),
            state="pending",
        )
        session.add(row)
        session.flush()
        console.audit(session, "ask identity", case_id, request=row.id)
        session.commit()
        return row.id


def decide(console: Console, request_id: int, custodian: str, approve: bool, answer: str) -> Asked:
    """A custodian's decision on a pending request. Refused: anyone but an active
    custodian, the officer who asked, a request already decided."""
    answer = answer.strip()[:MAX_REASON]
    with console.sessions() as session:
        me = session.get(Officer, custodian)
        if me is None or not me.active or me.role != "custodian":
            raise ConsoleError("only a custodian decides identity requests")
        row = session.get(IdentityRequest, request_id)
        if row is None:
            raise ConsoleError("there is no such request")
        if row.requester == custodian:
            raise OwnRequest("you made this request: another custodian decides it")
        state = "approved" if approve else "refused"
        changed = session.execute(
            update(IdentityRequest)
            .where(IdentityRequest.id == request_id, IdentityRequest.state == "pending")
            .values(
                state=state,
                decided_by=custodian,
                decided_on=console._today(),
                answer=console._seal(answer) if answer else None,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            session.rollback()
            now = session.get(IdentityRequest, request_id)
            assert now is not None  # noqa: S101 - found above; requests are never deleted
            raise ConsoleError(f"this request was already {now.state} by {now.decided_by}")
        console.audit(
            session,
            "approve identity" if approve else "refuse identity",
            row.case_id,
            request=request_id,
            requester=row.requester,
        )
        session.commit()
        session.refresh(row)
        return _asked(console, row)


def may_reveal(console: Console, case_id: str, username: str) -> bool:
    """Whether a custodian approved `username`'s request for this case."""
    with console.sessions() as session:
        found = session.scalar(
            select(IdentityRequest.id).where(
                IdentityRequest.case_id == case_id,
                IdentityRequest.requester == username,
                IdentityRequest.state == "approved",
                IdentityRequest.decided_by != username,
            )
        )
        return found is not None


def for_case(console: Console, case_id: str) -> list[Asked]:
    with console.sessions() as session:
        rows = session.scalars(
            select(IdentityRequest)
            .where(IdentityRequest.case_id == case_id)
            .order_by(IdentityRequest.id)
        ).all()
        return [_asked(console, row) for row in rows]


def waiting(console: Console) -> list[Asked]:
    """Every pending request, oldest first."""
    with console.sessions() as session:
        rows = session.scalars(
            select(IdentityRequest)
            .where(IdentityRequest.state == "pending")
            .order_by(IdentityRequest.id)
        ).all()
        return [_asked(console, row) for row in rows]


def decided(console: Console) -> list[Asked]:
    with console.sessions() as session:
        rows = session.scalars(
            select(IdentityRequest)
            .where(IdentityRequest.state != "pending")
            .order_by(IdentityRequest.id.desc())
            .limit(HISTORY)
        ).all()
        return [_asked(console, row) for row in rows]


# -- pages -------------------------------------------------------------------------------


async def custody_page(
    request: Request, *, notice: Notice | None = None, status: int = 200
) -> Response:
    """The custodian's page: requests waiting for a decision, and the latest decided."""
    console, _ = await officer(request, "custodian")
    return render(
        request,
        "custody.html",
        {
            "waiting": await run_in_threadpool(waiting, console),
            "decided": await run_in_threadpool(decided, console),
            **({"notice": notice} if notice else {}),
        },
        status=status,
    )


async def custody_submit(request: Request) -> Response:
    """Approve or refuse one request (POST/redirect/GET, once per form)."""
    console, me = await officer(request, "custodian")
    form = await small_form(request, "custody")
    try:
        request_id = int(form.get("request", ""))
    except ValueError:
        raise ConsoleError("choose a request from the list") from None
    approve = form.get("decision") == "approve"
    if not approve and form.get("decision") != "refuse":
        raise ConsoleError("approve or refuse: nothing else can be done with a request")
    mine = await run_in_threadpool(
        lambda: any(a.id == request_id for a in _made_by(console, me.username))
    )
    if mine:
        await run_in_threadpool(audit, console, "denied", None, request.url.path)
        refusals.audited(request)
        raise Forbidden(
            "You made this request: another custodian decides it. The attempt has been recorded."
        )

    async def work(acting: Console) -> Notice | str:
        done = await run_in_threadpool(
            decide, acting, request_id, me.username, approve, form.get("answer", "")
        )
        if approve:
            return (
                f"Approved: {done.requester} can now open the identity in case {done.case_id} "
                "(only they can, and each time is recorded)."
            )
        return f"Refused: {done.requester} is told on case {done.case_id}."

    async def refused(text: str, status: int) -> Response:
        return await custody_page(request, notice=Notice(text, error=True), status=status)

    return await perform(request, console, form, "custody", "/custody", work, refused)


def _made_by(console: Console, username: str) -> list[Asked]:
    with console.sessions() as session:
        rows = session.scalars(
            select(IdentityRequest).where(IdentityRequest.requester == username)
        ).all()
        return [_asked(console, row) for row in rows]


routes = [
    Route("/custody", custody_page, methods=["GET"]),
    Route("/custody", custody_submit, methods=["POST"]),
]
