"""One limit on long text, the same with JavaScript on or off: stated next to the field,
and a description over it comes back in the form, with everything typed and every file
kept, and one message, in the reader's language, by the field."""

from __future__ import annotations

import html
import re

from babel.numbers import format_decimal

from portal.i18n import load_catalogues
from portal.pages import TEXT_CHARS

from .conftest import Portal
from .forms import (
    REPORT_FIELDS,
    hidden_fields,
    message_request,
    open_thread,
    receipt_of,
    report_request,
    submit_report,
)

TOO_LONG = (
    "This is too long. It can have at most %(limit)s characters. "
    "Make it shorter, or put the rest in a file and attach it."
)
POLISH_LIMIT = format_decimal(TEXT_CHARS, locale="pl")  # "100 000", with a no-break space
FILLED_IN = {
    "category": "use_of_force",
    "urgent": "yes",
    "facility": "HMP Longtext",
    "location": "Segregation unit",
    "occurred": "Every night since March",
    "subjects": "Two officers on the night shift",
    "witnesses": "The cleaner on the landing",
    "identity": "Sam, via the chaplain",
}


def test_the_limit_is_stated_next_to_the_field(portal: Portal) -> None:
    page = portal.client().get("/report/staff").text
    assert "Up to 100,000 characters." in page
    client = portal.client()
    client.get("/language/pl")
    assert POLISH_LIMIT in client.get("/report/staff").text  # as Polish writes numbers


def test_a_description_at_the_limit_is_sent_whole(portal: Portal) -> None:
    words = "ż" * TEXT_CHARS  # two bytes each: over the old 256 KiB a field could have
    response = submit_report(portal.client(), description=words)
    assert response.status_code == 201, response.text[:500]
    console = portal.console()
    assert console.open(console.outbox()["items"][0])["description"] == words


def test_a_description_over_the_limit_comes_back_with_everything_typed(portal: Portal) -> None:
    client = portal.client()
    client.get("/language/pl")
    words = "Officer B hit him. " * (TEXT_CHARS // 19 + 1)
    assert len(words.strip()) > TEXT_CHARS
    evidence = ("rota.pdf", b"%PDF the night rota", "application/pdf")
    response = submit_report(client, files=[evidence], description=words, **FILLED_IN)
    assert response.status_code == 422
    page = html.unescape(response.text)
    polish = load_catalogues()["pl"]
    message = polish.gettext(TOO_LONG) % {"limit": POLISH_LIMIT}
    assert message != TOO_LONG % {"limit": POLISH_LIMIT}
    assert message in page
    # The message stands by the field, and the field holds every word that was typed.
    field = page.index('<textarea id="description"')
    assert message in page[page.index('<label for="description"') : field]
    assert words.strip() in page[field:]
    for name in ("facility", "location", "occurred"):
        assert f'value="{FILLED_IN[name]}"' in page
    for name in ("subjects", "witnesses", "identity"):
        assert f">{FILLED_IN[name]}</textarea>" in page
    assert re.search(r'value="use_of_force"\s*checked', page)
    assert re.search(r'value="yes"\s*checked', page)
    assert "rota.pdf" in page  # the file is kept: it need not be chosen again
    assert portal.console().outbox()["items"] == []

    # Shortened and sent again from that page, the report keeps the file.
    again = client.post(
        "/report/staff",
        data={
            **hidden_fields(response.text),
            **REPORT_FIELDS,
            **FILLED_IN,
            "description": words[:1000],
        },
        files=[("attachments", ("", b"", "application/octet-stream"))],
    )
    assert again.status_code == 201, again.text[:500]
    console = portal.console()
    report = console.open(console.outbox()["items"][0])
    assert report["facility"] == "HMP Longtext"
    assert [console.attachment(a) for a in report["attachments"]] == [evidence[1]]


def test_far_too_much_text_still_comes_back_in_the_form(portal: Portal) -> None:
    """A megabyte pasted in: more than any report can hold, still not thrown away."""
    words = "x" * (1024 * 1024)
    response = submit_report(portal.client(), description=words, facility="HMP Paste")
    assert response.status_code == 422
    assert words in response.text
    assert 'value="HMP Paste"' in response.text


def test_a_report_too_long_to_seal_says_so_and_keeps_everything(portal: Portal) -> None:
    """Each field within its limits, together more than one sealed document holds."""
    long = "€" * 95_000  # 3 bytes each: four of these exceed 1 MiB
    fields = {"subjects": long, "witnesses": long, "identity": long, "description": long}
    response = submit_report(portal.client(), **fields)
    assert response.status_code == 422
    assert "Your report is too long to send in one go." in response.text
    assert response.text.count(long) == 4
    assert portal.console().outbox()["items"] == []


def test_a_message_over_the_limit_comes_back_and_names_the_files_to_choose_again(
    portal: Portal,
) -> None:
    receipt = receipt_of(submit_report(portal.client()))
    reader = portal.client()
    open_thread(reader, receipt)
    assert "Up to 100,000 characters." in reader.get("/thread").text
    words = "y" * (TEXT_CHARS + 1)
    photo = ("landing.jpg", b"\xff\xd8 the landing", "image/jpeg")
    response = reader.send(message_request(reader, words, photo))
    assert response.status_code == 422
    assert TOO_LONG % {"limit": "100,000"} in response.text
    assert words in response.text
    assert "Please choose them again: landing.jpg" in response.text
    assert [i["kind"] for i in portal.console().outbox()["items"]] == ["report"]
    assert list(portal.settings.blob_dir.iterdir()) == []
    sent = reader.send(message_request(reader, "y" * TEXT_CHARS, photo))
    assert sent.status_code == 303


def test_the_same_limit_counts_characters_not_bytes(portal: Portal) -> None:
    client = portal.client()
    form = report_request(client, description="😀" * (TEXT_CHARS + 1))
    assert client.send(form).status_code == 422
    assert client.send(report_request(client, description="😀" * TEXT_CHARS)).status_code == 201
