"""The case list's own actions: tick cases, then assign them or acknowledge them in one
go (POST /cases/bulk), and download the filtered list as CSV (GET /cases/export.csv).

Both are for triage officers (triage/assignment.py says who may assign to whom; the
export's columns are in triage/case_export.py). The bulk form carries a CSRF token and a
one-time value like every action form (triage/once.py): sent twice, by a double click
or a reload, it acts once. After acting, the officer is sent back to the same page of
the list, filters and place kept.
"""

from __future__ import annotations

import datetime
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.errors import Conflict
from foundation.forms import small_form

from . import assignment
from .case_export import ExportNotReady, export
from .case_filters import Filters
from .console import Console
from .list_pages import list_page
from .notices import Notice
from .pages import officer, perform
from .settings import ConsoleError
from .sync_pages import push_now

PURPOSE = "cases-bulk"
PICK = "pick-"
#: Where a bulk action may send the officer back to: the list, with its query.
_BACK = re.compile(r"/cases(\?[A-Za-z0-9%&=._~+-]{0,800})?")


def picked(form: dict[str, str]) -> list[str]:
    """The ids of the ticked cases (`pick-<id>` fields)."""
    return [name[len(PICK) :] for name, value in form.items() if name.startswith(PICK) and value]


async def bulk(request: Request) -> Response:
    """Assign, unassign or acknowledge the ticked cases, once."""
    console, me = await officer(request, "triage")
    form = await small_form(request, PURPOSE, max_fields=assignment.MAX_BULK + 10)
    back = form.get("back", "")
    back = back if _BACK.fullmatch(back) else "/cases"
    action = form.get("action", "")
    cases = picked(form)

    async def work(acting: Console) -> Notice | str:
        if action == "acknowledge":
            done = await run_in_threadpool(assignment.acknowledge_many, acting, cases)
            if done:
                _, queued = await run_in_threadpool(push_now, console)
                sent = "queued for the portal" if queued else "sent to the portal"
                return f"Acknowledged {_cases(done)}; {sent}."
            return "Nothing to acknowledge: the ticked cases were already acknowledged."
        if action == "assign":
            who = form.get("assignee", "")
            if not who:
                raise ConsoleError("choose whom to assign the ticked cases to")
            username = None if who == "-" else who
            done = await run_in_threadpool(assignment.assign, acting, cases, username)
            whom = "nobody (unassigned)" if username is None else username
            return f"Assigned {_cases(done)} to {whom}." if done else f"Already with {whom}."
        raise ConsoleError("choose an action: assign or acknowledge")

    async def refused(text: str, status: int) -> Response:
        return await list_page(request, console, me, Notice(text, error=True), status)

    response = await perform(request, console, form, PURPOSE, "/cases", work, refused)
    if response.status_code == 303:  # the notice is kept for /cases; the query is kept too
        response.headers["location"] = back
    return response


def _cases(count: int) -> str:
    return "1 case" if count == 1 else f"{count} cases"


async def export_csv(request: Request) -> Response:
    """The filtered list as CSV (no identities, no free text): audited."""
    console, _ = await officer(request, "triage")
    filters = Filters.from_params(request.query_params)
    try:
        text, _ = await run_in_threadpool(export, console, filters)
    except ExportNotReady:
        raise Conflict(
            "Search is still being prepared after unsealing: try the export again in a few seconds."
        ) from None
    day = datetime.datetime.fromtimestamp(console.clock(), datetime.UTC).date().isoformat()
    return Response(
        text.encode("utf-8-sig"),  # a byte-order mark: spreadsheets then read UTF-8
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="lanthorn-cases-{day}.csv"',
            "cache-control": "no-store",
        },
    )


#: Before the case page's routes: /cases/{case} would take /cases/export.csv.
routes = [
    Route("/cases/bulk", bulk, methods=["POST"]),
    Route("/cases/export.csv", export_csv, methods=["GET"]),
]
