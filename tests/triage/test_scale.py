"""The case list at scale (issue 7): pages, filters and full-text search, by role.

Most cases here are written straight into the console database, sealed by the console
itself, as a sync would have stored them (the benchmark does the same): paging needs
more cases than reports through the portal could make quickly. Everything about search
that depends on the real path (sync, messages, replies, files, purge) goes through the
portal.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import insert, inspect

from tests.portal.conftest import Portal
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from tests.portal.test_leaks import database_rows
from triage.case_list import COUNT_LIMIT, FEW_MATCHES, PER_PAGE, Cursor, Filters, list_cases
from triage.console import Console
from triage.db import Case, Item
from triage.retention import purge_expired
from triage.search_words import words

from .conftest import PASSPHRASES, Site, enrol
from .test_retention import TODAY, closed_case, new_case

LANTHORN = Path(sys.executable).with_name("lanthorn")
_ROW = re.compile(r'<td><a href="/cases/([A-Z0-9]+)">')


def add_cases(console: Console, count: int, start: int = 0, **fields: object) -> list[str]:
    """`count` cases as a sync stores them, sealed by the console; their ids."""
    cases, items = [], []
    for n in range(start, start + count):
        case_id = f"T{n:09d}"
        row = {
            "id": case_id,
            "workflow": "new",
            "public_status": "received",
            "category": "corruption",
            "facility": "HMP Example",
            "urgent": n % 10 == 0,
            "unit": None,
            "received_on": datetime.date(2026, 1, 1) + datetime.timedelta(days=n % 37),
            "portal_box_pk": bytes(32),
            "reply_box_pk": bytes(32),
            **fields,
        }
        cases.append(row)
        document = {"type": "report", "description": f"case number{n} about the kitchens"}
        items.append(
            {
                "id": f"item-{case_id}",
                "case_id": case_id,
                "kind": "report",
                "content": console._seal({"document": document, "files": {}}),
                "on": row["received_on"],
            }
        )
    with console.sessions() as session:
        session.execute(insert(Case), cases)
        session.execute(insert(Item), items)
        session.commit()
    return [row["id"] for row in cases]  # type: ignore[misc]


def in_list_order(console: Console, ids: list[str]) -> list[str]:
    with console.sessions() as session:
        rows = [session.get(Case, case_id) for case_id in ids]
    return [
        row.id
        for row in sorted(
            (r for r in rows if r is not None),
            key=lambda r: (not r.urgent, -r.received_on.toordinal(), r.id),
        )
    ]


def listed(page: str) -> list[str]:
    return _ROW.findall(page)


def walk(client: httpx.Client, start: str) -> list[str]:
    """Every case id on every page, following the Next links from `start`."""
    seen, path = [], start
    while True:
        page = client.get(path).text
        seen += listed(page)
        link = re.search(r'<a href="([^"]+)" rel="next">', page)
        if link is None:
            return seen
        path = html.unescape(link.group(1))


def test_the_list_pages_through_every_case_once_in_order(site: Site) -> None:
    ids = add_cases(site.console, 2 * PER_PAGE + 20)
    client, _ = enrol(site, "tess", "triage")
    first = client.get("/cases").text
    assert f"Cases 1–{PER_PAGE} of {len(ids)}" in first
    assert 'rel="prev"' not in first
    assert "12 urgent cases</strong>" in first  # the banner counts all, not one page
    assert walk(client, "/cases") == in_list_order(site.console, ids)
    last = client.get("/cases?at=last").text
    assert f"Cases {len(ids) - PER_PAGE + 1}–{len(ids)} of {len(ids)}" in last
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last
    assert listed(last) == in_list_order(site.console, ids)[-PER_PAGE:]


def test_past_a_thousand_cases_the_list_says_more_than_and_still_where_each_page_is(
    site: Site,
) -> None:
    """No page counts the whole table: past COUNT_LIMIT the list says "more than", and
    a page reached by the list's own links still says exactly which cases it shows."""
    ids = add_cases(site.console, COUNT_LIMIT + 2 * PER_PAGE + 7)
    order = in_list_order(site.console, ids)
    client, _ = enrol(site, "tess", "triage")
    first = client.get("/cases").text
    assert f"Cases 1–{PER_PAGE} of more than 1,000." in first
    assert "More than 1,000 urgent cases</strong>" not in first  # 116 are urgent
    assert f"{len(ids) // 10 + 1} urgent cases</strong>" in first
    path = html.unescape(re.findall(r'<a href="([^"]+)" rel="next">', first)[0])
    assert "n=50" in path
    second = client.get(path).text
    assert "Cases 51–100 of more than 1,000." in second
    assert listed(second) == order[PER_PAGE : 2 * PER_PAGE]
    last = client.get("/cases?at=last").text
    assert f"The last {PER_PAGE} cases of more than 1,000." in last
    assert listed(last) == order[-PER_PAGE:]
    back = html.unescape(re.findall(r'<a href="([^"]+)" rel="prev">', last)[0])
    before_last = client.get(back).text  # 1,007 cases before it: more than it counts
    assert f"{PER_PAGE} cases, after the first 1,000, of more than 1,000." in before_last
    assert listed(before_last) == order[-2 * PER_PAGE : -PER_PAGE]
    back = html.unescape(re.findall(r'<a href="([^"]+)" rel="prev">', before_last)[0])
    third_last = client.get(back).text  # 957 before it: counted
    assert "Cases 958–1,007 of more than 1,000." in third_last
    assert listed(third_last) == order[-3 * PER_PAGE : -2 * PER_PAGE]
    for position in ("", "x", "-1", "1e3", "٣"):  # a link without a position: counted
        typed = client.get(path.replace("n=50", f"n={position}")).text
        assert "Cases 51–100 of more than 1,000." in typed
    tampered = client.get(path.replace("n=50", "n=700")).text  # says where, not what
    assert "Cases 701–750 of more than 1,000." in tampered
    assert listed(tampered) == order[PER_PAGE : 2 * PER_PAGE]


