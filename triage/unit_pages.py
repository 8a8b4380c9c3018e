"""The Units page (admins only): add, rename, retire and restore units, and edit the
routing table that suggests, for each category, the units a case goes to."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.categories import CATEGORIES
from foundation.forms import small_form

from . import units
from .console import Console
from .notices import Notice
from .pages import officer, perform, render
from .settings import ConsoleError

ORDINALS = ("First", "Second", "Third", "Fourth")


async def units_page(
    request: Request, *, error: str = "", kept: dict[str, str] | None = None, status: int = 200
) -> Response:
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
            "typed": kept or {},
            **({"notice": Notice(error, error=True)} if error else {}),
        },
        status=status,
    )


async def _refused(request: Request, form: dict[str, str], text: str, status: int) -> Response:
    return await units_page(request, error=text, kept=form, status=status)


async def units_submit(request: Request) -> Response:
    """One form per change: `action` says which (add, rename, retire, restore)."""
    console, _ = await officer(request, "admin")
    form = await small_form(request, "units")
    action, unit_id = form.get("action", ""), form.get("unit", "")

    async def work(acting: Console) -> str:
        if action == "add":
            await run_in_threadpool(units.add_unit, acting, unit_id, form.get("name", ""))
            return f"Unit {unit_id.strip()!r} added."
        if action == "rename":
            await run_in_threadpool(units.rename_unit, acting, unit_id, form.get("name", ""))
            return f"Unit {unit_id!r} renamed."
        if action == "retire":
            await run_in_threadpool(units.retire_unit, acting, unit_id)
            return f"Unit {unit_id!r} retired: it is offered for nothing new."
        if action == "restore":
            await run_in_threadpool(units.restore_unit, acting, unit_id)
            return f"Unit {unit_id!r} restored."
        raise ConsoleError("that is not something this page can do")

    async def refused(text: str, status: int) -> Response:
        return await _refused(request, form, text, status)

    return await perform(request, console, form, "units", "/units", work, refused)


async def routing_submit(request: Request) -> Response:
    """One category's units, from its selects in order; blank selects are skipped."""
    console, _ = await officer(request, "admin")
    form = await small_form(request, "routing")
    category = form.get("category", "")
    chosen = [form[f"unit{n}"] for n in range(units.MAX_ROUTED) if form.get(f"unit{n}")]

    async def work(acting: Console) -> str:
        changed = await run_in_threadpool(units.set_routing, acting, category, chosen)
        label = CATEGORIES[category]
        return f"Routing for “{label}” saved." if changed else f"Routing for “{label}” unchanged."

    async def refused(text: str, status: int) -> Response:
        return await _refused(request, form, text, status)

    return await perform(request, console, form, "routing", "/units", work, refused)


routes = [
    Route("/units", units_page, methods=["GET"]),
    Route("/units", units_submit, methods=["POST"]),
    Route("/units/routing", routing_submit, methods=["POST"]),
]
