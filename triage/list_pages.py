"""The case list (triage/case_list.py: filters, search, pages) and the dashboard of
deadlines. Investigators see their unit's cases only."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import units
from .case_list import STAGES, Filters, list_cases, parse_page
from .pages import (
    officer,
    render,
)
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


routes = [
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/cases", case_list, methods=["GET"]),
]
