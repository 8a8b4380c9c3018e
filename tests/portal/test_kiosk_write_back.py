"""A prisoner writes back from the kiosk: after reading the answers with their code, one
screen to write, one to check, then "Sent" — and the officer at the console reads it.

With JavaScript (every kiosk) the page seals the message to the oversight key and signs
the request with keys derived from the code in the page; without it the server does the
same in memory, and between screens only a sealed token carries what it needs (never the
code)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import crypto
from foundation.languages import RTL
from portal.i18n import load_catalogues
from tests.conftest import needs_chromium
from tests.triage.conftest import console_settings, pair  # noqa: F401 - fixtures used here
from triage.console import Console

from .conftest import Portal
from .forms import hidden_fields, receipt_of, submit_report
from .test_kiosk import nothing_readable_left, requests_of, settle, shot

CATALOGUES = load_catalogues()
LANGUAGES = [("English", "en"), ("العربية", "ar"), ("Polski", "pl")]
REPLY = "We have read your report. Are you safe? Tell us more."
#: What the prisoner writes back, in their language (a canary is added to find it).
WORDS = {
    "en": "It happened again on Tuesday, with the same officer.",
    "ar": "حدث ذلك مرة أخرى يوم الثلاثاء مع الضابط نفسه.",
    "pl": "To się powtórzyło we wtorek, z tym samym funkcjonariuszem.",
}


def words_in(code: str) -> Callable[[str], str]:
    """What the kiosk shows for an English message id, in language `code`."""
    return CATALOGUES[code].gettext


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A kiosk, JavaScript on, at its screen's size."""
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    yield context.new_page()
    context.close()


def answered_report(portal: Portal, console: Console) -> tuple[str, str]:
    """A report the officer has answered, and its receipt: (receipt, case id)."""
    receipt = receipt_of(submit_report(portal.client()))
    console.sync(portal.url)
    [row] = console.cases()
    console.reply(row["case"], REPLY)
    console.push()
    return crypto.validate_receipt(receipt), row["case"]


def what_the_officer_reads(
    portal: Portal, console: Console, case: str, kind: str = "unsigned"
) -> list[str]:
    """The prisoner's messages as the officer reads them, of `kind`. Both the kiosk's
    page and its screens without JavaScript sign the write-back (protocol v2), which the
    console shows as the reporter's "message"."""
    console.sync(portal.url)
    return [m["text"] for m in console.show(case)["messages"] if m["kind"] == kind]


@needs_chromium
@pytest.mark.parametrize(("language", "code"), LANGUAGES, ids=[c for _, c in LANGUAGES])
def test_a_prisoner_writes_back_from_the_kiosk_page_and_the_officer_reads_it(
    pair: tuple[Portal, Console],  # noqa: F811 - the fixture imported above
    page: Page,
    language: str,
    code: str,
) -> None:
    portal, console = pair
    receipt, case = answered_report(portal, console)
    _ = words_in(code)
    message = f"{WORDS[code]} canary-5c1e9a7d"

    page.goto(portal.url + "/kiosk")
    page.get_by_role("button", name=language).click()
    settle(page)
    page.get_by_role("link", name=_("I have a code from before")).click()
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    page.get_by_label(_("Your code")).fill(receipt)
    page.get_by_role("button", name=_("Show answers")).click()
    expect(page.get_by_text(REPLY)).to_be_visible()
    assert page.locator("html").get_attribute("dir") == ("rtl" if code in RTL else "ltr")
    sent = requests_of(page)

    page.get_by_role("button", name=_("Write back")).click()
    page.get_by_role("button", name=_("Next")).click()  # nothing written yet
    expect(page.get_by_text(_("Please write something first."))).to_be_visible()
    page.get_by_label(
        _("Write your message here. Only the people outside the prison will read it.")
    ).fill(message)
    shot(page, f"kiosk-10-write-{code}")
    page.get_by_role("button", name=_("Next")).click()
    expect(page.get_by_role("heading", name=_("Is this right?"))).to_be_visible()
    expect(page.get_by_text(message)).to_be_visible()
    shot(page, f"kiosk-11-check-{code}")
    page.get_by_role("button", name=_("Back")).click()  # to change it: the words are kept
    expect(
        page.get_by_label(
            _("Write your message here. Only the people outside the prison will read it.")
        )
    ).to_have_value(message)
    page.get_by_role("button", name=_("Next")).click()
    # A double tap sends once: two clicks on the same spot before any answer comes back.
    page.get_by_role("button", name=_("Send")).evaluate("send => { send.click(); send.click(); }")
    expect(page.get_by_text(_("Your message has been sent."))).to_be_visible(timeout=30_000)
    shot(page, f"kiosk-12-sent-{code}")
    page.get_by_role("link", name=_("Finish")).click()
    page.wait_for_url("**/kiosk/exit")

    assert what_the_officer_reads(portal, console, case, "message") == [message]
    # Sealed and signed in the page: only ciphertext went, and never the code.
    calls = [(r.method, r.url.removeprefix(portal.url)) for r in sent]
    # The thread is read again before "Send" signs after its head (docs/protocol.md §19.4).
    assert [c for c in calls if c[1].startswith("/api/")] == [
        ("GET", "/api/v1/thread"),
        ("POST", "/api/v1/thread/messages"),
    ]
    assert not [c for c in calls if c[0] == "POST" and not c[1].startswith("/api/")]
    for request in sent:
        body = (request.post_data_buffer or b"") + request.url.encode()
        assert b"canary-5c1e9a7d" not in body
        assert receipt.encode() not in body
    nothing_readable_left(page, "canary-5c1e9a7d", REPLY)


