"""A case page in Chromium, as an officer works on it: a note written, the timeline in
the order things happened with who did them, a case handled with the keyboard alone,
no horizontal scrolling on a 1366×768 laptop screen, and no axe violation on any
console page. Labels and roles only."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.conftest import ONE_ENGINE, needs_chromium
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from tests.portal.test_accessibility import WCAG
from tests.portal.test_browser import shot

from .conftest import Site, case_ids, enrol
from .officer_pages import PASSWORD, fresh_code
from .test_browser import sign_in_page

pytestmark = [needs_chromium, ONE_ENGINE]


def _case_with_a_message(site: Site) -> str:
    reporter = site.portal.client()
    receipt = receipt_of(submit_report(reporter, description="Nights on B wing."))
    open_thread(reporter, receipt)
    send_message(reporter, "It happened again on Tuesday.")
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    return case_id


def _laptop(browser: Browser, site: Site, username: str, secret: str) -> Page:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_page(page, site.url, username, secret)
    return page


def _fits(page: Page) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= page.evaluate("window.innerWidth"), wide


def test_the_timeline_reads_in_order_with_who_did_what(site: Site, browser: Browser) -> None:
    case_id = _case_with_a_message(site)
    _, secret = enrol(site, "tess", "triage")
    page = _laptop(browser, site, "tess", secret)
    page.goto(f"{site.url}/cases/{case_id}")
    page.get_by_label("Reply to the reporter (sealed to their key)").fill(
        "Thank you. Are you safe?"
    )
    page.get_by_role("button", name="Send reply").click()
    page.get_by_role("status").wait_for()
    page.get_by_label("Note for officers (sealed; the reporter never sees it)").fill(
        "Asked the wing for the night log."
    )
    page.get_by_role("button", name="Save note").click()
    page.get_by_role("status").wait_for()
    page.get_by_label("Severity").select_option(label="High")
    page.get_by_role("button", name="Save assessment").click()
    page.get_by_role("status").wait_for()
    timeline = page.get_by_role("region", name="Timeline").get_by_role("listitem")
    entries = [text.split("\n")[0] for text in timeline.all_inner_texts()]
    titles = [e for e in entries if not e.startswith("File ")]
    order = [
        "Report",
        "Message from the reporter",
        "Reply to the reporter",
        "Internal note",
        "Assessed",
    ]
    found = [next(i for i, t in enumerate(titles) if t.startswith(o)) for o in order]
    assert found == sorted(found), titles
    assert any(t.startswith("Reply to the reporter") and t.endswith("by tess") for t in titles)
    assert any(t.startswith("Internal note") and t.endswith("by tess") for t in titles)
    assert any(t.startswith("Assessed") and t.endswith("by tess") for t in titles)
    assert page.get_by_text("Asked the wing for the night log.").is_visible()
    _fits(page)
    shot(page, "console-case-timeline-1366x768")
    page.context.close()


def test_a_case_is_handled_with_the_keyboard_alone(site: Site, browser: Browser) -> None:
    case_id = _case_with_a_message(site)
    _, secret = enrol(site, "tess", "triage")
    page = _laptop(browser, site, "tess", secret)
    page.goto(f"{site.url}/cases/{case_id}")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the page's content")
    assert skip.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    reply = page.get_by_label("Reply to the reporter (sealed to their key)")
    for _ in range(60):  # Tab through the timeline to the reply box
        if reply.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the reply box")
    page.keyboard.type("We have read your report.")
    page.keyboard.press("Tab")  # the feedback box
    page.keyboard.press("Tab")  # Send reply
    assert page.evaluate("document.activeElement.textContent") == "Send reply"
    page.keyboard.press("Enter")
    page.get_by_role("status").wait_for()
    assert "Reply saved" in page.get_by_role("status").inner_text()
    # The assessment in the side panel, by keyboard.
    severity = page.get_by_label("Severity")
    for _ in range(80):
        if severity.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the assessment")
    page.keyboard.press("ArrowDown")  # Low
    page.keyboard.press("ArrowDown")  # Medium
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Save assessment":
            break
    page.keyboard.press("Enter")
    page.get_by_role("status").wait_for()
    assert "Assessment saved" in page.get_by_role("status").inner_text()
    assert site.console.show(case_id)["severity"] == "medium"
    page.context.close()


def _accessible(page: Page, where: str) -> None:
    page.wait_for_load_state("load")
    results: Any = Axe().run(page, options=WCAG)
    violations = results.response["violations"]
    details = [
        f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}" for v in violations
    ]
    assert not violations, f"{where}: " + "; ".join(details)
    _fits(page)


def test_every_console_page_is_accessible(site: Site, browser: Browser) -> None:
    case_id = _case_with_a_message(site)
    people = {
        role: enrol(site, name, role, "counter_corruption" if role == "investigator" else None)[1]
        for name, role in (
            ("tess", "triage"),
            ("ada", "admin"),
            ("aud", "auditor"),
            ("kit", "custodian"),
        )
    }
    names = {"triage": "tess", "admin": "ada", "auditor": "aud", "custodian": "kit"}
    pages = {
        "triage": [
            "/cases",
            f"/cases/{case_id}",
            "/dashboard",
            "/notifications",
            "/templates",
            "/statistics",
        ],
        "admin": ["/officers", "/units", "/audit"],
        "auditor": ["/audit", "/statistics"],
        "custodian": ["/custody"],
    }
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(site.url + "/login")
    _accessible(page, "/login")
    for role, paths in pages.items():
        context.clear_cookies()
        page.goto(site.url + "/login")
        page.get_by_label("Username").fill(names[role])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Code from your authenticator app").fill(fresh_code(people[role]))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        for path in paths:
            page.goto(site.url + path)
            _accessible(page, f"{role}: {path}")
    context.close()
