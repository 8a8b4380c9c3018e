"""The audit log, its chain verified on every view, and the statistics (small cells
suppressed), as a page and as a CSV download."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto

from . import statistics, units
from .console import Console
from .pages import (
    audit,
    officer,
    render,
)


async def audit_page(request: Request) -> Response:
    console, _ = await officer(request, "auditor", "admin")
    try:
        count, head = await run_in_threadpool(console.verify_audit)
        verdict = f"The chain is intact: {count} entries, head {head.hex()[:16]}…"
        broken = False
    except crypto.AuditChainBroken as exc:
        verdict = f"The chain is BROKEN at entry {exc.index + 1}."
        broken = True
    entries = await run_in_threadpool(console.audit_entries)
    await run_in_threadpool(audit, console, "view audit", None)
    return render(
        request,
        "audit.html",
        {
            "entries": list(reversed(entries))[:500],
            "verdict": verdict,
            "broken": broken,
            "unit_names": await run_in_threadpool(units.units, console, include_retired=True),
        },
    )


def _statistics(console: Console, action: str) -> statistics.Figures:
    with console.sessions() as session:
        rows = statistics.read_rows(console, session)
        console.audit(session, action)
        session.commit()
    return statistics.compute(rows)


async def statistics_page(request: Request) -> Response:
    """Counts and medians with small cells suppressed, as tables and bar charts."""
    console, _ = await officer(request, "triage", "auditor")
    figures = await run_in_threadpool(_statistics, console, "statistics")
    return render(request, "statistics.html", {"figures": figures})


async def statistics_export(request: Request) -> Response:
    """The same suppressed figures as a CSV download."""
    console, _ = await officer(request, "triage", "auditor")
    figures = await run_in_threadpool(_statistics, console, "statistics export")
    return Response(
        statistics.to_csv(figures),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="lanthorn-statistics.csv"'},
    )


routes = [
    Route("/audit", audit_page, methods=["GET"]),
    Route("/statistics", statistics_page, methods=["GET"]),
    Route("/statistics.csv", statistics_export, methods=["GET"]),
]