def test_a_link_past_the_end_shows_the_last_page_and_says_so(site: Site) -> None:
    ids = add_cases(site.console, PER_PAGE + 5)
    client, _ = enrol(site, "tess", "triage")
    beyond = client.get("/cases?after=2zzzz")
    assert beyond.status_code == 200
    assert "this is the last page" in beyond.text
    assert listed(beyond.text) == in_list_order(site.console, ids)[-PER_PAGE:]
    for nonsense in ("0", "-3", "abc", "1e3", "٣", "9" * 200, "a b", "'; --", "<x>"):
        for name in ("after", "before", "at", "page"):
            page = client.get("/cases", params={name: nonsense})
            assert page.status_code == 200
            assert len(listed(page.text)) in (PER_PAGE, 5)


def test_filters_narrow_the_list_and_every_link_keeps_them(site: Site) -> None:
    add_cases(site.console, 60)
    add_cases(site.console, 70, start=100, workflow="routed", unit="counter_corruption")
    add_cases(site.console, 3, start=300, facility="HMP Brackenmoor", category="bullying")
    client, _ = enrol(site, "tess", "triage")
    routed = walk(client, "/cases?workflow=routed")
    assert len(routed) == 70
    page = client.get("/cases?workflow=routed").text
    assert "/cases?workflow=routed&amp;after=" in page
    assert len(walk(client, "/cases?unit=counter_corruption&workflow=routed")) == 70
    assert len(walk(client, "/cases?category=bullying")) == 3
    assert len(walk(client, "/cases?facility=HMP+Brackenmoor")) == 3
    assert len(walk(client, "/cases?status=received")) == 133
    empty = client.get("/cases?category=healthcare").text
    assert "No cases match these filters." in empty


def test_an_investigator_never_sees_another_units_cases(site: Site) -> None:
    mine = add_cases(site.console, 60, unit="counter_corruption", workflow="routed")
    theirs = add_cases(site.console, 40, start=500, unit="safeguarding", workflow="routed")
    theirs += add_cases(site.console, 5, start=700)  # not routed at all
    client, _ = enrol(site, "ivan", "investigator", "counter_corruption")
    first = client.get("/cases").text
    assert f"Cases 1–{PER_PAGE} of 60" in first
    assert "6 urgent cases</strong>" in first  # their unit's only
    assert sorted(walk(client, "/cases")) == sorted(mine)
    for path in (
        "/cases?unit=safeguarding",
        "/cases?at=last",
        "/cases?q=kitchens&unit=safeguarding",
        f"/cases?q=number{theirs[0][1:].lstrip('0')}",
    ):
        assert not set(walk(client, path)) & set(theirs), path
    searched = walk(client, "/cases?q=kitchens")
    assert sorted(searched) == sorted(mine)


