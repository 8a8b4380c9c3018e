"""Queues and bulk work on the case list (issue 18): assigning cases ("My cases",
"Unassigned"), who may assign to whom, acknowledging several cases at once (once, however
often the form is sent), and the CSV export for the board (no identities, no text, no
formulas)."""

from __future__ import annotations

import csv
import html
import io
import re

import httpx
from sqlalchemy import insert, select

from tests.portal.forms import submit_report
from triage.case_export import COLUMNS
from triage.db import Case, Item, Outgoing

from .conftest import Site, case_ids, enrol
from .officer_pages import action_fields
from .page_forms import post_forms

_ROW = re.compile(r'<td><a href="/cases/([A-Z0-9]+)">')
ALREADY_DONE = "This was already done."


def listed(client: httpx.Client, path: str) -> list[str]:
    return _ROW.findall(client.get(path).text)


def bulk_fields(client: httpx.Client, path: str = "/cases") -> dict[str, str]:
    """The list's bulk form, as rendered: its CSRF token, one-time value and way back."""
    [form] = [f for f in post_forms(client.get(path).text) if f.action == "/cases/bulk"]
    return dict(form.hidden)


def bulk(
    client: httpx.Client, cases: list[str], action: str, assignee: str = "", path: str = "/cases"
) -> tuple[httpx.Response, dict[str, str]]:
    body = bulk_fields(client, path) | {"action": action, "assignee": assignee}
    body |= {f"pick-{case}": "yes" for case in cases}
    return client.post("/cases/bulk", data=body), body


def reports(site: Site, count: int, **fields: object) -> list[str]:
    before = set(case_ids(site.console))
    for _ in range(count):
        submit_report(site.portal.client(), **fields)
    site.console.sync(site.portal.url)
    return sorted(set(case_ids(site.console)) - before)


def entries(site: Site, action: str) -> list[dict[str, object]]:
    return [e for e in site.console.audit_entries() if e["action"] == action]


def test_assigning_moves_a_case_from_unassigned_to_my_cases_and_is_audited(site: Site) -> None:
    first, second, third = reports(site, 3)
    tess, _ = enrol(site, "tess", "triage")
    tina, _ = enrol(site, "tina", "triage")
    assert sorted(listed(tess, "/cases?assignee=-")) == [first, second, third]
    answer, _ = bulk(tess, [first], "assign", "tess", "/cases?assignee=-")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/cases?assignee=-"  # back where the officer was
    assert "Assigned 1 case to tess." in tess.get(answer.headers["location"]).text
    assert listed(tess, "/cases?assignee=tess") == [first]
    assert sorted(listed(tess, "/cases?assignee=-")) == [second, third]
    mine = tess.get("/cases").text
    assert '<a href="/cases?assignee=tess">My cases</a>' in mine
    assert listed(tina, "/cases?assignee=tina") == []

    answer, _ = bulk(tina, [first, second], "assign", "tina")  # reassigned, and one more
    assert answer.status_code == 303
    assert sorted(listed(tina, "/cases?assignee=tina")) == [first, second]
    assert listed(tess, "/cases?assignee=tess") == []
    answer, _ = bulk(tina, [second], "assign", "-")  # back to nobody
    assert sorted(listed(tina, "/cases?assignee=-")) == [second, third]

    assigned = entries(site, "assign")
    assert [(e["who"], e["case"], e["from"], e["to"]) for e in assigned] == [
        ("officer:tess", first, None, "tess"),
        ("officer:tina", first, "tess", "tina"),
        ("officer:tina", second, None, "tina"),
        ("officer:tina", second, "tina", None),
    ]
    assert {key for e in assigned for key in e} == {"at", "who", "action", "case", "from", "to"}


def test_an_investigator_is_assigned_only_cases_routed_to_their_unit(site: Site) -> None:
    [case] = reports(site, 1)
    tess, _ = enrol(site, "tess", "triage")
    ivy, _ = enrol(site, "ivy", "investigator", "counter_corruption")
    refused, _ = bulk(tess, [case], "assign", "ivy")
    assert refused.status_code == 422
    assert f"case {case} is not routed to ivy's unit" in html.unescape(refused.text)
    assert entries(site, "assign") == []
    with site.console.sessions() as session:
        row = session.get(Case, case)
        assert row is not None
        assert row.assignee is None
        row.unit, row.workflow = "counter_corruption", "routed"
        session.commit()
    done, _ = bulk(tess, [case], "assign", "ivy")
    assert done.status_code == 303
    assert listed(ivy, "/cases?assignee=ivy") == [case]
    for who in ("nobody", "ada"):  # not an officer; an admin, not assignable
        if who == "ada":
            enrol(site, "ada", "admin")
        answer, _ = bulk(tess, [case], "assign", who)
        assert answer.status_code == 422
        assert "is not an active triage officer or investigator" in answer.text
    assert ivy.post("/cases/bulk", data={"action": "assign"}).status_code == 403


