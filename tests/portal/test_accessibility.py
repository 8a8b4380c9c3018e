"""axe-core finds no WCAG 2.2 A/AA violation on any reporter page, kiosk or staff, in a
left-to-right and a right-to-left language."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from portal.pages import TEXT_CHARS
from tests.conftest import ONE_ENGINE, needs_chromium

from .conftest import Portal, PortalFactory
from .forms import receipt_of, report_request, submit_report

pytestmark = [needs_chromium, ONE_ENGINE]

WCAG = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"],
    }
}


@pytest.fixture
def portal(make_portal: PortalFactory) -> Portal:
    return make_portal(kiosk_facility="HMP Example")


@pytest.fixture(params=["sealed-in-browser", "sealed-on-server"])
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """Both paths through the forms. axe needs JavaScript to run, so the server's path is
    reached by keeping the pages' own scripts from loading, as for a reporter without them."""
    context = browser.new_context()
    if request.param == "sealed-on-server":
        pages = re.compile(r".*/(report|follow-up|kiosk|kiosk-follow-up)\.js$")
        context.route(pages, lambda route: route.abort())
    yield context.new_page()
    context.close()


def assert_accessible(page: Page, where: str) -> None:
    # A click starts a navigation; judge the page only once it and its stylesheet loaded,
    # or unstyled buttons are (rightly) too small.
    page.wait_for_load_state("load")
    results: Any = Axe().run(page, options=WCAG)
    violations = results.response["violations"]
    details = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
    ]
    assert not violations, f"{where}: " + "; ".join(details)


def walk_staff_pages(page: Page, url: str, portal: Portal, code: str) -> Iterator[str]:
    page.goto(f"{url}/language/{code}")
    for path in ("/", "/about", "/report/staff", "/report/third-party", "/follow-up", "/nope"):
        page.goto(url + path)
        yield path
    page.goto(url + "/report/staff")
    page.locator("#description").fill("x" * (TEXT_CHARS + 1))  # too long, by the field
    page.locator("#report-form button[type=submit]").click()  # the form with its errors
    page.locator(".error-summary:visible").wait_for()
    yield "/report/staff (errors)"
    page.locator("#category").get_by_role("radio").first.check()  # in any language
    page.locator("#urgent").get_by_role("radio").first.check()
    page.locator("#facility").fill("HMP Example")
    page.locator("#description").fill("What happened")
    page.locator("#report-form button[type=submit]").click()
    page.locator(".receipt:visible").wait_for(timeout=30_000)
    yield "receipt"
    receipt = receipt_of(submit_report(portal.client()))
    page.goto(url + "/follow-up")
    page.locator("#receipt").fill("1234")  # too short: said in the page, or by the server
    page.locator("form[action='/follow-up'] button").click()
    page.locator(".field-error:visible").wait_for()
    yield "/follow-up (mistake)"
    page.locator("#receipt").fill(receipt)
    page.locator("form[action='/follow-up'] button").click()
    page.wait_for_url("**/thread", timeout=30_000)  # with JavaScript, keys derived first
    yield "/thread"
    client = portal.client()
    client.get(f"/language/{code}")
    form = report_request(client)
    client.send(form)
    again = client.send(form)  # the receipt page reloaded: "This report was already sent"
    headers = {
        k: v for k, v in again.headers.items() if k not in ("content-length", "content-encoding")
    }
    page.route(
        url + "/already-sent",
        lambda route: route.fulfill(status=again.status_code, headers=headers, body=again.content),
    )
    page.goto(url + "/already-sent")
    yield "already sent"


def walk_kiosk(page: Page, url: str, language: str) -> Iterator[str]:
    page.goto(url + "/kiosk")
    yield "/kiosk"
    page.get_by_role("button", name=language).click()
    page.locator("#kiosk-app[data-ready], input[name=step]").first.wait_for(state="attached")
    for step in ("category", "place", "when", "urgent"):
        page.locator("button.choice:visible").first.wait_for()
        yield f"kiosk {step}"
        page.locator("button.choice:visible").first.click()
    yield "kiosk describe"
    page.locator("button.next:visible").click()
    yield "kiosk check"
    page.locator("button.next:visible").click()
    page.locator(".receipt:visible").wait_for(timeout=30_000)
    yield "kiosk receipt"
    receipt = page.locator(".receipt").inner_text()
    page.goto(url + "/kiosk/follow-up")
    yield "kiosk follow-up"
    page.locator("#receipt").fill(receipt)
    page.locator("button.next:visible").click()
    page.locator("button.choice:visible").first.wait_for()
    yield "kiosk answers"
    page.locator("button.choice:visible").first.click()  # Write back
    page.locator("textarea:visible").wait_for()
    yield "kiosk write back"
    page.locator("textarea:visible").fill("Thank you.")
    page.locator("button.next:visible").click()
    page.locator("button.send:visible").wait_for()
    yield "kiosk write back: check"
    page.locator("button.send:visible").click()
    page.locator("h1:visible").filter(has_text="Your message has been sent.").wait_for()
    yield "kiosk write back: sent"
    page.goto(url + "/kiosk/exit")
    yield "kiosk exit"


@pytest.mark.parametrize("code", ["en", "ar"])
def test_staff_pages_are_accessible(portal: Portal, page: Page, code: str) -> None:
    for where in walk_staff_pages(page, portal.url, portal, code):
        assert_accessible(page, f"{code}: {where}")


@pytest.mark.parametrize("language", ["English", "العربية"])
def test_kiosk_pages_are_accessible_left_to_right_and_right_to_left(
    portal: Portal, page: Page, language: str
) -> None:
    walk: Callable[..., Iterator[str]] = walk_kiosk
    for where in walk(page, portal.url, language):
        assert_accessible(page, f"{language}: {where}")
