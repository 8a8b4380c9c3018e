"""Retention (issue 6): a closed case's content is deleted when its rule runs out, the
anonymous fields and the audit log stay, and running the purge again changes nothing."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.portal.conftest import Portal
from tests.portal.forms import submit_report
from tests.portal.test_leaks import database_rows
from triage import links
from triage.console import Console
from triage.db import Case, CaseEvent, Concern, Item, Outgoing
from triage.retention import purge_expired
from triage.settings import ConsoleError, TriageSettings

from .conftest import PASSPHRASES, case_ids

TODAY = datetime.date(2040, 3, 1)  # the purge's "today": far from the clock's
LANTHORN = Path(sys.executable).with_name("lanthorn")


def new_case(portal: Portal, console: Console, **fields: object) -> str:
    """Report on the portal, sync, and return the one new case's id."""
    before = set(case_ids(console))
    submit_report(portal.client(), **fields)
    console.sync(portal.url)
    [case_id] = set(case_ids(console)) - before
    return case_id


def closed_case(portal: Portal, console: Console, days_ago: int, **fields: object) -> str:
    case_id = new_case(portal, console, **fields)
    console.close_case(
        case_id, outcome="substantiated", summary="Officer dismissed.", feedback="Thank you."
    )
    with console.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.closed_on = TODAY - datetime.timedelta(days=days_ago)
        session.commit()
    return case_id


