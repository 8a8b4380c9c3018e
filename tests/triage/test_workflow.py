"""A case from new to closed, as each role sees it, with its legal deadlines on a clock the
test moves: due, then met (on time or late), or overdue."""

from __future__ import annotations

import datetime
import time

import pytest

from tests.portal.forms import open_thread, receipt_of, submit_report
from triage.workflow import Event, deadlines

from .conftest import Site, case_ids, enrol
from .officer_pages import action_fields

DAY0 = datetime.date(2026, 3, 2)


def states(found: list, today: datetime.date | None = None) -> dict[str, str]:  # type: ignore[type-arg]
    return {d.name: d.state for d in found}


def test_an_ordinary_report_must_be_acknowledged_in_7_days_and_answered_in_3_months() -> None:
    def at(day: int, *events: Event) -> dict[str, str]:
        found = deadlines(
            received_on=DAY0,
            category="corruption",
            urgent=False,
            events=list(events),
            today=DAY0 + datetime.timedelta(days=day),
        )
        return states(found)

    assert at(0) == {"acknowledge_by": "due", "feedback_by": "due"}
    assert at(7) == {"acknowledge_by": "due", "feedback_by": "due"}  # the 7th day still counts
    assert at(8) == {"acknowledge_by": "overdue", "feedback_by": "due"}
    acknowledged = Event("acknowledged", DAY0 + datetime.timedelta(days=9))
    assert at(9, acknowledged)["acknowledge_by"] == "met"
    [late] = [
        d
        for d in deadlines(
            received_on=DAY0, category="corruption", urgent=False, events=[acknowledged], today=DAY0
        )
        if d.name == "acknowledge_by"
    ]
    assert late.late
    assert late.as_json()["met_on"] == "2026-03-11"
    assert at(92)["feedback_by"] == "overdue"  # 13 weeks after 2 March is 1 June
    assert at(92, Event("feedback", DAY0 + datetime.timedelta(days=80)))["feedback_by"] == "met"
    assert at(92, Event("reply", DAY0 + datetime.timedelta(days=80)))["feedback_by"] == "overdue"


def test_sexual_abuse_adds_police_contact_and_90_days_of_retaliation_checks() -> None:
    found = deadlines(
        received_on=DAY0,
        category="staff_sexual_misconduct",
        urgent=False,
        events=[Event("retaliation_check", DAY0 + datetime.timedelta(days=29))],
        today=DAY0 + datetime.timedelta(days=61),
    )
    by_name = {d.name: d for d in found}
    assert by_name["police_contact_by"].date == DAY0 + datetime.timedelta(days=1)
    assert by_name["police_contact_by"].state == "overdue"
    assert [by_name[f"retaliation_check_{n}_by"].state for n in (1, 2, 3)] == [
        "met",
        "overdue",
        "due",
    ]
    assert by_name["retaliation_check_3_by"].date == DAY0 + datetime.timedelta(days=90)
    assert [d.date for d in found] == sorted(d.date for d in found)


def test_self_harm_risk_and_urgent_reports_are_due_the_same_day() -> None:
    found = deadlines(
        received_on=DAY0, category="self_harm_risk", urgent=True, events=[], today=DAY0
    )
    same_day = {d.name for d in found if d.date == DAY0}
    assert same_day == {"escalate_by", "safeguarding_by"}
    tomorrow = deadlines(
        received_on=DAY0,
        category="self_harm_risk",
        urgent=True,
        events=[Event("safeguarding_contacted", DAY0)],
        today=DAY0 + datetime.timedelta(days=1),
    )
    assert states(tomorrow)["safeguarding_by"] == "met"
    assert states(tomorrow)["escalate_by"] == "met"  # safeguarding contact is the escalation


def test_closing_owes_the_reporter_the_outcome_until_it_reaches_the_portal() -> None:
    closed = Event("closed", DAY0 + datetime.timedelta(days=20))
    found = states(
        deadlines(
            received_on=DAY0,
            category="bullying",
            urgent=False,
            events=[closed],
            today=DAY0 + datetime.timedelta(days=30),
        )
    )
    assert found["acknowledge_by"] == "met"  # a closure answers both
    assert found["feedback_by"] == "met"
    assert found["outcome_notified_by"] == "overdue"


def on_day(site: Site, day: int) -> None:
    """Move the calendar of both sides `day` days on from today; signed requests between
    them stay fresh because both clocks move together."""
    site.portal.clock.offset = day * 86400.0
    site.console.clock = lambda: time.time() + day * 86400.0


