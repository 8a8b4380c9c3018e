"""The case list part of bench/console.py: first, middle and last page of the list with
each filter and order, over HTTP as signed-in officers, against the same page's bare
keyset `SELECT` on the same database.

The middle page is reached the way an officer reaches it, by following "Next" from the
first page (each page on the way is timed once: its median and slowest are shown beside
the middle page's figures); the last by the "Last" link. Each page is then requested
`samples` times. A p99 needs at least 1,000 samples to mean anything: with fewer, the
report prints the slowest as "max of N".

The generated cases carry no assignee or language (bench/_cases.py writes what a sync
would); before measuring, a fixed share of them is given some, by `UPDATE`, so that those
filters select something.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Callable

import httpx
from _cases import PRISONS
from _console_report import SizeResult, Timed
from _report import progress
from _timing import per_call
from sqlalchemy import func, select, text

from triage.case_filters import Cursor, Filters, conditions
from triage.console import Console
from triage.db import Case

TRIAGE, INVESTIGATOR, UNIT = "bench-triage", "bench-investigator", "counter_corruption"
#: label → the list's query string (the triage officer's list unless said).
VIEWS = {
    "all, urgent then newest": "",
    "all, by deadline": "sort=deadline",
    "stage: new": "workflow=new",
    "status and category": "status=in_review&category=corruption",
    "deadline: missed": "deadline=missed",
    "deadline: due within a week": "deadline=soon",
    "deadline: all met": "deadline=met",
    "category": "category=corruption",
    "prison": "facility=" + urllib.parse.quote_plus(PRISONS[0]),
    "unit": f"unit={UNIT}",
    "assignee (My cases)": f"assignee={TRIAGE}",
    "unassigned": "assignee=-",
    "urgent": "urgent=yes",
    "language": "lang=pl",
    "investigator (one unit)": "",
}
_NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
#: Which cases get an assignee and a language, by the second and third letters of
#: their (random) id: about a tenth and a third.
_ASSIGN = (  # TRIAGE, spelt out
    "UPDATE cases SET assignee = CASE WHEN substr(id, 2, 1) IN ('A', 'B', 'C') "
    "THEN 'bench-triage' ELSE NULL END, "
    "lang = CASE WHEN substr(id, 3, 1) < 'C' THEN 'pl' ELSE 'en' END"
)


def spread_assignees(console: Console) -> None:
    """Give a share of the cases an assignee and a language (see `_ASSIGN`)."""
    with console.engine.connect() as conn:
        conn.execute(text(_ASSIGN))
        conn.commit()
        if console.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE cases"
            )


def list_section(
    result: SizeResult,
    console: Console,
    triage: httpx.Client,
    investigator: httpx.Client,
    samples: int,
    sample: Callable[[httpx.Client, str, int, Callable[[str], bool]], list[float]],
) -> None:
    """Time the first, a middle and the last page of every view (`VIEWS`)."""
    spread_assignees(console)
    for label, query in VIEWS.items():
        client, unit = triage, None
        if label.startswith("investigator"):
            client, unit = investigator, UNIT
        path = "/cases" + (f"?{query}" if query else "")
        first = client.get(path).text
        filters = Filters.from_params(dict(urllib.parse.parse_qsl(query)))
        total = count(console, filters, unit)  # the page says "more than 1,000" past it
        pages = max(1, -(-total // 50))
        middle, walked, walk_times = path, 1, []
        progress(f"{result.size:,}: {label}: following Next to page {pages // 2 + 1} of {pages}")
        page = first
        while walked <= pages // 2 and (link := _NEXT.search(page)):
            middle = html.unescape(link.group(1))
            walk_times += sample(client, middle, 1, _listed)
            page = client.get(middle).text
            walked += 1
        last = path + ("&" if query else "?") + "at=last"
        for where, address in (("first", path), ("middle", middle), ("last", last)):
            progress(f"{result.size:,}: {label}, {where} page: GET × {samples}")
            times = sample(client, address, samples, _listed)
            cursor = Cursor.from_params(dict(urllib.parse.parse_qsl(address.partition("?")[2])))
            limit = bare_page(console, filters, cursor, unit)
            detail = f"{where}: {total:,} cases, {pages:,} pages"
            if where == "middle":
                detail += f" (page {walked:,}, by {walked - 1:,} × Next)"
            if where == "middle" and walk_times:
                detail += (
                    f"; on the way, p50 {1000 * sorted(walk_times)[len(walk_times) // 2]:.1f} ms"
                )
                detail += f", max {1000 * max(walk_times):.1f} ms"
            result.pages.append(Timed(f"{label}, {where}", times, limit, detail))


def _listed(page: str) -> bool:
    return "<table" in page


def count(console: Console, filters: Filters, unit: str | None) -> int:
    """How many cases the view lists, counted in full by the database."""
    where = conditions(filters, unit, console._today())
    with console.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Case).where(*where)) or 0


def bare_page(console: Console, filters: Filters, cursor: Cursor, unit: str | None = None) -> float:
    """Median time of the page's keyset `SELECT` alone (no counts), on the same database."""
    key = filters.key_column()
    where = conditions(filters, unit, console._today())
    query = select(Case).where(*where)
    if cursor.after:
        query = query.where(key > cursor.after).order_by(key)
    elif cursor.last:
        query = query.order_by(key.desc())
    else:
        query = query.order_by(key)
    with console.engine.connect() as conn:
        return per_call(lambda: conn.execute(query.limit(50)).fetchall(), 0.3, 5)
