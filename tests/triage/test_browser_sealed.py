"""A report sealed in the browser (JavaScript on) and the same report sealed by the server
(JavaScript off) reach the console indistinguishable: same fields, same files, same replies."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

import crypto
from tests.conftest import needs_chromium
from tests.portal.conftest import Portal
from tests.portal.forms import open_thread
from triage.console import Console
from triage.downloads import case_files

pytestmark = needs_chromium

PHOTO = os.urandom(150_000)
CANARY = "canary-7f3a9c1e-browser-sealed"


def fill_and_send(page: Page, url: str) -> str:
    """Fill the staff form the same way whatever the browser does with it; the receipt."""
    page.goto(url + "/report/staff")
    page.wait_for_load_state("load")
    page.get_by_label("Bribes, or staff leaking information").check()
    page.get_by_label("No, or I do not know").check()
    page.get_by_label("Which prison?").fill("HMP Example")
    page.get_by_label("Where in the prison?").fill("B wing")
    page.get_by_label("When did it happen?").fill("most nights since June")
    page.get_by_label("Who was involved?").fill("Officer on nights")
    page.get_by_label("What happened?").fill(f"He sells phones. {CANARY} ✓ كلمات")
    page.get_by_label("Your name and how to contact you").fill("J. Smith")
    page.set_input_files(
        "#attachments", files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": PHOTO}]
    )
    page.get_by_role("button", name="Send report").click()
    receipt = page.locator(".receipt:visible")
    expect(receipt).to_be_visible(timeout=30_000)
    return receipt.inner_text()


@pytest.fixture
def pages(browser: Browser) -> Iterator[dict[str, Page]]:
    with_script = browser.new_context()
    without = browser.new_context(java_script_enabled=False)
    yield {"browser": with_script.new_page(), "server": without.new_page()}
    with_script.close()
    without.close()


def comparable(case: dict[str, Any]) -> dict[str, Any]:
    """The case as shown, without what differs between any two reports (their ids, the
    order and moment the console stored each message, and their files' ids on the portal)
    or between the two paths: the server signs its reports (protocol v2), the browser does
    not yet (docs/protocol.md §19.6)."""
    kept = {k: v for k, v in case.items() if k not in ("case", "received_on", "signed")}
    kept["messages"] = [
        {
            **{k: v for k, v in m.items() if k not in ("seq", "at")},
            "files": [{k: v for k, v in f.items() if k != "blob_id"} for f in m["files"]],
        }
        for m in case["messages"]
    ]
    return kept


def test_a_browser_sealed_report_opens_on_the_console_like_a_server_sealed_one(
    pair: tuple[Portal, Console], pages: dict[str, Page]
) -> None:
    portal, console = pair
    sent: list[Request] = []
    pages["browser"].on("request", lambda request: sent.append(request))
    receipts = {how: fill_and_send(page, portal.url) for how, page in pages.items()}
    for receipt in receipts.values():
        assert crypto.validate_receipt(receipt)

    # The browser sent ciphertext to the API and nothing readable anywhere.
    posts = [r for r in sent if r.method == "POST"]
    assert sorted({r.url.removeprefix(portal.url) for r in posts}) == [
        "/api/v1/blobs",
        "/api/v1/reports",
    ]
    for request in sent:
        body = request.post_data_buffer or b""
        assert CANARY.encode() not in body
        assert PHOTO[:64] not in body
        assert CANARY not in request.url

    synced = console.sync(portal.url)
    assert (synced.taken, synced.files, synced.set_aside, synced.bad_files) == (2, 2, [], [])
    shown = [console.show(c["case"], reveal_identity=True) for c in console.cases()]
    first, second = (comparable(case) for case in shown)
    assert first == second
    assert first["description"] == f"He sells phones. {CANARY} ✓ كلمات"
    assert first["identity"] == "J. Smith"
    assert first["reply_key_mismatch"] is False
    assert [(f["name"], f["size"], f["state"]) for f in first["messages"][0]["files"]] == [
        ("photo.jpg", len(PHOTO), "stored")
    ]
    for case in shown:
        [descriptor] = case_files(console, case["case"])
        key = crypto.b64u_decode(descriptor["key"], length=32)
        plain = io.BytesIO()
        with console.blobs.path(descriptor["blob_id"]).open("rb") as stored:
            crypto.decrypt_file(stored, plain, key)
        assert plain.getvalue() == PHOTO
        assert descriptor["sha256"] == hashlib.sha256(PHOTO).hexdigest()

    # A reply reaches whoever holds either receipt, in the browser or not.
    for case in shown:
        console.reply(case["case"], "Thank you. We are looking into it.")
    console.push()
    for receipt in receipts.values():
        client = portal.client(follow_redirects=True)
        thread = open_thread(client, receipt)
        assert "Thank you. We are looking into it." in thread.text
