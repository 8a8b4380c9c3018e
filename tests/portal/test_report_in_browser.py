"""The staff report form with JavaScript on: mistakes are caught in the page before anything
is sent, and a refusal leaves the reporter's words in the form to send again."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from babel.numbers import format_decimal
from playwright.sync_api import Browser, Dialog, Page, Request, expect

import crypto
from portal import web as portal_web
from portal.i18n import load_catalogues
from portal.pages import TEXT_CHARS, TOO_LONG, TOO_MUCH_TO_SEAL
from portal.settings import Limits
from tests.conftest import needs_chromium

from .conftest import Portal, PortalFactory

pytestmark = needs_chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def open_form(page: Page, url: str) -> list[Request]:
    page.goto(url + "/report/staff")
    page.locator("#report-form[data-ready]").wait_for(state="attached")
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    return sent


def test_missing_answers_are_listed_in_the_page_and_nothing_is_sent(
    portal: Portal, page: Page
) -> None:
    page.goto(portal.url + "/language/pl")
    sent = open_form(page, portal.url)
    expect(page.get_by_role("radio", checked=True)).to_have_count(0)  # nothing pre-chosen
    page.locator("#report-form button[type=submit]").click()
    polish = load_catalogues()["pl"]
    summary = page.locator("#page-errors")
    expect(summary).to_be_visible()
    for message in (
        "Choose what the report is about.",
        "Say whether someone is in danger right now.",
        "Say which prison this is about.",
        "Describe what happened, in your own words.",
    ):
        expect(summary.get_by_role("link", name=polish.gettext(message))).to_be_visible()
    summary.get_by_role("link", name=polish.gettext("Say which prison this is about.")).click()
    assert page.evaluate("() => location.hash") == "#facility"
    assert [r for r in sent if r.method == "POST"] == []


def test_a_refused_file_leaves_the_report_in_the_form_to_send_again(
    make_portal: PortalFactory, page: Page
) -> None:
    limits = Limits(
        document_bytes=crypto.MAX_SEALED_BYTES,
        blob_bytes=crypto.stored_size(64 * 1024),
        submission_bytes=crypto.stored_size(64 * 1024),
    )
    portal = make_portal(limits=limits)
    sent = open_form(page, portal.url)
    page.get_by_label("Bribes, or staff leaking information").check()
    page.get_by_label("No, or I do not know").check()
    page.locator("#facility").fill("HMP Example")
    page.locator("#description").fill("Words worth keeping")
    big = {"name": "video.mp4", "mimeType": "video/mp4", "buffer": os.urandom(200_000)}
    page.set_input_files("#attachments", files=[big])
    page.locator("#report-form button[type=submit]").click()
    expect(page.locator("#sealing-failed")).to_be_visible(timeout=30_000)
    expect(page.locator("#description")).to_have_value("Words worth keeping")
    expect(page.locator("#browser-receipt")).to_be_hidden()
    assert [r for r in sent if r.url.endswith("/api/v1/reports")] == []
    assert portal.console().outbox()["items"] == []

    page.set_input_files("#attachments", files=[])  # without the file, it goes
    page.locator("#report-form button[type=submit]").click()
    expect(page.locator("#browser-receipt .receipt")).to_be_visible(timeout=30_000)
    receipt = page.locator("#browser-receipt .receipt").inner_text()
    assert crypto.validate_receipt(receipt)
    [item] = portal.console().outbox()["items"]
    assert portal.console().open(item)["description"] == "Words worth keeping"
    page.get_by_label("Type the code as you wrote it down").fill(receipt[:-1] + "x")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("That is not the same code.")).to_be_visible()
    page.get_by_label("Type the code as you wrote it down").fill(receipt)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("That is correct. You have your receipt code.")).to_be_visible()


def test_attachments_too_big_for_the_browser_go_with_the_form_to_the_server(
    portal: Portal, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(portal_web, "BROWSER_SEALING_BYTES", 100_000)
    sent = open_form(page, portal.url)
    page.get_by_label("Bribes, or staff leaking information").check()
    page.get_by_label("No, or I do not know").check()
    page.locator("#facility").fill("HMP Example")
    page.locator("#description").fill("A long video")
    video = os.urandom(150_000)
    page.set_input_files(
        "#attachments", files=[{"name": "v.mp4", "mimeType": "video/mp4", "buffer": video}]
    )
    page.locator("#report-form button[type=submit]").click()
    expect(page.locator(".receipt:visible")).to_be_visible(timeout=30_000)
    posts = [r.url.removeprefix(portal.url) for r in sent if r.method == "POST"]
    assert posts == ["/report/staff"]  # the server encrypted it as it streamed in
    console = portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    assert [console.attachment(a) for a in report["attachments"]] == [video]


def fill_in_everything(page: Page, description: str) -> None:
    page.locator('#category input[value="corruption"]').check()  # by value: any language
    page.locator('#urgent input[value="no"]').check()
    page.locator("#facility").fill("HMP Example")
    page.locator("#location").fill("B wing")
    page.locator("#occurred").fill("Tuesday night")
    page.locator("#subjects").fill("The night officer")
    page.locator("#witnesses").fill("Nobody")
    page.locator("#identity").fill("Sam")
    page.locator("#description").fill(description)


def test_a_description_over_the_limit_is_explained_by_the_field_and_nothing_is_cleared(
    portal: Portal, page: Page
) -> None:
    page.goto(portal.url + "/language/pl")
    sent = open_form(page, portal.url)
    polish = load_catalogues()["pl"]
    limit = format_decimal(TEXT_CHARS, locale="pl")
    hint = polish.gettext("Up to %(limit)s characters.") % {"limit": limit}
    expect(page.get_by_text(hint)).to_be_visible()  # the same number the server keeps to
    words = "ą" * TEXT_CHARS + "!"
    fill_in_everything(page, words)
    page.locator("#report-form button[type=submit]").click()

    message = polish.gettext(TOO_LONG) % {"limit": limit}
    assert message != TOO_LONG % {"limit": limit}
    by_the_field = page.locator("p.field-error + textarea#description")
    expect(by_the_field).to_have_count(1)
    expect(page.locator("#description-too-long")).to_have_text(message)
    expect(page.locator("#page-errors").get_by_role("link", name=message)).to_be_visible()
    expect(page.locator("#description")).to_have_value(words)
    for field, kept in (("#facility", "HMP Example"), ("#subjects", "The night officer")):
        expect(page.locator(field)).to_have_value(kept)
    expect(page.locator("#urgent input").last).to_be_checked()
    assert [r for r in sent if r.method == "POST"] == []

    page.locator("#description").press("End")
    page.locator("#description").press("Backspace")  # now exactly at the limit
    expect(page.locator("#description-too-long")).to_have_count(0)
    page.locator("#report-form button[type=submit]").click()
    expect(page.locator("#browser-receipt .receipt")).to_be_visible(timeout=30_000)
    console = portal.console()
    report = console.open(console.outbox()["items"][0])
    assert report["description"] == words[:-1]
    assert report["identity"] == "Sam"


def test_a_report_too_long_to_seal_is_explained_in_the_readers_language(
    portal: Portal, page: Page
) -> None:
    page.goto(portal.url + "/language/pl")
    open_form(page, portal.url)
    fill_in_everything(page, "€" * 95_000)
    for field in ("#subjects", "#witnesses", "#identity"):
        page.locator(field).fill("€" * 95_000)  # 3 bytes each: together over 1 MiB
    page.locator("#report-form button[type=submit]").click()
    failed = page.locator("#sealing-failed")
    expect(failed).to_be_visible(timeout=30_000)
    message = load_catalogues()["pl"].gettext(TOO_MUCH_TO_SEAL)
    assert message != TOO_MUCH_TO_SEAL
    expect(failed.locator(".sealing-reason")).to_have_text(message)
    expect(page.locator("#subjects")).to_have_value("€" * 95_000)
    assert portal.console().outbox()["items"] == []


def test_the_receipt_page_asks_before_it_is_left_until_the_code_is_checked(
    portal: Portal, page: Page
) -> None:
    open_form(page, portal.url)
    fill_in_everything(page, "Words for the receipt test")
    page.locator("#report-form button[type=submit]").click()
    shown = page.locator("#browser-receipt .receipt")
    expect(shown).to_be_visible(timeout=30_000)
    receipt = shown.inner_text()
    expect(page.get_by_text("It cannot be shown again once you leave or reload")).to_be_visible()

    asked: list[str] = []

    def stay(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()  # "Stay on this page"

    page.on("dialog", stay)
    page.evaluate("() => { location.reload(); }")
    page.evaluate("() => { history.back(); }")
    expect(shown).to_have_text(receipt)  # still there, both times
    assert asked == ["beforeunload", "beforeunload"]

    page.get_by_label("Type the code as you wrote it down").fill(receipt)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("That is correct. You have your receipt code.")).to_be_visible()
    page.reload()  # written down and checked: leaving is no longer questioned
    expect(page.locator("#browser-receipt")).to_be_hidden()
    assert asked == ["beforeunload", "beforeunload"]


def test_a_long_file_name_sealed_in_the_page_keeps_its_extension(
    portal: Portal, page: Page
) -> None:
    sent = open_form(page, portal.url)
    page.get_by_label("Bribes, or staff leaking information").check()
    page.get_by_label("No, or I do not know").check()
    page.get_by_label("Which prison?").fill("HMP Example")
    page.get_by_label("What happened?").fill("My statement is attached.")
    name = "Statement about the night of 4 June on B wing " * 5 + ".pdf"
    statement = {"name": name, "mimeType": "application/pdf", "buffer": b"%PDF-1.7 statement"}
    page.set_input_files("#attachments", files=[statement])
    page.get_by_role("button", name="Send report").click()
    receipt = page.locator("#browser-receipt .receipt")
    expect(receipt).to_be_visible(timeout=30_000)
    assert re.fullmatch(r"\d{4}( \d{4}){4}", receipt.inner_text())  # read in groups of four
    assert [r for r in sent if r.method == "POST" and "/report/" in r.url] == []  # sealed here
    console = portal.console()
    [attachment] = console.open(console.outbox()["items"][0])["attachments"]
    assert len(attachment["name"]) == 200
    assert attachment["name"].endswith(".pdf")