@pytest.mark.usefixtures("site")
def test_a_case_goes_from_new_to_closed_through_the_pages(site: Site) -> None:
    on_day(site, 0)
    start = site.console._today()
    receipt = receipt_of(submit_report(site.portal.client()))  # a sexual-misconduct report
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    police, _ = enrol(site, "pat", "investigator", "police_liaison")
    other, _ = enrol(site, "cora", "investigator", "counter_corruption")
    auditor, _ = enrol(site, "audrey", "auditor")
    admin, _ = enrol(site, "ada", "admin")

    board = triage.get("/dashboard").text
    assert "0 overdue" in board
    assert "Contact the police within 24 hours" in board
    assert auditor.get("/dashboard").status_code == 403
    assert admin.get("/dashboard").status_code == 403

    def act(day: int, action: str, **fields: str) -> str:
        on_day(site, day)
        page = triage.get(f"/cases/{case_id}").text
        path = f"/cases/{case_id}/{action}"
        answer = triage.post(path, data={**action_fields(page, path), **fields})
        if answer.status_code == 303:  # done: the case page says so
            return triage.get(answer.headers["location"]).text
        assert answer.status_code == 422, answer.text  # refused: the page says why
        return answer.text

    assert "Acknowledged" in act(3, "acknowledge")
    on_day(site, 3)
    shown = site.console.show(case_id)["deadlines"]
    assert shown["acknowledge_by"]["state"] == "met"
    assert shown["police_contact_by"]["state"] == "overdue"  # due on day 1, nothing recorded
    assert shown["feedback_by"]["state"] == "due"
    assert "1 overdue" in triage.get("/dashboard").text

    assert "Recorded" in act(3, "record", what="police_contacted")
    assert "Assessment saved" in act(
        3, "assess", category="staff_sexual_misconduct", severity="high", reason="CCTV exists"
    )
    assert "Not done: say why this unit" in act(3, "route", unit="police_liaison", reason=" ")
    assert "Case routed" in act(3, "route", unit="police_liaison", reason="Sexual offence")
    assert case_id in police.get("/dashboard").text  # their unit's case
    assert case_id not in other.get("/dashboard").text

    on_day(site, 40)
    assert site.console.show(case_id)["deadlines"]["retaliation_check_1_by"]["state"] == "overdue"
    act(40, "record", what="retaliation_check")
    refused = act(41, "close", outcome="substantiated", summary="", feedback="Done.")
    assert "Not done: write a summary" in refused
    closed = act(
        50,
        "close",
        outcome="substantiated",
        summary="Officer suspended; police investigating.",
        feedback="Thank you. What you reported was true and action has been taken.",
    )
    assert "Case closed and sent to the portal." in closed
    on_day(site, 50)
    case = site.console.show(case_id)
    assert (case["status"], case["outcome"], case["severity"]) == (
        "closed",
        "substantiated",
        "high",
    )
    assert case["deadlines"]["outcome_notified_by"] == {
        "label": "Tell the reporter the outcome (recorded when sent to the portal)",
        "date": (start + datetime.timedelta(days=57)).isoformat(),
        "state": "met",
        "met_on": (start + datetime.timedelta(days=50)).isoformat(),
        "late": False,
    }
    assert case["deadlines"]["feedback_by"]["state"] == "met"
    assert "Close the case" not in triage.get(f"/cases/{case_id}").text  # nothing left to do

    reporter = site.portal.client()
    open_thread(reporter, receipt)
    thread = reporter.get("/thread").text
    assert "What you reported was true" in thread
    assert "Closed" in thread

    audited = {(e["action"], e.get("case")) for e in site.console.audit_entries()}
    for action in ("acknowledge", "record", "assess", "route", "close"):
        assert (action, case_id) in audited
    assessed = [e for e in site.console.audit_entries() if e["action"] == "assess"]
    assert assessed[0]["reason"] == "CCTV exists"
    [routed] = [e for e in site.console.audit_entries() if e["action"] == "route"]
    assert (routed["unit"], routed["reason"]) == ("police_liaison", "Sexual offence")


def test_urgent_cases_lead_the_list_under_a_banner(site: Site) -> None:
    submit_report(site.portal.client(), description="Nothing urgent here.")
    submit_report(site.portal.client(), urgent="yes", description="He has razors tonight.")
    site.console.sync(site.portal.url)
    triage, _ = enrol(site, "tess", "triage")
    listing = triage.get("/cases").text
    assert "1 urgent case</strong> — someone may be in danger now." in listing
    urgent = next(c["case"] for c in site.console.cases() if c["urgent"])
    calm = next(c["case"] for c in site.console.cases() if not c["urgent"])
    assert listing.index(urgent) < listing.index(calm)
