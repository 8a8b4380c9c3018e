"""A member of staff with lynx, the text browser, reports and reads the oversight body's
answer: lynx at the keyboard fills in and sends the form, keeps the receipt as the page
shows it, and comes back with it once the console has replied."""

from __future__ import annotations

import re
from pathlib import Path

from tests.portal.conftest import Portal
from tests.portal.text_browsers import Lynx, words
from triage.console import Console

from .conftest import case_ids


def test_a_reporter_with_lynx_files_a_report_and_reads_the_reply(
    pair: tuple[Portal, Console], tmp_path: Path
) -> None:
    portal, console = pair
    lynx = Lynx(tmp_path)
    sent = words(
        lynx.send_form(
            portal.url + "/report/staff",
            "Send report",
            text={
                "Which prison?": "HMP Example",
                "What happened?": "An officer sells phones on B wing.",
            },
            choose=("Bribes, or staff leaking information", "No, or I do not know"),
        )
    )
    assert "Your report has been sent" in sent
    [receipt] = re.findall(r"\b\d{4} \d{4} \d{4} \d{4} \d{4}\b", sent)  # as the reader sees it

    console.sync(portal.url)
    [case] = case_ids(console)
    report = console.show(case)
    assert (report["reported_category"], report["urgent"]) == ("corruption", False)
    assert report["description"] == "An officer sells phones on B wing."
    console.reply(case, "Thank you. Are you safe to talk on Tuesday?")
    console.push()

    # The receipt typed back exactly as lynx showed it, spaces and all.
    thread = words(
        lynx.send_form(portal.url + "/follow-up", "Open my report", text={"Receipt code": receipt})
    )
    assert "Thank you. Are you safe to talk on Tuesday?" in thread
    assert "Read by the oversight body" in thread
