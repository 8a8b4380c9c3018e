"""Keyset paging of the case list (triage/case_list.py), as properties: whatever the cases,
filters, order and page size, following "next" from the first page visits every case the
filters select exactly once, in order; following "previous" from the last page visits
them in reverse; and a case added or removed between two pages makes the walk neither
skip nor repeat any other case."""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from tests.portal.conftest import Portal
from triage.case_filters import Cursor, Filters
from triage.case_list import Page, list_cases
from triage.console import Console
from triage.db import Case, Item, make_engine
from triage.list_keys import list_key
from triage.migrations import alembic_config, upgrade
from triage.search import SearchIndex

PROPERTIES = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass(frozen=True)
class Spec:
    """A case as the test invents it, and what the list should make of it."""

    id: str
    urgent: bool
    days_ago: int
    workflow: str
    unit: str | None
    assignee: str | None
    lang: str | None
    category: str

    def received(self, today: datetime.date) -> datetime.date:
        return today - datetime.timedelta(days=self.days_ago)

    def order(self, today: datetime.date, by_deadline: bool) -> tuple[Any, ...]:
        """Where the case belongs, worked out here, not from the stored keys."""
        received = self.received(today)
        by_list = (not self.urgent, -received.toordinal(), self.id)
        if not by_deadline:
            return by_list
        due = received if self.urgent else received + datetime.timedelta(days=7)
        return (due.toordinal(), *by_list)

    def selected(self, filters: Filters, today: datetime.date) -> bool:
        due = self.received(today) + datetime.timedelta(days=0 if self.urgent else 7)
        state = "missed" if due < today else "soon"
        unassigned = filters.assignee == "-"
        return (
            (not filters.workflow or filters.workflow == self.workflow)
            and (not filters.unit or filters.unit == self.unit)
            and (not filters.urgent or (filters.urgent == "yes") == self.urgent)
            and (not filters.lang or filters.lang == self.lang)
            and (not filters.category or filters.category == self.category)
            and (not filters.deadline or filters.deadline == state)
            and (
                not filters.assignee
                or (self.assignee is None if unassigned else filters.assignee == self.assignee)
            )
        )


def specs(prefix: str = "K") -> st.SearchStrategy[Spec]:
    return st.builds(
        Spec,
        id=st.integers(0, 10**6).map(lambda n: f"{prefix}{n:07d}"),
        urgent=st.booleans(),
        days_ago=st.integers(0, 12),  # many on the same day: ties broken by id
        workflow=st.sampled_from(["new", "routed"]),
        unit=st.sampled_from([None, "governor"]),
        assignee=st.sampled_from([None, "tess", "ivy"]),
        lang=st.sampled_from([None, "pl", "en"]),
        category=st.sampled_from(["corruption", "bullying"]),
    )


filters_strategy = st.builds(
    Filters,
    workflow=st.sampled_from(["", "new", "routed"]),
    unit=st.sampled_from(["", "governor"]),
    urgent=st.sampled_from(["", "yes", "no"]),
    lang=st.sampled_from(["", "pl"]),
    category=st.sampled_from(["", "bullying"]),
    deadline=st.sampled_from(["", "missed", "soon", "met"]),
    assignee=st.sampled_from(["", "-", "tess"]),
    text=st.sampled_from(["", "kitchens"]),
    sort=st.sampled_from(["", "deadline"]),
)


def store(console: Console, cases: list[Spec]) -> None:
    today = console._today()
    rows = [
        {
            "id": c.id,
            "workflow": c.workflow,
            "public_status": "received",
            "category": c.category,
            "facility": "HMP Example",
            "urgent": c.urgent,
            "unit": c.unit,
            "assignee": c.assignee,
            "lang": c.lang,
            "received_on": c.received(today),
            "portal_box_pk": bytes(32),
            "reply_box_pk": bytes(32),
        }
        for c in cases
    ]
    document = {"type": "report", "description": "a case about the kitchens"}
    items = [
        {
            "id": f"item-{c.id}",
            "case_id": c.id,
            "kind": "report",
            "content": console._seal({"document": document, "files": {}}),
            "on": c.received(today),
        }
        for c in cases
    ]
    with console.sessions() as session:
        if rows:
            session.execute(insert(Case), rows)
            session.execute(insert(Item), items)
        session.commit()


