"""A form can be sent once: reloading the receipt page, pressing "Send" twice, or sending
the same page again days later never files a second report or message, and never shows
the first receipt to whoever reloads."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect

from portal import once
from portal.i18n import load_catalogues

from .conftest import Portal
from .forms import (
    RECEIPT_LABEL,
    csrf_token,
    hidden_fields,
    message_request,
    open_thread,
    receipt_of,
    report_request,
    submit_report,
)

DAY_SECONDS = 86400
ALREADY_SENT = "This report was already sent"
PHOTO = ("cell-door.jpg", b"\xff\xd8 a photo of the cell door", "image/jpeg")


def blob_files(portal: Portal) -> list[str]:
    return sorted(p.name for p in portal.settings.blob_dir.iterdir())


def test_reloading_the_receipt_page_does_not_file_a_second_report(portal: Portal) -> None:
    client = portal.client()
    form = report_request(client, files=[PHOTO])
    first = client.send(form)
    assert first.status_code == 201
    receipt = receipt_of(first)
    stored = blob_files(portal)
    derivations = portal.count_key_derivations()

    again = client.send(form)  # the browser's "Confirm form resubmission": the same bytes
    assert again.status_code == 409
    assert ALREADY_SENT in again.text
    assert "you can send a new report" in again.text
    # Whoever reloads later learns nothing: not the receipt, not even part of it.
    assert RECEIPT_LABEL.search(again.text) is None
    for group in receipt.split():
        assert group not in again.text
    assert 'href="/report/staff"' in again.text  # a new report is one click away
    [item] = portal.console().outbox()["items"]
    assert item["kind"] == "report"
    assert derivations == []  # refused before any key derivation
    assert blob_files(portal) == stored  # the file it streamed again is not kept


def test_a_double_click_files_one_report(portal: Portal) -> None:
    client = portal.client()
    form = report_request(client, files=[PHOTO])
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def press() -> None:
        start.wait()
        answers.append(client.send(form))

    presses = [threading.Thread(target=press) for _ in range(2)]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 409]
    [item] = portal.console().outbox()["items"]
    [descriptor] = portal.console().open(item)["attachments"]
    assert blob_files(portal) == [descriptor["blob_id"]]  # the second copy was deleted


def test_the_already_sent_page_speaks_the_readers_language(portal: Portal) -> None:
    client = portal.client()
    client.get("/language/pl")
    form = report_request(client, channel="third-party")
    assert client.send(form).status_code == 201
    again = client.send(form)
    assert again.status_code == 409
    polish = load_catalogues()["pl"]
    assert polish.gettext(ALREADY_SENT) != ALREADY_SENT
    assert polish.gettext(ALREADY_SENT) in again.text
    assert 'href="/report/third-party"' in again.text


def test_a_new_page_of_the_same_form_sends_a_new_report(portal: Portal) -> None:
    client = portal.client()
    first = receipt_of(submit_report(client))
    second = receipt_of(submit_report(client))  # the form opened again: a new report
    assert first != second
    assert len(portal.console().outbox()["items"]) == 2


def sent_value(request: httpx.Request, name: str) -> str:
    """The value of the text field `name` in a multipart request's body."""
    marker = f'name="{name}"\r\n\r\n'.encode()
    return request.content.split(marker)[1].split(b"\r\n")[0].decode()


def test_a_refused_form_can_be_corrected_and_sent(portal: Portal) -> None:
    """A form counts as sent only once its report is stored: a refusal keeps it usable."""
    client = portal.client()
    form = report_request(client, facility="")
    assert client.send(form).status_code == 422
    page = {name: sent_value(form, name) for name in ("csrf", "once")}
    assert client.send(report_request(client, **page)).status_code == 201
    assert len(portal.console().outbox()["items"]) == 1


def kiosk_step(client: httpx.Client, page: str, **answer: str) -> httpx.Response:
    """Answer the kiosk screen `page` as its form does (JavaScript off)."""
    fields = hidden_fields(page, "/kiosk/answer")
    return client.post("/kiosk/answer", data={**fields, **answer})


