"""Every catalogue is complete and safe to render, and every page follows the reader's
choice of language — with English, never a raw message id, for anything missing."""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from foundation.languages import LANGUAGES, RTL
from portal.i18n import HERE

from .conftest import Portal
from .forms import csrf_token, submit_report

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
POT = HERE / "messages.pot"


def catalogue(code: str) -> Catalog:
    with (HERE / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def template_ids() -> set[str]:
    with POT.open("rb") as handle:
        return {str(m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(handle) if m.id}


TRANSLATED = sorted(code for code in LANGUAGES if code != "en")


def test_every_offered_language_has_a_catalogue_and_every_catalogue_is_offered() -> None:
    on_disk = {p.parent.parent.name for p in HERE.glob("*/LC_MESSAGES/messages.po")}
    assert on_disk == set(TRANSLATED)
    assert RTL <= set(LANGUAGES)
    assert {"ar", "ur"} <= RTL


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_catalogue_translates_every_message_and_keeps_its_placeholders(code: str) -> None:
    messages = [m for m in catalogue(code) if m.id]
    ids = {str(m.id if isinstance(m.id, str) else m.id[0]) for m in messages}
    assert ids == template_ids(), "run scripts/translations.py to bring the catalogue up to date"
    for message in messages:
        assert not message.fuzzy, message.id
        singular = message.id if isinstance(message.id, str) else message.id[0]
        wanted = set(PLACEHOLDER.findall(singular))
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in translations:
            assert text.strip(), f"{code}: no translation for {singular!r}"
            assert set(PLACEHOLDER.findall(text)) <= wanted | {"%(num)d"}, (code, singular)
            if not isinstance(message.id, tuple):
                assert set(PLACEHOLDER.findall(text)) == wanted, (code, singular)


@pytest.mark.parametrize("code", [*TRANSLATED, "en"])
def test_every_staff_page_renders_in_the_chosen_language(portal: Portal, code: str) -> None:
    client = portal.client()
    chosen = client.get(f"/language/{code}", params={"next": "/report/staff"})
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/report/staff"
    assert "max-age" not in chosen.headers["set-cookie"].lower()  # gone when the browser closes
    direction = "rtl" if code in RTL else "ltr"
    for path in ("/", "/about", "/report/staff", "/report/third-party", "/follow-up", "/nowhere"):
        page = client.get(path)
        assert page.status_code in (200, 404)
        assert f'<html lang="{code}" dir="{direction}">' in page.text, path
        assert "%(" not in page.text, path  # no placeholder left unfilled
    if code != "en":
        english = portal.client().get("/report/staff").text
        assert client.get("/report/staff").text != english


def test_a_staff_report_in_polish_is_answered_in_polish_and_says_so_inside(
    portal: Portal,
) -> None:
    client = portal.client()
    client.get("/language/pl")
    form = client.get("/report/staff")
    assert "Wyślij zgłoszenie" in form.text
    refused = submit_report(client, description="")  # the error is in Polish too
    assert refused.status_code == 422
    assert "Opisz" in refused.text
    sent = submit_report(client)
    assert sent.status_code == 201
    assert 'lang="pl"' in sent.text
    console = portal.console()
    assert console.open(console.outbox()["items"][0])["lang"] == "pl"
    typo = client.post(
        "/follow-up",
        data={"csrf": csrf_token(client, "/follow-up"), "receipt": "1234"},
    )
    assert typo.status_code == 422
    assert "20" in typo.text
    assert "A receipt code has 20 digits" not in typo.text


def test_language_links_only_lead_back_into_the_portal(portal: Portal) -> None:
    client = portal.client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:1"):
        response = client.get("/language/pl", params={"next": target})
        assert response.status_code == 303
        assert response.headers["location"] == "/"
    unknown = client.get("/language/xx", params={"next": "/about"})
    assert "set-cookie" not in unknown.headers
    assert 'lang="en"' in client.get("/about").text


def test_the_language_list_names_each_language_in_its_own_script(portal: Portal) -> None:
    page = portal.client().get("/").text
    for code, name in LANGUAGES.items():
        assert f'lang="{code}" hreflang="{code}"' in page
        assert name in page