def remove(console: Console, ids: list[str]) -> None:
    with console.sessions() as session:
        session.execute(delete(Item).where(Item.case_id.in_(ids)))
        session.execute(delete(Case).where(Case.id.in_(ids)))
        session.commit()


def start_over(console: Console, cases: list[Spec]) -> None:
    """Only `cases` in the console, and a search index built afresh: SQLite hands the
    numbers of deleted items out again, which an index that follows new items skips."""
    with console.sessions() as session:
        session.execute(delete(Item))
        session.execute(delete(Case))
        session.commit()
    console.search.close()
    console.search = SearchIndex(console.sessions, console._open)
    store(console, cases)


def expected(console: Console, cases: list[Spec], filters: Filters) -> list[str]:
    today = console._today()
    chosen = [c for c in cases if c.selected(filters, today)]
    return [c.id for c in sorted(chosen, key=lambda c: c.order(today, filters.sort != ""))]


def unique(cases: list[Spec]) -> list[Spec]:
    return list({c.id: c for c in cases}.values())


def next_of(page: Page) -> Cursor:
    return Cursor(after=page.key(page.cases[-1]))


@PROPERTIES
@given(cases=st.lists(specs(), max_size=40).map(unique), filters=filters_strategy,
       size=st.integers(1, 7))  # fmt: skip
def test_next_visits_every_case_once_in_order_and_previous_reverses_it(
    pair: tuple[Portal, Console], cases: list[Spec], filters: Filters, size: int
) -> None:
    _, console = pair
    start_over(console, cases)
    want = expected(console, cases, filters)
    seen: list[str] = []
    page = list_cases(console, filters, Cursor(), per_page=size)
    while True:
        assert page.total == len(want)
        assert page.first == (len(seen) + 1 if page.cases else 0)
        seen += [c.id for c in page.cases]
        if not page.has_next:
            break
        page = list_cases(console, filters, next_of(page), per_page=size)
    assert seen == want
    backwards: list[str] = []
    page = list_cases(console, filters, Cursor(last=True), per_page=size)
    while True:
        backwards = [c.id for c in page.cases] + backwards
        assert page.last == len(want) - len(backwards) + len(page.cases)
        if not page.has_previous:
            break
        page = list_cases(console, filters, Cursor(before=page.key(page.cases[0])), per_page=size)
    assert backwards == want


def cursor_of(link: str) -> Cursor:
    """The cursor an officer's browser sends back when the link is followed."""
    return Cursor.from_params(dict(urllib.parse.parse_qsl(link.partition("?")[2])))


@PROPERTIES
@given(cases=st.lists(specs(), max_size=40).map(unique),
       filters=filters_strategy.map(lambda f: replace(f, text="")),
       size=st.integers(1, 7), limit=st.integers(1, 12))  # fmt: skip
def test_links_carry_the_position_and_the_counts_stop_past_the_limit(
    pair: tuple[Portal, Console], cases: list[Spec], filters: Filters, size: int, limit: int
) -> None:
    """Counted up to `limit` only, the list still says exactly where each page stands
    when walked by its own links, both ways, and "more than" when there are more."""
    _, console = pair
    start_over(console, cases)
    want = expected(console, cases, filters)
    seen: list[str] = []
    page = list_cases(console, filters, Cursor(), per_page=size, limit=limit)
    while True:
        assert page.total == min(len(want), limit + 1)
        assert page.over == (len(want) > limit)
        assert page.first == (len(seen) + 1 if page.cases else 0)
        assert page.has_previous == bool(seen)
        seen += [c.id for c in page.cases]
        if not page.has_next:
            break
        link = page.link("next")
        page = list_cases(console, filters, cursor_of(link), per_page=size, limit=limit)
    assert seen == want
    backwards: list[str] = []
    page = list_cases(console, filters, cursor_of(page.link("last")), per_page=size, limit=limit)
    while True:
        backwards = [c.id for c in page.cases] + backwards
        before = len(want) - len(backwards)
        if page.position is None:  # not carried, and too many before it to count
            assert before > limit
        else:
            assert page.position == before
        assert page.has_previous == (before > 0)
        if not page.has_previous:
            break
        link = page.link("previous")
        page = list_cases(console, filters, cursor_of(link), per_page=size, limit=limit)
    assert backwards == want