def test_reloading_the_kiosk_receipt_does_not_file_a_second_report(
    kiosk_portal: Portal,
) -> None:
    client = kiosk_portal.client()
    page = client.post(
        "/kiosk/answer", data={"csrf": csrf_token(client, "/kiosk"), "lang": "pl"}
    ).text
    for step, answer in (
        ("category", "corruption"),
        ("place", "wing"),
        ("when", "week"),
        ("urgent", "no"),
    ):
        page = kiosk_step(client, page, step=step, answer=answer).text
    page = kiosk_step(client, page, step="describe", text="Spice on B wing").text
    final = {**hidden_fields(page, "/kiosk/answer"), "step": "check"}
    first = client.post("/kiosk/answer", data=final)
    assert first.status_code == 201
    groups = re.findall(r'<span class="group">([0-9]+)</span>', first.text)
    assert len(groups) == 5
    again = client.post("/kiosk/answer", data=final)
    assert again.status_code == 409
    polish = load_catalogues()["pl"]
    assert polish.gettext(ALREADY_SENT) in again.text
    assert 'class="quick-exit"' in again.text  # still the kiosk's screen, with Exit now
    for group in groups:
        assert group not in again.text
    assert len(kiosk_portal.console().outbox()["items"]) == 1


def test_the_portal_keeps_a_hash_and_a_day_never_linked_to_the_case(portal: Portal) -> None:
    client = portal.client()
    form = report_request(client)
    assert client.send(form).status_code == 201
    with portal.app.state.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("sent_forms")}
        rows = conn.exec_driver_sql("SELECT digest, sent_on FROM sent_forms").all()
    assert columns == {"digest", "sent_on"}  # nothing that names the case
    [(digest, day)] = rows
    assert len(bytes(digest)) == 32  # a hash: not the value the page carried
    assert sent_value(form, "once").encode() not in bytes(digest)
    [item] = portal.console().outbox()["items"]
    assert str(day) == item["on"]  # a day, never a time of day


def test_a_message_is_sent_once(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    reader = portal.client()
    assert open_thread(reader, receipt).status_code == 303
    form = message_request(reader, "He was there again last night.", PHOTO)
    assert reader.send(form).status_code == 303
    stored = blob_files(portal)
    again = reader.send(form)
    assert again.status_code == 409
    assert "This message was already sent" in again.text
    assert 'href="/thread"' in again.text
    kinds = [item["kind"] for item in portal.console().outbox()["items"]]
    assert kinds == ["report", "message"]
    assert blob_files(portal) == stored


def test_a_double_click_sends_one_message(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    reader = portal.client()
    open_thread(reader, receipt)
    form = message_request(reader, "Once only.")
    answers: list[int] = []
    start = threading.Barrier(2)

    def press() -> None:
        start.wait()
        answers.append(reader.send(form).status_code)

    presses = [threading.Thread(target=press) for _ in range(2)]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()
    assert sorted(answers) == [303, 409]
    kinds = [item["kind"] for item in portal.console().outbox()["items"]]
    assert kinds == ["report", "message"]


def test_a_form_sent_again_after_a_week_is_shown_again_not_filed(portal: Portal) -> None:
    """Sent forms are forgotten after a week; a page older than that is never filed
    blindly: it comes back filled in, to be checked and sent on purpose."""
    client = portal.client()
    form = report_request(client, description="Words kept for a week.")
    assert client.send(form).status_code == 201
    portal.clock.advance(8 * DAY_SECONDS)
    counts = portal.app.state.purger.run_once()
    assert counts["forms"] == 1
    again = client.send(form)
    assert again.status_code == 422
    assert "Words kept for a week." in again.text
    assert "HMP Example" in again.text
    assert len(portal.console().outbox()["items"]) == 1
    assert receipt_of(client.send(report_request(client)))  # a fresh page sends at once


def test_sent_forms_stay_remembered_for_the_week(portal: Portal) -> None:
    client = portal.client()
    form = report_request(client)
    assert client.send(form).status_code == 201
    portal.clock.advance(6 * DAY_SECONDS)
    assert portal.app.state.purger.run_once()["forms"] == 0
    assert client.send(form).status_code == 409


def test_the_database_settles_two_copies_that_pass_the_first_look_together(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies can both find the page unsent (they look at the same moment): then the
    sent-forms key lets only one report be stored, and the other's file is deleted."""

    async def looks_unsent(request: Any, ticket: Any) -> None:
        return None

    monkeypatch.setattr(once, "refuse_if_sent", looks_unsent)
    client = portal.client()
    form = report_request(client, files=[PHOTO])
    assert client.send(form).status_code == 201
    again = client.send(form)
    assert again.status_code == 409
    assert ALREADY_SENT in again.text
    [item] = portal.console().outbox()["items"]
    [descriptor] = portal.console().open(item)["attachments"]
    assert blob_files(portal) == [descriptor["blob_id"]]

    reader = portal.client()
    open_thread(reader, receipt_of(submit_report(client)))
    message = message_request(reader, "Only once.", PHOTO)
    assert reader.send(message).status_code == 303
    assert reader.send(message).status_code == 409
    kinds = [item["kind"] for item in portal.console().outbox()["items"]]
    assert kinds == ["report", "report", "message"]
