"""In a real browser, with labels and roles only: a triage officer ticks a case on the
list, assigns it to themselves, and finds it under "My cases" (and no longer under
"Unassigned"); the list's forms work from the keyboard."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.conftest import needs_chromium
from tests.portal.forms import submit_report

from .conftest import Site, case_ids, enrol
from .test_browser import sign_in_page

pytestmark = needs_chromium


def test_assigning_a_case_puts_it_in_my_cases(site: Site, browser: Browser) -> None:
    for _ in range(2):
        submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    mine, other = sorted(case_ids(site.console))
    _, secret = enrol(site, "tess", "triage")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_page(page, site.url, "tess", secret)

    queues = page.get_by_role("navigation", name="Queues")
    queues.get_by_role("link", name="Unassigned").click()
    expect(page.get_by_role("link", name=mine)).to_be_visible()
    page.get_by_label(f"Tick case {mine}").check()
    page.get_by_label("Assign to", exact=True).select_option("tess")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("Assigned 1 case to tess.")).to_be_visible()
    expect(page.get_by_role("link", name=mine)).to_have_count(0)  # still on Unassigned
    expect(page.get_by_role("link", name=other)).to_be_visible()

    queues.get_by_role("link", name="My cases").click()
    expect(page.get_by_role("link", name=mine)).to_be_visible()
    expect(page.get_by_role("link", name=other)).to_have_count(0)
    expect(queues.get_by_role("link", name="My cases")).to_have_attribute("aria-current", "page")

    # The keyboard alone: tick the other case and acknowledge it with Space and Enter.
    queues.get_by_role("link", name="Unassigned").click()
    page.get_by_label(f"Tick case {other}").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Acknowledge").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Acknowledged 1 case")).to_be_visible()
    context.close()
