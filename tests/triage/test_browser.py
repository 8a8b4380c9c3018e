"""A report is attacker-controlled input aimed at officers: in a real browser with
JavaScript ON, script in a report never runs on the console's case page."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.conftest import needs_chromium
from tests.portal.forms import submit_report
from tests.portal.test_browser import shot

from .conftest import Site, api_report, case_ids, enrol, grant_identity
from .officer_pages import PASSWORD, fresh_code

PAYLOAD = (
    "<script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.title='pwned'\">"
    "<svg onload=\"alert('pwned')\"></svg>"
)

pytestmark = needs_chromium


def sign_in_page(page: Page, url: str, username: str, secret: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(fresh_code(secret))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/cases")


def test_script_in_a_report_never_runs_in_the_console(site: Site, browser: Browser) -> None:
    submit_report(
        site.portal.client(),
        description=PAYLOAD,
        subjects=PAYLOAD,
        identity=PAYLOAD,
        location='"><script>alert(1)</script>',
    )
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    _, secret = enrol(site, "tess", "triage")
    grant_identity(site, "tess", case_id)  # a custodian approved: the page offers Reveal

    context = browser.new_context(java_script_enabled=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_page(page, site.url, "tess", secret)
    page.goto(f"{site.url}/cases/{case_id}")
    page.get_by_role("button", name="Reveal (recorded in the audit log)").click()
    page.wait_for_load_state("load")

    assert "pwned" not in page.title()
    assert page.title().endswith("Lanthorn console")
    assert dialogs == []
    assert page.locator("main img").count() == 0  # shown as text, not as elements
    assert page.locator("main svg").count() == 0
    assert "<script>document.title='pwned'</script>" in page.locator("main").inner_text()
    context.close()


def test_a_very_long_file_name_wraps_on_the_case_page(site: Site, browser: Browser) -> None:
    name = "evidence-" + "x" * 230 + ".png"
    api_report(site, files=[(name, b"\x89PNG not really")])
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    _, secret = enrol(site, "tess", "triage")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_page(page, site.url, "tess", secret)
    page.goto(f"{site.url}/cases/{case_id}")
    assert page.get_by_role("link", name=name).is_visible()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= page.evaluate("document.documentElement.clientWidth"), wide
    shot(page, "console-case-long-file-name")
    context.close()


def test_a_reply_double_clicked_reloaded_and_gone_back_to_is_sent_once(
    site: Site, browser: Browser
) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    _, secret = enrol(site, "tess", "triage")
    context = browser.new_context()
    page = context.new_page()
    sign_in_page(page, site.url, "tess", secret)
    page.goto(f"{site.url}/cases/{case_id}")
    box = page.get_by_label("Reply to the reporter (sealed to their key)")
    box.fill("We have read your report.")
    page.get_by_role("button", name="Send reply").dblclick()
    # The page the last of the two answers led to: "Reply saved…" or "already done".
    expect(page.get_by_role("status")).to_be_visible()
    page.wait_for_load_state("load")
    assert page.url == f"{site.url}/cases/{case_id}"
    page.reload()  # F5 on the page the reply led to
    assert page.get_by_role("status").count() == 0  # the notice was shown once
    page.go_back()
    page.wait_for_load_state("load")
    assert box.input_value() == ""  # the browser does not put the sent words back
    replies = [e for e in site.console.audit_entries() if e["action"] == "reply"]
    assert len(replies) == 1
    context.close()
