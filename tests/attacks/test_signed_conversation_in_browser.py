"""A database writer against the reporter's JavaScript: the kiosk's answers page.

The attacker writes rows of the portal's database, or its configuration, as in
test_signed_conversation.py, but holds no secret key. A prisoner then types their code at
a kiosk whose deployment pinned the oversight fingerprint (deploy/kiosk): the page checks
every item and the chain (protocol v2, docs/protocol.md §16) before it shows anything.
Whatever the attacker did, the kiosk never shows the forged or moved words as an answer
from the oversight body, and says what it found in the fixed words of V2 strings:

- a forged reply, or one moved from another case: hidden, with a warning in its place;
- two answers swapped, or one shown twice: "changed or put in the wrong order";
- the middle answer dropped: "messages are missing";
- the oversight keys in the portal's configuration swapped for the attacker's: "not using
  the oversight body's keys", no answers at all, and nothing can be sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

import crypto
from portal.db import Item as PortalItem
from tests.conftest import needs_chromium
from tests.portal.clients import Reporter
from tests.portal.conftest import Portal
from triage.console import Console

from .test_signed_conversation import (
    FORGER,
    database,  # noqa: F401 - the attacker's connection, a fixture
    forged_item,
    head_of,
    header_columns,
    insert,
    rows,
)

pytestmark = needs_chromium

GENUINE = "Thank you. We have read your report. We will never ask for your name."
SECOND = "We have spoken to the governor about B wing."
THIRD = "An inspector will visit next week."
FORGED = "To go on, we need your full name, wing and cell number."
ELSEWHERE = "We have opened an investigation into the kitchen on C wing."

S1 = (
    "A message here did not pass our safety check, so we have hidden it. "
    "It may be fake. Do not answer it."
)
S2 = "Some messages are missing here. Someone may have taken them out."
S3 = (
    "The messages here have been changed or put in the wrong order. "
    "Someone may have tampered with them."
)
S4 = "This portal is not using the oversight body's keys. Do not send anything here."


@pytest.fixture
def kiosk(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    yield context.new_page()
    context.close()


def file_report(portal: Portal) -> tuple[str, Reporter]:
    """A v2 report filed over the API, and its receipt."""
    receipt = crypto.generate_receipt()
    who = Reporter(portal.client(), portal.derive(receipt), portal.clock)
    assert who.file().status_code == 201
    return receipt, who


def answered(portal: Portal, console: Console, *replies: str) -> tuple[str, Reporter]:
    receipt, who = file_report(portal)
    console.sync(portal.url)
    for text in replies:
        console.reply(who.case, text)
    console.sync(portal.url)
    return receipt, who


def pin(portal: Portal) -> str:
    """The fingerprint the kiosk's deployment pins: the console's keys, not the portal's."""
    return portal.settings.oversight_keys.fingerprint.replace(" ", "-")


def read_at_kiosk(page: Page, portal: Portal, receipt: str, fingerprint: str) -> None:
    page.goto(f"{portal.url}/kiosk/follow-up?lang=en#pin={fingerprint}")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    page.get_by_label("Your code").fill(receipt)
    page.get_by_role("button", name="Show answers").click()
    expect(page.locator("#answers, [data-problem]:visible").first).to_be_visible(timeout=30_000)


def answers_shown(page: Page) -> list[str]:
    return page.locator("#answers .reply:not(.warning) .text").all_inner_texts()


def warnings_shown(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("[role=alert]:visible").all_inner_texts()]


def move_into(writer: Session, case: str, other: str) -> None:
    """The database writer moves case `other`'s reply into `case`, outside its chain."""
    [moved] = [r for r in rows(writer, other) if r.kind == "reply"]
    writer.execute(
        update(PortalItem).where(PortalItem.seq == moved.seq).values(case_id=case, chain_seq=None)
    )
    writer.commit()


def swap_first_replies(writer: Session, case: str) -> None:
    """The database writer swaps the case's first two replies, each into the other's place."""
    first, second = [r for r in rows(writer, case) if r.kind == "reply"][:2]
    columns = ("sealed", "signed", "signature", "chain_seq")
    values = [{c: getattr(r, c) for c in columns} for r in (first, second)]
    writer.execute(update(PortalItem).where(PortalItem.seq == first.seq).values(chain_seq=None))
    writer.execute(update(PortalItem).where(PortalItem.seq == second.seq).values(values[0]))
    writer.execute(update(PortalItem).where(PortalItem.seq == first.seq).values(values[1]))
    writer.commit()


def test_a_forged_reply_is_hidden_behind_a_warning(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE)
    sealed, item = forged_item(
        bytes(who.keys.box_pk), "reply", FORGED, who.keys.box_pk, head_of(database, who.case)
    )
    insert(database, who.case, "reply", sealed, **header_columns(item))
    read_at_kiosk(kiosk, portal, receipt, pin(portal))
    assert answers_shown(kiosk) == [GENUINE]
    assert FORGED not in kiosk.content()
    assert S1 in warnings_shown(kiosk)


def test_a_reply_moved_from_another_case_is_hidden_behind_a_warning(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE)
    _, other = answered(portal, console, ELSEWHERE)
    move_into(database, who.case, other.case)
    read_at_kiosk(kiosk, portal, receipt, pin(portal))
    assert answers_shown(kiosk) == [GENUINE]
    assert ELSEWHERE not in kiosk.content()
    assert S1 in warnings_shown(kiosk)


def test_two_replies_swapped_are_flagged(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE, SECOND)
    swap_first_replies(database, who.case)
    read_at_kiosk(kiosk, portal, receipt, pin(portal))
    assert S3 in warnings_shown(kiosk)


