"""Published statistics on the cases (PREA 115.87/115.89 style): counts by category,
prison, quarter received, channel and outcome, and the median days to acknowledge and to
close, with small cells suppressed so no figure points at a handful of reporters.

`compute` is a pure function over plain `CaseRow`s, and what it returns holds only the
publishable figures (a suppressed cell's true count is not in it), so a page or an export
cannot show more than it should. `read_rows` builds the rows from the console database;
the channel lives inside the sealed report, so it is the one thing opened, and only the
channel is kept from it.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foundation.categories import CATEGORIES

from .db import Case, CaseEvent, Item
from .workflow import OUTCOMES

if TYPE_CHECKING:  # pragma: no cover
    from .console import Console

#: A count from 1 to SMALL - 1 is shown as "<5"; a median over fewer cases is not shown.
SMALL = 5
#: What answers a report, for "days to acknowledge": the same events as the deadline.
ANSWERS = ("acknowledged", "reply", "feedback", "closed")
CHANNELS = {"staff": "Staff", "kiosk": "Wing kiosk", "third_party": "Third party"}
OPEN = "open"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class CaseRow:
    """One case, as plain facts: everything the statistics are computed from."""

    category: str
    facility: str
    received_on: datetime.date
    channel: str
    outcome: str | None
    acknowledged_on: datetime.date | None
    closed_on: datetime.date | None


@dataclass(frozen=True)
class Bar:
    key: str
    label: str  # for the table
    short: str  # for the chart
    shown: str  # "0", "<5" or the count
    length: float | None  # 0..1 of the table's largest shown count; None when suppressed


@dataclass(frozen=True)
class Table:
    name: str  # "category": stable, for the CSV and element ids
    title: str
    heading: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Median:
    name: str
    title: str
    shown: str  # days, or "<5 cases"


@dataclass(frozen=True)
class Figures:
    total: str
    tables: tuple[Table, ...]
    medians: tuple[Median, ...]


def quarter(day: datetime.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def suppress(count: int) -> str:
    """A count as it may be published: 1 to 4 become "<5"; 0 stays 0."""
    return f"<{SMALL}" if 0 < count < SMALL else str(count)


def median_days(days: Sequence[int]) -> str:
    """The median of `days`, or "<5 cases" when it would describe too few cases."""
    if len(days) < SMALL:
        return f"<{SMALL} cases"
    value = median(days)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _quarters(days: Iterable[datetime.date]) -> list[str]:
    """Every quarter from the first case's to the last's, empty ones included."""
    found = sorted(days)
    if not found:
        return []
    year, q = found[0].year, (found[0].month - 1) // 3
    last = (found[-1].year, (found[-1].month - 1) // 3)
    keys = []
    while (year, q) <= last:
        keys.append(f"{year}-Q{q + 1}")
        year, q = (year + 1, 0) if q == 3 else (year, q + 1)
    return keys


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(
    name: str,
    title: str,
    heading: str,
    counts: Counter[str],
    keys: Iterable[str],
    labels: dict[str, str],
) -> Table:
    order = list(dict.fromkeys([*keys, *sorted(counts)]))  # known ones first, then the rest
    largest = max((counts[k] for k in order if counts[k] >= SMALL), default=0)
    bars = []
    for key in order:
        count = counts[key]
        label = labels.get(key, key)
        short = key.replace("_", " ").capitalize() if name == "category" else label
        length = None if 0 < count < SMALL else (count / largest if largest else 0.0)
        bars.append(Bar(key, label, _short(short), suppress(count), length))
    return Table(name, title, heading, tuple(bars))


def compute(rows: Sequence[CaseRow]) -> Figures:
    """The publishable figures for `rows`."""
    facility = Counter(" ".join(row.facility.split()) for row in rows)
    tables = (
        _table(
            "category",
            "Cases by category",
            "Category",
            Counter(row.category for row in rows),
            CATEGORIES,
            dict(CATEGORIES),
        ),
        _table("facility", "Cases by prison", "Prison", facility, (), {}),
        _table(
            "quarter",
            "Cases by quarter received",
            "Quarter",
            Counter(quarter(row.received_on) for row in rows),
            _quarters(row.received_on for row in rows),
            {},
        ),
        _table(
            "channel",
            "Cases by channel",
            "Channel",
            Counter(row.channel if row.channel in CHANNELS else UNKNOWN for row in rows),
            CHANNELS,
            {**CHANNELS, UNKNOWN: "Unknown"},
        ),
        _table(
            "outcome",
            "Cases by outcome",
            "Outcome",
            Counter(row.outcome or OPEN for row in rows),
            [*OUTCOMES, OPEN],
            {**OUTCOMES, OPEN: "Open (no outcome yet)"},
        ),
    )
    acknowledge = [
        (row.acknowledged_on - row.received_on).days for row in rows if row.acknowledged_on
    ]
    close = [(row.closed_on - row.received_on).days for row in rows if row.closed_on]
    medians = (
        Median("days_to_acknowledge", "Median days to acknowledge", median_days(acknowledge)),
        Median("days_to_close", "Median days to close", median_days(close)),
    )
    return Figures(suppress(len(rows)), tables, medians)


def read_rows(console: Console, session: Session) -> list[CaseRow]:
    """Every case on the console as a `CaseRow`.

    Opening each report is the only decryption, and only its channel is kept: the rest
    of the document is dropped as soon as the channel is read."""
    answered: dict[str, datetime.date] = {
        case_id: first
        for case_id, first in session.execute(
            select(CaseEvent.case_id, func.min(CaseEvent.on))
            .where(CaseEvent.kind.in_(ANSWERS))
            .group_by(CaseEvent.case_id)
        )
    }
    channels: dict[str, str] = {}
    for case_id, content in session.execute(
        select(Item.case_id, Item.content).where(Item.kind == "report")
    ):
        channels[case_id] = str(console._open(content)["document"].get("channel", UNKNOWN))
    return [
        CaseRow(
            category=case.category,
            facility=case.facility,
            received_on=case.received_on,
            channel=channels.get(case.id, UNKNOWN),
            outcome=case.outcome,
            acknowledged_on=answered.get(case.id),
            closed_on=case.closed_on,
        )
        for case in session.scalars(select(Case))
    ]


def _cell(value: str) -> str:
    # A prison's name is typed by reporters: never let a spreadsheet read it as a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(figures: Figures) -> str:
    """The same figures as the page, one per line: table, group, value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["table", "group", "value"])
    writer.writerow(["cases", "all", figures.total])
    for table in figures.tables:
        for bar in table.bars:
            writer.writerow([table.name, _cell(bar.key), bar.shown])
    for item in figures.medians:
        writer.writerow([item.name, "all", item.shown])
    return out.getvalue()
