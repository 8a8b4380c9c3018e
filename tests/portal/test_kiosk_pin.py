"""The kiosk's pinned oversight fingerprint (deploy/kiosk/README.md, docs/protocol.md §12.4).

A kiosk's deployment starts it at /kiosk#pin=FINGERPRINT: the pin comes from the kiosk, not
from the portal, and the kiosk's pages carry it from screen to screen. Keys that do not
lead to it are refused before anything is sealed; a pinned generation that a rollover
retired is accepted, and the prisoner is told when the keys changed and the new
fingerprint."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

import crypto
from tests.conftest import needs_chromium

from .clients import Reporter
from .conftest import Portal
from .test_kiosk import requests_of, settle

pytestmark = needs_chromium

S4 = "This portal is not using the oversight body's keys. Do not send anything here."
REPLY = "We are looking into it. Stay safe."


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    yield context.new_page()
    context.close()


def pin_of(box_pk: bytes, sign_pk: bytes) -> str:
    return crypto.fingerprint(box_pk, sign_pk).replace(" ", "-")


def genuine_pin(portal: Portal) -> str:
    return pin_of(bytes(portal.oversight.public_key), bytes(portal.oversight_sign.verify_key))


def report_until_send(page: Page, portal: Portal, pin: str) -> None:
    page.goto(f"{portal.url}/kiosk#pin={pin}")
    page.get_by_role("button", name="English").click()
    settle(page)
    assert page.url.endswith(f"#pin={pin}")  # carried to the next screen, never sent
    page.get_by_role("button", name="Staff take money or gifts, or tell secrets").click()
    page.get_by_role("button", name="In a cell or on the wing").click()
    page.get_by_role("button", name="In the last 7 days").click()
    page.get_by_role("button", name="No, or I do not know").click()
    page.get_by_label("You do not have to write anything").fill("Officer sells spice.")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Send").click()


def test_a_kiosk_pinned_to_other_keys_seals_and_sends_nothing(
    kiosk_portal: Portal, page: Page
) -> None:
    other = pin_of(bytes(crypto.PrivateKey.generate().public_key), bytes(32))
    sent = requests_of(page)
    report_until_send(page, kiosk_portal, other)
    expect(page.get_by_text(S4)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    assert [r.url for r in sent if r.method == "POST"] == []
    assert all("#pin" not in r.url and other not in r.url for r in sent)
    assert kiosk_portal.console().outbox()["items"] == []


def test_a_kiosk_pinned_to_the_oversight_keys_reports(kiosk_portal: Portal, page: Page) -> None:
    report_until_send(page, kiosk_portal, genuine_pin(kiosk_portal))
    expect(page.locator(".receipt")).to_be_visible(timeout=30_000)
    console = kiosk_portal.console()
    [item] = console.outbox()["items"]
    header = crypto.parse_item(item["signed"].encode())
    assert (header.kind, header.seq) == ("report", 0)  # a v2 report, signed in the page


def test_a_kiosk_pinned_to_a_retired_generation_says_when_the_keys_changed(
    kiosk_portal: Portal, page: Page
) -> None:
    portal = kiosk_portal
    receipt = crypto.generate_receipt()
    who = Reporter(portal.client(), portal.derive(receipt), portal.clock)
    assert who.file().status_code == 201
    console = portal.console()
    [item] = console.outbox()["items"]
    console.reply(who.case, console.open(item), REPLY)
    old_pin = genuine_pin(portal)
    # rotate-key: a new generation, and the statement both generations sign.
    new_box, new_sign = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    rollover = crypto.make_rollover(
        portal.oversight_sign,
        bytes(portal.oversight.public_key),
        new_sign,
        bytes(new_box.public_key),
        "2026-12-01",
    )
    portal.app.state.settings = dataclasses.replace(
        portal.app.state.settings,
        oversight_key=new_box.public_key,
        oversight_sign_key=new_sign.verify_key,
        oversight_rollovers=(rollover,),
    )
    page.goto(f"{portal.url}/kiosk/follow-up?lang=en#pin={old_pin}")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    page.get_by_label("Your code").fill(receipt)
    page.get_by_role("button", name="Show answers").click()
    expect(page.get_by_text(REPLY)).to_be_visible(timeout=30_000)
    new_fingerprint = crypto.fingerprint(bytes(new_box.public_key), bytes(new_sign.verify_key))
    expect(
        page.get_by_text(
            f"The oversight body changed its keys on 2026-12-01. "
            f"Their new fingerprint is {new_fingerprint}."
        )
    ).to_be_visible()
