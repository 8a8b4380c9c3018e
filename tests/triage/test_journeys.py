"""Every journey as a newcomer makes it, in Chromium, finding controls by what they say.

Staff (JavaScript on and off), a third party, and prisoners at the kiosk in English,
Arabic and Polish report; an officer signs in to the console, reads and replies; the
reporters read the replies and answer; the officer reads the answers. Every form the
journey sent is then sent again, byte for byte, as a reload or a double click would, and
nothing may have happened twice. Screenshots of each step go to $LANTHORN_SCREENSHOTS.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

import crypto
from portal.i18n import load_catalogues
from tests.conftest import needs_chromium
from tests.triage.officer_pages import PASSWORD, enrol_through_pages, fresh_code
from triage.officers import add_officer

from .conftest import Site

pytestmark = needs_chromium

SHOTS = os.environ.get("LANTHORN_SCREENSHOTS", "")


@dataclass
class Posts:
    """Every form a journey sent (method POST), to send each again at the end."""

    sent: list[tuple[BrowserContext, str, dict[str, str], bytes]] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        def seen(request: Request) -> None:
            if request.method == "POST":
                body = request.post_data_buffer or b""
                headers = {
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() not in {"host", "content-length", "cookie", "connection"}
                }
                self.sent.append((context, request.url, headers, body))

        context.on("request", seen)


@dataclass
class Journey:
    site: Site
    browser: Browser
    posts: Posts = field(default_factory=Posts)
    contexts: list[BrowserContext] = field(default_factory=list)
    step: int = 0

    def page(self, *, javascript: bool = True, **options: Any) -> Page:
        context = self.browser.new_context(java_script_enabled=javascript, **options)
        self.posts.watch(context)
        self.contexts.append(context)
        return context.new_page()

    def shot(self, page: Page, name: str) -> None:
        self.step += 1
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"journey-{self.step:02d}-{name}.png"))

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def journey(site: Site, browser: Browser) -> Iterator[Journey]:
    j = Journey(site, browser)
    yield j
    j.close()


def gettext_for(lang: str) -> Callable[[str], str]:
    if lang == "en":
        return lambda text: text
    catalogue = load_catalogues()[lang]
    return lambda text: str(catalogue.gettext(text))


def staff_report(j: Journey, *, javascript: bool, description: str) -> str:
    """A member of staff reports from the home page; returns the receipt they were shown."""
    page = j.page(javascript=javascript)
    page.goto(j.site.portal.url + "/")
    page.get_by_role("link", name="I work in a prison").click()
    page.get_by_label("Sexual misconduct by staff", exact=False).check()
    page.get_by_label("No, or I do not know").check()
    page.get_by_label("Which prison?").fill("HMP Example")
    page.get_by_label("What happened?").fill(description)
    j.shot(page, f"staff-form-js-{'on' if javascript else 'off'}")
    page.get_by_role("button", name="Send report").click()
    receipt = page.locator(".receipt:visible").first
    expect(receipt).to_be_visible(timeout=60_000)
    code = crypto.validate_receipt(receipt.inner_text())
    j.shot(page, f"staff-receipt-js-{'on' if javascript else 'off'}")
    return code


def third_party_report(j: Journey, description: str) -> str:
    page = j.page(javascript=True)
    page.goto(j.site.portal.url + "/")
    page.get_by_role("link", name="I am reporting for someone inside").click()
    page.get_by_label("Violence or too much force by staff").check()
    page.get_by_label("No, or I do not know").check()
    page.get_by_label("Which prison?").fill("HMP Example")
    page.get_by_label("What happened?").fill(description)
    page.get_by_role("button", name="Send report").click()
    receipt = page.locator(".receipt:visible").first
    expect(receipt).to_be_visible(timeout=60_000)
    j.shot(page, "third-party-receipt")
    return crypto.validate_receipt(receipt.inner_text())


LANGUAGE_NAMES = {"en": "English", "ar": "العربية", "pl": "Polski"}


def kiosk_report(j: Journey, lang: str, words: str) -> str:
    """A prisoner at the wing kiosk: language, one question a screen, receipt."""
    _ = gettext_for(lang)
    page = j.page(javascript=True, viewport={"width": 1080, "height": 1200})
    page.goto(j.site.portal.url + "/kiosk")
    page.get_by_role("button", name=LANGUAGE_NAMES[lang]).click()
    page.locator("#kiosk-app[data-ready]").wait_for(state="attached")
    j.shot(page, f"kiosk-{lang}-start")
    page.get_by_role("button", name=_("Staff hurt someone")).click()
    page.get_by_role("button", name=_("In a cell or on the wing")).click()
    page.get_by_role("button", name=_("Today")).click()
    page.get_by_role("button", name=_("No, or I do not know")).click()
    page.get_by_label(
        _("You do not have to write anything. You can say what happened and who did it.")
    ).fill(words)
    page.get_by_role("button", name=_("Next")).click()
    j.shot(page, f"kiosk-{lang}-check")
    page.get_by_role("button", name=_("Send")).click()
    receipt = page.locator(".receipt:visible").first
    expect(receipt).to_be_visible(timeout=60_000)
    j.shot(page, f"kiosk-{lang}-receipt")
    return crypto.validate_receipt(receipt.inner_text())


def officer_page(j: Journey) -> Page:
    """An officer enrols (with the setup code an admin gave them) and signs in by the page."""
    code = add_officer(j.site.console, "olive", "triage", None)
    secret = enrol_through_pages(j.site.client(), "olive", code)
    page = j.page(javascript=True, viewport={"width": 1366, "height": 768})
    page.goto(j.site.url + "/login")
    page.get_by_label("Username").fill("olive")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(fresh_code(secret))
    page.get_by_role("button", name="Sign in").click()
    j.shot(page, "console-signed-in")
    return page


def open_case_with(page: Page, j: Journey, words: str) -> None:
    page.goto(j.site.url + "/cases")
    page.get_by_role("button", name=re.compile("Sync", re.I)).first.click()
    page.goto(j.site.url + "/cases")
    case = next(
        row["case"]
        for row in j.site.console.cases()
        if words in j.site.console.show(row["case"])["description"]
    )
    page.get_by_role("link", name=re.compile(case)).first.click()
    expect(page.get_by_text(words)).to_be_visible()


def reply(page: Page, j: Journey, text: str) -> None:
    page.get_by_role("textbox", name=re.compile("^Reply", re.I)).fill(text)
    page.get_by_role("button", name=re.compile("Send reply", re.I)).click()
    expect(page.get_by_text(re.compile("Reply saved", re.I))).to_be_visible()
    j.shot(page, "console-replied")


def staff_reads_and_answers(j: Journey, receipt: str, reply_text: str, answer: str) -> None:
    page = j.page(javascript=True)
    page.goto(j.site.portal.url + "/")
    page.get_by_role("link", name="I have a receipt code").click()
    page.get_by_label("Receipt code").fill(receipt)
    page.get_by_role("button", name="Open my report").click()
    expect(page.get_by_text(reply_text)).to_be_visible(timeout=60_000)
    j.shot(page, "staff-reads-reply")
    page.get_by_label("Your message").fill(answer)
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message has been sent.")).to_be_visible(timeout=60_000)


def kiosk_reads_and_writes_back(
    j: Journey, lang: str, receipt: str, reply_text: str, answer: str
) -> None:
    """A prisoner comes back to the kiosk with their code, reads the answer, writes back."""
    _ = gettext_for(lang)
    page = j.page(javascript=True, viewport={"width": 1080, "height": 1200})
    page.goto(j.site.portal.url + "/kiosk")
    page.get_by_role("button", name=LANGUAGE_NAMES[lang]).click()
    page.locator("#kiosk-app[data-ready]").wait_for(state="attached")
    page.get_by_role("link", name=_("I have a code from before")).click()
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    page.get_by_label(_("Your code")).fill(receipt)
    page.get_by_role("button", name=_("Show answers")).click()
    expect(page.get_by_text(reply_text)).to_be_visible(timeout=60_000)
    j.shot(page, f"kiosk-{lang}-reads-reply")
    page.get_by_role("button", name=_("Write back")).click()
    page.get_by_label(
        _("Write your message here. Only the people outside the prison will read it.")
    ).fill(answer)
    page.get_by_role("button", name=_("Next")).click()
    page.get_by_role("button", name=_("Send")).click()
    expect(page.get_by_text(_("Your message has been sent."))).to_be_visible(timeout=60_000)
    j.shot(page, f"kiosk-{lang}-wrote-back")
    page.get_by_role("link", name=_("Finish")).click()


def counts(site: Site) -> dict[str, list[tuple[str, int]]]:
    """What a repeat would change: the cases, and in each how many reports, reporter
    messages and replies its thread holds (the console syncs first)."""
    site.console.sync(site.portal.url)
    return {
        row["case"]: sorted(
            Counter(m["kind"] for m in site.console.show(row["case"])["messages"]).items()
        )
        for row in site.console.cases()
    }


def test_every_journey_once_and_only_once(journey: Journey) -> None:
    j = journey
    staff_js = staff_report(j, javascript=True, description="Journey: staff with JavaScript")
    staff_report(j, javascript=False, description="Journey: staff without JavaScript")
    third_party_report(j, "Journey: a mother reports for her son")
    kiosk_receipts = {
        lang: kiosk_report(j, lang, f"Journey: kiosk in {lang}") for lang in ("en", "ar", "pl")
    }
    assert len(set(kiosk_receipts.values())) == 3

    officer = officer_page(j)
    open_case_with(officer, j, "Journey: staff with JavaScript")
    reply(officer, j, "Thank you. Are you safe to talk to us?")
    staff_reads_and_answers(
        j, staff_js, "Thank you. Are you safe to talk to us?", "Yes, after my shift."
    )
    open_case_with(officer, j, "Journey: staff with JavaScript")
    expect(officer.get_by_text("Yes, after my shift.")).to_be_visible()
    j.shot(officer, "console-reads-answer")

    open_case_with(officer, j, "Journey: kiosk in ar")
    reply(officer, j, "شكرا. هل أنت بأمان؟")
    kiosk_reads_and_writes_back(j, "ar", kiosk_receipts["ar"], "شكرا. هل أنت بأمان؟", "نعم")
    open_case_with(officer, j, "Journey: kiosk in ar")
    expect(officer.get_by_text("نعم", exact=True)).to_be_visible()
    j.shot(officer, "console-reads-kiosk-answer")

    before = counts(j.site)
    assert len(before) == 6
    assert len(j.posts.sent) >= 10
    for context, url, headers, body in j.posts.sent:  # with the same cookies, as a reload
        context.request.post(url, headers=headers, data=body, max_redirects=0)
    assert counts(j.site) == before
