"""The oversight keys' fingerprint where people can compare it with the posters: the
about page and the receipt advice (docs/protocol.md §12.2), left to right in every
language, the same 20 characters `lanthorn` prints at init and rotation."""

from __future__ import annotations

import dataclasses
import html

import crypto

from .conftest import Portal
from .forms import open_thread, receipt_of, submit_report

S6 = (
    "The oversight body's key fingerprint is %(fingerprint)s. It should match the one on "
    "the posters."
)


def shown(portal: Portal) -> str:
    keys = portal.settings
    return crypto.fingerprint(bytes(keys.oversight_key), bytes(keys.oversight_sign_key))


def test_the_about_page_and_the_receipt_show_the_fingerprint(portal: Portal) -> None:
    fingerprint = shown(portal)
    marked = f'<bdi dir="ltr" class="fingerprint">{fingerprint}</bdi>'
    about = html.unescape(portal.client().get("/about").text)
    assert S6 % {"fingerprint": marked} in about
    receipt = html.unescape(submit_report(portal.client()).text)
    assert S6 % {"fingerprint": marked} in receipt


def test_the_fingerprint_reads_left_to_right_in_arabic(portal: Portal) -> None:
    client = portal.client()
    client.get("/language/ar?next=/about")
    about = client.get("/about").text
    assert 'dir="rtl"' in about
    assert f'<bdi dir="ltr" class="fingerprint">{shown(portal)}</bdi>' in about


def test_a_portal_pinned_to_keys_since_rolled_over_says_they_changed(portal: Portal) -> None:
    """The operator pinned the posters' fingerprint, and the oversight body has since
    rotated its keys (a rollover statement both generations signed): the thread page
    says when they changed and gives the new fingerprint, to compare with new posters."""
    old_box, old_sign = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    rollover = crypto.make_rollover(
        old_sign, bytes(old_box.public_key), portal.oversight_sign,
        bytes(portal.oversight.public_key), "2026-06-01",
    )  # fmt: skip
    portal.app.state.settings = dataclasses.replace(
        portal.settings,
        oversight_rollovers=(rollover,),
        oversight_pin=crypto.fingerprint(bytes(old_box.public_key), bytes(old_sign.verify_key)),
    )
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    assert open_thread(client, receipt).status_code == 303
    page = html.unescape(client.get("/thread").text)
    marked = f'<bdi dir="ltr" class="fingerprint">{shown(portal)}</bdi>'
    changed = (
        "The oversight body changed its keys on %(date)s. Their new fingerprint is %(fingerprint)s."
    )
    assert changed % {"date": "2026-06-01", "fingerprint": marked} in page
