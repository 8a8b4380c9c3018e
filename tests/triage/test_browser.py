"""A report is attacker-controlled input aimed at officers: in a real browser with
JavaScript ON, script in a report never runs on the console's case page."""

from __future__ import annotations

import pyotp
from playwright.sync_api import Browser

from tests.conftest import needs_chromium
from tests.portal.forms import submit_report

from .conftest import Site, case_ids, enrol

PAYLOAD = (
    "<script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.title='pwned'\">"
    "<svg onload=\"alert('pwned')\"></svg>"
)

pytestmark = needs_chromium


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

    context = browser.new_context(java_script_enabled=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(site.url + "/login")
    page.get_by_label("Username").fill("tess")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
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