def test_search_finds_reports_messages_replies_and_file_names(site: Site) -> None:
    portal, console = site.portal, site.console
    receipt = receipt_of(
        submit_report(
            portal.client(),
            description="The night officer in Łódź Café took the LAUNDRY keys.",
            files=[("rota-Wójcik.pdf", b"%PDF- rota", "application/pdf")],
        )
    )
    reader = portal.client()
    open_thread(reader, receipt)
    send_message(reader, "He came back with a crowbar.")
    console.sync(portal.url)
    [case_id] = [c["case"] for c in console.cases()]
    console.reply(case_id, "Thank you. We have spoken to the governor.")
    add_cases(console, 30)  # others, which match none of these words
    client, _ = enrol(site, "tess", "triage")
    for query in (
        "laundry",  # the report
        "crowbar",  # a message
        "governor spoken",  # a reply, every word in any order
        "wojcik",  # a file name, accents folded
        "lodz cafe",  # accents folded
        "ŁÓDŹ",  # and capitals
        "LAUND",  # the last word is a prefix
        "night laun",
    ):
        page = client.get("/cases", params={"q": query}).text
        assert listed(page) == [case_id], query
        assert "Cases 1–1 of 1 matching" in page
    missing = client.get("/cases", params={"q": "laundry crowbars"}).text
    assert listed(missing) == []
    assert "No case matches “laundry crowbars”." in missing
    assert listed(client.get("/cases", params={"q": "la"}).text) == []  # too short to prefix
    assert len(walk(client, "/cases?q=kitchens")) == 30
    assert listed(client.get("/cases", params={"q": "kitchens night"}).text) == []


def test_the_identity_section_is_not_searchable(site: Site) -> None:
    submit_report(site.portal.client(), identity="Officer Quennell-Smythe, C wing")
    site.console.sync(site.portal.url)
    client, _ = enrol(site, "tess", "triage")
    assert listed(client.get("/cases?q=quennell").text) == []


