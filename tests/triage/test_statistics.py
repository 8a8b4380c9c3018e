"""Published statistics: the figures against a hand-computed fixture, small cells
suppressed at the boundary, and the page and CSV over real synced reports."""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
from collections.abc import Callable

import pytest

from foundation.headers import SECURITY_HEADERS
from tests.portal.forms import REPORT_FIELDS, submit_report
from triage.statistics import (
    CaseRow,
    Figures,
    compute,
    median_days,
    quarter,
    suppress,
    to_csv,
)

from .conftest import Site, case_ids, enrol

DAY = datetime.timedelta(days=1)


def row(
    received: str,
    category: str,
    facility: str,
    channel: str,
    outcome: str | None = None,
    ack: int | None = None,
    close: int | None = None,
) -> CaseRow:
    day = datetime.date.fromisoformat(received)
    return CaseRow(
        category=category,
        facility=facility,
        received_on=day,
        channel=channel,
        outcome=outcome,
        acknowledged_on=None if ack is None else day + ack * DAY,
        closed_on=None if close is None else day + close * DAY,
    )


#: 15 cases. By hand: bullying 5, use_of_force 4, corruption 3, healthcare 3; Alpha 5,
#: Beta 4, Gamma 6; 2026-Q1 5, Q2 0, Q3 4, Q4 6; staff 5, kiosk 4, third_party 6;
#: substantiated 5, unsubstantiated 4, unfounded 0, referred 1, open 5.
#: Days to acknowledge (11 cases): 0 1 1 2 2 [3] 4 5 6 7 100 -> 3.
#: Days to close (10 cases): 16 20 30 40 [50 61] 70 80 90 100 -> 55.5.
ROWS = [
    row("2026-01-05", "bullying", "HMP Alpha", "staff", "substantiated", 1, 20),
    row("2026-01-20", "bullying", "HMP Alpha", "staff", "substantiated", 2, 30),
    row("2026-02-11", "bullying", "HMP Alpha", "staff", "substantiated", 3, 40),
    row("2026-03-02", "bullying", "HMP Alpha", "staff", "substantiated", 4, 50),
    row("2026-03-31", "bullying", "HMP Alpha", "staff", "substantiated", 5, 61),
    row("2026-07-01", "use_of_force", "HMP Beta", "kiosk", "unsubstantiated", 6, 70),
    row("2026-08-15", "use_of_force", "HMP Beta", "kiosk", "unsubstantiated", 7, 80),
    row("2026-09-30", "use_of_force", "HMP Beta", "kiosk", "unsubstantiated", 0, 90),
    row("2026-09-01", "use_of_force", "HMP Beta", "kiosk", "unsubstantiated", 100, 100),
    row("2026-10-01", "corruption", "HMP Gamma", "third_party", "referred", 1, 16),
    row("2026-10-02", "corruption", " HMP  Gamma ", "third_party", None, 2),
    row("2026-11-03", "corruption", "HMP Gamma", "third_party"),
    row("2026-11-04", "healthcare", "HMP Gamma", "third_party"),
    row("2026-12-05", "healthcare", "HMP Gamma", "third_party"),
    row("2026-12-31", "healthcare", "HMP Gamma", "third_party"),
]


def shown(figures: Figures, table: str) -> dict[str, str]:
    [found] = [t for t in figures.tables if t.name == table]
    return {bar.key: bar.shown for bar in found.bars}


@pytest.mark.parametrize(("count", "text"), [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (12, "12")])
def test_counts_from_one_to_four_are_suppressed(count: int, text: str) -> None:
    assert suppress(count) == text


def test_a_median_needs_five_cases() -> None:
    assert median_days([1, 2, 3, 4]) == "<5 cases"
    assert median_days([9, 1, 3, 4, 2]) == "3"
    assert median_days([1, 2, 3, 4, 5, 7]) == "3.5"


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2026-01-01", "2026-Q1"),
        ("2026-03-31", "2026-Q1"),
        ("2026-07-01", "2026-Q3"),
        ("2026-12-31", "2026-Q4"),
    ],
)
def test_quarters(day: str, name: str) -> None:
    assert quarter(datetime.date.fromisoformat(day)) == name


def test_the_figures_match_the_hand_computed_fixture() -> None:
    figures = compute(ROWS)
    assert figures.total == "15"
    assert shown(figures, "category") == {
        "staff_sexual_misconduct": "0",
        "trafficking": "0",
        "corruption": "<5",
        "use_of_force": "<5",
        "bullying": "5",
        "discrimination": "0",
        "healthcare": "<5",
        "self_harm_risk": "0",
        "retaliation": "0",
        "other": "0",
    }
    assert shown(figures, "facility") == {"HMP Alpha": "5", "HMP Beta": "<5", "HMP Gamma": "6"}
    assert shown(figures, "quarter") == {
        "2026-Q1": "5",
        "2026-Q2": "0",
        "2026-Q3": "<5",
        "2026-Q4": "6",
    }
    assert list(shown(figures, "quarter")) == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert shown(figures, "channel") == {"staff": "5", "kiosk": "<5", "third_party": "6"}
    assert shown(figures, "outcome") == {
        "substantiated": "5",
        "unsubstantiated": "<5",
        "unfounded": "0",
        "referred": "<5",
        "open": "5",
    }
    assert [(m.name, m.shown) for m in figures.medians] == [
        ("days_to_acknowledge", "3"),
        ("days_to_close", "55.5"),
    ]


def test_a_suppressed_bar_has_no_length_to_measure() -> None:
    [prisons] = [t for t in compute(ROWS).tables if t.name == "facility"]
    lengths = {bar.key: bar.length for bar in prisons.bars}
    assert lengths == {"HMP Alpha": pytest.approx(5 / 6), "HMP Beta": None, "HMP Gamma": 1.0}