def test_routing_a_case_elsewhere_unassigns_the_investigator_who_can_no_longer_open_it(
    site: Site,
) -> None:
    [case] = reports(site, 1)
    tess, _ = enrol(site, "tess", "triage")
    ivy, _ = enrol(site, "ivy", "investigator", "counter_corruption")

    def route(unit: str) -> None:
        page = tess.get(f"/cases/{case}").text
        fields = {"unit": unit, "reason": "the matter is theirs"}
        answer = tess.post(
            f"/cases/{case}/route", data={**action_fields(page, f"/cases/{case}/route"), **fields}
        )
        assert answer.status_code == 303

    route("counter_corruption")
    assert bulk(tess, [case], "assign", "ivy")[0].status_code == 303
    assert listed(ivy, "/cases?assignee=ivy") == [case]
    route("police_liaison")
    assert listed(tess, "/cases?assignee=-") == [case]  # unassigned again, for the new unit
    assert ivy.get(f"/cases/{case}").status_code in (403, 404)
    last = entries(site, "assign")[-1]
    assert (last["case"], last["to"], last["from"], last["why"]) == (case, None, "ivy", "routed")
    # A triage officer follows the case wherever it is routed: they read every case.
    assert bulk(tess, [case], "assign", "tess")[0].status_code == 303
    route("counter_corruption")
    assert listed(tess, "/cases?assignee=tess") == [case]


def test_acknowledging_several_cases_acts_once_however_often_it_is_sent(site: Site) -> None:
    first, second, third = reports(site, 3)
    tess, _ = enrol(site, "tess", "triage")
    answer, body = bulk(tess, [first, second], "acknowledge")
    assert answer.status_code == 303
    page = tess.get(answer.headers["location"]).text
    assert "Acknowledged 2 cases" in page
    again = tess.post("/cases/bulk", data=body)  # a double click, or the browser's resend
    assert again.status_code == 303
    assert ALREADY_DONE in tess.get(again.headers["location"]).text
    assert sorted(e["case"] for e in entries(site, "acknowledge")) == [first, second]
    with site.console.sessions() as session:
        status = dict(session.execute(select(Case.id, Case.public_status)).all())
        sent = session.scalars(select(Outgoing.case_id).where(Outgoing.kind == "status")).all()
    assert (status[first], status[second], status[third]) == ("acknowledged",) * 2 + ("received",)
    assert sorted(sent) == [first, second]  # each reporter told once
    answer, _ = bulk(tess, [first, third], "acknowledge")  # one already acknowledged
    assert "Acknowledged 1 case" in tess.get(answer.headers["location"]).text
    assert sorted(e["case"] for e in entries(site, "acknowledge")) == [first, second, third]
    nothing, _ = bulk(tess, [], "acknowledge")
    assert nothing.status_code == 422
    assert "tick at least one case first" in nothing.text


CANARY = "Canary7Q"


def test_the_export_holds_no_text_no_names_and_no_formulas(site: Site) -> None:
    fields = ("facility", "location", "occurred", "subjects", "witnesses", "description")
    [case] = reports(
        site, 1, **{f: f"{CANARY}{f} Officer Jane Doe" for f in fields}, identity=CANARY
    )
    tess, _ = enrol(site, "tess", "triage")
    site.console.acting_as("officer:tess").reply(case, f"{CANARY}reply to you")
    site.console.assess(case, category="corruption", severity="high", urgent=True,
                        reason=f"{CANARY}reason")  # fmt: skip
    bulk(tess, [case], "assign", "tess")
    formula = '=HYPERLINK("http://x.example","click")'
    with site.console.sessions() as session:
        session.execute(
            insert(Case),
            [{"id": "F0000001", "category": formula, "facility": "@SUM(1+1)*cmd|' /C calc'!A0",
              "urgent": False, "received_on": site.console._today(), "lang": "+pl",
              "portal_box_pk": bytes(32), "reply_box_pk": bytes(32), "workflow": "new",
              "public_status": "received"}],
        )  # fmt: skip
        session.execute(insert(Item), [{"id": "i-F1", "case_id": "F0000001", "kind": "report",
                                        "content": site.console._seal({}),
                                        "on": site.console._today()}])  # fmt: skip
        session.commit()

    answer = tess.get("/cases/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    text = answer.content.decode("utf-8-sig")
    assert CANARY.casefold() not in text.casefold()
    assert "Jane" not in text
    assert "tess" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    by_id = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {case, "F0000001"}
    assert by_id[case]["category"] == "corruption"
    assert by_id[case]["urgent"] == "yes"
    assert by_id["F0000001"]["category"] == "'" + formula  # shown as text, never run
    assert by_id["F0000001"]["language"] == "'+pl"
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    filtered = tess.get("/cases/export.csv?category=corruption").content.decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(filtered))][1:] == [case]
    assert [e["rows"] for e in entries(site, "export cases")] == [2, 1]

    ivy, _ = enrol(site, "ivy", "investigator", "counter_corruption")
    assert ivy.get("/cases/export.csv").status_code == 403


def test_the_list_filters_by_language_urgency_and_deadline(site: Site) -> None:
    [urgent] = reports(site, 1, urgent="yes", category="corruption")
    [calm] = reports(site, 1, category="corruption")
    tess, _ = enrol(site, "tess", "triage")
    assert sorted(listed(tess, "/cases?lang=en")) == sorted([urgent, calm])
    assert listed(tess, "/cases?lang=pl") == []
    assert listed(tess, "/cases?urgent=yes") == [urgent]
    assert listed(tess, "/cases?urgent=no") == [calm]
    assert listed(tess, "/cases?deadline=soon&sort=deadline") == [urgent, calm]
    assert listed(tess, "/cases?deadline=missed") == []
    site.console.acknowledge(calm)  # the next deadline is now feedback, in 3 months
    assert listed(tess, "/cases?deadline=soon") == [urgent]
    assert listed(tess, "/cases?deadline=later") == [calm]
    assert listed(tess, "/cases?sort=deadline") == [urgent, calm]