def test_each_rule_purges_only_the_cases_past_it(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    abuse = {"category": "staff_sexual_misconduct"}
    other = {"category": "other"}
    kept = [
        closed_case(portal, console, 4 * 365, **abuse),
        closed_case(portal, console, 1826, **abuse),  # the last day it is kept
        closed_case(portal, console, 729, **other),
        closed_case(portal, console, 730, **other),
        new_case(portal, console, **other),  # open: never purged, however old
    ]
    purged = [
        closed_case(portal, console, 1826 + 1, **abuse),
        closed_case(portal, console, 730 + 1, **other),
    ]

    report = purge_expired(console, today=TODAY)
    assert sorted(c.case for c in report.cases) == sorted(purged)
    rules = {c.case: c.rule for c in report.cases}
    assert rules[purged[0]] == "sexual abuse (PREA 115.71): kept 1826 days after closure"
    assert rules[purged[1]] == "kept 730 days after closure"
    for case_id in kept:
        assert console.show(case_id)["purged_on"] is None
        assert console.show(case_id)["description"]
    for case_id in purged:
        assert console.show(case_id)["purged_on"] == TODAY.isoformat()

    again = purge_expired(console, today=TODAY)  # idempotent
    assert (again.cases, again.files) == ([], 0)
    purges = [e["case"] for e in console.audit_entries() if e["action"] == "purge"]
    assert sorted(purges) == sorted(purged)


def test_the_periods_come_from_the_settings(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    case_id = closed_case(portal, console, 11, category="other")
    shorter = TriageSettings(data_dir=Path("unused"), retention_days_other=10)
    console.settings = shorter
    [expired] = purge_expired(console, today=TODAY, dry_run=True).cases
    assert (expired.case, expired.rule) == (case_id, "kept 10 days after closure")


def test_a_purged_case_keeps_only_its_anonymous_fields(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    canary = "CANARY-retention-8841"
    photo = os.urandom(70_000)
    case_id = new_case(
        portal,
        console,
        description=f"{canary} report",
        identity=f"{canary} name",
        files=[("photo.jpg", photo, "image/jpeg")],
    )
    [blob_id] = console.blobs.ids()
    console.reply(case_id, f"{canary} reply")
    links.add_concern(console, case_id, "person", f"{canary} officer")
    console.close_case(
        case_id, outcome="unfounded", summary=f"{canary} summary", feedback=f"{canary} outcome"
    )
    with console.sessions() as session:  # closed five years and a day before TODAY
        case = session.get(Case, case_id)
        assert case is not None
        case.closed_on = TODAY - datetime.timedelta(days=1827)
        session.commit()
    before = console.show(case_id, reveal_identity=True)
    assert canary in before["description"]
    assert console.blobs.exists(blob_id)

    report = purge_expired(console, today=TODAY)
    assert [c.case for c in report.cases] == [case_id]
    assert report.files == 1
    assert not console.blobs.exists(blob_id)
    assert not any(console.blobs.root.iterdir())

    shown = console.show(case_id, reveal_identity=True)
    assert canary not in json.dumps(shown)
    for name in ("category", "facility", "outcome", "closed_on", "received_on", "workflow"):
        assert shown[name] == before[name], name
    assert shown["purged_on"] == TODAY.isoformat()
    assert shown["channel"] == before["channel"] == "staff"  # counted by the statistics
    assert (shown["description"], shown["identity"], shown["subjects"]) == ("", None, "")
    assert [(m["kind"], m["on"]) for m in shown["messages"]] == [
        (m["kind"], m["on"]) for m in before["messages"]
    ]
    assert all(m["text"] is None and m["files"] == [] for m in shown["messages"])

    with console.sessions() as session:  # nothing of the content is left under the key
        for item in session.scalars(select(Item)):
            assert canary not in json.dumps(console._open(item.content))
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
        assert [e.detail for e in events] == [None] * len(events)
        assert "purged" in [e.kind for e in events]
        assert "closed" in [e.kind for e in events]  # the facts deadlines come from stay
        assert session.scalars(select(Outgoing)).all() == []  # the queued outcome reply too
        assert session.scalars(select(Concern)).all() == []  # no name links it any more
    assert console.deadlines(case_id) == []  # nothing is owed on a case that is gone
    with pytest.raises(ConsoleError, match="purged"):
        console.reply(case_id, "Too late")
    count, _ = console.verify_audit()
    entries = console.audit_entries()
    assert count == len(entries)
    [purge] = [e for e in entries if e["action"] == "purge"]
    assert purge["case"] == case_id
    assert purge["reason"] == "sexual abuse (PREA 115.71): kept 1826 days after closure"
    assert ("close", case_id) in [(e["action"], e["case"]) for e in entries]  # untouched


def lanthorn(console: Console, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LANTHORN_DATABASE_URL": console.settings.database_url,
        "LANTHORN_UNSEAL_PASSPHRASES": ",".join(PASSPHRASES[:2]),
    }
    return subprocess.run(
        [LANTHORN, "triage", *args, "--data", str(console.settings.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_command_line_dry_run_changes_nothing(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    case_id = new_case(portal, console, category="other", files=[("a.txt", b"x" * 9, "text/plain")])
    console.close_case(case_id, outcome="referred", summary="Sent on.", feedback="Sent on.")
    closed_on = console._today() - datetime.timedelta(days=800)  # the command uses the clock
    with console.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.closed_on = closed_on
        session.commit()
    rows = database_rows(console.settings.database_url)
    files = {p.name: p.read_bytes() for p in console.blobs.root.iterdir()}

    dry = lanthorn(console, "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{case_id}  closed {closed_on}  kept 730 days after closure" in dry.stdout
    assert "Would purge 1 cases" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert database_rows(console.settings.database_url) == rows
    assert {p.name: p.read_bytes() for p in console.blobs.root.iterdir()} == files

    done = lanthorn(console, "purge")
    assert done.returncode == 0, done.stderr
    assert "Purged 1 cases" in done.stdout
    assert "1 attachment files deleted" in done.stdout
    assert not any(console.blobs.root.iterdir())
    shown = lanthorn(console, "show", case_id)
    assert shown.returncode == 0, shown.stderr
    assert "only the anonymous fields remain" in shown.stdout
    assert "Nothing to purge" in lanthorn(console, "purge").stdout


def test_retention_periods_are_read_and_checked() -> None:
    defaults = TriageSettings.from_env("d", environ={})
    assert (defaults.retention_days_sexual_abuse, defaults.retention_days_other) == (1826, 730)
    chosen = TriageSettings.from_env(
        "d",
        environ={
            "LANTHORN_RETENTION_DAYS_SEXUAL_ABUSE": "2000",
            "LANTHORN_RETENTION_DAYS_OTHER": " 365 ",
        },
    )
    assert (chosen.retention_days_sexual_abuse, chosen.retention_days_other) == (2000, 365)
    for bad in ("0", "-5", "2.5", "two years", "1e3", "²"):
        with pytest.raises(ConsoleError, match="LANTHORN_RETENTION_DAYS_OTHER must be a whole"):
            TriageSettings.from_env("d", environ={"LANTHORN_RETENTION_DAYS_OTHER": bad})
    with pytest.raises(ConsoleError, match="retention_days_sexual_abuse must be a whole"):
        TriageSettings(data_dir=Path("d"), retention_days_sexual_abuse=0)
