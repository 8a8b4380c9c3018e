"""The case list (triage/case_list.py: filters, search, keyset pages, the "My cases" and
"Unassigned" queues) and the dashboard of deadlines. Investigators see their unit's
cases only. The list's own actions (bulk, CSV) are in triage/queue_pages.py."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.languages import LANGUAGES

from . import assignment, labels, units
from .case_filters import DEADLINE_STATES, SORTS, STAGES, UNASSIGNED, Cursor, Filters
from .case_list import list_cases
from .console import Console
from .db import Officer
from .notices import Notice
from .pages import officer, render
from .replies import PUBLIC_STATES


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
    """A page of cases (triage/case_list.py): filters, search, queues, the urgent count."""
    console, me = await officer(request, "triage", "investigator")
    return await list_page(request, console, me)


async def list_page(
    request: Request,
    console: Console,
    me: Officer,
    notice: Notice | None = None,
    status: int = 200,
) -> Response:
    """The list at the address's filters and place; with `notice` (a refused bulk
    action) shown above it."""
    filters = Filters.from_params(request.query_params)
    cursor = Cursor.from_params(request.query_params)
    unit = me.unit if me.role == "investigator" else None
    page = await run_in_threadpool(lambda: list_cases(console, filters, cursor, unit=unit))
    context = {
        "page": page,
        "cases": page.cases,
        "filters": filters,
        "units": await run_in_threadpool(units.units, console, include_retired=True),
        "assignees": await run_in_threadpool(assignment.assignees, console, unit),
        "languages": {code: labels.language(code)["text"] for code in LANGUAGES},
        "deadline_states": DEADLINE_STATES,
        "sorts": SORTS,
        "states": ("received", *PUBLIC_STATES),
        "stages": STAGES,
        "today": console._today(),
        "here": filters.link(cursor),
        "export": filters.link(path="/cases/export.csv"),
        "mine": Filters(assignee=me.username).link(),
        "unassigned": Filters(assignee=UNASSIGNED).link(),
    }
    if notice is not None:
        context["notice"] = notice
    return render(request, "cases.html", context, status)


routes = [
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/cases", case_list, methods=["GET"]),
]
