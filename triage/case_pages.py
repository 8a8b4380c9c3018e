"""A case's page and what a triage officer does on it: reply, acknowledge, assess, record,
set the status, route, close, add a person or place of concern, ask to see who the
reporter is and, once a custodian approved it, see it (triage/custody.py), and export
a referral package (investigators too, for their unit).

Every action answers with a redirect to the case page (POST/redirect/GET) and is done
once however often its form is sent (triage/once.py, `pages.perform`); a refused one shows
the page again with the reason and what was typed."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from foundation.categories import CATEGORIES
from foundation.errors import Forbidden, NotFound
from foundation.forms import small_form

from . import (
    assignment,
    custody,
    labels,
    links,
    notes,
    notices,
    once,
    referral,
    refusals,
    strip,
    timeline,
    units,
    workflow,
)
from .console import Console
from .db import Case
from .notices import Notice, see_other
from .pages import audit, case_for, perform, render
from .replies import PUBLIC_STATES
from .settings import ConsoleError
from .sync_pages import push_now


async def case_page(
    request: Request,
    *,
    notice: Notice | None = None,
    kept: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The case. `kept`: what an officer typed into a form that was refused (with its
    `action`), shown back in that form with the reason in `notice`."""
    console, me, case = await case_for(request, "triage", "investigator")
    notice = notice or notices.current(request)
    reveal = (  # after Reveal, this once; only for the officer a custodian approved
        notice is not None
        and notice.reveal == case.id
        and await run_in_threadpool(custody.may_reveal, console, case.id, me.username)
    )
    shown = await run_in_threadpool(lambda: console.show(case.id, reveal_identity=reveal))
    unit = me.unit if me.role == "investigator" else None  # links only within their unit
    typed = dict(kept or {})
    language = labels.language(shown["lang"])
    deadlines = await run_in_threadpool(console.deadlines, case.id)
    asked = await run_in_threadpool(custody.for_case, console, case.id)
    all_units = await run_in_threadpool(units.units, console, include_retired=True)
    written = await run_in_threadpool(notes.case_notes, console, case.id)
    entries = await run_in_threadpool(
        timeline.build, console, case.id, shown, deadlines, written, asked, all_units, CATEGORIES
    )
    # Reply templates in the reporter's language; "Use this template" (a GET form,
    # no script needed) puts the chosen one's text in the reply box.
    offered = (
        await run_in_threadpool(notes.templates, console, language["code"])
        if me.role == "triage" and language["code"]
        else []
    )
    chosen = request.query_params.get("template", "")
    used = next((t for t in offered if str(t.id) == chosen), None)
    if used is not None and kept is None:
        typed = {"action": "reply", "text": used.text}

    def value(action: str, name: str, default: str = "") -> str:
        return typed.get(name, default) if typed.get("action") == action else default

    return render(
        request,
        "case.html",
        {
            "case": case,
            "shown": shown,
            "when": labels.occurred(shown, datetime.date.fromisoformat(shown["reached_portal_on"])),
            "language": language,
            "deadlines": deadlines,
            "timeline": entries,
            "reply_templates": offered,
            "used_template": used,
            "concerns": await run_in_threadpool(links.concerns, console, case.id, unit),
            "suggestions": await run_in_threadpool(links.suggestions, console, case.id, unit),
            "concern_kinds": links.KINDS,
            "outcomes": workflow.OUTCOMES,
            "severities": workflow.SEVERITIES,
            "recordable": workflow.RECORDABLE,
            "today": console._today(),
            "units": all_units,
            "route_to": await run_in_threadpool(units.units, console),  # active units only
            "suggested": await run_in_threadpool(units.suggested, console, case.category),
            "states": PUBLIC_STATES,
            "notice": notice,
            "typed": value,
            "can_act": me.role == "triage",
            "can_refer": me.role in ("triage", "investigator"),
            "asked": asked,
            "stripped_formats": strip.FORMATS,
        },
        status=status,
    )


#: What each action on a case says once done.
CASE_ACTIONS = {
    "ask": "",
    "reveal": "",
    "reply": "Reply saved",
    "acknowledge": "Acknowledged",
    "assess": "Assessment saved",
    "concern": "Recorded",
    "record": "Recorded",
    "close": "Case closed",
    "status": "Status saved",
    "route": "Case routed",
    "note": "Note saved (officers only; the reporter never sees it)",
}


async def case_action(request: Request) -> Response:
    console, me, case = await case_for(request, "triage", "admin")
    action = request.path_params["action"]
    if action not in CASE_ACTIONS:
        raise NotFound("There is no such action.")
    if action == "reveal" and not await run_in_threadpool(
        custody.may_reveal, console, case.id, me.username
    ):
        await run_in_threadpool(audit, console, "denied", case.id, request.url.path)
        refusals.audited(request)
        raise Forbidden(
            "The reporter's identity opens only for an officer whose request a custodian "
            "approved. The attempt has been recorded."
        )
    form = await small_form(request, f"case-{action}")
    if me.role != "triage":
        raise Forbidden(
            "Admins manage people, not case content."
            if action == "reveal"
            else "Only triage officers act on cases."
        )

    async def work(acting: Console) -> Notice | str:
        if action == "ask":
            await run_in_threadpool(
                custody.ask, acting, case.id, me.username, form.get("reason", "")
            )
            return (
                "Your request is with the custodians. This page tells you when one of them "
                "has decided; until then the identity stays closed."
            )
        if action == "reveal":
            await run_in_threadpool(once.finish, acting)  # the page it leads to reveals
            return Notice(
                "The reporter's identity is shown below, this once. The audit log records "
                "that you looked; a custodian approved your request.",
                reveal=case.id,
            )
        await run_in_threadpool(_act_on_case, acting, case.id, action, form)
        if action == "note":  # nothing goes to the portal
            return CASE_ACTIONS[action]
        _, queued = await run_in_threadpool(push_now, console)
        if queued and console.held_because:
            return f"{CASE_ACTIONS[action]} and queued, not sent: {console.held_because}."
        if queued:
            return f"{CASE_ACTIONS[action]}; the portal is unreachable, so it is queued."
        return f"{CASE_ACTIONS[action]} and sent to the portal."

    async def refused(text: str, status: int) -> Response:
        kept = {**form, "action": action}
        return await case_page(request, notice=Notice(text, error=True), kept=kept, status=status)

    return await perform(
        request, console, form, f"case-{action}", f"/cases/{case.id}", work, refused
    )


