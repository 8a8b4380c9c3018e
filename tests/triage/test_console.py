"""The console end to end over real HTTP: reports made on the portal are synced, read,
answered; the reporter sees the answer; and the promises hold under attack."""

from __future__ import annotations

import datetime
import hashlib
import os

import pytest
from sqlalchemy import delete, select, update

import crypto
from portal.db import Case as PortalCase
from portal.db import Item as PortalItem
from tests.portal.conftest import Portal
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from tests.portal.test_api import file_report, report_document, submission
from triage import intake
from triage.client import PortalError
from triage.console import Console
from triage.db import AuditRow, Outgoing

from .conftest import case_ids


def test_reports_and_messages_are_synced_read_and_answered(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    photo = os.urandom(150_000)
    browser = portal.client()
    receipt = receipt_of(
        submit_report(browser, files=[("photo.jpg", photo, "image/jpeg")], urgent="yes")
    )
    with portal.client() as api_client:
        file_report(portal, api_client, [b"api file"])  # and one through the JSON API

    first = console.sync(portal.url)
    assert (first.taken, first.files, first.set_aside) == (2, 2, [])
    again = console.sync(portal.url)
    assert (again.taken, again.already) == (0, 0)  # acknowledged: the portal has no more

    cases = console.cases()
    assert [c["urgent"] for c in cases] == [True, False]  # urgent on top
    case = console.show(cases[0]["case"])
    assert case["description"].startswith("An officer has been taking a prisoner")
    [shown] = case["messages"][0]["files"]
    assert (shown["name"], shown["size"], shown["state"]) == ("photo.jpg", len(photo), "stored")
    assert shown["sha256"] == hashlib.sha256(photo).hexdigest()
    assert not case["reply_key_mismatch"]

    console.reply(case["case"], "We have your report. Are you safe to talk?")
    console.set_public_status(case["case"], "in_review")
    # The reply (which also says the report was read) and the officer's status: both go.
    assert console.push() == (2, 0)
    reader = portal.client()
    open_thread(reader, receipt)
    thread = reader.get("/thread").text
    assert "We have your report. Are you safe to talk?" in thread
    assert "Being looked into" in thread

    send_message(reader, "Yes, on Tuesday.")
    console.sync(portal.url)
    messages = console.show(case["case"])["messages"]
    assert [(m["kind"], m["text"]) for m in messages][1:] == [
        ("reply", "We have your report. Are you safe to talk?"),
        ("message", "Yes, on Tuesday."),
    ]


def test_replies_queue_while_the_portal_is_down_and_go_at_the_next_sync(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    receipt = receipt_of(submit_report(portal.client()))
    console.sync(portal.url)
    [case_id] = case_ids(console)
    with console.sessions() as session:  # as if the portal had moved
        from triage.db import set_state

        set_state(session, "portal_url", "http://127.0.0.1:9")
        session.commit()
    console.reply(case_id, "Queued reply")
    assert console.push() == (0, 1)  # the reply, which also says the report was read
    report = console.sync(portal.url)
    assert (report.pushed, report.queued) == (1, 0)
    reader = portal.client()
    open_thread(reader, receipt)
    assert "Queued reply" in reader.get("/thread").text


def test_a_sync_killed_halfway_and_rerun_keeps_every_item_exactly_once(
    pair: tuple[Portal, Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    portal, console = pair
    for _ in range(3):
        submit_report(portal.client(), files=[("f.bin", os.urandom(70_000), "image/png")])
    calls = {"n": 0}
    real_take = intake.take

    def dying_take(acting: Console, *args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C, mid-page, before any ack
        real_take(acting, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "take", dying_take)
    with pytest.raises(KeyboardInterrupt):
        console.sync(portal.url)
    monkeypatch.setattr(intake, "take", real_take)
    # A page is stored in one transaction: the interrupted one left nothing half-stored,
    # and the portal, never acknowledged, still offers all three.
    assert case_ids(console) == []
    assert len(portal.console().outbox()["items"]) == 3
    report = console.sync(portal.url)
    assert (report.taken, report.already) == (3, 0)
    assert len(case_ids(console)) == 3
    assert len(set(case_ids(console))) == 3
    for case_id in case_ids(console):
        assert console.show(case_id)["messages"][0]["files"][0]["state"] == "stored"
    assert portal.console().outbox()["items"] == []


def test_an_item_that_cannot_be_opened_is_set_aside_and_the_rest_go_on(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    submit_report(portal.client())
    stranger = crypto.PrivateKey.generate()  # a client sealing to the wrong key
    keys = portal.derive(crypto.generate_receipt())
    document = {**report_document(keys, []), "description": "lost"}
    sealed = crypto.seal_report(document, stranger.public_key)
    response = portal.client().post("/api/v1/reports", json=submission(keys, sealed, []))
    assert response.status_code == 201
    submit_report(portal.client())
    report = console.sync(portal.url)
    assert report.taken == 2
    assert len(report.set_aside) == 1
    assert "could not be opened with the oversight key" in report.set_aside[0]
    assert console.set_aside_items()[0]["case"] == response.json()["case"]
    assert console.sync(portal.url).set_aside == []  # recorded once, not again


def test_a_reply_goes_to_the_key_in_the_report_not_the_portals_copy(
    pair: tuple[Portal, Console],
) -> None:
    """A portal whose copy of the reporter's box key was swapped gets nothing it can
    open: the reply is sealed to the report's key, and signed for that case key, so the
    portal (which checks the header against its copy) refuses it, and it waits."""
    portal, console = pair
    receipt = receipt_of(submit_report(portal.client()))
    keys = portal.derive(crypto.validate_receipt(receipt))
    attacker = crypto.PrivateKey.generate()
    from portal.db import Case as PortalCase

    with portal.app.state.sessions() as session:  # a tampered portal swaps the reply key
        session.execute(update(PortalCase).values(box_pk=bytes(attacker.public_key)))
        session.commit()
    console.sync(portal.url)
    [case_id] = case_ids(console)
    assert console.show(case_id)["reply_key_mismatch"] is True
    console.reply(case_id, "for the reporter only")
    assert console.push() == (0, 1)  # refused: the header names the report's key
    thread = portal.client().get("/api/v1/thread", auth=portal.reporter_auth(keys)).json()
    assert [item["from"] for item in thread["items"]] == ["reporter"]
    with console.sessions() as session:
        [queued] = session.scalars(select(Outgoing)).all()
    assert (queued.sent_on, queued.case_id) == (None, case_id)


def test_the_console_database_holds_no_plaintext(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    canary = "CANARY-console-5517"
    submit_report(
        portal.client(),
        description=f"{canary} in the text",
        identity=f"{canary} name",
        files=[("c.txt", (canary * 50).encode(), "text/plain")],
    )
    console.sync(portal.url)
    [case_id] = case_ids(console)
    console.reply(case_id, f"{canary} reply")
    assert canary in console.show(case_id)["description"]
    from tests.portal.test_leaks import database_rows

    dump = repr(database_rows(console.settings.database_url))
    assert canary not in dump
    for path in console.settings.data_dir.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_the_identity_is_withheld_until_revealed_and_revealing_is_audited(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    submit_report(portal.client(), identity="Officer J. Smith")
    console.sync(portal.url)
    [case_id] = case_ids(console)
    assert console.show(case_id)["identity"] == "withheld"
    assert console.show(case_id, reveal_identity=True)["identity"] == "Officer J. Smith"
    actions = [(e["action"], e["case"]) for e in console.audit_entries()]
    assert ("reveal identity", case_id) in actions
    assert actions.count(("view", case_id)) == 2


def test_every_action_is_audited_and_tampering_is_caught(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    submit_report(portal.client())
    console.sync(portal.url)
    [case_id] = case_ids(console)
    console.show(case_id)
    console.reply(case_id, "hello")
    console.set_public_status(case_id, "acknowledged")
    actions = [e["action"] for e in console.audit_entries()]
    assert actions == ["received report", "sync", "list cases", "view", "reply", "status"]
    count, _ = console.verify_audit()
    assert count == len(actions)
    with console.sessions() as session:  # someone edits the log to hide a view
        row = session.query(AuditRow).order_by(AuditRow.seq).all()[3]
        row.entry = row.entry.replace('"view"', '"list cases"').replace('"reply"', '"x"')
        session.commit()
    with pytest.raises(crypto.AuditChainBroken) as broken:
        console.verify_audit()
    assert broken.value.index == 3


def test_an_unreachable_portal_is_a_clear_error(pair: tuple[Portal, Console]) -> None:
    _, console = pair
    with pytest.raises(PortalError, match="cannot reach the portal"):
        console.sync("http://127.0.0.1:9")


def test_show_json_on_the_command_line_after_a_sync(pair: tuple[Portal, Console]) -> None:
    """docs/cli.md: `show CASE --json` gives description, category, status and messages."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from .conftest import PASSPHRASES

    portal, console = pair
    submit_report(portal.client(), description="Seen from the command line")
    console.sync(portal.url)
    [case_id] = case_ids(console)
    env = {
        **os.environ,
        "LANTHORN_DATABASE_URL": console.settings.database_url,
        "LANTHORN_UNSEAL_PASSPHRASES": ",".join(PASSPHRASES[1:]),
    }
    lanthorn = Path(sys.executable).with_name("lanthorn")
    result = subprocess.run(  # noqa: S603
        [lanthorn, "triage", "show", "--json", "--data", str(console.settings.data_dir), case_id],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    shown = json.loads(result.stdout)
    assert shown["description"] == "Seen from the command line"
    assert shown["category"] == "staff_sexual_misconduct"
    assert shown["status"] == "received"
    assert [m["kind"] for m in shown["messages"]] == ["report"]
    deadlines = shown["deadlines"]  # issue 6: each deadline with its date and state
    received = datetime.date.fromisoformat(shown["received_on"])
    assert deadlines["acknowledge_by"]["date"] == (received + datetime.timedelta(7)).isoformat()
    assert deadlines["acknowledge_by"]["state"] == "due"
    assert deadlines["feedback_by"]["state"] == "due"
    assert deadlines["police_contact_by"]["state"] in ("due", "overdue")


def test_officers_and_the_sync_appending_at_once_keep_the_audit_chain_whole(
    pair: tuple[Portal, Console],
) -> None:
    """The console's pages and its background sync append audit entries from different
    threads (and the command line from another process): the chain must never fork."""
    import threading

    portal, console = pair
    submit_report(portal.client())
    console.sync(portal.url)
    [case_id] = case_ids(console)
    failures: list[BaseException] = []

    def officer(n: int) -> None:
        try:
            for _ in range(15):
                console.acting_as(f"officer:{n}").show(case_id)
                console.acting_as(f"officer:{n}").cases()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=officer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    count, _ = console.verify_audit()
    assert count >= 6 * 30


def test_a_reply_the_portal_refuses_holds_back_only_its_own_case(
    pair: tuple[Portal, Console],
) -> None:
    """A portal rebuilt without a case (restored from an older backup, say) refuses its
    replies with 422; the other cases' replies must still reach their reporters."""
    portal, console = pair
    for _ in range(2):
        submit_report(portal.client())
    console.sync(portal.url)
    gone, kept = case_ids(console)
    with portal.app.state.sessions() as session:  # the portal forgets one case
        session.execute(delete(PortalItem).where(PortalItem.case_id == gone))
        session.execute(delete(PortalCase).where(PortalCase.id == gone))
        session.commit()
    console.reply(gone, "First reply to the forgotten case")
    console.set_public_status(gone, "in_review")
    console.reply(kept, "This reply must get through")
    # Each first reply also says the report was read: the kept case's one item goes.
    assert console.push() == (1, 2)
    with portal.app.state.sessions() as session:
        replies = session.scalars(select(PortalItem).where(PortalItem.kind == "reply")).all()
    assert [r.case_id for r in replies] == [kept]
    assert console.push() == (0, 2)  # still queued, in order, for the officer to see


def test_a_reply_is_an_acknowledgement_for_the_reporter_and_the_deadline(
    pair: tuple[Portal, Console],
) -> None:
    """An officer who answers without pressing "Acknowledge" has acknowledged the report:
    the reporter never reads "Nobody has read it yet" above the answer, and the console
    counts the 7-day deadline as met, from the same event."""
    portal, console = pair
    receipt = receipt_of(submit_report(portal.client()))
    console.sync(portal.url)
    [case_id] = case_ids(console)
    console.reply(case_id, "We have read your report.")
    console.push()
    reader = portal.client()
    open_thread(reader, receipt)
    thread = reader.get("/thread").text
    assert "We have read your report." in thread
    assert "waiting to be read" not in thread
    assert "Read by the oversight body" in thread
    shown = console.show(case_id)
    assert shown["status"] == "acknowledged"
    assert shown["deadlines"]["acknowledge_by"]["met_on"] is not None


def test_the_portal_never_shows_unread_above_a_reply(pair: tuple[Portal, Console]) -> None:
    """Even a console that sends a reply and no status (an older one, or a lost push)
    leaves the reporter's status at "read", never at "nobody has read it yet"."""
    portal, console = pair
    receipt = receipt_of(submit_report(portal.client()))
    console.sync(portal.url)
    [case_id] = case_ids(console)
    console.reply(case_id, "Answer without a status.")
    with console.sessions() as session:  # drop the queued status, keep the reply
        from triage.db import Outgoing

        session.execute(delete(Outgoing).where(Outgoing.kind == "status"))
        session.commit()
    console.push()
    reader = portal.client()
    open_thread(reader, receipt)
    thread = reader.get("/thread").text
    assert "Answer without a status." in thread
    assert "waiting to be read" not in thread
    assert "Read by the oversight body" in thread