def test_the_index_takes_in_new_items_and_forgets_purged_cases(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    gone = closed_case(portal, console, 1827, description="Bribes paid in tobacco.")
    assert console.search.find("tobacco") == {gone}  # builds the index
    kept = new_case(portal, console, description="Bribes paid in spice.")
    assert console.search.find("spice") == {kept}  # taken in by the sync
    assert console.search.find("bribes") == {gone, kept}

    other = Console(console.settings, console.keys, who="cli:other")  # another process
    try:
        submit_report(portal.client(), description="Phones in the tobacco tins.")
        other.sync(portal.url)
        assert len(console.search.find("tobacco") or ()) == 2
        purge_expired(other, today=TODAY)
    finally:
        other.close()
    assert console.search.find("bribes") == {kept}  # the other process's purge is seen
    assert len(console.search.find("tobacco") or ()) == 1
    purged_words = set(words("Bribes paid in tobacco.")) - set(words("Bribes paid in spice."))
    assert purged_words == {"tobacco"}
    assert console.search.knows("tobacco")  # still in the later report


def test_a_purged_cases_own_words_leave_memory(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    gone = closed_case(portal, console, 1827, description="Zanzibarite bribes at the gate.")
    assert console.search.find("zanzibarite") == {gone}
    assert console.search.knows("Zanzibarite")
    purge_expired(console, today=TODAY)
    assert console.search.find("zanzibarite") == set()
    assert not console.search.knows("zanzibarite")


def test_an_item_committed_after_a_later_one_is_still_found(
    pair: tuple[Portal, Console],
) -> None:
    """PostgreSQL numbers rows when they are inserted, not when they commit: an item can
    appear below the highest number the index has read."""
    _, console = pair
    add_cases(console, 3)
    assert console.search.find("kitchens") is not None  # built

    def item(seq: int, case_id: str, text: str) -> dict[str, object]:
        content = console._seal({"document": {"type": "message", "text": text}})
        return {
            "seq": seq,
            "id": f"late-{seq}",
            "case_id": case_id,
            "kind": "message",
            "content": content,
            "on": datetime.date(2026, 1, 1),
        }

    with console.sessions() as session:
        session.execute(insert(Item), [item(900, "T000000001", "first walrus")])
        session.commit()
    assert console.search.find("walrus") == {"T000000001"}
    with console.sessions() as session:
        session.execute(insert(Item), [item(450, "T000000002", "second walrus")])
        session.commit()
    assert console.search.find("walrus") == {"T000000001", "T000000002"}


def test_searching_writes_neither_the_text_nor_the_query_anywhere(site: Site) -> None:
    canary = "Canarywordinreport"
    asked = "Askedcanaryword"
    submit_report(site.portal.client(), description=f"{canary} took the keys.")
    site.console.sync(site.portal.url)
    client, _ = enrol(site, "tess", "triage")
    assert len(listed(client.get("/cases", params={"q": canary}).text)) == 1
    assert listed(client.get("/cases", params={"q": asked}).text) == []
    searches = [e for e in site.console.audit_entries() if e["action"] == "search"]
    assert [e["results"] for e in searches] == [1, 0]
    assert all(set(e) == {"at", "who", "action", "case", "results"} for e in searches)
    dump = repr(database_rows(site.console.settings.database_url)).casefold()
    for secret in (canary, asked):
        assert secret.casefold() not in dump
        for path in site.console.settings.data_dir.rglob("*"):
            if path.is_file():
                assert secret.casefold().encode() not in path.read_bytes().lower(), path


def pages_of(console: Console, filters: Filters, size: int, unit: str | None = None) -> list[str]:
    """Every case id, following "next" from the first page."""
    seen: list[str] = []
    cursor = Cursor()
    while True:
        page = list_cases(console, filters, cursor, per_page=size, unit=unit)
        assert page.first == len(seen) + 1 or not page.cases
        seen += [case.id for case in page.cases]
        if not page.has_next:
            return seen
        cursor = Cursor(after=page.key(page.cases[-1]))


def test_list_cases_walks_the_list_and_the_search_alike(pair: tuple[Portal, Console]) -> None:
    _, console = pair
    ids = add_cases(console, 95)
    ordered = in_list_order(console, ids)
    for size in (7, 10, 95, 200):
        assert pages_of(console, Filters(), size) == ordered, size
        assert pages_of(console, Filters(text="kitchens"), size) == ordered, size


def test_many_matches_are_ordered_and_filtered_like_the_list(pair: tuple[Portal, Console]) -> None:
    _, console = pair
    ids = add_cases(console, FEW_MATCHES)  # more matches than the database is asked to sort
    routed = add_cases(console, 70, start=FEW_MATCHES, unit="governor", workflow="routed")
    assert len(console.search.find("kitchens") or ()) > FEW_MATCHES
    for size in (150, 400):
        everything = pages_of(console, Filters(text="kitchens"), size)
        assert everything == in_list_order(console, ids + routed), size
    unit = pages_of(console, Filters(text="kitch"), 30, unit="governor")
    assert unit == in_list_order(console, routed)
    last = list_cases(console, Filters(text="kitchens", workflow="routed"), Cursor(last=True))
    assert (last.first, last.last, last.total) == (21, 70, 70)


def test_the_list_indexes_exist(pair: tuple[Portal, Console]) -> None:
    _, console = pair
    names = {index["name"] for index in inspect(console.engine).get_indexes("cases")}
    assert {"ix_cases_list_key", "ix_cases_due_key", "ix_cases_unit_list_key"} <= names
    assert {"ix_cases_assignee_list_key", "ix_cases_lang_due_key"} <= names
    assert "ix_cases_due_on_list_key" in names  # "due within a week" without a full scan


def test_a_sync_finds_a_case_key_by_its_index(pair: tuple[Portal, Console]) -> None:
    """Each report a sync takes in is checked against every case's key (one case per key):
    without the index, a table scan per report made a sync of 1,000 reports at 100,000
    cases take 20 s on PostgreSQL."""
    _, console = pair
    names = {index["name"] for index in inspect(console.engine).get_indexes("cases")}
    assert "ix_cases_reply_box_pk" in names
    if console.engine.dialect.name == "sqlite":
        with console.engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM cases WHERE reply_box_pk = ?", (b"k" * 32,)
            ).all()
        assert "ix_cases_reply_box_pk" in " ".join(str(row) for row in plan)


def test_the_command_line_lists_all_or_the_first_n(pair: tuple[Portal, Console]) -> None:
    _, console = pair
    ids = add_cases(console, 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    env["LANTHORN_UNSEAL_PASSPHRASES"] = ",".join(PASSPHRASES[:2])
    env["LANTHORN_DATABASE_URL"] = console.settings.database_url
    data = str(console.settings.data_dir)
    for extra, count in (([], 5), (["--limit", "2"], 2)):
        result = subprocess.run(  # noqa: S603 - our own command
            [LANTHORN, "triage", "cases", "--data", data, "--json", *extra],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert [row["case"] for row in json.loads(result.stdout)] == in_list_order(console, ids)[
            :count
        ]
    bad = subprocess.run(  # noqa: S603 - our own command
        [LANTHORN, "triage", "cases", "--data", data, "--limit", "0"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 2
