"""A day in the console, as docs/operations.md walks through it, in a real browser with
labels and roles only: the night's reports wait under "Unassigned"; the officer
acknowledges them together, takes one, reads its timeline, notes what they did, answers
from a template in the reporter's language, and downloads the list for the board. Each
step's screenshot goes to $LANTHORN_SCREENSHOTS (docs/screenshots/console-day-*.png)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.conftest import needs_chromium
from tests.portal.forms import submit_report
from tests.portal.test_browser import shot

from .conftest import Site, case_ids, enrol
from .test_browser import sign_in_page

pytestmark = needs_chromium

NOTE = "Asked B wing for the night log."
TEMPLATE = "Thank you. We have read your report and we are looking into it."


def test_a_day_in_the_console(site: Site, browser: Browser, tmp_path: Path) -> None:
    portal = site.portal.client()
    submit_report(portal, description="An officer sells phones on B wing at night.")
    submit_report(portal, description="A prisoner was hurt in the showers.")
    submit_report(portal, description="Food is withheld from the wing.")
    site.console.sync(site.portal.url)
    first, *rest = sorted(case_ids(site.console))
    _, secret = enrol(site, "tess", "triage")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    sign_in_page(page, site.url, "tess", secret)

    # Morning: the night's reports, nobody's yet. Acknowledge them all; take one.
    queues = page.get_by_role("navigation", name="Queues")
    queues.get_by_role("link", name="Unassigned").click()
    shot(page, "console-day-1-unassigned")
    for case in (first, *rest):
        page.get_by_label(f"Tick case {case}").check()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Acknowledged 3 cases")).to_be_visible()
    page.get_by_label(f"Tick case {first}").check()
    page.get_by_label("Assign to", exact=True).select_option("tess")
    page.get_by_role("button", name="Assign", exact=True).click()
    queues.get_by_role("link", name="My cases").click()
    expect(page.get_by_role("link", name=first)).to_be_visible()

    # A template for the common answer, in the reporter's language.
    page.get_by_role("link", name="Reply templates").click()
    page.get_by_label("Language", exact=True).select_option("en")
    page.get_by_label("Title (e.g.").fill("Acknowledgement")
    page.get_by_label("Text, in that language").fill(TEMPLATE)
    page.get_by_role("button", name="Add the template").click()
    shot(page, "console-day-2-templates")

    # The case: its timeline, a note only officers see, and a reply from the template.
    page.goto(f"{site.url}/cases/{first}")
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_text(site.console.show(first)["description"])).to_be_visible()
    page.get_by_label("Note for officers").fill(NOTE)
    page.get_by_role("button", name="Save note").click()
    expect(timeline.get_by_text(NOTE)).to_be_visible()
    page.get_by_role("button", name="Use this template").click()
    expect(page.get_by_role("textbox", name="Reply to the reporter")).to_have_value(TEMPLATE)
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Reply saved")).to_be_visible()
    expect(timeline.get_by_text(TEMPLATE)).to_be_visible()
    shot(page, "console-day-3-case")

    # The board's monthly meeting: the list as CSV, with no text from any report.
    page.goto(f"{site.url}/cases")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download this list as CSV").click()
    saved = tmp_path / "cases.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert sorted(row["case"] for row in rows) == sorted([first, *rest])
    for words in ("phones", "showers", "withheld"):
        assert words not in saved.read_text(encoding="utf-8")
    assert NOTE not in saved.read_text(encoding="utf-8")

    page.get_by_role("link", name="Notifications").click()
    shot(page, "console-day-4-notifications")
    context.close()
