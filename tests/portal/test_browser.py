"""A real browser (Debian's Chromium, JavaScript off) through the reporter's journey."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

import crypto
from tests.conftest import needs_chromium

from .conftest import Portal

SHOTS = os.environ.get("LANTHORN_SCREENSHOTS")  # set to a directory to keep screenshots

pytestmark = needs_chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    problems: list[str] = []
    # 4xx answers to a bad form are expected; a missing resource or a CSP block is not.
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if "404" in message.text or "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert problems == []  # e.g. a CSP violation would show up here


def shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_reporting_with_javascript_off(portal: Portal, page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "cell-door.jpg"
    photo.write_bytes(os.urandom(150_000))
    notes = tmp_path / "notes.txt"
    notes.write_text("Nights, B wing, since June.")

    page.goto(portal.url + "/")
    shot(page, "1-home")
    page.get_by_role("link", name="I work in a prison").click()
    expect(page.get_by_role("radio", checked=True)).to_have_count(0)  # nothing pre-chosen
    page.get_by_label("Bribes, or staff leaking information").check()
    page.get_by_label("No, or I do not know").check()
    page.get_by_label("Which prison?").fill("HMP Example")
    page.get_by_label("What happened?").fill("An officer sells phones to prisoners.")
    page.get_by_label("Photos, videos or documents").set_input_files([photo, notes])
    shot(page, "2-form")
    page.get_by_role("button", name="Send report").click()

    # Copied as a reader copies it: it reads in groups of four, and the groups paste back.
    page.locator(".receipt").click(click_count=3)
    receipt = page.evaluate("() => getSelection().toString()").strip()
    assert re.fullmatch(r"\d{4}( \d{4}){4}", receipt)
    crypto.validate_receipt(receipt)
    # The stylesheet loaded under the CSP: the receipt is shown large.
    size = page.locator(".receipt").evaluate("e => getComputedStyle(e).fontSize")
    assert float(size.removesuffix("px")) >= 28
    shot(page, "3-receipt")
    page.get_by_label("Type the code as you wrote it down").fill(receipt.replace(" ", "-"))
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("That is correct")).to_be_visible()

    page.goto(portal.url + "/follow-up")
    page.get_by_label("Receipt code").fill(receipt)
    page.get_by_role("button", name="Open my report").click()
    expect(page.get_by_text("Received — waiting to be read")).to_be_visible()
    shot(page, "4-thread")
    page.get_by_label("Your message").fill("He was there again last night.")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message has been sent")).to_be_visible()
    page.get_by_role("button", name="Leave and close my report on this device").click()
    expect(page.get_by_text("You have left your report")).to_be_visible()
    page.goto(portal.url + "/thread")
    assert "/follow-up" in page.url  # nothing to go back to

    console = portal.console()
    report, message = (console.open(item) for item in console.outbox()["items"])
    assert report["category"] == "corruption"
    files = [console.attachment(a) for a in report["attachments"]]
    assert files == [photo.read_bytes(), notes.read_bytes()]
    assert [a["name"] for a in report["attachments"]] == ["cell-door.jpg", "notes.txt"]
    assert message["text"] == "He was there again last night."


def test_a_mistake_is_shown_next_to_the_field(portal: Portal, page: Page) -> None:
    page.goto(portal.url + "/report/third-party")
    page.get_by_label("What happened?").fill("Kept text")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    for question, message in (
        ("What is this about?", "Choose what the report is about."),
        ("Is someone in danger right now?", "Say whether someone is in danger right now."),
    ):
        expect(page.get_by_role("group", name=question).get_by_text(message)).to_be_visible()
    expect(page.get_by_role("radio", checked=True)).to_have_count(0)
    expect(page.get_by_text("Say which prison this is about.").first).to_be_visible()
    assert page.get_by_label("What happened?").input_value() == "Kept text"
    shot(page, "5-mistakes")


@pytest.mark.parametrize("script", [True, False], ids=["javascript", "no-javascript"])
def test_a_mistyped_receipt_stays_in_the_field(
    portal: Portal, browser: Browser, script: bool
) -> None:
    context = browser.new_context(java_script_enabled=script)
    page = context.new_page()
    try:
        page.goto(portal.url + "/")
        page.get_by_role("link", name="I have a receipt code").click()
        field = page.get_by_label("Receipt code")
        for typed, problem in (
            ("1234 5678 9012", "but 12 were entered"),
            (crypto.generate_receipt(), "No report was found for this receipt code"),
        ):
            field.fill(typed)
            page.get_by_role("button", name="Open my report").click()
            expect(page.get_by_role("alert")).to_contain_text(problem)
            expect(field).to_have_value(typed)  # there to correct, not to type again
    finally:
        context.close()
