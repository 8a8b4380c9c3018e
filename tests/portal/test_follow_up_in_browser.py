"""Coming back with a receipt, JavaScript on: the page checks the code and turns it into
keys itself, and sends only the keys. The portal runs no Argon2id for the sign-in and
never receives the code; the thread is still the server's page."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Browser, Page, Request, expect

import crypto
from portal.i18n import load_catalogues
from portal.pages import RECEIPT_PROBLEMS
from tests.conftest import needs_chromium

from .conftest import Portal
from .forms import open_thread, receipt_of, submit_report

pytestmark = needs_chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    # A missing script or a CSP block would leave the page on the server's path unseen.
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
    assert problems == []


def open_form(page: Page, url: str) -> list[Request]:
    """The sign-in page, loaded with its scripts (they are deferred: run before `load`),
    and every request the browser makes from then on."""
    page.goto(url + "/follow-up")
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    return sent


def posts(sent: list[Request]) -> list[Request]:
    return [request for request in sent if request.method == "POST"]


def test_the_page_derives_the_keys_and_the_receipt_never_leaves_it(
    portal: Portal, page: Page
) -> None:
    receipt = receipt_of(submit_report(portal.client()))
    digits = crypto.validate_receipt(receipt)
    derivations = portal.count_key_derivations()
    # The count sees the server's derivations: without the script, one for each sign-in.
    assert open_thread(portal.client(), receipt).status_code == 303
    assert len(derivations) == 1
    derivations.clear()

    sent = open_form(page, portal.url)
    page.get_by_label("Receipt code").fill(receipt)
    page.get_by_role("button", name="Open my report").click()
    expect(page.get_by_text("Received — waiting to be read")).to_be_visible(timeout=30_000)
    assert page.url == portal.url + "/thread"
    assert derivations == []  # the portal ran no Argon2id for this sign-in

    [login] = posts(sent)
    assert login.url == portal.url + "/follow-up"
    body = login.post_data or ""
    assert sorted(parse_qs(body)) == ["box_sk", "csrf", "lookup_id", "sign_sk"]
    keys = portal.derive(digits)
    assert parse_qs(body)["lookup_id"] == [crypto.b64u_encode(keys.lookup_id)]
    for request in sent:  # the code, in any spelling, in no URL and no body
        seen = request.url + (request.post_data or "")
        for spelling in (digits, receipt, receipt.replace(" ", "+"), receipt.replace(" ", "%20")):
            assert spelling not in seen, request.url


def test_a_double_click_signs_in_once(portal: Portal, page: Page) -> None:
    receipt = receipt_of(submit_report(portal.client()))
    sent = open_form(page, portal.url)
    page.get_by_label("Receipt code").fill(receipt)
    page.get_by_role("button", name="Open my report").dblclick()
    expect(page.get_by_text("Received — waiting to be read")).to_be_visible(timeout=30_000)
    assert [request.url for request in posts(sent)] == [portal.url + "/follow-up"]


def test_a_typo_is_shown_in_the_reader_language_and_nothing_is_sent(
    portal: Portal, page: Page
) -> None:
    receipt = crypto.validate_receipt(receipt_of(submit_report(portal.client())))
    typo = receipt[:5] + str((int(receipt[5]) + 1) % 10) + receipt[6:]
    page.goto(portal.url + "/language/pl")
    sent = open_form(page, portal.url)
    polish = load_catalogues()["pl"]
    field = page.locator("#receipt")
    button = page.locator("#follow-up-form button[type=submit]")
    for typed, problem in (
        (typo, polish.gettext(RECEIPT_PROBLEMS["check"])),
        (receipt[:-2], polish.gettext(RECEIPT_PROBLEMS["length"]) % {"count": 18}),
    ):
        field.fill(typed)
        button.click()
        expect(page.get_by_role("alert")).to_have_text(problem)
        expect(field).to_have_value(typed)
    assert posts(sent) == []
    assert page.url == portal.url + "/follow-up"


def test_any_other_answer_is_the_server_page_and_still_without_the_code(
    portal: Portal, page: Page
) -> None:
    """A form that expired while it was open (here: the CSRF cookie is gone) is answered
    with the server's own page, as without JavaScript, not left hanging in this one."""
    receipt = receipt_of(submit_report(portal.client()))
    sent = open_form(page, portal.url)
    page.context.clear_cookies()
    page.get_by_label("Receipt code").fill(receipt)
    page.get_by_role("button", name="Open my report").click()
    expect(page.get_by_text("This form has expired")).to_be_visible(timeout=30_000)
    assert len(posts(sent)) == 2  # the page's try, then the same keys as a form
    digits = crypto.validate_receipt(receipt)
    assert all(digits not in (request.post_data or "") for request in sent)
