"""The kiosk's screens as the next person in the queue and a person at arm's length see them:
Back after "Finish" shows nothing of the last person, not even their language; the screen
left behind greets everyone; the language list fits one screen; every button looks alike."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

import crypto
from foundation.languages import LANGUAGES
from portal.i18n import load_catalogues
from tests.conftest import ONE_ENGINE, needs_chromium

from .conftest import Portal
from .forms import receipt_of, submit_report
from .test_kiosk import settle, settled_content, shot

pytestmark = [needs_chromium, ONE_ENGINE]
CATALOGUES = load_catalogues()
POLISH = CATALOGUES["pl"].gettext
#: The kiosk's screen: a wing kiosk stands upright, 1080 pixels wide and 1200 high.
KIOSK_SCREEN = {"width": 1080, "height": 1200}
#: The smallest answer button the kiosk has always had (min-height 4.2rem at 16px).
TOUCH_HEIGHT = 4.2 * 16


@pytest.fixture(params=[True, False], ids=["javascript", "no-javascript"])
def kiosk(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A kiosk-sized browser, with JavaScript (as kiosks run) and without it."""
    context = browser.new_context(viewport=KIOSK_SCREEN, java_script_enabled=request.param)
    yield context.new_page()
    context.close()


def report_in_polish(page: Page, url: str) -> str:
    """A whole report at the kiosk in Polish; returns the receipt on the last screen."""
    page.goto(url + "/kiosk")
    page.get_by_role("button", name="Polski").click()
    settle(page)
    for _ in range(4):  # what, where, when, danger: the first answer each time
        page.locator("button.choice:visible").first.click()
    page.locator("textarea:visible").fill("Słowa poprzedniej osoby")
    page.get_by_role("button", name=POLISH("Next")).click()
    page.get_by_role("button", name=POLISH("Send")).click()
    receipt = page.locator(".receipt")
    expect(receipt).to_be_visible(timeout=30_000)
    return receipt.inner_text()


def read_answers_in_polish(page: Page, url: str, receipt: str) -> None:
    page.goto(url + "/kiosk")
    page.get_by_role("button", name="Polski").click()
    settle(page)
    page.get_by_text(POLISH("I have a code from before"), exact=True).click()
    # At once, without waiting for the page's script: a tap while it loads waits for it.
    page.locator("#follow-up-form").wait_for()
    page.get_by_label(POLISH("Your code")).fill(receipt)
    page.get_by_role("button", name=POLISH("Show answers")).click()
    expect(page.get_by_text(POLISH("Your report"), exact=True)).to_be_visible()


def assert_greets_everyone(page: Page) -> None:
    """The screen after leaving: in no one language, and nothing of the last person's."""
    assert page.locator("html").get_attribute("lang") != "pl"
    for code in ("en", "pl", "ar", "bn"):
        words = CATALOGUES[code].gettext("Touch here to start")
        expect(page.get_by_text(words, exact=True)).to_be_visible()
    assert page.get_by_role("link", name="Exit now").count() == 0  # nothing in English only


@pytest.mark.parametrize("way", ["report", "answers"])
def test_back_after_finishing_shows_nothing_of_the_last_person_not_even_their_language(
    kiosk_portal: Portal, kiosk: Page, way: str
) -> None:
    if way == "report":
        receipt = report_in_polish(kiosk, kiosk_portal.url)
        kiosk.get_by_role("link", name=POLISH("Finish and leave")).click()
    else:
        receipt = crypto.validate_receipt(receipt_of(submit_report(kiosk_portal.client())))
        read_answers_in_polish(kiosk, kiosk_portal.url, receipt)
        kiosk.get_by_role("link", name=POLISH("Finish")).click()
    kiosk.wait_for_url("**/kiosk/exit")
    assert_greets_everyone(kiosk)
    shot(kiosk, "kiosk-0-welcome")
    for _ in range(4):
        # Without JavaScript a POST answer cannot be shown again (ERR_CACHE_MISS).
        with contextlib.suppress(PlaywrightError):
            kiosk.go_back(wait_until="commit")
        content = settled_content(kiosk)
        html = re.search(r"<html[^>]*>", content)  # none at all on a blank page
        assert html is None or 'lang="pl"' not in html.group(0), kiosk.url
        # Two groups of the receipt, as shown and as typed, not one: four digits alone
        # turn up by chance in the data of Chromium's own error page (ERR_CACHE_MISS).
        shown, typed = crypto.format_receipt(receipt)[:9], receipt[:8]
        for trace in (POLISH("What is it about?"), POLISH("Type your code"), shown, typed):
            assert trace not in content, kiosk.url


def test_the_language_list_fits_one_kiosk_screen_with_big_buttons(
    kiosk_portal: Portal, kiosk: Page
) -> None:
    kiosk.goto(kiosk_portal.url + "/kiosk")
    fits = kiosk.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    assert fits, "the language list needs scrolling"
    buttons = kiosk.locator("button[name=lang]")
    assert buttons.count() == len(LANGUAGES)
    for button in buttons.all():
        box = button.bounding_box()
        assert box
        assert box["height"] >= TOUCH_HEIGHT, button.inner_text()
        assert box["width"] >= 3 * TOUCH_HEIGHT, button.inner_text()
        assert box["y"] + box["height"] <= KIOSK_SCREEN["height"], button.inner_text()
    kiosk.goto(kiosk_portal.url + "/kiosk/exit")  # the screen left for the next person too
    assert kiosk.evaluate("document.documentElement.scrollHeight <= window.innerHeight")


STYLE = """button => {
  const s = getComputedStyle(button);
  return [s.backgroundColor, s.color, s.fontSize, s.fontWeight, s.minHeight,
          s.paddingTop, s.paddingInlineStart, s.borderRadius, s.borderTopWidth];
}"""


def test_the_receipt_screens_check_button_looks_like_every_other_kiosk_button(
    kiosk_portal: Portal, kiosk: Page
) -> None:
    kiosk.goto(kiosk_portal.url + "/kiosk")
    kiosk.get_by_role("button", name="English").click()
    settle(kiosk)
    for _ in range(4):
        kiosk.locator("button.choice:visible").first.click()
    next_button = kiosk.get_by_role("button", name="Next")
    # Without JavaScript each tap loads a new page: read a style once its stylesheet has
    # loaded (the load event waits for it), not from a button drawn before it.
    kiosk.wait_for_load_state("load")
    primary = next_button.evaluate(STYLE)
    next_button.click()
    kiosk.wait_for_load_state("load")
    assert kiosk.get_by_role("button", name="Send").evaluate(STYLE) == primary
    kiosk.get_by_role("button", name="Send").click()
    expect(kiosk.locator(".receipt")).to_be_visible(timeout=30_000)
    kiosk.wait_for_load_state("load")
    assert kiosk.get_by_role("button", name="Check").evaluate(STYLE) == primary