def test_the_middle_reply_dropped_is_a_gap(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE, SECOND, THIRD)
    middle = [r for r in rows(database, who.case) if r.kind == "reply"][1]
    database.execute(delete(PortalItem).where(PortalItem.seq == middle.seq))
    database.commit()
    read_at_kiosk(kiosk, portal, receipt, pin(portal))
    assert answers_shown(kiosk) == [GENUINE, THIRD]
    assert S2 in warnings_shown(kiosk)


def test_a_reply_replayed_is_shown_once_and_flagged(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE, SECOND)
    [old, _] = [r for r in rows(database, who.case) if r.kind == "reply"]
    insert(database, who.case, "reply", old.sealed or b"", signed=old.signed,
           signature=old.signature)  # fmt: skip
    read_at_kiosk(kiosk, portal, receipt, pin(portal))
    assert answers_shown(kiosk) == [GENUINE, SECOND]
    assert S3 in warnings_shown(kiosk)


def test_the_oversight_keys_swapped_in_the_portals_config_are_refused(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE)
    genuine = pin(portal)
    # The attacker's own keys in the portal's configuration, and a reply signed with them.
    attacker_box = crypto.PrivateKey.generate()
    portal.app.state.settings = dataclasses.replace(
        portal.app.state.settings,
        oversight_key=attacker_box.public_key,
        oversight_sign_key=FORGER.verify_key,
        oversight_rollovers=(),
    )
    sealed, item = forged_item(
        bytes(who.keys.box_pk), "reply", FORGED, who.keys.box_pk, head_of(database, who.case)
    )
    insert(database, who.case, "reply", sealed, **header_columns(item))
    read_at_kiosk(kiosk, portal, receipt, genuine)
    assert S4 in warnings_shown(kiosk)
    assert FORGED not in kiosk.content()
    assert GENUINE not in kiosk.content()  # nothing is read from a portal it cannot trust
    expect(kiosk.locator("#answers")).to_be_hidden()


# ---- the web follow-up page (follow-up.js), JavaScript on ----


def read_on_the_web(page: Page, portal: Portal, receipt: str) -> None:
    page.goto(f"{portal.url}/follow-up")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    page.get_by_label("Receipt code").fill(receipt)
    page.get_by_role("button", name="Open my report").click()
    expect(page.locator("#checked-thread, h1:has-text('Your report')").first).to_be_visible(
        timeout=30_000
    )


def replies_on_the_web(page: Page) -> list[str]:
    return page.locator("#checked-thread li.from-oversight .text").all_inner_texts()


def test_a_forged_reply_on_the_web_follow_up_page_is_hidden_behind_a_warning(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE)
    sealed, item = forged_item(
        bytes(who.keys.box_pk), "reply", FORGED, who.keys.box_pk, head_of(database, who.case)
    )
    insert(database, who.case, "reply", sealed, **header_columns(item))
    posts: list[str] = []
    kiosk.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    read_on_the_web(kiosk, portal, receipt)
    expect(kiosk.locator("#checked-thread")).to_be_visible()
    assert replies_on_the_web(kiosk) == [GENUINE]
    assert FORGED not in kiosk.content()
    assert S1 in warnings_shown(kiosk)
    assert posts == []  # the keys went nowhere: the server's page was never asked for


@pytest.mark.parametrize("attack", ["dropped", "replayed", "moved", "swapped"])
def test_a_thread_tampered_with_on_the_web_follow_up_page_is_flagged(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
    attack: str,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE, SECOND, THIRD)
    replies = [r for r in rows(database, who.case) if r.kind == "reply"]
    if attack == "dropped":
        database.execute(delete(PortalItem).where(PortalItem.seq == replies[1].seq))
    elif attack == "replayed":
        old = replies[0]
        insert(database, who.case, "reply", old.sealed or b"", signed=old.signed,
               signature=old.signature)  # fmt: skip
    elif attack == "moved":  # another case's reply, written into this one
        _, other = answered(portal, console, ELSEWHERE)
        move_into(database, who.case, other.case)
    else:
        swap_first_replies(database, who.case)
    database.commit()
    read_on_the_web(kiosk, portal, receipt)
    expect(kiosk.locator("#checked-thread")).to_be_visible()
    if attack == "dropped":
        assert replies_on_the_web(kiosk) == [GENUINE, THIRD]
        assert S2 in warnings_shown(kiosk)
    elif attack == "moved":
        assert replies_on_the_web(kiosk) == [GENUINE, SECOND, THIRD]
        assert ELSEWHERE not in kiosk.content()
        assert S1 in warnings_shown(kiosk)
    else:
        assert S3 in warnings_shown(kiosk)
        if attack == "replayed":
            assert replies_on_the_web(kiosk) == [GENUINE, SECOND, THIRD]


def test_a_message_sent_from_a_checked_thread_is_signed_after_its_head(
    pair: tuple[Portal, Console],
    database: Session,  # noqa: F811 - the fixture imported above
    kiosk: Page,
) -> None:
    portal, console = pair
    receipt, who = answered(portal, console, GENUINE, SECOND)
    old = [r for r in rows(database, who.case) if r.kind == "reply"][0]
    insert(database, who.case, "reply", old.sealed or b"", signed=old.signed,
           signature=old.signature)  # fmt: skip
    read_on_the_web(kiosk, portal, receipt)
    kiosk.get_by_label("Your message").fill("Are you the real oversight body?")
    kiosk.get_by_role("button", name="Send message").click()
    expect(kiosk.get_by_text("Your message has been sent.")).to_be_visible(timeout=30_000)
    console.sync(portal.url)
    messages = [m["text"] for m in console.show(who.case)["messages"] if m["kind"] == "message"]
    assert messages == ["Are you the real oversight body?"]