def test_too_few_cases_show_no_median_and_no_exact_total() -> None:
    figures = compute(ROWS[:4])
    assert figures.total == "<5"
    assert [m.shown for m in figures.medians] == ["<5 cases", "<5 cases"]
    empty = compute([])
    assert empty.total == "0"
    assert shown(empty, "quarter") == {}
    assert shown(empty, "channel") == {"staff": "0", "kiosk": "0", "third_party": "0"}


def test_the_csv_holds_the_same_suppressed_figures() -> None:
    rows = [*ROWS, row("2026-12-31", "other", "=HYPERLINK(1)", "staff")]
    lines = list(csv.reader(io.StringIO(to_csv(compute(rows)))))
    assert lines[0] == ["table", "group", "value"]
    assert ["cases", "all", "16"] in lines
    assert ["facility", "HMP Beta", "<5"] in lines
    assert ["facility", "'=HYPERLINK(1)", "<5"] in lines  # never a formula
    assert ["quarter", "2026-Q2", "0"] in lines
    assert ["days_to_close", "all", "55.5"] in lines


# -- through the pages ---------------------------------------------------------------------


def _table(page: str, name: str) -> dict[str, str]:
    start = page.index(f'id="{name}-table"')
    part = page[start : page.index("</table>", start)]
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', part)
    }


def _noon(day: datetime.date, plus: int) -> Callable[[], float]:
    """A clock stopped at noon (UTC), `plus` days after `day`."""
    at = datetime.datetime.combine(day + plus * DAY, datetime.time(12), datetime.UTC)
    return at.timestamp


def test_the_page_and_export_show_suppressed_figures(site: Site) -> None:
    reporter = site.portal.client()
    for _ in range(5):
        assert submit_report(reporter).status_code == 201
    assert (
        submit_report(
            reporter, channel="third-party", category="bullying", facility="HMP Other"
        ).status_code
        == 201
    )
    site.console.sync(site.portal.url)
    cases = sorted(case_ids(site.console))
    assert len(cases) == 6
    received = datetime.date.fromisoformat(site.console.show(cases[0])["received_on"])
    clock = site.console.clock
    try:  # acknowledged 2 and 4 days after arrival; two closed after 10
        for number, case_id in enumerate(cases[:5]):
            site.console.clock = _noon(received, 2 if number < 3 else 4)
            site.console.acknowledge(case_id)
        site.console.clock = _noon(received, 10)
        for case_id in cases[:2]:
            site.console.close_case(
                case_id, outcome="substantiated", summary="Done.", feedback="We acted."
            )
    finally:
        site.console.clock = clock

    triage, _ = enrol(site, "tess", "triage")
    response = triage.get("/statistics")
    assert response.status_code == 200
    page = response.text
    assert '<a href="/statistics">Statistics</a>' in page
    assert _table(page, "facility") == {"HMP Example": "5", "HMP Other": "<5"}
    assert _table(page, "channel") == {"Staff": "5", "Wing kiosk": "0", "Third party": "<5"}
    assert _table(page, "outcome")["Substantiated"] == "<5"
    assert _table(page, "outcome")["Open (no outcome yet)"] == "<5"
    assert _table(page, "quarter") == {quarter(received): "6"}
    assert '<tr><th scope="row">Median days to acknowledge</th><td>2</td></tr>' in page
    assert '<tr><th scope="row">Median days to close</th><td>&lt;5 cases</td></tr>' in page
    assert REPORT_FIELDS["description"] not in page
    # Charts are drawn here, with a title each, and nothing the CSP would refuse.
    assert page.count("<svg") == 5
    assert page.count("<title id=") == 5
    assert "<script" not in page
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert re.findall(r'<link[^>]*href="([^"]+)"', page) == ["/static/console.css"]
    assert not re.search(r"\ssrc=", page)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert response.headers["content-security-policy"] == policy

    export = triage.get("/statistics.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith("attachment;")
    lines = list(csv.reader(io.StringIO(export.text)))
    for expected in (
        ["cases", "all", "6"],
        ["category", "staff_sexual_misconduct", "5"],
        ["category", "bullying", "<5"],
        ["facility", "HMP Other", "<5"],
        ["channel", "kiosk", "0"],
        ["channel", "third_party", "<5"],
        ["days_to_acknowledge", "all", "2"],
        ["days_to_close", "all", "<5 cases"],
    ):
        assert expected in lines

    auditor, _ = enrol(site, "audrey", "auditor")
    assert _table(auditor.get("/statistics").text, "facility")["HMP Other"] == "<5"
    seen = [
        (e["who"], e["action"])
        for e in site.console.audit_entries()
        if e["action"].startswith("statistics")
    ]
    assert seen == [
        ("officer:tess", "statistics"),
        ("officer:tess", "statistics export"),
        ("officer:audrey", "statistics"),
    ]


def test_admins_and_investigators_may_not_see_statistics(site: Site) -> None:
    admin, _ = enrol(site, "ada", "admin")
    investigator, _ = enrol(site, "ivan", "investigator", "counter_corruption")
    for client in (admin, investigator):
        assert "/statistics" not in client.get("/audit" if client is admin else "/cases").text
        for path in ("/statistics", "/statistics.csv"):
            assert client.get(path).status_code == 403
    denied = [e for e in site.console.audit_entries() if e["action"] == "denied"]
    assert [(e["who"], e["path"]) for e in denied] == [
        ("officer:ada", "/statistics"),
        ("officer:ada", "/statistics.csv"),
        ("officer:ivan", "/statistics"),
        ("officer:ivan", "/statistics.csv"),
    ]
    assert not [e for e in site.console.audit_entries() if e["action"].startswith("statistics")]