@PROPERTIES
@given(
    cases=st.lists(specs(), min_size=1, max_size=30).map(unique),
    added=st.lists(specs("N"), max_size=6).map(unique),
    removed=st.sets(st.integers(0, 29), max_size=6),
    filters=filters_strategy.map(lambda f: replace(f, text="")),
    size=st.integers(1, 5),
    after=st.integers(1, 4),
)
def test_a_case_added_or_removed_mid_walk_makes_no_other_skip_or_repeat(
    pair: tuple[Portal, Console],
    cases: list[Spec],
    added: list[Spec],
    removed: set[int],
    filters: Filters,
    size: int,
    after: int,
) -> None:
    _, console = pair
    start_over(console, cases)
    gone = {cases[i].id for i in removed if i < len(cases)}
    seen: list[str] = []
    page = list_cases(console, filters, Cursor(), per_page=size)
    pages = 1
    while True:
        seen += [c.id for c in page.cases]
        if pages == after:  # between two pages, someone else changes the list
            store(console, added)
            remove(console, sorted(gone))
        if not page.has_next:
            break
        page = list_cases(console, filters, next_of(page), per_page=size)
        pages += 1
    assert len(seen) == len(set(seen)), "a case was shown twice"
    everything = expected(console, cases + added, filters)
    assert seen == [i for i in everything if i in set(seen)], "out of order"
    untouched = [i for i in expected(console, cases, filters) if i not in gone]
    assert set(untouched) <= set(seen), "a case that stayed was skipped"
    if pages > after:  # the change came mid-walk: a case removed before its turn is not shown
        assert not (gone - set(seen[: after * size])) & set(seen)


def test_an_upgrade_gives_existing_cases_their_keys_and_a_downgrade_takes_them_back(
    new_database_url: Callable[[], str],
) -> None:
    engine = make_engine(new_database_url())
    upgrade(engine, "0013")
    day = datetime.date(2026, 3, 2)
    with engine.begin() as connection:
        for case_id, urgent in (("OLD0001", False), ("OLD0002", True), ("OLD0003", False)):
            connection.execute(
                sa.text(
                    "INSERT INTO cases (id, workflow, public_status, category, facility, urgent,"
                    " received_on, portal_box_pk, reply_box_pk) VALUES (:i, 'new', 'received',"
                    " 'corruption', 'HMP Example', :u, :d, :k, :k)"
                ),
                {"i": case_id, "u": urgent, "d": day, "k": bytes(32)},
            )
        connection.execute(
            sa.text(
                'INSERT INTO case_events (case_id, kind, "on", officer) VALUES'
                " ('OLD0003', 'acknowledged', :d, 'officer:tess')"
            ),
            {"d": day},
        )
    upgrade(engine)
    with engine.connect() as connection:
        rows = {
            row.id: row
            for row in connection.execute(
                sa.text("SELECT id, list_key, due_key, due_on, deadlines FROM cases")
            )
        }
    week, quarter = day + datetime.timedelta(days=7), day + datetime.timedelta(days=91)
    assert rows["OLD0001"].list_key == list_key(False, day, "OLD0001")
    assert rows["OLD0002"].list_key < rows["OLD0001"].list_key  # urgent first
    due = [str(rows[i].due_on) for i in ("OLD0001", "OLD0002", "OLD0003")]  # SQLite: text
    assert due == [week.isoformat(), day.isoformat(), quarter.isoformat()]
    assert rows["OLD0003"].due_key == quarter.isoformat() + rows["OLD0003"].list_key
    assert {row.deadlines for row in rows.values()} == {"open"}
    command.downgrade(alembic_config(engine), "0013")
    upgrade(engine)
    engine.dispose()
