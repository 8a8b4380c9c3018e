"""The Units page (admins only): add, rename, retire and restore units, and edit the
routing table that suggests, for each category, the units a case goes to."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.categories import CATEGORIES
from portal.pages import small_form

from . import units
from .settings import ConsoleError
from .web import officer, render

ORDINALS = ("First", "Second", "Third", "Fourth")


async def units_page(request: Request, *, notice: str = "", error: str = "") -> Response:
    console, _ = await officer(request, "admin")
    summaries = await run_in_threadpool(units.summaries, console)
    table = await run_in_threadpool(units.routing, console)
    return render(
        request,
        "units.html",
        {
            "units": summaries,
            "names": {unit.id: unit.name for unit in summaries},
            "offered": {unit.id: unit.name for unit in summaries if unit.active},
            "routing": {category: table.get(category, ()) for category in CATEGORIES},
            "ordinals": ORDINALS[: units.MAX_ROUTED],
            "notice": notice,
            "error": error,
        },
        status=422 if error else 200,
    )


async def units_submit(request: Request) -> Response:
    """One form per change: `action` says which (add, rename, retire, restore)."""
    console, _ = await officer(request, "admin")
    form = await small_form(request, "units")
    action, unit_id = form.get("action", ""), form.get("unit", "")
    try:
        if action == "add":
            await run_in_threadpool(units.add_unit, console, unit_id, form.get("name", ""))
            notice = f"Unit {unit_id.strip()!r} added."
        elif action == "rename":
            await run_in_threadpool(units.rename_unit, console, unit_id, form.get("name", ""))
            notice = f"Unit {unit_id!r} renamed."
        elif action == "retire":
            await run_in_threadpool(units.retire_unit, console, unit_id)
            notice = f"Unit {unit_id!r} retired: it is offered for nothing new."
        elif action == "restore":
            await run_in_threadpool(units.restore_unit, console, unit_id)
            notice = f"Unit {unit_id!r} restored."
        else:
            raise ConsoleError("that is not something this page can do")
    except ConsoleError as exc:
        return await units_page(request, error=str(exc))
    return await units_page(request, notice=notice)


async def routing_submit(request: Request) -> Response:
    """One category's units, from its selects in order; blank selects are skipped."""
    console, _ = await officer(request, "admin")
    form = await small_form(request, "routing")
    category = form.get("category", "")
    chosen = [form[f"unit{n}"] for n in range(units.MAX_ROUTED) if form.get(f"unit{n}")]
    try:
        changed = await run_in_threadpool(units.set_routing, console, category, chosen)
    except ConsoleError as exc:
        return await units_page(request, error=str(exc))
    label = CATEGORIES[category]
    return await units_page(
        request,
        notice=f"Routing for “{label}” saved." if changed else f"Routing for “{label}” unchanged.",
    )


routes = [
    Route("/units", units_page, methods=["GET"]),
    Route("/units", units_submit, methods=["POST"]),
    Route("/units/routing", routing_submit, methods=["POST"]),
]