def write_back_without_script(
    client: httpx.Client, receipt: str, code: str, message: str
) -> list[httpx.Response]:
    """The server's screens, as a browser without JavaScript goes through them."""
    form = client.get(f"/kiosk/follow-up?lang={code}")
    assert form.status_code == 200
    pages = [client.post("/kiosk/follow-up", data={**hidden_fields(form.text), "receipt": receipt})]
    assert REPLY in pages[-1].text
    pages.append(client.post("/kiosk/write-back", data=hidden_fields(pages[-1].text)))
    pages.append(
        client.post("/kiosk/write-back", data={**hidden_fields(pages[-1].text), "text": message})
    )
    pages.append(
        client.post("/kiosk/write-back", data={**hidden_fields(pages[-1].text), "go": "send"})
    )
    return pages


@pytest.mark.parametrize("code", ["en", "ar"])
def test_a_prisoner_writes_back_without_javascript_and_the_officer_reads_it(
    pair: tuple[Portal, Console],  # noqa: F811
    code: str,
) -> None:
    portal, console = pair
    receipt, case = answered_report(portal, console)
    _ = words_in(code)
    message = f"{WORDS[code]} canary-0b7f4e21"
    client = portal.client()
    pages = write_back_without_script(client, receipt, code, message)
    answers, write, check, done = pages
    direction = "rtl" if code in RTL else "ltr"
    for screen in pages:
        assert screen.status_code == 200, screen.text
        assert f'<html lang="{code}" dir="{direction}">' in screen.text
        assert screen.headers["cache-control"] == "no-store"
        assert receipt not in screen.text  # the code went once, and never comes back
        for value in hidden_fields(screen.text).values():  # the token is sealed
            assert receipt not in value
            assert "canary-0b7f4e21" not in value
    assert _("Write back") in answers.text
    assert _("Write your message here. Only the people outside the prison will read it.") in (
        write.text
    )
    assert _("Is this right?") in check.text
    assert "canary-0b7f4e21" in check.text
    assert _("Your message has been sent.") in done.text
    assert set(client.cookies) == {"lanthorn_csrf"}  # no session: nothing held for the code
    # Signed as the reporter's own words (v2), never shown as unsigned.
    assert what_the_officer_reads(portal, console, case, "message") == [message]
    assert what_the_officer_reads(portal, console, case) == []


def test_writing_back_without_javascript_keeps_what_was_written(
    pair: tuple[Portal, Console],  # noqa: F811
) -> None:
    portal, console = pair
    receipt, case = answered_report(portal, console)
    client = portal.client()
    answers, write, check, _done = write_back_without_script(client, receipt, "en", "")
    assert check.status_code == 422  # nothing written
    assert "Please write something first." in check.text
    too_long = "x" * 10_001
    refused = client.post("/kiosk/write-back", data={**hidden_fields(write.text), "text": too_long})
    assert refused.status_code == 422
    assert "This is too long. Please make it shorter." in refused.text
    assert too_long in refused.text  # kept, to shorten
    checked = client.post(
        "/kiosk/write-back", data={**hidden_fields(write.text), "text": "First try."}
    )
    back = client.post("/kiosk/write-back", data={**hidden_fields(checked.text), "go": "back"})
    assert back.status_code == 200
    assert re.search(r"<textarea[^>]*>First try.</textarea>", back.text)
    assert what_the_officer_reads(portal, console, case, "message") == []  # nothing sent yet


def test_a_forged_or_stale_write_back_screen_asks_for_the_code_again(
    pair: tuple[Portal, Console],  # noqa: F811
) -> None:
    portal, console = pair
    receipt, case = answered_report(portal, console)
    client = portal.client()
    answers, write, _check, _done = write_back_without_script(client, receipt, "pl", "")
    fields = hidden_fields(write.text)
    forged = client.post("/kiosk/write-back", data={**fields, "token": "AAAA", "text": "x"})
    assert forged.status_code == 422
    assert 'name="receipt"' in forged.text  # the code screen again
    portal.clock.advance(16 * 60)  # a screen left open far past the idle end
    stale = client.post("/kiosk/write-back", data={**fields, "text": "Late words"})
    assert stale.status_code == 422
    assert 'name="receipt"' in stale.text
    assert 'lang="pl"' in stale.text
    polish = words_in("pl")
    assert polish("This screen was open too long. Please type your code again.") in stale.text
    portal.clock.advance(-16 * 60)  # back to the console's time, for its signed requests
    assert what_the_officer_reads(portal, console, case, "message") == []


def test_sending_the_same_write_back_screen_again_sends_nothing_more(
    pair: tuple[Portal, Console],  # noqa: F811
) -> None:
    """Without JavaScript, a reload of "Sent" (or a second tap) posts the check screen
    again: the officer still reads the message once."""
    portal, console = pair
    receipt, case = answered_report(portal, console)
    client = portal.client()
    *_, check, done = write_back_without_script(client, receipt, "en", "Only once, please.")
    assert done.status_code == 200
    again = client.post("/kiosk/write-back", data={**hidden_fields(check.text), "go": "send"})
    assert again.status_code == 409
    assert "already sent" in again.text
    assert what_the_officer_reads(portal, console, case, "message") == ["Only once, please."]