def _act_on_case(console: Console, case_id: str, action: str, form: dict[str, str]) -> None:
    """One action on a case, through `console` (which spends the form's value)."""
    if action == "reply":
        console.reply(case_id, form.get("text", ""), feedback=form.get("feedback") == "yes")
    elif action == "acknowledge":
        console.acknowledge(case_id)
    elif action == "assess":
        console.assess(
            case_id,
            category=form.get("category", ""),
            severity=form.get("severity", ""),
            urgent=form.get("urgent") == "yes",
            reason=form.get("reason", "")[:500],
        )
    elif action == "concern":
        links.add_concern(console, case_id, form.get("kind", ""), form.get("name", ""))
    elif action == "record":
        console.record(case_id, form.get("what", ""))
    elif action == "close":
        console.close_case(
            case_id,
            outcome=form.get("outcome", ""),
            summary=form.get("summary", ""),
            feedback=form.get("feedback", ""),
        )
    elif action == "status":
        console.set_public_status(case_id, form.get("state", ""))
    elif action == "route":
        _route(console, case_id, form.get("unit", ""), form.get("reason", ""))
    elif action == "note":
        notes.add_note(console, case_id, form.get("text", ""))


async def referral_export(request: Request) -> Response:
    """A referral package for a unit, as a download (see triage/referral.py).

    Triage officers may export for any unit; an investigator only for their own unit,
    on a case routed to it. The package is built in memory, or in the console's data
    directory when it is larger (originals), and removed once sent. The form is spent
    with the export's audit entry: sent again, it makes no second package."""
    console, me, case = await case_for(request, "triage", "investigator")
    form = await small_form(request, "case-referral")
    unit = form.get("unit", "")
    if me.role == "investigator" and unit != me.unit:
        await run_in_threadpool(audit, console, "refused referral", case.id, unit)
        refusals.audited(request)
        raise Forbidden("Investigators export referrals for their own unit only.")
    location = f"/cases/{case.id}"

    async def refused(text: str, status: int) -> Response:
        kept = {**form, "action": "referral"}
        return await case_page(request, notice=Notice(text, error=True), kept=kept, status=status)

    ticket = once.ticket(console, form, "case-referral")
    try:
        await run_in_threadpool(once.check, console, ticket)
    except once.AlreadyDone:
        return see_other(request, location, once.ALREADY_DONE)
    except once.Changed:
        return await refused(once.CHANGED, 409)
    acting = console.spending(ticket)
    # Built in memory, never in a file on a disk (triage/referral.py `ram_file`).
    package = referral.ram_file("referral-package")

    def build() -> referral.Package:
        return referral.export_referral(
            acting,
            case.id,
            unit=unit,
            reason=form.get("reason", ""),
            passages=form.get("passages", "").splitlines(),
            originals=form.get("originals") == "yes",
            out=package,
        )

    try:
        made = await run_in_threadpool(build)
    except referral.ReferralError as exc:
        package.close()
        return await refused(f"No package made: {exc}", 422)
    except once.AlreadyDone:  # the same form, sent twice at once: one package
        package.close()
        return see_other(request, location, once.ALREADY_DONE)
    except once.Changed:
        package.close()
        return await refused(once.CHANGED, 409)
    except BaseException:
        package.close()
        raise

    async def send() -> AsyncIterator[bytes]:
        try:
            package.seek(0)
            while block := await run_in_threadpool(package.read, 1 << 20):
                yield block
        finally:
            package.close()

    return StreamingResponse(
        send(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{made.filename}"',
            "Content-Length": str(made.size),
        },
    )


def _route(console: Console, case_id: str, unit: str, reason: str) -> None:
    if unit not in units.units(console):  # active units: a retired one takes no new cases
        raise ConsoleError("choose one of the units offered (a retired unit takes no new cases)")
    if not reason.strip():
        raise ConsoleError("say why this unit (it is recorded with the routing)")
    with console.sessions() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise ConsoleError("there is no such case")
        case.unit, case.workflow = unit, "routed"
        assignment.after_routing(console, session, case)
        console._event(session, case_id, "routed", {"unit": unit, "reason": reason.strip()[:500]})
        console.audit(session, "route", case_id, unit=unit, reason=reason.strip()[:500])
        session.commit()


routes = [
    Route("/cases/{case}", case_page, methods=["GET"]),
    Route("/cases/{case}/referral", referral_export, methods=["POST"]),
    Route("/cases/{case}/{action}", case_action, methods=["POST"]),
]
