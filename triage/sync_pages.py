"""Syncing with the portal from the console: the officer's "Sync now" button, and the
background sync of `serve --portal URL --sync-every SECONDS`."""

from __future__ import annotations

import asyncio
import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.errors import WebError
from foundation.forms import small_form

from .client import PortalError as PortalUnreachable
from .console import Console
from .db import get_state
from .notices import Notice, see_other
from .pages import (
    officer,
    perform,
)
from .settings import ConsoleError

log = logging.getLogger("lanthorn.console")


def push_now(console: Console) -> tuple[int, int]:
    try:
        return console.push()
    except PortalUnreachable:
        return 0, 1


async def sync_now(request: Request) -> Response:
    console, _ = await officer(request, "triage")
    form = await small_form(request, "sync")  # its CSRF token and one-time value
    url = request.app.state.portal_url or await run_in_threadpool(_remembered_url, console)
    if not url:
        raise WebError("No portal address yet: run `lanthorn triage sync --portal URL` once.")

    async def work(acting: Console) -> Notice | str:
        try:
            report = await run_in_threadpool(acting.sync, url)
        except PortalUnreachable as exc:
            raise ConsoleError(f"the sync failed: {exc}") from None
        message = f"Synced: {report.taken} new items, {len(report.set_aside)} set aside."
        if report.held:
            message += f" {report.queued} replies and status changes not sent: {report.held}."
        if report.files_to_fetch:
            message += (
                f" {len(report.files_to_fetch)} files are still to fetch: the next sync "
                "tries again, and the portal keeps them until then."
            )
        return message

    async def refused(text: str, status: int) -> Response:
        return see_other(request, "/cases", Notice(text, error=True))

    return await perform(request, console, form, "sync", "/cases", work, refused)


def _remembered_url(console: Console) -> str | None:
    with console.sessions() as session:
        return get_state(session, "portal_url")


async def sync_loop(app: Starlette) -> None:
    """`serve --portal URL --sync-every SECONDS`: sync in the background once unsealed."""
    while True:
        await asyncio.sleep(app.state.sync_every)
        console: Console | None = app.state.console
        if console is None:
            continue
        try:
            report = await run_in_threadpool(
                console.acting_as("console:timer").sync, app.state.portal_url
            )
        except (PortalUnreachable, ConsoleError) as exc:
            log.warning("sync failed: %s", type(exc).__name__)
            continue
        if report.taken or report.set_aside:
            log.info("synced: %d new item(s), %d set aside", report.taken, len(report.set_aside))


routes = [
    Route("/sync", sync_now, methods=["POST"]),
]
