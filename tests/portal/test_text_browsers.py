"""The staff and third-party pages in lynx and w3m, the text browsers some staff use.

A text browser runs no JavaScript and ignores style sheets and the `hidden` attribute, so
whatever is in the page, it shows: a page must say only what is true without JavaScript,
keep a required answer from being given by accident, and read in order.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

import crypto
from portal.i18n import load_catalogues

from .conftest import Portal
from .forms import receipt_of, submit_report
from .text_browsers import Lynx, dump, words

BROWSERS = ["lynx", "w3m"]

#: What only the page's script shows: while and after it seals and sends the report.
SCRIPT_ONLY = (
    "Please check your report",
    "Locking your report so that only the oversight body can read it",
    "Sending your files",
    "Your report could not be sent",
    "Your report has been sent",
    "This is your receipt code",
    "Someone is in danger",
    "Keep it safe",
    "Check you have it right",
    "That is correct",
    "That is not the same code",
    "Finish and leave",
)


@pytest.mark.parametrize("browser", BROWSERS)
@pytest.mark.parametrize("channel", ["staff", "third-party"])
def test_the_empty_form_says_nothing_that_only_javascript_would_show(
    portal: Portal, tmp_path: Path, browser: str, channel: str
) -> None:
    page = words(dump(browser, tmp_path, portal.url + f"/report/{channel}"))
    assert "Send report" in page
    assert [message for message in SCRIPT_ONLY if message in page] == []


def test_lynx_cannot_send_a_report_whose_required_answers_were_not_chosen(
    portal: Portal, tmp_path: Path
) -> None:
    """lynx selects the first radio button of a group nobody chose: that must not be an
    answer, or an inattentive reporter files an urgent report about sexual misconduct."""
    page = Lynx(tmp_path).send_form(
        portal.url + "/report/staff",
        "Send report",
        text={"Which prison?": "HMP Example", "What happened?": "Words worth keeping"},
    )
    read = words(page)
    assert "Your report has been sent" not in read
    assert portal.console().outbox()["items"] == []
    for question, message, first_answer in (
        ("What is this about?", "Choose what the report is about.", "Sexual misconduct by staff"),
        ("Is someone in danger right now?", "Say whether someone", "Yes — someone could be"),
    ):
        start = read.rindex(question)  # the question itself, after the summary at the top
        assert message in read[start : read.index(first_answer, start)], question
    assert "HMP Example" in read  # nothing typed is lost
    assert "Words worth keeping" in read


@pytest.mark.parametrize("browser", BROWSERS)
def test_the_sign_in_page_says_only_what_is_true_without_javascript(
    portal: Portal, tmp_path: Path, browser: str
) -> None:
    page = words(dump(browser, tmp_path, portal.url + "/follow-up"))
    assert "Open my report" in page
    assert "turned into a key on the server" in page
    for script_only in (
        "in this browser and never sent",
        "Opening your report",
        "could not be opened just now",
        "No report was found",
        "typing mistake",
    ):
        assert script_only not in page


@pytest.mark.parametrize("browser", BROWSERS)
def test_the_receipt_reads_in_groups_of_four_digits(
    portal: Portal, tmp_path: Path, browser: str
) -> None:
    response = submit_report(portal.client())
    digits = crypto.validate_receipt(receipt_of(response))
    page = words(dump(browser, tmp_path, html=response.text))
    assert " ".join(re.findall("....", digits)) in page


def test_the_third_party_lead_keeps_a_space_between_its_sentences_in_every_language(
    portal: Portal,
) -> None:
    client = portal.client()
    joined = {}
    for code, catalogue in load_catalogues().items():
        client.get(f"/language/{code}")
        page = client.get("/report/third-party").text
        lead = re.search(r'<p class="lead">(.*?)</p>', page, re.DOTALL)
        assert lead, code
        text = html.unescape(re.sub(r"<[^>]+>", "", lead[1]))
        first = catalogue.gettext(
            "Tell us what happened to the person inside, as far as you know it."
        )
        second = catalogue.gettext(
            "Fields marked “required” must be filled in; everything else helps but is up to you."
        )
        if not re.search(re.escape(first) + r"\s+" + re.escape(second), text):
            joined[code] = text
    assert joined == {}
